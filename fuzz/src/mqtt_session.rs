//! The sans-IO MQTT client: a `Session` after `connect()` fed a broker's
//! byte stream in arbitrary chunks, with events taken, timers run and
//! bytes transmitted as time goes on; and the `Framer` alone, which must
//! cut the same packets out of the stream however it is chunked.
//!
//! Input: `options || seed (4 bytes) || stream`. Options: bits 0-1 the
//! keepalive (0, 1, 10, 60 s), bits 2-3 the receive buffer (16, 64, 300,
//! 2048 bytes), bits 4-5 the transmit buffer (64, 128, 512, 4096 bytes),
//! bit 6 a broker login, bit 7 echo every received publish. The seed
//! drives a small PRNG for chunk sizes, time steps, partial transmits and
//! requests, so a seed file stays a readable broker stream; with its top
//! bit set the driver also disconnects and reconnects now and then.

use mqttvpn::mqtt::codec::{self, DecodeError, Framer, ServerPacket};
use mqttvpn::mqtt::{ConnectionError, Event, Options, QoS, Session, State};

use super::input::Input;

/// What the session and the framer made of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Publishes delivered by the session.
    pub publishes: u64,
    /// Why each connection ended, in order (the driver reconnects).
    pub errors: Vec<ConnectionError>,
    /// Packets the framer cut out of the whole stream.
    pub frames: usize,
    /// Why the framer stopped before the end, if it did.
    pub framer_error: Option<DecodeError>,
}

/// Runs the input.
pub fn run(data: &[u8]) -> Outcome {
    let mut input = Input::new(data);
    let options = options(input.u8());
    let seed = input.u32();
    let stream = input.rest();

    let (frames, framer_error) = framer_is_chunking_independent(options.max_incoming, stream, seed);

    let echo = data.first().is_some_and(|b| b & 0x80 != 0);
    let mut driver = Driver::new(options, seed, echo);
    let mut rest = stream;
    while !rest.is_empty() {
        let n = driver.rng.chunk_len().min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        driver.receive(chunk);
        driver.time_passes();
    }
    for _ in 0..4 {
        driver.time_passes();
    }
    Outcome {
        publishes: driver.delivered,
        errors: driver.errors,
        frames,
        framer_error,
    }
}

fn options(bits: u8) -> Options {
    let mut options = Options::new("fuzz").with_keepalive([0, 1, 10, 60][usize::from(bits & 3)]);
    options.max_incoming = [16, 64, 300, 2048][usize::from(bits >> 2 & 3)];
    options.tx_capacity = [64, 128, 512, 4096][usize::from(bits >> 4 & 3)];
    if bits & 0x40 != 0 {
        options = options.with_login("user", b"password");
    }
    options
}

/// xorshift32: deterministic "arbitrary" choices from the seed.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Mostly small reads, sometimes a large one.
    fn chunk_len(&mut self) -> usize {
        let r = self.next();
        let max = if r & 7 == 0 { 2048 } else { 24 };
        1 + (r >> 8) as usize % max
    }
}

fn rng(seed: u32) -> Rng {
    Rng(seed | 1)
}

type Frames = Vec<(u8, Vec<u8>, usize)>;

/// The framer cuts the same packets (and stops at the same error) whether
/// the stream comes in chunks of the PRNG's sizes, all at once, or one
/// byte at a time.
fn framer_is_chunking_independent(
    max_body: usize,
    stream: &[u8],
    seed: u32,
) -> (usize, Option<DecodeError>) {
    let mut r = rng(seed);
    let chunked = frames(max_body, stream, || r.chunk_len());
    let whole = frames(max_body, stream, || usize::MAX);
    assert_eq!(chunked, whole, "chunking changed the packets");
    if stream.len() <= 4096 {
        assert_eq!(frames(max_body, stream, || 1), whole);
    }
    (whole.0.len(), whole.1)
}

