//! The Linux node under a hostile or failing broker: garbage flooding its
//! topic while real traffic crosses the tunnel, and a broker killed again and
//! again under load. The node must keep running, keep its session, carry
//! every packet of the real traffic, count what it drops by reason, and not
//! grow in memory or file descriptors.
//!
//! Needs root and mosquitto; skipped with a printed reason otherwise (never
//! in CI). `MQTT_VPN_NODE=/path/to/mqtt_vpn` runs another node binary than
//! the one cargo built; `MQTT_VPN_KILL_LOOP_SECS` shortens (or lengthens) the
//! broker kill loop, 120 s by default.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mqttvpn::mqtt::codec::{ClientPacket, Connect};
use mqttvpn::wire::{Key, NONCE_LEN, seal, sealed_len};
use support::{
    BROKER_PORT, Lab, Netns, can_use_namespaces, connect_in, counters, have_mosquitto, listen_in,
    open_fds, rss_kib,
};

const A: &str = "10.0.1.1";
const B: &str = "10.0.1.2";
const PASSWORD: &str = "pw";
/// The topic node B reads, where the garbage goes.
const B_TOPIC: &str = "mqttip/10.0.1.2";
const UP: Duration = Duration::from_secs(15);
/// Mosquitto may drop QoS 0 messages for a client whose socket is backed up
/// (`max_queued_messages`, 1000 by default); unbounded, every message reaches
/// the node, so the test can count them. `$SYS` counters every second say
/// what the broker received, sent and dropped.
const MOSQUITTO_UNBOUNDED: &str = "max_queued_messages 0\nsys_interval 1\n";
/// No node may ever hold more resident memory than this.
const RSS_LIMIT_KIB: u64 = 64 * 1024;
/// How much a node's resident memory may grow from before a flood to after
/// it (a 1 MiB message passes through its buffers).
const FLOOD_RSS_GROWTH_KIB: u64 = 4 * 1024;
/// How much a node's resident memory may grow from the second broker
/// restart to the last: allocator noise, not a buffer per reconnect.
const KILL_LOOP_RSS_GROWTH_KIB: u64 = 1024;
/// How many more file descriptors a node may hold at the last broker restart
/// than at the second.
const FD_GROWTH: usize = 1;

fn ready(test: &str) -> bool {
    can_use_namespaces(test) && have_mosquitto(test)
}

/// A lab of two hosts whose nodes run `MQTT_VPN_NODE` if it is set.
fn new_lab() -> Lab {
    let mut lab = Lab::new(2);
    if let Some(node) = std::env::var_os("MQTT_VPN_NODE") {
        lab.node_command.0 = node.into();
    }
    lab
}

/// Mosquitto and two encrypted nodes, A in host 1 and B in host 2; returns
/// the lab and the indices of the broker, A and B once A can ping B.
fn two_encrypted_nodes() -> (Lab, usize, usize, usize) {
    let mut lab = new_lab();
    let broker = lab.start_mosquitto_with(MOSQUITTO_UNBOUNDED);
    let a = lab.start_node(1, A, &["-k", PASSWORD]);
    let b = lab.start_node(2, B, &["-k", PASSWORD]);
    assert!(
        lab.host(1).ns.wait_for_ping(B, UP).is_some(),
        "tunnel did not come up\n{}",
        log_tails(&lab)
    );
    (lab, broker, a, b)
}

