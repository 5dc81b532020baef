//! The client session: one MQTT 3.1.1 connection's state, without I/O.
//!
//! See the [module docs](crate::mqtt) for the driver loop.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::codec::{
    self, ACK_LEN, ClientPacket, Connect, ConnectRefused, DecodeError, EncodeError, Framer,
    PublishHeader, QoS, SUBACK_FAILURE, ServerPacket,
};

/// Transmit bytes kept free by [`Session::publish`], [`Session::subscribe`]
/// and [`Session::unsubscribe`], so that an acknowledgement, a PINGREQ and a
/// DISCONNECT always fit.
pub const CONTROL_RESERVE: usize = ACK_LEN + 2 + 2;

/// How many QoS 2 packet identifiers are remembered between PUBREC and
/// PUBREL. A broker with more QoS 2 messages in flight makes the oldest be
/// forgotten; a duplicate of that one would be delivered again.
pub const QOS2_WINDOW: usize = 16;

/// Response timeout when the keepalive is off (only the CONNACK wait uses it).
const DEFAULT_RESPONSE_TIMEOUT_MS: u32 = 10_000;
/// Shortest default response timeout.
const MIN_RESPONSE_TIMEOUT_MS: u32 = 2_000;

/// How to connect, and how much memory the session takes. `Debug` shows
/// whether there is a password, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Options {
    /// Client identifier; brokers accept 1 to 23 letters and digits
    /// everywhere, most accept more.
    pub client_id: String,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Password; needs a user name.
    pub password: Option<Vec<u8>>,
    /// Keepalive in seconds; 0 turns pings off.
    pub keepalive_secs: u16,
    /// How long to wait for a CONNACK, and for any packet after a PINGREQ,
    /// before the link is declared dead. `None`: half the keepalive, at
    /// least 2 s; 10 s when the keepalive is off.
    pub response_timeout_ms: Option<u32>,
    /// Largest incoming packet body (everything after the remaining
    /// length) that is kept; longer packets are skipped and counted in
    /// [`Stats::oversize_skipped`]. A publish's body is its topic, 2 bytes
    /// of topic length, 2 bytes of packet identifier at QoS 1 and 2, and
    /// the payload. Allocated once, in [`Session::new`].
    pub max_incoming: usize,
    /// Transmit buffer size in bytes. Allocated once, in [`Session::new`].
    pub tx_capacity: usize,
    /// Last Will: published by the broker, at QoS 0, if the connection
    /// ends without a DISCONNECT.
    pub will: Option<WillOptions>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .field("keepalive_secs", &self.keepalive_secs)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("max_incoming", &self.max_incoming)
            .field("tx_capacity", &self.tx_capacity)
            .field("will", &self.will)
            .finish()
    }
}

/// An owned Last Will for [`Options::will`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WillOptions {
    /// Topic name.
    pub topic: String,
    /// Message.
    pub payload: Vec<u8>,
    /// Publish it retained.
    pub retain: bool,
}

impl Options {
    /// Options for `client_id`: no login, keepalive 30 s, 2048-byte
    /// receive buffer (a 1500-byte packet sealed with wire v1 under a
    /// topic of up to 400 bytes), 4096-byte transmit buffer.
    pub fn new(client_id: &str) -> Self {
        Self {
            client_id: String::from(client_id),
            username: None,
            password: None,
            keepalive_secs: 30,
            response_timeout_ms: None,
            max_incoming: 2048,
            tx_capacity: 4096,
            will: None,
        }
    }

    /// Sets the user name and password.
    pub fn with_login(mut self, username: &str, password: &[u8]) -> Self {
        self.username = Some(String::from(username));
        self.password = Some(password.to_vec());
        self
    }

    /// The client id a node uses unless told otherwise: `MQTT_VPN_` and a
    /// random number below 2^31 in decimal, as the C nodes name themselves.
    /// Written digit by digit, so a device build carries no formatting code
    /// for it.
    pub fn default_client_id(random: u32) -> String {
        let mut n = random & 0x7fff_ffff;
        let mut digits = [0u8; 10];
        let mut start = digits.len();
        loop {
            start -= 1;
            // Cannot truncate: a remainder of 10 is below 256.
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut id = String::from("MQTT_VPN_");
        // Only ASCII digits were written.
        id.extend(digits[start..].iter().map(|&d| char::from(d)));
        id
    }

    /// Sets the keepalive in seconds.
    pub fn with_keepalive(mut self, secs: u16) -> Self {
        self.keepalive_secs = secs;
        self
    }

    /// Bytes of the CONNECT these options make (0 if they cannot make one:
    /// [`Session::new`] says why).
    pub fn connect_len(&self) -> usize {
        self.connect_packet().encoded_len().unwrap_or(0)
    }

    fn connect_packet(&self) -> ClientPacket<'_> {
        ClientPacket::Connect(Connect {
            client_id: &self.client_id,
            username: self.username.as_deref(),
            password: self.password.as_deref(),
            keepalive_secs: self.keepalive_secs,
            clean_session: true,
            will: self.will.as_ref().map(|w| codec::Will {
                topic: &w.topic,
                payload: &w.payload,
                retain: w.retain,
            }),
        })
    }

    fn effective_response_timeout_ms(&self) -> u64 {
        let ms = self
            .response_timeout_ms
            .unwrap_or(if self.keepalive_secs == 0 {
                DEFAULT_RESPONSE_TIMEOUT_MS
            } else {
                (u32::from(self.keepalive_secs) * 500).max(MIN_RESPONSE_TIMEOUT_MS)
            });
        u64::from(ms)
    }
}

/// Why [`Options`] cannot make a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsError {
    /// The client identifier, user name or password is longer than 65535
    /// bytes.
    FieldTooLong,
    /// A password without a user name, which MQTT 3.1.1 forbids.
    PasswordWithoutUsername,
    /// The transmit buffer cannot hold the CONNECT plus [`CONTROL_RESERVE`].
    TxCapacityTooSmall,
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FieldTooLong => "MQTT client id, user name or password longer than 65535 bytes",
            Self::PasswordWithoutUsername => "MQTT password without a user name",
            Self::TxCapacityTooSmall => "MQTT transmit buffer too small for the CONNECT packet",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OptionsError {}

