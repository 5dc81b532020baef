//! The core allocates nothing per packet: a counting global allocator
//! watches the tunnel's outbound and inbound paths in steady state,
//! replay checks included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;

use mqttvpn::tunnel::{Config, Tunnel};
use mqttvpn::wire::OVERHEAD;

struct Counting;

// Per thread: the test harness's own thread allocates while a test runs.
std::thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_thousand_packets_each_way_allocate_nothing() {
    for password in [&b"pw"[..], &b""[..]] {
        let mut a =
            Tunnel::new(Config::new(Ipv4Addr::new(10, 0, 1, 1)).with_password(password)).unwrap();
        let mut b =
            Tunnel::new(Config::new(Ipv4Addr::new(10, 0, 1, 2)).with_password(password)).unwrap();
        let mut packet = vec![0u8; 1400];
        packet[0] = 0x45;
        packet[2..4].copy_from_slice(&1400u16.to_be_bytes());
        packet[16..20].copy_from_slice(&[10, 0, 1, 2]);
        let mut payload = vec![0u8; 1400 + OVERHEAD];
        let mut delivered = vec![0u8; 1400 + OVERHEAD];
        let before = ALLOCATIONS.with(Cell::get);
        for i in 0..1000u32 {
            let mut nonce = [0u8; 24];
            nonce[..4].copy_from_slice(&i.to_le_bytes());
            let sent = a.handle_outbound(&packet, &nonce, &mut payload).unwrap();
            let n = b
                .handle_inbound(sent.topic.as_str(), &payload[..sent.len], &mut delivered)
                .unwrap();
            assert_eq!(n, 1400);
            if !password.is_empty() {
                let replay = &payload[..sent.len];
                assert!(
                    b.handle_inbound(sent.topic.as_str(), replay, &mut delivered)
                        .is_err()
                );
            }
        }
        let after = ALLOCATIONS.with(Cell::get);
        assert_eq!(after - before, 0, "allocations on the packet path");
        assert_eq!(b.counters().rx_packets, 1000);
    }
}
