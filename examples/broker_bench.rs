//! A load tool for an MQTT broker, the baseline `bench/tunnel.sh` compares
//! the tunnel against. Std only (one blocking `TcpStream` per client);
//! MQTT is encoded and parsed by the crate's sans-IO [`mqttvpn::mqtt`].
//!
//! ```text
//! broker_bench pub --broker HOST:PORT --topic T --size 1400 --seconds N
//! broker_bench sub --broker HOST:PORT --topic T --seconds N --warmup 1 [--cpu-pid PID]
//! broker_bench rtt --broker HOST:PORT --count 200 --size 100 [--reply-topic R] [--interval-ms 20]
//! broker_bench echo --broker HOST:PORT --topic T --reply-topic R --seconds N
//! ```
//!
//! `pub` sends QoS 0 PUBLISH packets as fast as the broker takes them;
//! `sub` counts what arrives for `--seconds`, starting `--warmup` seconds
//! after the first message (with `--cpu-pid`, also the CPU ticks that
//! process used meanwhile); `rtt` times publish-to-self round trips, or
//! with `--reply-topic` round trips through an `echo` client elsewhere
//! (two broker crossings, like a ping through the tunnel), `--interval-ms`
//! apart; `echo` publishes every message on `--topic` again on
//! `--reply-topic`. Each
//! prints one JSON line on stdout; `sub` says `subscribed` on stderr once
//! (or `echo`) says `subscribed` on stderr once its subscription stands.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use mqttvpn::mqtt::codec::ClientPacket;
use mqttvpn::mqtt::{Event, Options, QoS, Session};

/// What a bad command line prints.
const USAGE: &str = "usage: broker_bench pub|sub|rtt|echo [--broker HOST:PORT] [--topic T] \
                     [--size BYTES] [--seconds S] [--warmup S] [--count N] [--cpu-pid PID] \
                     [--reply-topic R] [--interval-ms MS]";
/// Every flag, space-separated.
const FLAGS: &str =
    "--broker --topic --size --seconds --warmup --count --cpu-pid --reply-topic --interval-ms";

/// Turns an error of the MQTT module into an I/O error.
fn io<T, E: std::error::Error + Send + Sync + 'static>(result: Result<T, E>) -> io::Result<T> {
    result.map_err(io::Error::other)
}

/// The `--flag value` pairs after the subcommand.
struct Flags<'a>(&'a [String]);

impl Flags<'_> {
    /// The value of `--name`, parsed, or `default` when it is absent.
    fn get<T: FromStr>(&self, name: &str, default: T) -> io::Result<T> {
        match self.0.chunks(2).find(|pair| pair[0] == name) {
            None => Ok(default),
            Some([_, value]) => value
                .parse()
                .map_err(|_| io::Error::other(format!("bad value for {name}: {value}"))),
            Some(_) => Err(io::Error::other(format!("{name} needs a value"))),
        }
    }

    fn topic(&self) -> io::Result<String> {
        self.get("--topic", format!("bench/{}", std::process::id()))
    }
}

/// One MQTT connection: the socket, the session and read-but-unparsed
/// input (`rx[unread]`).
struct Client {
    stream: TcpStream,
    session: Session,
    epoch: Instant,
    rx: Vec<u8>,
    unread: std::ops::Range<usize>,
}

impl Client {
    /// Connects to `--broker` with a clean session and no keepalive;
    /// returns after the CONNACK. `max_body` bounds the incoming packets
    /// kept whole.
    fn connect(flags: &Flags, role: &str, max_body: usize) -> io::Result<Self> {
        let stream = TcpStream::connect(flags.get("--broker", "127.0.0.1:1883".to_owned())?)?;
        stream.set_nodelay(true)?;
        let mut options = Options::new(&format!("bench-{role}-{}", std::process::id()));
        options.keepalive_secs = 0;
        options.max_incoming = max_body;
        options.tx_capacity = 4096 + 2 * max_body;
        let session = io(Session::new(options))?;
        let mut client = Self {
            stream,
            session,
            epoch: Instant::now(),
            rx: vec![0; 256 * 1024],
            unread: 0..0,
        };
        client.session.connect(0);
        client.expect(10.0, |e| matches!(e, Event::Connected { .. }))?;
        Ok(client)
    }