/// Why the connection ended. Once one is reported, the driver closes the
/// TCP connection; a new one starts with [`Session::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionError {
    /// The broker refused the CONNECT.
    Refused(ConnectRefused),
    /// The broker sent bytes that are not an MQTT 3.1.1 packet for a client.
    Malformed(DecodeError),
    /// A well-formed packet at the wrong time: anything before the CONNACK,
    /// or a second CONNACK.
    UnexpectedPacket,
    /// No CONNACK, or nothing after a PINGREQ, within the response timeout.
    Timeout,
    /// Not connecting or connected: [`Session::connect`] was not called, or
    /// [`Session::disconnect`] was.
    NotConnected,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(refused) => fmt::Display::fmt(refused, f),
            Self::Malformed(error) => write!(f, "protocol error: {error}"),
            Self::UnexpectedPacket => f.write_str("protocol error: unexpected MQTT packet"),
            Self::Timeout => f.write_str("MQTT broker did not answer in time"),
            Self::NotConnected => f.write_str("MQTT session is not connected"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConnectionError {}

/// Why a publish was not queued. The caller drops the message, as a network
/// interface drops a packet when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishError {
    /// Not connecting or connected.
    NotConnected,
    /// The transmit buffer has no room now; it may after the socket drains.
    TxFull,
    /// The packet can never fit the transmit buffer.
    TooLarge,
    /// Empty, with a wildcard or NUL, or longer than 65535 bytes.
    InvalidTopic,
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotConnected => "MQTT session is not connected",
            Self::TxFull => "MQTT transmit buffer is full",
            Self::TooLarge => "MQTT publish larger than the transmit buffer",
            Self::InvalidTopic => "not a valid MQTT topic name",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PublishError {}

/// Why a SUBSCRIBE or UNSUBSCRIBE was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeError {
    /// Not connecting or connected.
    NotConnected,
    /// The transmit buffer has no room now; it may after the socket drains.
    TxFull,
    /// The packet can never fit the transmit buffer.
    TooLarge,
    /// No filter given.
    NoFilters,
    /// A filter that is empty, holds a NUL, or misplaces a wildcard.
    InvalidFilter,
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotConnected => "MQTT session is not connected",
            Self::TxFull => "MQTT transmit buffer is full",
            Self::TooLarge => "MQTT subscription larger than the transmit buffer",
            Self::NoFilters => "no MQTT topic filter given",
            Self::InvalidFilter => "not a valid MQTT topic filter",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SubscribeError {}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started, or ended with [`Session::disconnect`].
    Disconnected,
    /// CONNECT queued, waiting for the CONNACK.
    Connecting,
    /// The broker accepted the connection.
    Connected,
    /// The connection failed; the driver closes the TCP connection.
    Failed(ConnectionError),
}

/// Something the broker said, taken with [`Session::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The broker accepted the connection.
    Connected {
        /// The broker kept a session (never, as sessions start clean).
        session_present: bool,
    },
    /// Every filter of the SUBSCRIBE `packet_id` was granted.
    Subscribed {
        /// What [`Session::subscribe`] returned.
        packet_id: u16,
    },
    /// The broker refused a filter of a SUBSCRIBE (return code 0x80); one
    /// event per refused filter, and no [`Event::Subscribed`] for that
    /// SUBSCRIBE.
    SubscribeFailed {
        /// What [`Session::subscribe`] returned.
        packet_id: u16,
        /// Position of the refused filter in the list passed to it.
        index: usize,
    },
    /// The broker acknowledged the UNSUBSCRIBE `packet_id`.
    Unsubscribed {
        /// What [`Session::unsubscribe`] returned.
        packet_id: u16,
    },
    /// An application message, delivered once whatever its QoS. Borrows the
    /// session's receive buffer.
    Publish {
        /// Topic name.
        topic: &'a str,
        /// Payload.
        payload: &'a [u8],
    },
}

/// Counters over the session's lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Publishes delivered as [`Event::Publish`].
    pub publishes_received: u64,
    /// QoS 2 publishes received again before their PUBREL, not delivered.
    pub duplicates_dropped: u64,
    /// Packets longer than [`Options::max_incoming`], skipped (a QoS 1 or 2
    /// publish among them is still acknowledged, not delivered).
    pub oversize_skipped: u64,
    /// PINGREQs queued.
    pub pings_sent: u64,
    /// Milliseconds from the last PINGREQ queued to the next packet
    /// received (the broker's round trip, at the driver clock's
    /// resolution); 0 before the first answer.
    pub ping_rtt_ms: u64,
}

/// The event of the packet last handled, waiting for [`Session::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Connected {
        session_present: bool,
    },
    /// The framer holds the PUBLISH.
    Publish,
    /// The framer holds the SUBACK; return codes from `next` are unreported.
    SubAck {
        packet_id: u16,
        next: usize,
        failed: bool,
    },
    Unsubscribed(u16),
}

/// What a received packet means to the session, taken out of the frame so
/// the frame's borrow ends before the session changes.
enum Received {
    ConnAck {
        session_present: bool,
        result: Result<(), ConnectRefused>,
    },
    Publish {
        qos: QoS,
        packet_id: Option<u16>,
    },
    PubRel(u16),
    SubAck(u16),
    UnsubAck(u16),
    /// Acknowledgements of publishes this client never sends above QoS 0,
    /// and PINGRESP: nothing to do beyond noting that the link is alive.
    Nothing,
    /// Longer than the receive buffer; the acknowledgement it needs, if any.
    Oversize(Option<ClientPacket<'static>>),
}

impl Received {
    fn from_frame(frame: codec::Frame<'_>) -> Result<Self, DecodeError> {
        if frame.is_truncated() {
            let ack = match PublishHeader::decode(frame.first_byte, frame.body) {
                Ok(PublishHeader {
                    qos: QoS::AtLeastOnce,
                    packet_id: Some(id),
                    ..
                }) => Some(ClientPacket::PubAck(id)),
                Ok(PublishHeader {
                    qos: QoS::ExactlyOnce,
                    packet_id: Some(id),
                    ..
                }) => Some(ClientPacket::PubRec(id)),
                _ => None,
            };
            return Ok(Self::Oversize(ack));
        }
        Ok(match ServerPacket::decode(frame.first_byte, frame.body)? {
            ServerPacket::ConnAck {
                session_present,
                result,
            } => Self::ConnAck {
                session_present,
                result,
            },
            ServerPacket::Publish(p) => Self::Publish {
                qos: p.qos,
                packet_id: p.packet_id,
            },
            ServerPacket::PubRel(id) => Self::PubRel(id),
            ServerPacket::SubAck { packet_id, .. } => Self::SubAck(packet_id),
            ServerPacket::UnsubAck(id) => Self::UnsubAck(id),
            ServerPacket::PubAck(_)
            | ServerPacket::PubRec(_)
            | ServerPacket::PubComp(_)
            | ServerPacket::PingResp => Self::Nothing,
        })
    }
}

/// Why a packet was not queued.
enum QueueError {
    Full,
    TooLarge,
    /// Not encodable (a field over 65535 bytes, a packet over 256 MiB).
    Unencodable,
}

/// The transmit buffer: queued bytes are `buf[head..tail]`.
#[derive(Debug)]
struct TxQueue {
    buf: Box<[u8]>,
    head: usize,
    tail: usize,
}

impl TxQueue {
    fn free(&self) -> usize {
        self.buf.len() - (self.tail - self.head)
    }

    fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
    }

    /// Queues `packet` if `keep_free` bytes stay free after it.
    fn push(&mut self, packet: &ClientPacket<'_>, keep_free: usize) -> Result<(), QueueError> {
        let len = packet.encoded_len().map_err(|_| QueueError::Unencodable)?;
        let out = self.reserve(len, keep_free)?;
        let n = packet.encode(out).map_err(|_| QueueError::Unencodable)?;
        self.tail += n;
        Ok(())
    }

    /// The free tail of the buffer, `len` bytes, compacted first if
    /// needed, when `keep_free` bytes stay free after it; the caller
    /// writes there and advances `tail` by what it wrote.
    fn reserve(&mut self, len: usize, keep_free: usize) -> Result<&mut [u8], QueueError> {
        let needed = len.saturating_add(keep_free);
        if needed > self.buf.len() {
            return Err(QueueError::TooLarge);
        }
        if needed > self.free() {
            return Err(QueueError::Full);
        }
        if self.buf.len() - self.tail < len {
            self.buf.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
        Ok(self
            .buf
            .get_mut(self.tail..self.tail + len)
            .unwrap_or_default())
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.head..self.tail).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.head = (self.head + n).min(self.tail);
        if self.head == self.tail {
            self.clear();
        }
    }
}

/// One MQTT 3.1.1 client connection, without I/O.
///
/// Inputs are [`Session::connect`], [`Session::handle_bytes`],
/// [`Session::handle_timeout`] and the requests ([`Session::publish`],
/// [`Session::subscribe`], ...); outputs are [`Session::poll_event`],
/// [`Session::poll_transmit`] (or [`Session::transmit`] and
/// [`Session::consume`]) and [`Session::poll_timeout`]. Time is the
/// caller's monotonic clock in milliseconds.
///
/// Keepalive: a PINGREQ is queued when nothing was transmitted, or nothing
/// received, for the keepalive period (the latter finds a dead link while
/// only sending). If no packet at all arrives within the response timeout
/// after it ([`Options::response_timeout_ms`]), the link is dead
/// ([`ConnectionError::Timeout`]).
#[derive(Debug)]
pub struct Session {
    options: Options,
    keepalive_ms: u64,
    response_timeout_ms: u64,
    framer: Framer,
    tx: TxQueue,
    state: State,
    pending: Pending,
    next_packet_id: u16,
    /// QoS 2 publishes delivered and PUBREC'd, waiting for their PUBREL.
    awaiting_pubrel: Vec<u16>,
    connack_deadline: u64,
    last_sent_ms: u64,
    last_received_ms: u64,
    /// Set while a PINGREQ waits for an answer.
    ping_deadline: Option<u64>,
    /// When the last PINGREQ was queued.
    last_ping_ms: u64,
    stats: Stats,
}

impl Session {
    /// A disconnected session; allocates its receive and transmit buffers.
    pub fn new(options: Options) -> Result<Self, OptionsError> {
        let connect_len = options
            .connect_packet()
            .encoded_len()
            .map_err(|e| match e {
                EncodeError::PasswordWithoutUsername => OptionsError::PasswordWithoutUsername,
                _ => OptionsError::FieldTooLong,
            })?;
        if options.tx_capacity < connect_len + CONTROL_RESERVE {
            return Err(OptionsError::TxCapacityTooSmall);
        }
        Ok(Self {
            keepalive_ms: u64::from(options.keepalive_secs) * 1000,
            response_timeout_ms: options.effective_response_timeout_ms(),
            framer: Framer::new(options.max_incoming),
            tx: TxQueue {
                buf: vec![0; options.tx_capacity].into_boxed_slice(),
                head: 0,
                tail: 0,
            },
            options,
            state: State::Disconnected,
            pending: Pending::None,
            next_packet_id: 1,
            awaiting_pubrel: Vec::with_capacity(QOS2_WINDOW),
            connack_deadline: 0,
            last_sent_ms: 0,
            last_received_ms: 0,
            ping_deadline: None,
            last_ping_ms: 0,
            stats: Stats::default(),
        })
    }

    /// Changes the keepalive for the next [`Session::connect`] (the CONNECT
    /// carries it, so a session already up keeps its old one until then).
    /// Keeps the buffers: no second session is allocated.
    pub fn set_keepalive(&mut self, secs: u16) {
        self.options.keepalive_secs = secs;
        self.keepalive_ms = u64::from(secs) * 1000;
        self.response_timeout_ms = self.options.effective_response_timeout_ms();
    }

    /// Starts a connection: call once the TCP connection is up. Forgets
    /// everything of an earlier connection (partial packets, queued bytes,
    /// pending events) and queues a CONNECT with a clean session. Requests
    /// may be queued right after, before the CONNACK.
    pub fn connect(&mut self, now_ms: u64) {
        self.framer.reset();
        self.tx.clear();
        self.pending = Pending::None;
        self.awaiting_pubrel.clear();
        self.ping_deadline = None;
        self.state = State::Connecting;
        self.connack_deadline = now_ms.saturating_add(self.response_timeout_ms);
        self.last_sent_ms = now_ms;
        self.last_received_ms = now_ms;
        // Cannot fail: `new` checked that the CONNECT fits the empty buffer.
        let _ = self.tx.push(&self.options.connect_packet(), 0);
    }