fn frames(
    max_body: usize,
    stream: &[u8],
    mut chunk_len: impl FnMut() -> usize,
) -> (Frames, Option<DecodeError>) {
    let mut framer = Framer::new(max_body);
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let (mut chunk, tail) = rest.split_at(chunk_len().min(rest.len()));
        rest = tail;
        while !chunk.is_empty() {
            let used = match framer.read(chunk) {
                Ok(used) => used,
                Err(error) => return (frames, Some(error)),
            };
            assert!(used > 0 && used <= chunk.len(), "read took {used} bytes");
            chunk = &chunk[used..];
            if let Some(frame) = framer.frame() {
                assert!(!matches!(frame.first_byte >> 4, 0 | 15));
                assert!(frame.body_len <= codec::MAX_REMAINING_LEN);
                assert_eq!(frame.body.len(), frame.body_len.min(max_body));
                if !frame.is_truncated() {
                    decoded_packets_fill_their_body(frame.first_byte, frame.body);
                }
                frames.push((frame.first_byte, frame.body.to_vec(), frame.body_len));
            }
        }
    }
    (frames, None)
}

fn decoded_packets_fill_their_body(first_byte: u8, body: &[u8]) {
    if let Ok(ServerPacket::Publish(p)) = ServerPacket::decode(first_byte, body) {
        let id_len = if p.packet_id.is_some() { 2 } else { 0 };
        assert_eq!(p.packet_id.is_some(), p.qos != QoS::AtMostOnce);
        assert_eq!(2 + p.topic.len() + id_len + p.payload.len(), body.len());
    }
}

/// A driver as the module docs describe it, checking the session as it
/// goes.
struct Driver {
    session: Session,
    rng: Rng,
    now: u64,
    max_incoming: usize,
    echo: bool,
    delivered: u64,
    errors: Vec<ConnectionError>,
    /// What the broker would receive on the current connection.
    sent: Framer,
    sent_packets: usize,
    disconnected: bool,
    /// Whether the driver itself disconnects now and then (seeds with the
    /// top bit set).
    may_disconnect: bool,
    out: Vec<u8>,
}

impl Driver {
    fn new(options: Options, seed: u32, echo: bool) -> Self {
        let max_incoming = options.max_incoming;
        let tx_capacity = options.tx_capacity;
        let mut session = Session::new(options).expect("options that fit");
        assert_eq!(session.state(), State::Disconnected);
        session.connect(0);
        assert_eq!(session.state(), State::Connecting);
        Self {
            session,
            rng: rng(seed.rotate_left(16)),
            now: 0,
            max_incoming,
            echo,
            delivered: 0,
            errors: Vec::new(),
            sent: Framer::new(tx_capacity),
            sent_packets: 0,
            disconnected: false,
            may_disconnect: seed >> 31 == 1,
            out: vec![0; tx_capacity],
        }
    }