    /// Writes everything the session has queued.
    fn flush(&mut self) -> io::Result<()> {
        while !self.session.transmit().is_empty() {
            let n = self.stream.write(self.session.transmit())?;
            self.session
                .consume(n, self.epoch.elapsed().as_millis() as u64);
        }
        Ok(())
    }

    /// Feeds input to the session, calling `stop` on each event, until it
    /// returns true (then `Ok(true)`) or `deadline` passes (`Ok(false)`).
    fn run(&mut self, deadline: Instant, mut stop: impl FnMut(&Event) -> bool) -> io::Result<bool> {
        loop {
            self.flush()?;
            let mut done = false;
            while !self.unread.is_empty() && !done {
                let now = self.epoch.elapsed().as_millis() as u64;
                let used = io(self
                    .session
                    .handle_bytes(&self.rx[self.unread.clone()], now))?;
                self.unread.start += used;
                while let Some(event) = self.session.poll_event() {
                    done |= stop(&event);
                }
                if used == 0 {
                    self.flush()?; // the session waits for transmit space
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if done || left.is_zero() {
                return Ok(done);
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut self.rx) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.unread = 0..n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Like [`Client::run`] for up to `seconds`, but the time running out
    /// is an error.
    fn expect(&mut self, seconds: f64, stop: impl FnMut(&Event) -> bool) -> io::Result<()> {
        let done = self.run(Instant::now() + Duration::from_secs_f64(seconds), stop)?;
        done.then_some(()).ok_or(ErrorKind::TimedOut.into())
    }

    /// Subscribes to `topic` at QoS 0 and waits for the SUBACK.
    fn subscribe(&mut self, topic: &str) -> io::Result<()> {
        let id = io(self.session.subscribe(&[topic], QoS::AtMostOnce))?;
        self.expect(
            10.0,
            |e| matches!(e, Event::Subscribed { packet_id } if *packet_id == id),
        )
    }
}

/// utime + stime of process `pid`, in clock ticks, from `/proc/PID/stat`.
fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Fields 14 and 15 of proc_pid_stat(5); this split starts at field 3.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| io(fields.get(i).unwrap_or(&"").parse::<u64>());
    Ok(field(11)? + field(12)?)
}

/// A JSON object of a message count over a time span, `extra` fields
/// (each with a leading comma) appended.
fn rate_json(msgs: u64, bytes: u64, seconds: f64, extra: &str) -> String {
    let (rate, mbit) = (msgs as f64 / seconds, bytes as f64 * 8.0 / seconds / 1e6);
    format!(
        "{{\"msgs\":{msgs},\"bytes\":{bytes},\"seconds\":{seconds:.3},\"msgs_per_s\":{rate:.1},\"mbit_per_s\":{mbit:.2}{extra}}}"
    )
}

/// Publishes `--size`-byte messages for `--seconds`, many packets a write.
fn publisher(flags: &Flags) -> io::Result<String> {
    let (size, seconds) = (flags.get("--size", 1400)?, flags.get("--seconds", 10.0)?);
    let mut client = Client::connect(flags, "pub", 64)?;
    let (topic, payload) = (&flags.topic()?, vec![0xa5; size]);
    let packet = ClientPacket::Publish {
        topic,
        payload: &payload,
    };
    let len = io(packet.encoded_len())?;
    let per_write = (256 * 1024 / len).max(1);
    let mut batch = vec![0; len * per_write];
    for chunk in batch.chunks_mut(len) {
        io(packet.encode(chunk))?;
    }
    let (start, mut msgs) = (Instant::now(), 0u64);
    while start.elapsed().as_secs_f64() < seconds {
        client.stream.write_all(&batch)?;
        msgs += per_write as u64;
    }
    let elapsed = start.elapsed().as_secs_f64();
    client.session.disconnect();
    client.flush()?;
    Ok(rate_json(msgs, msgs * size as u64, elapsed, ""))
}

/// Counts the messages on `--topic` over `--seconds` after a warm-up.
fn subscriber(flags: &Flags) -> io::Result<String> {
    let (seconds, warmup) = (flags.get("--seconds", 10.0)?, flags.get("--warmup", 1.0)?);
    let cpu_pid = flags.get("--cpu-pid", 0u32)?; // 0: none
    let mut client = Client::connect(flags, "sub", 64 * 1024)?;
    client.subscribe(&flags.topic()?)?;
    eprintln!("subscribed");
    client.expect(30.0, |e| matches!(e, Event::Publish { .. }))?;
    client.run(Instant::now() + Duration::from_secs_f64(warmup), |_| false)?;
    let ticks0 = if cpu_pid > 0 { cpu_ticks(cpu_pid)? } else { 0 };
    let (start, mut msgs, mut bytes) = (Instant::now(), 0u64, 0u64);
    client.run(start + Duration::from_secs_f64(seconds), |e| {
        if let Event::Publish { payload, .. } = e {
            msgs += 1;
            bytes += payload.len() as u64;
        }
        false
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let extra = match cpu_pid {
        0 => String::new(),
        pid => format!(",\"cpu_ticks\":{}", cpu_ticks(pid)? - ticks0),
    };
    Ok(rate_json(msgs, bytes, elapsed, &extra))
}

/// Times `--count` round trips of a `--size`-byte message through the
/// broker, after 10 untimed ones: to itself, or to an `echo` client and
/// back when `--reply-topic` is given; `--interval-ms` apart.
fn round_trips(flags: &Flags) -> io::Result<String> {
    let (count, size) = (flags.get("--count", 200usize)?, flags.get("--size", 100)?);
    let interval = Duration::from_millis(flags.get("--interval-ms", 0u64)?);
    let mut client = Client::connect(flags, "rtt", size + 1024)?;
    let (topic, payload) = (flags.topic()?, vec![0x5a; size]);
    client.subscribe(&flags.get("--reply-topic", topic.clone())?)?;
    let mut micros = Vec::with_capacity(count);
    for i in 0..count.max(1) + 10 {
        std::thread::sleep(interval);
        let start = Instant::now();
        io(client.session.publish(&topic, &payload))?;
        client.expect(5.0, |e| matches!(e, Event::Publish { .. }))?;
        if i >= 10 {
            micros.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
    let ([p50, p90, min, max], n) = ([0.5, 0.9, 0.0, 1.0].map(at), micros.len());
    Ok(format!(
        "{{\"count\":{n},\"median_us\":{p50:.1},\"p90_us\":{p90:.1},\"min_us\":{min:.1},\"max_us\":{max:.1}}}"
    ))
}

/// Publishes every message that arrives on `--topic` again on
/// `--reply-topic`, for `--seconds`.
fn echo(flags: &Flags) -> io::Result<String> {
    let seconds = flags.get("--seconds", 60.0)?;
    let reply: String = flags.get("--reply-topic", String::new())?;
    if reply.is_empty() {
        return Err(io::Error::other("echo needs --reply-topic"));
    }
    let mut client = Client::connect(flags, "echo", 64 * 1024)?;
    client.subscribe(&flags.topic()?)?;
    eprintln!("subscribed");
    let (mut echoed, mut payload) = (0u64, Vec::new());
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    loop {
        let got = client.run(deadline, |e| {
            if let Event::Publish { payload: p, .. } = e {
                payload.clear();
                payload.extend_from_slice(p);
                return true;
            }
            false
        })?;
        if !got {
            break;
        }
        io(client.session.publish(&reply, &payload))?;
        echoed += 1;
    }
    Ok(format!("{{\"echoed\":{echoed}}}"))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let command = argv.first().map_or("", String::as_str);
    let flags = Flags(argv.get(1..).unwrap_or_default());
    let unknown = flags
        .0
        .chunks(2)
        .find(|p| !FLAGS.split(' ').any(|f| f == p[0]));
    let result = match command {
        "pub" if unknown.is_none() => publisher(&flags),
        "sub" if unknown.is_none() => subscriber(&flags),
        "rtt" if unknown.is_none() => round_trips(&flags),
        "echo" if unknown.is_none() => echo(&flags),
        _ => {
            eprintln!(
                "broker_bench: unknown {:?}\n{USAGE}",
                unknown.map_or(command, |p| &p[0])
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("broker_bench {command}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