/// The last lines of every log of the lab, for failure messages (a flooded
/// node's debug log has a line per dropped message).
fn log_tails(lab: &Lab) -> String {
    let mut out = String::new();
    for section in lab.logs().split("--- /").filter(|s| !s.is_empty()) {
        let lines: Vec<&str> = section.lines().collect();
        out.push_str("--- /");
        out.push_str(lines.first().copied().unwrap_or(""));
        out.push('\n');
        for line in &lines[lines.len().saturating_sub(25).max(1)..] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

// --- the garbage flood -------------------------------------------------------

/// A small xorshift generator: the garbage needs no better randomness.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self((nanos as u64) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `range` (end exclusive).
    fn below(&mut self, range: std::ops::Range<usize>) -> usize {
        range.start + (self.next() % (range.end - range.start) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn nonce(&mut self) -> [u8; NONCE_LEN] {
        self.bytes(NONCE_LEN).try_into().unwrap()
    }
}

/// What the flood publishes to B's topic, and the drop reason each should
/// end in at B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Garbage {
    /// Random bytes of random length (0 to 2000): too short or not
    /// decrypting.
    RandomBytes,
    /// A packet sealed with the right key, cut short: too short or not
    /// decrypting.
    TruncatedSealed,
    /// A packet sealed with another key: not decrypting.
    SealedWithWrongKey,
    /// Readable text, as a plain node or a stray client would publish: too
    /// short or not decrypting.
    Plaintext,
    /// Sealed with the right key, but no IP packet: malformed.
    SealedNotIp,
    /// Sealed with the right key, an IPv4 packet longer than the MTU: too
    /// large.
    SealedTooLarge,
    /// Random bytes of 64 KiB to 1 MiB, far over any sealed packet; the
    /// first is exactly 1 MiB.
    Oversize,
}

const SMALL_GARBAGE: [Garbage; 6] = [
    Garbage::RandomBytes,
    Garbage::TruncatedSealed,
    Garbage::SealedWithWrongKey,
    Garbage::Plaintext,
    Garbage::SealedNotIp,
    Garbage::SealedTooLarge,
];
/// How many oversize payloads one flood publishes, one every
/// [`OVERSIZE_EVERY`].
const OVERSIZE_COUNT: u64 = 4;
const OVERSIZE_EVERY: Duration = Duration::from_secs(1);
/// Small payloads per burst, and the pause after each burst: a few thousand
/// messages a second, far above the tunnel's own rate of packets here.
const BURST: usize = 20;
const BURST_PAUSE: Duration = Duration::from_millis(5);

/// An IPv4 header of `total_len` from A to B, followed by zeros up to
/// `total_len`.
fn ipv4_packet(total_len: usize) -> Vec<u8> {
    let mut p = vec![0u8; total_len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&u16::try_from(total_len).unwrap().to_be_bytes());
    p[8] = 64;
    p[9] = 1; // ICMP
    p[12..16].copy_from_slice(&[10, 0, 1, 1]);
    p[16..20].copy_from_slice(&[10, 0, 1, 2]);
    p
}

fn sealed(key: &Key, rng: &mut Rng, packet: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; sealed_len(packet.len())];
    let len = seal(key, &rng.nonce(), packet, &mut out).unwrap();
    out.truncate(len);
    out
}

/// One payload of kind `kind`.
fn garbage(
    kind: Garbage,
    rng: &mut Rng,
    right: &Key,
    wrong: &Key,
    first_oversize: bool,
) -> Vec<u8> {
    match kind {
        Garbage::RandomBytes => {
            let len = rng.below(0..2001);
            rng.bytes(len)
        }
        Garbage::TruncatedSealed => {
            let len = rng.below(20..1400);
            let whole = sealed(right, rng, &ipv4_packet(len));
            let cut = rng.below(0..whole.len());
            whole[..cut].to_vec()
        }
        Garbage::SealedWithWrongKey => {
            let len = rng.below(20..1500);
            sealed(wrong, rng, &ipv4_packet(len))
        }
        Garbage::Plaintext => {
            let texts: [&[u8]; 3] = [
                b"hello",
                b"GET / HTTP/1.1\r\nHost: 10.0.1.2\r\nUser-Agent: not-an-ip-packet\r\n\r\n",
                b"{\"temperature\": 21.5, \"humidity\": 40, \"sensor\": \"kitchen\"}",
            ];
            texts[rng.below(0..texts.len())].to_vec()
        }
        Garbage::SealedNotIp => {
            let len = rng.below(1..1500);
            let mut packet = rng.bytes(len);
            packet[0] &= 0x0f; // IP version 0
            sealed(right, rng, &packet)
        }
        Garbage::SealedTooLarge => sealed(right, rng, &ipv4_packet(1540)),
        Garbage::Oversize => {
            let len = if first_oversize {
                1024 * 1024
            } else {
                rng.below(64 * 1024..1024 * 1024 + 1)
            };
            rng.bytes(len)
        }
    }
}

/// An MQTT client of the test's own, on the crate's encoder over a blocking
/// socket: it only connects and publishes at QoS 0.
struct Publisher {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Publisher {
    /// Connects to the broker listening in `ns` and waits for its CONNACK.
    fn connect(ns: &Netns, client_id: &str) -> Self {
        let broker = SocketAddr::from(([127, 0, 0, 1], BROKER_PORT));
        let stream = connect_in(ns, broker).expect("connect to the broker in its namespace");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut publisher = Self {
            stream,
            buf: Vec::new(),
        };
        publisher.send(ClientPacket::Connect(Connect {
            client_id,
            username: None,
            password: None,
            keepalive_secs: 0,
            clean_session: true,
            will: None,
        }));
        let mut connack = [0u8; 4];
        publisher.stream.read_exact(&mut connack).expect("CONNACK");
        assert_eq!(
            connack,
            [0x20, 2, 0, 0],
            "the broker refused the flood client"
        );
        publisher
    }

    fn send(&mut self, packet: ClientPacket<'_>) {
        self.try_send(packet).expect("write to the broker");
    }

    fn try_send(&mut self, packet: ClientPacket<'_>) -> std::io::Result<()> {
        let len = packet.encoded_len().expect("encodable packet");
        self.buf.resize(len, 0);
        packet.encode(&mut self.buf).expect("encode");
        self.stream.write_all(&self.buf)
    }

    fn publish(&mut self, topic: &str, payload: &[u8]) -> std::io::Result<()> {
        self.try_send(ClientPacket::Publish { topic, payload })
    }
}

/// What a flood sent, by kind.
#[derive(Debug, Default)]
struct FloodReport {
    sent: BTreeMap<Garbage, u64>,
    bytes: u64,
    seconds: f64,
}

impl FloodReport {
    fn small_messages(&self) -> u64 {
        SMALL_GARBAGE
            .iter()
            .map(|k| self.sent.get(k).copied().unwrap_or(0))
            .sum()
    }
}

/// Publishes garbage to B's topic from the broker's namespace until `stop`
/// is set (at most two minutes).
fn start_flood(ns: &Netns, stop: Arc<AtomicBool>) -> JoinHandle<FloodReport> {
    let mut publisher = Publisher::connect(ns, "hardening-flood");
    std::thread::spawn(move || {
        let mut rng = Rng::seeded();
        let right = Key::from_password(PASSWORD.as_bytes()).unwrap();
        let wrong = Key::from_password(b"not the password").unwrap();
        let mut report = FloodReport::default();
        let start = Instant::now();
        let mut next_oversize = start + OVERSIZE_EVERY;
        let mut oversize_sent = 0;
        while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(120) {
            let mut burst: Vec<(Garbage, Vec<u8>)> = (0..BURST)
                .map(|_| {
                    let kind = SMALL_GARBAGE[rng.below(0..SMALL_GARBAGE.len())];
                    (kind, garbage(kind, &mut rng, &right, &wrong, false))
                })
                .collect();
            if oversize_sent < OVERSIZE_COUNT && Instant::now() >= next_oversize {
                let first = oversize_sent == 0;
                let payload = garbage(Garbage::Oversize, &mut rng, &right, &wrong, first);
                burst.push((Garbage::Oversize, payload));
                oversize_sent += 1;
                next_oversize += OVERSIZE_EVERY;
            }
            for (kind, payload) in burst {
                publisher
                    .publish(B_TOPIC, &payload)
                    .expect("the broker took the flood client's publish");
                *report.sent.entry(kind).or_default() += 1;
                report.bytes += payload.len() as u64;
            }
            std::thread::sleep(BURST_PAUSE);
        }
        report.seconds = start.elapsed().as_secs_f64();
        report
    })
}

/// The largest resident memory process `pid` reached, sampled every 50 ms
/// until `stop` is set.
fn start_rss_sampler(pid: u32, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_kib(pid).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

/// `count` pings from `from` to `dst`, `interval` apart, started in the
/// background; [`ping_result`] waits for them.
fn start_pings(from: &Netns, dst: &str, count: u32, interval: &str) -> std::process::Child {
    from.command("ping")
        .args([
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            interval,
            "-W",
            "5",
        ])
        .arg(dst)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ping")
}

/// The replies received and ping's summary line.
fn ping_result(ping: std::process::Child) -> (u32, String) {
    let out = ping.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let summary = text
        .lines()
        .find(|l| l.contains("received"))
        .unwrap_or("no summary")
        .to_owned();
    let received = summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (received, summary)
}

/// Sends `bytes` random bytes over TCP from host 1 to B (a listener in host
/// 2); returns the sha256 sent and the sha256 received.
fn tcp_transfer(lab: &Lab, bytes: usize) -> (String, String) {
    lab.start_tcp_transfer(B, bytes)
        .finish()
        .unwrap_or_else(|why| panic!("the transfer to {B} failed: {why}\n{}", log_tails(lab)))
}

/// Mosquitto's own publish counters (`$SYS/broker/publish/messages/...`:
/// `received`, `sent`, `dropped`), as far as mosquitto_sub can tell.
fn broker_publish_counters(lab: &Lab) -> BTreeMap<String, u64> {
    let Ok(out) = lab
        .broker_ns
        .command("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-v", "-C", "3", "-W", "5"])
        .args(["-t", "$SYS/broker/publish/messages/+"])
        .output()
    else {
        return BTreeMap::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (topic, value) = l.split_once(' ')?;
            Some((
                topic.rsplit('/').next()?.to_owned(),
                value.trim().parse().ok()?,
            ))
        })
        .collect()
}

fn dropped(counters: &BTreeMap<String, u64>, reason: &str) -> u64 {
    counters
        .get(&format!("dropped_in_{reason}"))
        .copied()
        .unwrap_or(0)
}

#[test]
fn a_garbage_flood_on_its_topic_neither_stops_a_node_nor_costs_a_packet() {
    if !ready("garbage_flood") {
        return;
    }
    let (mut lab, _broker, a, b) = two_encrypted_nodes();
    let b_pid = lab.proc(b).pid();
    let rss_before = rss_kib(b_pid).unwrap();
    let fds_before = open_fds(b_pid).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let flood_start = Instant::now();
    let flood = start_flood(&lab.broker_ns, stop.clone());
    let sampler = start_rss_sampler(b_pid, stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    let pings = start_pings(&lab.host(1).ns, B, 100, "0.05");
    let (sent_sum, received_sum) = tcp_transfer(&lab, 4 * 1024 * 1024);
    let (replies, ping_summary) = ping_result(pings);
    // Flood long enough for every oversize payload to go out.
    let flood_end = flood_start + OVERSIZE_EVERY * (OVERSIZE_COUNT as u32 + 1);
    std::thread::sleep(flood_end.saturating_duration_since(Instant::now()));
    stop.store(true, Ordering::Relaxed);
    let report = flood.join().expect("flood thread");
    let rss_peak = sampler.join().expect("sampler thread");

    // Let B read what is still queued for it, then look.
    std::thread::sleep(Duration::from_secs(2));
    let b_running = lab.proc(b).is_running();
    let a_running = lab.proc(a).is_running();
    let after = if b_running {
        counters(lab.proc(b))
    } else {
        BTreeMap::new()
    };
    let rss_after = rss_kib(b_pid).unwrap_or(0);
    let fds_after = open_fds(b_pid).unwrap_or(0);
    let broker = broker_publish_counters(&lab);
    let dropped_in: u64 = after
        .iter()
        .filter(|(k, _)| k.starts_with("dropped_in_"))
        .map(|(_, v)| v)
        .sum();
    eprintln!(
        "flood: {:?}, {} MB in {:.1} s\nping A -> B: {ping_summary}\nB counters after: {after:?}\n\
         B dropped inbound: {dropped_in} of {} small messages sent; mosquitto publishes {broker:?}\n\
         B RSS: {rss_before} KiB before, {rss_peak} KiB peak, {rss_after} KiB after; \
         fds {fds_before} before, {fds_after} after",
        report.sent,
        report.bytes / 1_000_000,
        report.seconds,
        report.small_messages(),
    );

    assert!(
        b_running,
        "node B exited during the flood\n{}",
        log_tails(&lab)
    );
    assert!(
        a_running,
        "node A exited during the flood\n{}",
        log_tails(&lab)
    );
    assert_eq!(
        report.sent.get(&Garbage::Oversize).copied().unwrap_or(0),
        OVERSIZE_COUNT,
        "the flood did not send every oversize payload"
    );
    assert_eq!(
        replies,
        100,
        "pings were lost during the flood: {ping_summary}\n{}",
        log_tails(&lab)
    );
    assert_eq!(sent_sum, received_sum, "the TCP transfer arrived altered");
    assert!(!received_sum.starts_with("e3b0c442"), "received nothing");
    assert_eq!(
        (
            after.get("connects").copied(),
            after.get("connection_errors").copied()
        ),
        (Some(1), Some(0)),
        "node B lost its broker session during the flood\n{}",
        log_tails(&lab)
    );
    for reason in ["decrypt_failed", "too_short", "malformed", "too_large"] {
        assert!(
            dropped(&after, reason) > 0,
            "no inbound drop counted as {reason}: {after:?}"
        );
    }
    // Mosquitto with no queue bound loses no QoS 0 message to a connected
    // reader, so B must have read and counted each one by now, 2 s after
    // the flood ended.
    assert!(
        dropped_in >= report.small_messages(),
        "B counted {dropped_in} inbound drops for {} small garbage messages \
         (mosquitto: {broker:?}); are its counters stale while it idles?",
        report.small_messages()
    );
    assert!(
        rss_peak < RSS_LIMIT_KIB,
        "node B reached {rss_peak} KiB resident during the flood"
    );
    assert!(
        rss_after <= rss_before + FLOOD_RSS_GROWTH_KIB,
        "node B grew from {rss_before} KiB to {rss_after} KiB resident over the flood"
    );
    assert_eq!(
        fds_after, fds_before,
        "node B's open file descriptors changed"
    );
}

// --- the broker kill loop ----------------------------------------------------

/// Time from one broker kill to the next.
const KILL_PERIOD: Duration = Duration::from_secs(10);
/// How long the broker stays dead each time.
const BROKER_DOWN: Duration = Duration::from_secs(1);
/// How soon after each restart a ping must cross again.
const BACK_WITHIN: Duration = Duration::from_secs(5);

/// How long the kill loop runs: `MQTT_VPN_KILL_LOOP_SECS`, else 120 s.
fn kill_loop_duration() -> Duration {
    let secs = match std::env::var("MQTT_VPN_KILL_LOOP_SECS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("MQTT_VPN_KILL_LOOP_SECS={v}: want whole seconds")),
        Err(_) => 120,
    };
    Duration::from_secs(secs)
}

/// A node's memory and file descriptors at one moment.
#[derive(Debug, Clone, Copy)]
struct Resources {
    rss_kib: u64,
    fds: usize,
}

fn resources(pid: u32) -> Resources {
    Resources {
        rss_kib: rss_kib(pid).unwrap_or(0),
        fds: open_fds(pid).unwrap_or(0),
    }
}

/// Receives TCP on B:5002 from any number of senders, discards it and
/// prints the bytes received so far every second.
const STREAM_RECEIVER: &str = "
import socket, threading, time
total = 0
def serve(c):
    global total
    while True:
        try:
            d = c.recv(65536)
        except OSError:
            d = b''
        if not d:
            return
        total += len(d)
def report():
    while True:
        time.sleep(1)
        print(total, flush=True)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.0.1.2', 5002))
l.listen(4)
threading.Thread(target=report, daemon=True).start()
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
";

/// Sends about 6 Mbit/s of TCP to B:5002, connecting again whenever the
/// stream breaks.
const STREAM_SENDER: &str = "
import socket, time
chunk = b'x' * 16384
while True:
    try:
        s = socket.create_connection(('10.0.1.2', 5002), timeout=10)
        while True:
            s.sendall(chunk)
            time.sleep(0.02)
    except OSError:
        time.sleep(0.5)
";

/// The bytes the stream receiver has reported so far.
fn stream_received(lab: &mut Lab, receiver: usize) -> u64 {
    lab.proc(receiver)
        .log_text()
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_tunnel_returns_within_seconds_each_time_the_broker_is_killed_under_load() {
    if !ready("broker_kill_loop") {
        return;
    }
    let duration = kill_loop_duration();
    let cycles = u32::try_from(duration.as_secs() / KILL_PERIOD.as_secs())
        .unwrap()
        .max(3);
    let (mut lab, mut broker, a, b) = two_encrypted_nodes();
    let pids = [lab.proc(a).pid(), lab.proc(b).pid()];

    // The load: a ping every 100 ms and a TCP stream, A -> B.
    let mut ping = lab.host(1).ns.command("ping");
    ping.args(["-n", "-q", "-i", "0.1", "-W", "2", "-w"])
        .arg((duration.as_secs() + 120).to_string())
        .arg(B);
    let load_ping = lab.start(ping, "load-ping");
    let mut receiver = lab.host(2).ns.command("python3");
    receiver.args(["-u", "-c", STREAM_RECEIVER]);
    let receiver = lab.start(receiver, "stream-receiver");
    std::thread::sleep(Duration::from_millis(500));
    let mut sender = lab.host(1).ns.command("python3");
    sender.args(["-c", STREAM_SENDER]);
    lab.start(sender, "stream-sender");

    let mut samples: Vec<[Resources; 2]> = Vec::new();
    let mut streamed_at_cycle_2 = 0;
    let start = Instant::now();
    for cycle in 1..=cycles {
        let kill_at = start + KILL_PERIOD * cycle;
        std::thread::sleep(kill_at.saturating_duration_since(Instant::now()));
        lab.proc(broker).kill();
        std::thread::sleep(BROKER_DOWN);
        broker = lab.start_mosquitto_with(MOSQUITTO_UNBOUNDED);
        let back = lab.host(1).ns.wait_for_ping(B, BACK_WITHIN);
        for (name, index) in [("A", a), ("B", b)] {
            assert!(
                lab.proc(index).is_running(),
                "cycle {cycle}: node {name} exited\n{}",
                log_tails(&lab)
            );
        }
        let sample = pids.map(resources);
        eprintln!(
            "cycle {cycle:2}: ping back after {back:.1?}; A {} KiB {} fds; B {} KiB {} fds; \
             {} kB streamed",
            sample[0].rss_kib,
            sample[0].fds,
            sample[1].rss_kib,
            sample[1].fds,
            stream_received(&mut lab, receiver) / 1000
        );
        assert!(
            back.is_some(),
            "cycle {cycle}: no ping within {BACK_WITHIN:?} of the broker's restart\n{}",
            log_tails(&lab)
        );
        samples.push(sample);
        if cycle == 2 {
            streamed_at_cycle_2 = stream_received(&mut lab, receiver);
        }
    }
    // One more period under load with the broker up, for the stream.
    std::thread::sleep(KILL_PERIOD);
    let streamed = stream_received(&mut lab, receiver);
    lab.proc(load_ping).signal("INT");
    std::thread::sleep(Duration::from_millis(500));
    let ping_summary = lab
        .proc(load_ping)
        .log_text()
        .lines()
        .find(|l| l.contains("received"))
        .unwrap_or("no summary")
        .to_owned();
    let connects = support::counter(lab.proc(a), "connects");
    eprintln!(
        "{cycles} broker kills; load ping: {ping_summary}; {} kB streamed, {} kB after cycle 2; \
         A connected {connects} times",
        streamed / 1000,
        streamed_at_cycle_2 / 1000
    );

    assert!(
        connects > u64::from(cycles),
        "node A connected only {connects} times over {cycles} broker restarts"
    );
    assert!(
        streamed > streamed_at_cycle_2,
        "the TCP stream carried nothing after the second restart\n{}",
        log_tails(&lab)
    );
    let (second, last) = (samples[1], samples[samples.len() - 1]);
    for (i, name) in ["A", "B"].into_iter().enumerate() {
        assert!(
            last[i].fds <= second[i].fds + FD_GROWTH,
            "node {name} held {} fds after restart 2 and {} after the last",
            second[i].fds,
            last[i].fds
        );
        assert!(
            last[i].rss_kib <= second[i].rss_kib + KILL_LOOP_RSS_GROWTH_KIB,
            "node {name} grew from {} KiB after restart 2 to {} KiB after the last",
            second[i].rss_kib,
            last[i].rss_kib
        );
        assert!(
            last[i].rss_kib < RSS_LIMIT_KIB,
            "node {name} holds {} KiB",
            last[i].rss_kib
        );
    }
}

/// Reads one MQTT packet (first byte and body) from a blocking stream.
fn read_packet(stream: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut first = [0u8; 1];
    stream.read_exact(&mut first)?;
    let mut len = 0usize;
    for shift in (0..28).step_by(7) {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte)?;
        len |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok((first[0], body))
}

/// Plays a broker that accepts the CONNECT and the SUBSCRIBE, then sends
/// PUBRELs (each asks for a PUBCOMP) as fast as it can and never reads
/// again. Returns once the node came back with a second connection, or
/// after `limit`.
fn pubrel_flood_until_reconnect(listener: &std::net::TcpListener, limit: Duration) -> bool {
    let start = Instant::now();
    let (mut stream, _) = listener.accept().expect("the node connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (first, _) = read_packet(&mut stream).expect("CONNECT");
    assert_eq!(first >> 4, 1, "the node starts with CONNECT");
    stream.write_all(&[0x20, 2, 0, 0]).unwrap();
    let (first, body) = read_packet(&mut stream).expect("SUBSCRIBE");
    assert_eq!(first >> 4, 8, "then SUBSCRIBEs");
    let mut filters = 0;
    let mut rest = &body[2..];
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[(2 + len + 1).min(rest.len())..];
        filters += 1;
    }
    let mut suback = vec![0x90, 2 + filters as u8, body[0], body[1]];
    suback.resize(4 + filters, 0); // every filter granted at QoS 0
    stream.write_all(&suback).unwrap();
    let mut flood = Vec::with_capacity(64 * 1024);
    for id in 0..16_384u16 {
        flood.extend_from_slice(&[0x62, 2]);
        flood.extend_from_slice(&id.max(1).to_be_bytes());
    }
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    while start.elapsed() < limit {
        // A timed-out write is the node not reading: keep trying.
        let _ = stream.write(&flood);
        if listener.accept().is_ok() {
            return true;
        }
    }
    false
}

#[test]
fn a_broker_that_floods_acknowledgements_and_never_reads_cannot_grow_the_node() {
    if !can_use_namespaces("hostile_broker_pubrel_flood") {
        return;
    }
    let mut lab = new_lab();
    let broker = SocketAddr::from(([0, 0, 0, 0], BROKER_PORT));
    let listener = listen_in(&lab.broker_ns, broker).expect("listen in the broker namespace");
    let node = lab.start_node(1, A, &["-k", PASSWORD]);
    let pid = lab.proc(node).pid();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let reconnected = pubrel_flood_until_reconnect(&listener, Duration::from_secs(40));
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    eprintln!("node RSS peak under a PUBREL flood from a broker that never reads: {peak} KiB");
    assert!(lab.proc(node).is_running(), "the node died\n{}", lab.logs());
    assert!(
        reconnected,
        "the node never dropped the stuck connection and came back\n{}",
        log_tails(&lab)
    );
    assert!(
        peak < 32 * 1024,
        "the node grew to {peak} KiB under the flood\n{}",
        log_tails(&lab)
    );
}