    /// Offers `chunk` until the session took it all, or the connection failed.
    fn receive(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let used = match self.session.handle_bytes(rest, self.now) {
                Ok(0) => {
                    // Stalled on a full transmit buffer (events are always
                    // taken): once it is sent, the session must go on.
                    self.transmit(usize::MAX);
                    match self.session.handle_bytes(rest, self.now) {
                        Ok(0) => panic!("no progress with an empty transmit buffer"),
                        other => other,
                    }
                }
                other => other,
            };
            match used {
                Ok(used) => {
                    assert!(used <= rest.len());
                    rest = &rest[used..];
                    self.take_events();
                }
                Err(error) => return self.failed(error),
            }
        }
    }

    fn take_events(&mut self) {
        let mut connected = false;
        let mut echo = None;
        let mut events = 0;
        while let Some(event) = self.session.poll_event() {
            events += 1;
            assert!(events <= self.max_incoming + 2, "poll_event never ends");
            match event {
                Event::Connected { session_present } => {
                    assert!(!connected);
                    connected = true;
                    let _ = session_present;
                }
                Event::Publish { topic, payload } => {
                    assert!(2 + topic.len() + payload.len() <= self.max_incoming);
                    self.delivered += 1;
                    if self.echo && echo.is_none() {
                        echo = Some((topic.to_owned(), payload.to_vec()));
                    }
                }
                Event::Subscribed { packet_id } | Event::Unsubscribed { packet_id } => {
                    assert_ne!(packet_id, 0);
                }
                Event::SubscribeFailed { packet_id, index } => {
                    assert_ne!(packet_id, 0);
                    assert!(index < self.max_incoming);
                }
            }
        }
        assert_eq!(
            self.session.stats().publishes_received,
            self.delivered,
            "a publish was counted but not delivered, or delivered twice"
        );
        if connected {
            assert!(self.session.is_connected());
            let filters = ["mqttip/10.0.1.2", "mqttip/255.255.255.255"];
            match self.session.subscribe(&filters, QoS::AtMostOnce) {
                Ok(id) => assert_ne!(id, 0),
                Err(error) => assert_ne!(error, mqttvpn::mqtt::SubscribeError::NotConnected),
            }
        }
        if let Some((topic, payload)) = echo {
            let _ = self.session.publish(&topic, &payload);
        }
    }

    /// The connection is over: the session says so until the driver
    /// reconnects, which it does at once.
    fn failed(&mut self, error: ConnectionError) {
        match self.session.state() {
            State::Failed(e) => assert_eq!(e, error),
            State::Disconnected => assert_eq!(error, ConnectionError::NotConnected),
            state => panic!("{error:?} reported in state {state:?}"),
        }
        assert_eq!(self.session.handle_bytes(&[0x20], self.now), Err(error));
        assert_eq!(self.session.poll_timeout(), None);
        assert!(self.session.poll_event().is_none());
        assert!(!self.session.is_connected());
        self.errors.push(error);
        self.reconnect();
    }

    fn reconnect(&mut self) {
        self.session.connect(self.now);
        self.sent.reset();
        self.sent_packets = 0;
        self.disconnected = false;
    }

    /// Time passes; timers run; some bytes are sent; sometimes a request.
    fn time_passes(&mut self) {
        let r = self.rng.next();
        self.now += match r % 16 {
            // Now and then long enough for keepalives and their timeouts.
            0 => u64::from(self.rng.next() % 65_536),
            1..=3 => u64::from(self.rng.next() % 4096),
            _ => u64::from(self.rng.next() % 256),
        };

        let state = self.session.state();
        let due = self.session.poll_timeout();
        let pings = self.session.stats().pings_sent;
        let result = self.session.handle_timeout(self.now);
        if due.is_none_or(|t| self.now < t) && !matches!(state, State::Failed(_)) {
            assert_eq!(result, Ok(()), "failed before its deadline {due:?}");
            assert_eq!(self.session.stats().pings_sent, pings);
        }
        if let Err(error) = result {
            return self.failed(error);
        }

        let r = self.rng.next();
        let limit = if r & 3 == 0 {
            1 + (r >> 8) as usize % 16
        } else {
            usize::MAX
        };
        self.transmit(limit);

        let r = self.rng.next();
        match r % 64 {
            0 => {
                let _ = self.session.publish("mqttip/10.0.1.1", &[0x45; 40]);
            }
            1 => {
                let _ = self.session.unsubscribe(&["mqttip/#"]);
            }
            2 if self.may_disconnect => {
                self.session.disconnect();
                assert_eq!(self.session.state(), State::Disconnected);
                self.transmit(usize::MAX);
                self.reconnect();
            }
            _ => {}
        }
    }

    /// Sends up to `limit` bytes; what the broker receives must be
    /// well-formed client packets, starting with the CONNECT.
    fn transmit(&mut self, limit: usize) {
        let want = limit.min(self.out.len());
        let n = self.session.poll_transmit(&mut self.out[..want], self.now);
        assert!(n <= want);
        let out = std::mem::take(&mut self.out);
        let mut sent = &out[..n];
        while !sent.is_empty() {
            let used = self
                .sent
                .read(sent)
                .expect("the session sent a malformed packet");
            sent = &sent[used..];
            if let Some(frame) = self.sent.frame() {
                let (first_byte, truncated) = (frame.first_byte, frame.is_truncated());
                self.sent_packets_are_client_packets(first_byte, truncated);
            }
        }
        self.out = out;
    }

    fn sent_packets_are_client_packets(&mut self, first_byte: u8, truncated: bool) {
        assert!(
            !truncated,
            "a sent packet is longer than the transmit buffer"
        );
        assert!(!self.disconnected, "a packet after DISCONNECT");
        let first = self.sent_packets == 0;
        self.sent_packets += 1;
        match first_byte {
            0x10 => assert!(first, "a second CONNECT"),
            0x30 | 0x40 | 0x50 | 0x70 | 0x82 | 0xa2 | 0xc0 => assert!(!first),
            0xe0 => {
                assert!(!first, "DISCONNECT before CONNECT");
                self.disconnected = true;
            }
            other => panic!("the session sent a packet with first byte {other:#04x}"),
        }
    }
}
