//! Per-packet cost of the core: wire v1 seal/open and the tunnel's outbound
//! and inbound paths at 84 (ping), 1400 and 1500-byte packets.
//!
//! `cargo bench --bench core`

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mqttvpn::tunnel::{Config, Tunnel};
use mqttvpn::wire::{self, Key, NONCE_LEN, OVERHEAD};

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

fn tunnel(c: &mut Criterion) {
    let a_addr = Ipv4Addr::new(10, 0, 1, 1);
    let b_addr = Ipv4Addr::new(10, 0, 1, 2);
    let mut group = c.benchmark_group("tunnel");
    for (mode, password) in [("sealed", &b"bench"[..]), ("plain", &b""[..])] {
        let mut a = Tunnel::new(Config::new(a_addr).with_password(password)).unwrap();
        let mut b = Tunnel::new(Config::new(b_addr).with_password(password)).unwrap();
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
            let sent = a.handle_outbound(&packet, &NONCE, &mut payload).unwrap();
            let topic = sent.topic;
            group.bench_function(format!("inbound_{mode}/{len}"), |bench| {
                bench.iter(|| {
                    b.handle_inbound(topic.as_str(), black_box(&payload[..sent.len]), &mut out)
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, wire_v1, tunnel);
criterion_main!(benches);
