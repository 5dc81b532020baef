//! The Linux driver's per-packet path allocates nothing in steady state: a
//! counting global allocator watches packets being sealed and framed into
//! pooled batches, and the same bytes (a broker forwards a QoS 0 PUBLISH
//! unchanged) being parsed by the MQTT session and opened into packets;
//! with wire v1, in plain mode, and with wire-v2 batches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use mqttvpn::link::{Buffers, Link, LinkEvent};
use mqttvpn::linux::pipeline::{BatchPool, Publisher};
use mqttvpn::mqtt::session::Options;
use mqttvpn::tunnel::{Config, Tunnel};
use mqttvpn::wire2::Key;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// Set on the test's own thread: the harness's threads allocate at
    /// their own times (more so on a loaded machine) and are not counted.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.try_with(std::cell::Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// An IPv4 packet of `len` bytes from 10.0.1.1 to 10.0.1.2.
fn packet(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 1, 1]);
    p[16..20].copy_from_slice(&[10, 0, 1, 2]);
    p
}

/// The largest wire-v2 batch the receiver reads.
const BATCH: usize = 65_000;

/// The sending and the receiving tunnel of one mode: wire v1 (`"v1"`),
/// plain (`"plain"`), or wire v2 with batches (`"v2 batches"`).
fn tunnels(mode: &str) -> (Tunnel, Tunnel) {
    let (a, b) = (Ipv4Addr::new(10, 0, 1, 1), Ipv4Addr::new(10, 0, 1, 2));
    let config = |address| match mode {
        "v1" => Config::new(address).with_password(b"pw"),
        "plain" => Config::new(address),
        _ => {
            let mut config = Config::new(address).with_wire_v2(Key::from_bytes(&[7; 32]));
            config.batch_receive = BATCH;
            config
        }
    };
    let (mut sender, mut receiver) = (
        Tunnel::new(config(a)).unwrap(),
        Tunnel::new(config(b)).unwrap(),
    );
    sender.handle_clock(1_800_000_000);
    receiver.handle_clock(1_800_000_000);
    (sender, receiver)
}

/// A receiving link whose session a broker accepted and whose
/// subscription it granted.
fn connected_link() -> Link {
    let buffers = Buffers {
        packets_through_session: false,
        min_incoming: BATCH + 1024,
        ..Buffers::for_packets(1500, 40)
    };
    let mut link = Link::new(Options::new("alloc-test"), buffers).unwrap();
    link.set_filters(["mqttip/10.0.1.2"]);
    link.handle_timeout(0);
    assert_eq!(link.poll_event(), Some(LinkEvent::Connect));
    link.handle_connected(0).unwrap();
    let mut tunnel = Tunnel::new(Config::new(Ipv4Addr::new(10, 0, 1, 2))).unwrap();
    let mut out = vec![0u8; 4096];
    let connack = [0x20, 2, 0, 0];
    link.handle_bytes(&connack, 1, &mut tunnel, &mut out, |_, _| false);
    assert_eq!(
        link.poll_event(),
        Some(LinkEvent::Connected),
        "the CONNACK is taken as the session being up"
    );
    let n = link.transmit().len();
    link.consume(n, 1);
    let suback = [0x90, 3, 0, 1, 0];
    link.handle_bytes(&suback, 2, &mut tunnel, &mut out, |_, _| false);
    link
}

#[test]
fn framing_batches_and_parsing_them_back_allocate_nothing_per_packet() {
    COUNTING.with(|c| c.set(true));
    let probe = allocations();
    drop(std::hint::black_box(vec![0u8; 16]));
    assert!(
        allocations() > probe,
        "the counting allocator counts this thread"
    );
    for mode in ["v1", "plain", "v2 batches"] {
        let (sender, mut receiver) = tunnels(mode);
        let mut publisher = Publisher::new(sender.split().0);
        publisher.set_batch_peers([(Ipv4Addr::new(10, 0, 1, 2), BATCH)].into_iter());
        let mut pool = BatchPool::new(4, 64 * 1024 + 8 * 1024);
        let mut link = connected_link();
        let mut out = vec![0u8; BATCH + 1024];
        let sizes = [1400, 84, 1500, 576];
        let packets: Vec<Vec<u8>> = sizes.iter().map(|&n| packet(n)).collect();
        let mut delivered = 0u64;
        let mut run = |rounds: usize, delivered: &mut u64| {
            for _ in 0..rounds {
                let slot = pool.acquire().expect("a free batch: each is dropped below");
                let buffer = pool.buffer(slot).unwrap();
                let read = packets.iter().cycle().take(40).map(Vec::as_slice);
                assert_eq!(publisher.push_all(read, buffer), Ok(40));
                let batch = pool.share(slot);
                // What the broker's writer would do: the bytes go out, the
                // broker forwards each PUBLISH unchanged, the receiver parses.
                let mut input = &batch[..];
                while !input.is_empty() {
                    let fed = link.handle_bytes(input, 10, &mut receiver, &mut out, |_, _| false);
                    input = &input[fed.used..];
                    if let Some(len) = fed.packet {
                        for got in mqttvpn::ip::packets(&out[..len]) {
                            assert_eq!(got, &packets[(*delivered % 4) as usize][..]);
                            *delivered += 1;
                        }
                    }
                }
                drop(batch);
            }
        };
        run(8, &mut delivered); // warm-up: the pool makes its buffers
        let before = allocations();
        run(100, &mut delivered);
        let after = allocations();
        assert_eq!(
            after - before,
            0,
            "allocations while framing and parsing 4000 packets ({mode})"
        );
        assert_eq!(delivered, 108 * 40, "every packet came back intact");
        assert_eq!(pool.len(), 1, "one batch buffer is reused throughout");
        let counters = receiver.counters();
        let per_message = counters.rx_packets / counters.rx_messages;
        assert_eq!(
            per_message,
            if mode == "v2 batches" { 40 } else { 1 },
            "{mode}"
        );
    }
}
