//! Per-packet cost of the core: wire v1 and v2 seal/open, the replay checks,
//! and the tunnel's outbound and inbound paths at 84 (ping), 1400 and
//! 1500-byte packets; and the one-off wire-v2 key derivation.
//!
//! `cargo bench --bench core`

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mqttvpn::replay::{BOOT_ID_LEN, CounterWindow, ReplayCache, SenderWindows};
use mqttvpn::tunnel::{Config, DEFAULT_REPLAY_CAPACITY, DEFAULT_V2_SENDERS, Tunnel};
use mqttvpn::wire::{self, Key, NONCE_LEN, OVERHEAD};
use mqttvpn::wire2;

const SIZES: [usize; 3] = [84, 1400, 1500];
const NONCE: [u8; NONCE_LEN] = [7; NONCE_LEN];

fn ipv4(len: usize) -> Vec<u8> {
    let mut p = vec![0xabu8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[12..16].copy_from_slice(&[10, 0, 1, 1]);
    p[16..20].copy_from_slice(&[10, 0, 1, 2]);
    p
}

fn wire_v1(c: &mut Criterion) {
    let key = Key::from_password(b"bench").unwrap();
    let mut group = c.benchmark_group("wire_v1");
    for len in SIZES {
        let packet = ipv4(len);
        let mut payload = vec![0u8; len + OVERHEAD];
        let mut out = vec![0u8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("seal/{len}"), |b| {
            b.iter(|| wire::seal(&key, &NONCE, black_box(&packet), &mut payload).unwrap())
        });
        wire::seal(&key, &NONCE, &packet, &mut payload).unwrap();
        group.bench_function(format!("open/{len}"), |b| {
            b.iter(|| wire::open(&key, black_box(&payload), &mut out).unwrap())
        });
    }
    group.finish();
}

fn wire_v2(c: &mut Criterion) {
    let key = wire2::Key::from_bytes(&[7; 32]);
    let header = wire2::Header {
        boot_id: [1; BOOT_ID_LEN],
        counter: 12345,
    };
    let mut group = c.benchmark_group("wire_v2");
    for len in SIZES {
        let packet = ipv4(len);
        let mut payload = vec![0u8; len + wire2::OVERHEAD];
        let mut out = vec![0u8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("seal/{len}"), |b| {
            b.iter(|| {
                wire2::seal(&key, &header, b"10.0.1.2", black_box(&packet), &mut payload).unwrap()
            })
        });
        wire2::seal(&key, &header, b"10.0.1.2", &packet, &mut payload).unwrap();
        group.bench_function(format!("open/{len}"), |b| {
            b.iter(|| wire2::open(&key, b"10.0.1.2", black_box(&payload), &mut out).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("wire_v2_kdf");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("derive", |b| {
        b.iter(|| wire2::Key::derive_bytes(black_box(b"bench password"), b"mqttip"))
    });
    group.finish();
}

fn replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    // v1, steady state: a full cache; each new fingerprint evicts the oldest.
    let mut cache = ReplayCache::with_capacity(DEFAULT_REPLAY_CAPACITY);
    let mut next = 0u64;
    let mut fingerprint = move || {
        next = next.wrapping_add(0x9E37_79B9_7F4A_7C15);
        next
    };
    for _ in 0..DEFAULT_REPLAY_CAPACITY {
        cache.insert(fingerprint());
    }
    group.bench_function("v1_cache_check_and_insert/4096", |b| {
        b.iter(|| {
            let f = fingerprint();
            if !cache.contains(black_box(f)) {
                cache.insert(f);
            }
        })
    });
    let present = fingerprint();
    cache.insert(present);
    group.bench_function("v1_cache_hit/4096", |b| {
        b.iter(|| cache.contains(black_box(present)))
    });
    // v2: in-order counters, one window.
    let mut window = CounterWindow::new(0);
    let mut counter = 0u64;
    group.bench_function("v2_window_check_and_accept", |b| {
        b.iter(|| {
            counter += 1;
            if window.check(black_box(counter)).is_ok() {
                window.accept(counter);
            }
        })
    });
    // v2: a full table of 64 senders; the one judged is found last.
    let now = 1_800_000_000;
    let epoch = mqttvpn::replay::epoch_id(now, &[1; 8]);
    let host = |n: usize| std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 1, n as u8));
    let mut senders = SenderWindows::with_capacity(DEFAULT_V2_SENDERS);
    for n in 0..DEFAULT_V2_SENDERS {
        senders.accept(host(n), &epoch, 0, now).unwrap();
    }
    let last = host(DEFAULT_V2_SENDERS - 1);
    let mut counter = 0u64;
    group.bench_function("v2_senders_accept/64", |b| {
        b.iter(|| {
            counter += 1;
            senders.accept(black_box(last), &epoch, counter, now)
        })
    });
    group.finish();
}

fn tunnel(c: &mut Criterion) {
    let a_addr = Ipv4Addr::new(10, 0, 1, 1);
    let b_addr = Ipv4Addr::new(10, 0, 1, 2);
    let v2 = |config: Config| config.with_wire_v2(wire2::Key::from_bytes(&[7; 32]));
    let mut group = c.benchmark_group("tunnel");
    for mode in ["sealed", "plain", "v2"] {
        let password = if mode == "plain" { &b""[..] } else { b"bench" };
        let (mut a_config, mut b_config) = (
            Config::new(a_addr).with_password(password),
            Config::new(b_addr).with_password(password),
        );
        if mode == "v2" {
            a_config = v2(a_config);
            b_config = v2(b_config);
        }
        let mut a = Tunnel::new(a_config).unwrap();
        let mut b = Tunnel::new(b_config).unwrap();
        a.handle_clock(1_800_000_000);
        b.handle_clock(1_800_000_000);
        let mut nonce = 0u64;
        for len in SIZES {
            let packet = ipv4(len);
            let mut payload = vec![0u8; len + OVERHEAD];
            let mut out = vec![0u8; len + OVERHEAD];
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_function(format!("outbound_{mode}/{len}"), |bench| {
                bench.iter(|| {
                    a.handle_outbound(black_box(&packet), &NONCE, &mut payload)
                        .unwrap()
                })
            });
            // Each message fresh (a new nonce or counter), as the replay
            // check would refuse a repeated one; sealing is outside the timing.
            group.bench_function(format!("inbound_{mode}/{len}"), |bench| {
                bench.iter_batched_ref(
                    || {
                        nonce += 1;
                        let mut fresh = NONCE;
                        fresh[..8].copy_from_slice(&nonce.to_le_bytes());
                        let mut message = vec![0u8; len + OVERHEAD];
                        let sent = a.handle_outbound(&packet, &fresh, &mut message).unwrap();
                        message.truncate(sent.len);
                        (sent.topic, message)
                    },
                    |(topic, message)| {
                        b.handle_inbound(topic.as_str(), black_box(message), &mut out)
                            .unwrap()
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, wire_v1, wire_v2, replay, tunnel);
criterion_main!(benches);