    /// Queues a DISCONNECT; the driver sends what is queued, then closes the
    /// TCP connection. The session is [`State::Disconnected`] after.
    pub fn disconnect(&mut self) {
        if matches!(self.state, State::Connecting | State::Connected) {
            // Cannot fail: every other request leaves CONTROL_RESERVE free.
            let _ = self.tx.push(&ClientPacket::Disconnect, 0);
        }
        self.state = State::Disconnected;
        self.pending = Pending::None;
        self.ping_deadline = None;
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The broker accepted the connection and it has not failed since.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Counters over the session's lifetime.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Consumes received bytes, in any chunking, up to the end of one
    /// packet; returns how many. Call again with the rest after taking the
    /// packet's events with [`Session::poll_event`].
    ///
    /// Consumes nothing (returns `Ok(0)`) while an event of the previous
    /// packet is untaken, or while the transmit buffer has less than
    /// [`CONTROL_RESERVE`] bytes free: send with [`Session::poll_transmit`]
    /// first. So a driver holding received data (an lwIP pbuf) keeps it
    /// until the session takes it, and acknowledgements always fit.
    ///
    /// An error means the connection is over: the driver closes it.
    pub fn handle_bytes(&mut self, input: &[u8], now_ms: u64) -> Result<usize, ConnectionError> {
        match self.state {
            State::Failed(error) => return Err(error),
            State::Disconnected => return Err(ConnectionError::NotConnected),
            State::Connecting | State::Connected => {}
        }
        if self.pending != Pending::None || self.tx.free() < CONTROL_RESERVE {
            return Ok(0);
        }
        let used = match self.framer.read(input) {
            Ok(used) => used,
            Err(error) => return Err(self.fail(ConnectionError::Malformed(error))),
        };
        let Some(frame) = self.framer.frame() else {
            return Ok(used);
        };
        let received = match Received::from_frame(frame) {
            Ok(received) => received,
            Err(error) => return Err(self.fail(ConnectionError::Malformed(error))),
        };
        self.last_received_ms = now_ms;
        if self.ping_deadline.take().is_some() {
            self.stats.ping_rtt_ms = now_ms.saturating_sub(self.last_ping_ms);
        }
        self.handle_packet(received)?;
        Ok(used)
    }

    fn handle_packet(&mut self, received: Received) -> Result<(), ConnectionError> {
        if self.state == State::Connecting {
            return match received {
                Received::ConnAck {
                    session_present,
                    result: Ok(()),
                } => {
                    self.state = State::Connected;
                    self.pending = Pending::Connected { session_present };
                    Ok(())
                }
                Received::ConnAck {
                    result: Err(refused),
                    ..
                } => Err(self.fail(ConnectionError::Refused(refused))),
                _ => Err(self.fail(ConnectionError::UnexpectedPacket)),
            };
        }
        match received {
            Received::ConnAck { .. } => return Err(self.fail(ConnectionError::UnexpectedPacket)),
            Received::Publish { qos, packet_id } => match (qos, packet_id) {
                (QoS::AtLeastOnce, Some(id)) => {
                    self.queue_control(ClientPacket::PubAck(id));
                    self.deliver();
                }
                (QoS::ExactlyOnce, Some(id)) => {
                    self.queue_control(ClientPacket::PubRec(id));
                    if self.awaiting_pubrel.contains(&id) {
                        self.stats.duplicates_dropped += 1;
                    } else {
                        if self.awaiting_pubrel.len() == QOS2_WINDOW {
                            self.awaiting_pubrel.remove(0);
                        }
                        self.awaiting_pubrel.push(id);
                        self.deliver();
                    }
                }
                _ => self.deliver(),
            },
            Received::PubRel(id) => {
                self.awaiting_pubrel.retain(|&awaiting| awaiting != id);
                self.queue_control(ClientPacket::PubComp(id));
            }
            Received::SubAck(packet_id) => {
                self.pending = Pending::SubAck {
                    packet_id,
                    next: 0,
                    failed: false,
                };
            }
            Received::UnsubAck(id) => self.pending = Pending::Unsubscribed(id),
            Received::Nothing => {}
            Received::Oversize(ack) => {
                self.stats.oversize_skipped += 1;
                if let Some(ack) = ack {
                    self.queue_control(ack);
                }
            }
        }
        Ok(())
    }

    fn deliver(&mut self) {
        self.stats.publishes_received += 1;
        self.pending = Pending::Publish;
    }

    /// Queues an acknowledgement. Cannot fail: `handle_bytes` only reads a
    /// packet while [`CONTROL_RESERVE`] bytes are free.
    fn queue_control(&mut self, packet: ClientPacket<'_>) {
        let _ = self.tx.push(&packet, 0);
    }

    fn fail(&mut self, error: ConnectionError) -> ConnectionError {
        self.state = State::Failed(error);
        self.pending = Pending::None;
        self.ping_deadline = None;
        error
    }

    /// The next event of the packet last handled, if any. A publish borrows
    /// the receive buffer until the next [`Session::handle_bytes`].
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        match core::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => None,
            Pending::Connected { session_present } => Some(Event::Connected { session_present }),
            Pending::Unsubscribed(packet_id) => Some(Event::Unsubscribed { packet_id }),
            Pending::Publish => {
                let frame = self.framer.frame()?;
                match ServerPacket::decode(frame.first_byte, frame.body) {
                    Ok(ServerPacket::Publish(p)) => Some(Event::Publish {
                        topic: p.topic,
                        payload: p.payload,
                    }),
                    _ => None,
                }
            }
            Pending::SubAck {
                packet_id,
                next,
                failed,
            } => {
                let codes = match self
                    .framer
                    .frame()
                    .map(|f| ServerPacket::decode(f.first_byte, f.body))
                {
                    Some(Ok(ServerPacket::SubAck { return_codes, .. })) => return_codes,
                    _ => return None,
                };
                let rest = codes.get(next..).unwrap_or_default();
                match rest.iter().position(|&code| code == SUBACK_FAILURE) {
                    Some(offset) => {
                        let index = next + offset;
                        self.pending = Pending::SubAck {
                            packet_id,
                            next: index + 1,
                            failed: true,
                        };
                        Some(Event::SubscribeFailed { packet_id, index })
                    }
                    None if failed => None,
                    None => Some(Event::Subscribed { packet_id }),
                }
            }
        }
    }

    /// When [`Session::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::Connecting => Some(self.connack_deadline),
            State::Connected => self.ping_deadline.or_else(|| self.ping_due()),
            State::Disconnected | State::Failed(_) => None,
        }
    }

    fn ping_due(&self) -> Option<u64> {
        if self.keepalive_ms == 0 {
            return None;
        }
        let quiet_since = self.last_sent_ms.min(self.last_received_ms);
        Some(quiet_since.saturating_add(self.keepalive_ms))
    }

    /// Runs the timers: queues a PINGREQ when the keepalive is due, and
    /// fails the connection when the CONNACK or the answer to a PINGREQ is
    /// late. Call at [`Session::poll_timeout`] (calling more often is fine).
    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), ConnectionError> {
        match self.state {
            State::Failed(error) => Err(error),
            State::Disconnected => Ok(()),
            State::Connecting if now_ms >= self.connack_deadline => {
                Err(self.fail(ConnectionError::Timeout))
            }
            State::Connecting => Ok(()),
            State::Connected => {
                if let Some(deadline) = self.ping_deadline {
                    if now_ms >= deadline {
                        return Err(self.fail(ConnectionError::Timeout));
                    }
                } else if self.ping_due().is_some_and(|due| now_ms >= due) {
                    // Fits: requests leave CONTROL_RESERVE free. Even if it
                    // did not, the deadline below ends a stuck link.
                    let _ = self.tx.push(&ClientPacket::PingReq, 0);
                    self.stats.pings_sent += 1;
                    self.last_ping_ms = now_ms;
                    self.ping_deadline = Some(now_ms.saturating_add(self.response_timeout_ms));
                }
                Ok(())
            }
        }
    }

    fn check_can_send(&self) -> bool {
        matches!(self.state, State::Connecting | State::Connected)
    }

    fn take_packet_id(&mut self) -> u16 {
        let id = self.next_packet_id;
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Queues a PUBLISH at QoS 0. On error nothing is queued and the caller
    /// drops the message.
    pub fn publish(&mut self, topic: &str, payload: &[u8]) -> Result<(), PublishError> {
        if !self.check_can_send() {
            return Err(PublishError::NotConnected);
        }
        if !codec::is_valid_topic_name(topic) {
            return Err(PublishError::InvalidTopic);
        }
        let packet = ClientPacket::Publish { topic, payload };
        self.tx
            .push(&packet, CONTROL_RESERVE)
            .map_err(|error| match error {
                QueueError::Full => PublishError::TxFull,
                QueueError::TooLarge | QueueError::Unencodable => PublishError::TooLarge,
            })
    }

    /// Queues a QoS 0 PUBLISH whose payload `fill` writes straight into the
    /// transmit buffer, so a sealed packet needs no buffer of its own (one
    /// MTU less of heap on a device). `fill` gets room for `max_payload`
    /// bytes and returns the topic and the payload length; the topic may be
    /// at most `max_topic_len` bytes. When `fill` fails, nothing is queued
    /// and its error comes back as `Ok(Err(_))`; `Err(_)` means `fill` was
    /// not called (or its topic was invalid or too long) and nothing is queued.
    pub fn publish_with<T: AsRef<str>, E>(
        &mut self,
        max_topic_len: usize,
        max_payload: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(T, usize), E>,
    ) -> Result<Result<(), E>, PublishError> {
        if !self.check_can_send() {
            return Err(PublishError::NotConnected);
        }
        let room = 1 + 4 + 2 + max_topic_len;
        let region = self
            .tx
            .reserve(room + max_payload, CONTROL_RESERVE)
            .map_err(|error| match error {
                QueueError::Full => PublishError::TxFull,
                QueueError::TooLarge | QueueError::Unencodable => PublishError::TooLarge,
            })?;
        let (topic, len) = match fill(&mut region[room..]) {
            Ok(written) => written,
            Err(error) => return Ok(Err(error)),
        };
        let topic = topic.as_ref();
        if topic.len() > max_topic_len || len > max_payload {
            return Err(PublishError::TooLarge);
        }
        if !codec::is_valid_topic_name(topic) {
            return Err(PublishError::InvalidTopic);
        }
        // The header is at most `room` bytes: the payload moves down to
        // follow it, so the queue stays contiguous.
        let n =
            codec::encode_publish_header(topic, len, region).map_err(|_| PublishError::TooLarge)?;
        region.copy_within(room..room + len, n);
        self.tx.tail += n + len;
        Ok(Ok(()))
    }

    /// Queues a retained PUBLISH at QoS 0 (an empty payload deletes the
    /// topic's retained message). On error nothing is queued.
    pub fn publish_retained(&mut self, topic: &str, payload: &[u8]) -> Result<(), PublishError> {
        if !self.check_can_send() {
            return Err(PublishError::NotConnected);
        }
        if !codec::is_valid_topic_name(topic) {
            return Err(PublishError::InvalidTopic);
        }
        let packet = ClientPacket::PublishRetained { topic, payload };
        self.tx
            .push(&packet, CONTROL_RESERVE)
            .map_err(|error| match error {
                QueueError::Full => PublishError::TxFull,
                QueueError::TooLarge | QueueError::Unencodable => PublishError::TooLarge,
            })
    }

    /// Queues a SUBSCRIBE to `filters`, each with maximum QoS `qos` (the
    /// tunnel uses [`QoS::AtMostOnce`]; a broker delivers a message at the
    /// lower of its publish QoS and this). Returns the packet identifier that
    /// [`Event::Subscribed`] or [`Event::SubscribeFailed`] will carry.
    pub fn subscribe(&mut self, filters: &[&str], qos: QoS) -> Result<u16, SubscribeError> {
        let packet_id = self.next_packet_id;
        self.queue_request(
            &ClientPacket::Subscribe {
                packet_id,
                filters,
                qos,
            },
            filters,
        )?;
        Ok(self.take_packet_id())
    }

    /// Queues an UNSUBSCRIBE from `filters`. Returns the packet identifier
    /// that [`Event::Unsubscribed`] will carry.
    pub fn unsubscribe(&mut self, filters: &[&str]) -> Result<u16, SubscribeError> {
        let packet_id = self.next_packet_id;
        self.queue_request(&ClientPacket::Unsubscribe { packet_id, filters }, filters)?;
        Ok(self.take_packet_id())
    }

    fn queue_request(
        &mut self,
        packet: &ClientPacket<'_>,
        filters: &[&str],
    ) -> Result<(), SubscribeError> {
        if !self.check_can_send() {
            return Err(SubscribeError::NotConnected);
        }
        if filters.is_empty() {
            return Err(SubscribeError::NoFilters);
        }
        if !filters.iter().all(|f| codec::is_valid_topic_filter(f)) {
            return Err(SubscribeError::InvalidFilter);
        }
        self.tx
            .push(packet, CONTROL_RESERVE)
            .map_err(|error| match error {
                QueueError::Full => SubscribeError::TxFull,
                QueueError::TooLarge | QueueError::Unencodable => SubscribeError::TooLarge,
            })
    }

    /// Bytes queued for the socket, oldest first. After writing some, call
    /// [`Session::consume`]. For drivers that copy straight from here (lwIP
    /// `tcp_write` with `TCP_WRITE_FLAG_COPY`).
    pub fn transmit(&self) -> &[u8] {
        self.tx.pending()
    }

    /// Marks the first `n` bytes of [`Session::transmit`] as written to the
    /// socket at `now_ms` (the keepalive counts from the last write).
    pub fn consume(&mut self, n: usize, now_ms: u64) {
        if n > 0 {
            self.tx.consume(n);
            self.last_sent_ms = now_ms;
        }
    }

    /// Copies queued bytes into `out` and marks them written at `now_ms`;
    /// returns how many. 0 when nothing is queued.
    pub fn poll_transmit(&mut self, out: &mut [u8], now_ms: u64) -> usize {
        let pending = self.tx.pending();
        let n = pending.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), pending.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n, now_ms);
        n
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn options_debug_never_shows_the_password() {
        let options = Options::new("id").with_login("user", b"hunter2");
        let text = alloc::format!("{options:?}");
        assert!(text.contains("user") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn the_default_client_id_is_mqtt_vpn_and_a_number_below_two_to_the_31() {
        assert_eq!(Options::default_client_id(0), "MQTT_VPN_0");
        assert_eq!(Options::default_client_id(7), "MQTT_VPN_7");
        assert_eq!(
            Options::default_client_id(1_234_567_890),
            "MQTT_VPN_1234567890"
        );
        assert_eq!(Options::default_client_id(u32::MAX), "MQTT_VPN_2147483647");
    }

    use super::*;
    use alloc::borrow::ToOwned;
    use alloc::string::ToString;

    /// An event with its borrows copied out, so tests can collect them.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Owned {
        Connected,
        Subscribed(u16),
        SubscribeFailed(u16, usize),
        Unsubscribed(u16),
        Publish(String, Vec<u8>),
    }

    fn own(event: Event<'_>) -> Owned {
        match event {
            Event::Connected { .. } => Owned::Connected,
            Event::Subscribed { packet_id } => Owned::Subscribed(packet_id),
            Event::SubscribeFailed { packet_id, index } => Owned::SubscribeFailed(packet_id, index),
            Event::Unsubscribed { packet_id } => Owned::Unsubscribed(packet_id),
            Event::Publish { topic, payload } => Owned::Publish(topic.to_owned(), payload.to_vec()),
        }
    }

    fn options() -> Options {
        Options {
            max_incoming: 64,
            tx_capacity: 256,
            ..Options::new("node").with_keepalive(10)
        }
    }

    /// A session that has sent its CONNECT at time 0.
    fn connecting() -> Session {
        let mut s = Session::new(options()).unwrap();
        s.connect(0);
        drain(&mut s, 0);
        s
    }

    /// A session the broker accepted at time 0.
    fn connected() -> Session {
        let mut s = connecting();
        assert_eq!(feed(&mut s, &CONNACK_OK, 0), [Owned::Connected]);
        s
    }

    /// Everything queued for the socket.
    fn drain(s: &mut Session, now: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 7];
        loop {
            let n = s.poll_transmit(&mut chunk, now);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }

    /// Feeds `bytes` as one read, taking every event; panics on an error.
    fn feed(s: &mut Session, bytes: &[u8], now: u64) -> Vec<Owned> {
        try_feed(s, bytes, now).unwrap()
    }

    fn try_feed(
        s: &mut Session,
        mut bytes: &[u8],
        now: u64,
    ) -> Result<Vec<Owned>, ConnectionError> {
        let mut events = Vec::new();
        while !bytes.is_empty() {
            let n = s.handle_bytes(bytes, now)?;
            bytes = &bytes[n..];
            while let Some(event) = s.poll_event() {
                events.push(own(event));
            }
            assert!(n > 0 || s.transmit().len() > s.tx.buf.len() - CONTROL_RESERVE);
            if n == 0 {
                drain(s, now);
            }
        }
        Ok(events)
    }

    const CONNACK_OK: [u8; 4] = [0x20, 2, 0, 0];

    #[test]
    fn connect_queues_the_connect_packet_and_connack_connects() {
        let mut s = Session::new(options().with_login("u", b"p")).unwrap();
        assert_eq!(s.state(), State::Disconnected);
        s.connect(0);
        assert_eq!(s.state(), State::Connecting);
        #[rustfmt::skip]
        let expected = [
            0x10, 22, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 10,
            0, 4, b'n', b'o', b'd', b'e', 0, 1, b'u', 0, 1, b'p',
        ];
        assert_eq!(drain(&mut s, 0), expected);
        assert_eq!(feed(&mut s, &CONNACK_OK, 5), [Owned::Connected]);
        assert!(s.is_connected());
    }

    #[test]
    fn connack_refusal_codes_are_typed_errors() {
        let refusals = [
            ConnectRefused::UnacceptableProtocolVersion,
            ConnectRefused::IdentifierRejected,
            ConnectRefused::ServerUnavailable,
            ConnectRefused::BadUserNameOrPassword,
            ConnectRefused::NotAuthorized,
        ];
        for (code, refused) in (1u8..).zip(refusals) {
            let mut s = connecting();
            let error = ConnectionError::Refused(refused);
            assert_eq!(s.handle_bytes(&[0x20, 2, 0, code], 1), Err(error));
            assert_eq!(s.state(), State::Failed(error));
            assert!(!s.is_connected());
            // The error sticks until the next connect.
            assert_eq!(s.handle_bytes(&CONNACK_OK, 2), Err(error));
            assert_eq!(s.handle_timeout(3), Err(error));
            assert!(error.to_string().contains("refused"));
        }
    }

    #[test]
    fn a_publish_before_the_connack_is_a_protocol_error() {
        let mut s = connecting();
        assert_eq!(
            s.handle_bytes(&[0x30, 3, 0, 1, b't'], 1),
            Err(ConnectionError::UnexpectedPacket)
        );
        let mut s = connected();
        assert_eq!(
            s.handle_bytes(&CONNACK_OK, 1),
            Err(ConnectionError::UnexpectedPacket)
        );
    }

    #[test]
    fn subscribe_and_unsubscribe_use_fresh_packet_ids() {
        let mut s = connected();
        assert_eq!(s.subscribe(&["a", "b"], QoS::AtMostOnce), Ok(1));
        assert_eq!(s.unsubscribe(&["a"]), Ok(2));
        #[rustfmt::skip]
        assert_eq!(drain(&mut s, 1), [
            0x82, 10, 0, 1, 0, 1, b'a', 0, 0, 1, b'b', 0,
            0xa2, 5, 0, 2, 0, 1, b'a',
        ]);
        assert_eq!(
            s.subscribe(&[], QoS::AtMostOnce),
            Err(SubscribeError::NoFilters)
        );
        assert_eq!(
            s.subscribe(&["a/#/b"], QoS::AtMostOnce),
            Err(SubscribeError::InvalidFilter)
        );
        assert_eq!(s.subscribe(&["c"], QoS::AtMostOnce), Ok(3));
        s.next_packet_id = u16::MAX;
        assert_eq!(s.subscribe(&["c"], QoS::AtMostOnce), Ok(u16::MAX));
        assert_eq!(s.subscribe(&["c"], QoS::AtMostOnce), Ok(1));
    }

    #[test]
    fn suback_reports_granted_and_failed_filters() {
        let mut s = connected();
        assert_eq!(feed(&mut s, &[0x90, 3, 0, 1, 0], 1), [Owned::Subscribed(1)]);
        assert_eq!(
            feed(&mut s, &[0x90, 5, 0, 2, 0x80, 1, 0x80], 1),
            [Owned::SubscribeFailed(2, 0), Owned::SubscribeFailed(2, 2)]
        );
        assert_eq!(feed(&mut s, &[0xb0, 2, 0, 3], 1), [Owned::Unsubscribed(3)]);
    }

    #[test]
    fn publish_queues_qos0_and_refuses_when_the_buffer_is_full() {
        let mut s = connected();
        assert_eq!(s.publish("t/1", &[7; 3]), Ok(()));
        assert_eq!(drain(&mut s, 1), [0x30, 8, 0, 3, b't', b'/', b'1', 7, 7, 7]);
        // 256-byte buffer, 8 kept in reserve: 123 + 123 fit, a third does not.
        let payload = [0u8; 118];
        assert_eq!(s.publish("t", &payload), Ok(()));
        assert_eq!(s.publish("t", &payload), Ok(()));
        assert_eq!(s.publish("t", &payload), Err(PublishError::TxFull));
        assert_eq!(s.publish("t", &[0; 300]), Err(PublishError::TooLarge));
        assert_eq!(s.publish("t/+", &[]), Err(PublishError::InvalidTopic));
        // Part of the queue goes out; the freed space is reused.
        let mut out = [0u8; 123];
        assert_eq!(s.poll_transmit(&mut out, 2), 123);
        assert_eq!(s.publish("t", &payload), Ok(()));
        assert_eq!(drain(&mut s, 2).len(), 246);
        let mut idle = Session::new(options()).unwrap();
        assert_eq!(idle.publish("t", &[]), Err(PublishError::NotConnected));
    }

    #[test]
    fn transmit_and_consume_hand_out_the_same_bytes() {
        let mut s = connected();
        s.publish("t", &[1, 2]).unwrap();
        assert_eq!(s.transmit(), [0x30, 5, 0, 1, b't', 1, 2]);
        s.consume(3, 1);
        assert_eq!(s.transmit(), [1, b't', 1, 2]);
        s.consume(4, 1);
        assert!(s.transmit().is_empty());
    }

    /// CONNACK, SUBACK, two publishes (one QoS 1), UNSUBACK, PINGRESP.
    #[rustfmt::skip]
    const SCRIPT: &[u8] = &[
        0x20, 2, 0, 0,
        0x90, 3, 0, 1, 0,
        0x30, 7, 0, 3, b'a', b'/', b'b', 1, 2,
        0x32, 6, 0, 1, b'c', 0, 9, 3,
        0xb0, 2, 0, 2,
        0xd0, 0,
    ];

    fn script_events() -> Vec<Owned> {
        vec![
            Owned::Connected,
            Owned::Subscribed(1),
            Owned::Publish("a/b".to_string(), vec![1, 2]),
            Owned::Publish("c".to_string(), vec![3]),
            Owned::Unsubscribed(2),
        ]
    }

    #[test]
    fn several_packets_in_one_read_give_every_event() {
        let mut s = connecting();
        assert_eq!(feed(&mut s, SCRIPT, 1), script_events());
        assert_eq!(drain(&mut s, 1), [0x40, 2, 0, 9]);
    }

    #[test]
    fn a_stream_split_at_every_byte_gives_the_same_events() {
        for split in 0..=SCRIPT.len() {
            let mut s = connecting();
            let mut events = feed(&mut s, &SCRIPT[..split], 1);
            events.extend(feed(&mut s, &SCRIPT[split..], 2));
            assert_eq!(events, script_events(), "split at {split}");
        }
        let mut s = connecting();
        let events: Vec<Owned> = SCRIPT.iter().flat_map(|b| feed(&mut s, &[*b], 1)).collect();
        assert_eq!(events, script_events());
    }

    #[test]
    fn handle_bytes_stops_after_each_packet_and_waits_for_its_events() {
        let mut s = connecting();
        assert_eq!(s.handle_bytes(SCRIPT, 1), Ok(4));
        // The Connected event is untaken: nothing more is read.
        assert_eq!(s.handle_bytes(&SCRIPT[4..], 1), Ok(0));
        assert_eq!(
            s.poll_event(),
            Some(Event::Connected {
                session_present: false
            })
        );
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.handle_bytes(&SCRIPT[4..], 1), Ok(5));
    }

    #[test]
    fn handle_bytes_waits_for_room_for_an_acknowledgement() {
        let mut s = connected();
        // Fill the buffer to the reserve, then take 1 more byte with an ack.
        s.publish("t", &[0; 242]).unwrap();
        assert_eq!(s.tx.free(), CONTROL_RESERVE);
        let qos1 = [0x32, 5, 0, 1, b't', 0, 1];
        assert_eq!(
            feed(&mut s, &qos1, 1),
            [Owned::Publish("t".to_string(), vec![])]
        );
        assert_eq!(s.tx.free(), CONTROL_RESERVE - ACK_LEN);
        assert_eq!(s.handle_bytes(&qos1, 1), Ok(0));
        let sent = drain(&mut s, 1);
        assert_eq!(sent[sent.len() - 4..], [0x40, 2, 0, 1]);
        assert_eq!(s.handle_bytes(&qos1, 1), Ok(7));
    }

    #[test]
    fn qos1_publish_is_delivered_and_acknowledged() {
        let mut s = connected();
        let events = feed(&mut s, &[0x32, 6, 0, 1, b't', 0x12, 0x34, 5], 1);
        assert_eq!(events, [Owned::Publish("t".to_string(), vec![5])]);
        assert_eq!(drain(&mut s, 1), [0x40, 2, 0x12, 0x34]);
    }

    #[test]
    fn qos2_publish_is_delivered_once_and_completed() {
        let mut s = connected();
        let publish = [0x34, 6, 0, 1, b't', 0, 7, 5];
        let dup = [0x3c, 6, 0, 1, b't', 0, 7, 5];
        let pubrel = [0x62, 2, 0, 7];
        assert_eq!(
            feed(&mut s, &publish, 1),
            [Owned::Publish("t".to_string(), vec![5])]
        );
        assert_eq!(drain(&mut s, 1), [0x50, 2, 0, 7]);
        // A retransmission before the PUBREL is acknowledged, not delivered.
        assert_eq!(feed(&mut s, &dup, 2), []);
        assert_eq!(drain(&mut s, 2), [0x50, 2, 0, 7]);
        assert_eq!(s.stats().duplicates_dropped, 1);
        assert_eq!(feed(&mut s, &pubrel, 3), []);
        assert_eq!(drain(&mut s, 3), [0x70, 2, 0, 7]);
        // The exchange is over: the identifier may carry a new message.
        assert_eq!(
            feed(&mut s, &publish, 4),
            [Owned::Publish("t".to_string(), vec![5])]
        );
        assert_eq!(s.stats().publishes_received, 2);
        // A PUBREL for an unknown identifier still gets its PUBCOMP.
        drain(&mut s, 4);
        assert_eq!(feed(&mut s, &[0x62, 2, 0, 8], 5), []);
        assert_eq!(drain(&mut s, 5), [0x70, 2, 0, 8]);
    }

    #[test]
    fn the_qos2_window_forgets_the_oldest_identifier() {
        let mut s = connected();
        for id in 1..=QOS2_WINDOW as u8 + 1 {
            feed(&mut s, &[0x34, 5, 0, 1, b't', 0, id], 1);
            drain(&mut s, 1);
        }
        assert_eq!(s.awaiting_pubrel.len(), QOS2_WINDOW);
        assert!(!s.awaiting_pubrel.contains(&1));
    }

    #[test]
    fn an_oversize_publish_is_skipped_counted_and_the_next_one_parsed() {
        // max_incoming is 64: a 100-byte body is skipped.
        let mut stream = vec![0x32, 100, 0, 1, b't', 0, 42];
        stream.extend_from_slice(&[0xaa; 95]);
        stream.extend_from_slice(&[0x30, 4, 0, 1, b't', 9]);
        for piece in [1, 3, 50, stream.len()] {
            let mut s = connected();
            let mut events = Vec::new();
            for chunk in stream.chunks(piece) {
                events.extend(feed(&mut s, chunk, 1));
            }
            assert_eq!(events, [Owned::Publish("t".to_string(), vec![9])]);
            assert_eq!(s.stats().oversize_skipped, 1);
            // The skipped QoS 1 publish is still acknowledged.
            assert_eq!(drain(&mut s, 1), [0x40, 2, 0, 42]);
        }
    }

    #[test]
    fn a_malformed_remaining_length_fails_the_connection() {
        let mut s = connected();
        let error = ConnectionError::Malformed(DecodeError::MalformedRemainingLength);
        assert_eq!(
            try_feed(&mut s, &[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f], 1),
            Err(error)
        );
        assert_eq!(s.state(), State::Failed(error));
        // A new connection starts clean.
        s.connect(2);
        drain(&mut s, 2);
        assert_eq!(feed(&mut s, &CONNACK_OK, 3), [Owned::Connected]);
    }

    #[test]
    fn a_ping_is_sent_after_a_keepalive_without_traffic() {
        let mut s = connected();
        // Keepalive 10 s from the CONNECT written at 0.
        assert_eq!(s.poll_timeout(), Some(10_000));
        s.handle_timeout(9_999).unwrap();
        assert!(s.transmit().is_empty());
        s.handle_timeout(10_000).unwrap();
        assert_eq!(drain(&mut s, 10_000), [0xc0, 0]);
        assert_eq!(s.stats().pings_sent, 1);
        // Waiting for the answer: half the keepalive.
        assert_eq!(s.poll_timeout(), Some(15_000));
        assert_eq!(feed(&mut s, &[0xd0, 0], 10_050), []);
        assert_eq!(s.poll_timeout(), Some(20_000));
        // Traffic both ways postpones the ping.
        s.publish("t", &[1]).unwrap();
        drain(&mut s, 15_000);
        feed(&mut s, &[0x30, 4, 0, 1, b't', 9], 16_000);
        assert_eq!(s.poll_timeout(), Some(25_000));
        s.handle_timeout(24_999).unwrap();
        assert!(s.transmit().is_empty());
        s.handle_timeout(25_000).unwrap();
        assert_eq!(drain(&mut s, 25_000), [0xc0, 0]);
        assert!(s.is_connected());
    }

    #[test]
    fn a_missing_pingresp_declares_the_link_dead() {
        let mut s = connected();
        s.handle_timeout(10_000).unwrap();
        drain(&mut s, 10_000);
        s.handle_timeout(14_999).unwrap();
        assert_eq!(s.handle_timeout(15_000), Err(ConnectionError::Timeout));
        assert_eq!(s.state(), State::Failed(ConnectionError::Timeout));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn any_packet_answers_a_ping() {
        let mut s = connected();
        s.handle_timeout(10_000).unwrap();
        drain(&mut s, 10_000);
        feed(&mut s, &[0x30, 4, 0, 1, b't', 9], 12_000);
        s.handle_timeout(15_000).unwrap();
        assert!(s.is_connected());
    }

    #[test]
    fn sending_only_still_pings_to_find_a_dead_link() {
        let mut s = connected();
        for t in (1_000..=10_000).step_by(1_000) {
            s.publish("t", &[1]).unwrap();
            drain(&mut s, t);
            s.handle_timeout(t).unwrap();
        }
        // Nothing received for 10 s: a ping went out.
        assert_eq!(s.stats().pings_sent, 1);
    }

    #[test]
    fn a_missing_connack_times_out() {
        let mut s = connecting();
        assert_eq!(s.poll_timeout(), Some(5_000));
        s.handle_timeout(4_999).unwrap();
        assert_eq!(s.handle_timeout(5_000), Err(ConnectionError::Timeout));
    }

    #[test]
    fn the_response_timeout_follows_the_keepalive() {
        let timeout = |o: Options| Session::new(o).unwrap().response_timeout_ms;
        assert_eq!(timeout(Options::new("c").with_keepalive(60)), 30_000);
        assert_eq!(timeout(Options::new("c").with_keepalive(1)), 2_000);
        assert_eq!(timeout(Options::new("c").with_keepalive(0)), 10_000);
        let fixed = Options {
            response_timeout_ms: Some(750),
            ..Options::new("c")
        };
        assert_eq!(timeout(fixed), 750);
    }

    #[test]
    fn keepalive_zero_never_pings() {
        let mut s = Session::new(Options::new("c").with_keepalive(0)).unwrap();
        s.connect(0);
        feed(&mut s, &CONNACK_OK, 0);
        drain(&mut s, 0);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(1_000_000).unwrap();
        assert!(s.transmit().is_empty());
    }

    #[test]
    fn disconnect_queues_disconnect_and_ends_the_session() {
        let mut s = connected();
        s.disconnect();
        assert_eq!(drain(&mut s, 1), [0xe0, 0]);
        assert_eq!(s.state(), State::Disconnected);
        assert_eq!(
            s.handle_bytes(&[0xd0, 0], 2),
            Err(ConnectionError::NotConnected)
        );
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn bad_options_are_refused() {
        let no_user = Options {
            password: Some(b"pw".to_vec()),
            ..Options::new("c")
        };
        assert_eq!(
            Session::new(no_user).err(),
            Some(OptionsError::PasswordWithoutUsername)
        );
        let tiny = Options {
            tx_capacity: 16,
            ..Options::new("client")
        };
        assert_eq!(
            Session::new(tiny).err(),
            Some(OptionsError::TxCapacityTooSmall)
        );
        let long = Options::new(&"x".repeat(70_000));
        assert_eq!(Session::new(long).err(), Some(OptionsError::FieldTooLong));
    }
}
