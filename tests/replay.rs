//! The replay memory on its own: the v1 payload cache against a simple
//! model, the RFC 6479 window at its edges, v2 epochs and sender slots, memory
//! figures, and no allocation on the packet path.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

use mqttvpn::replay::{
    BOOT_ID_LEN, CLOCK_SKEW_SECONDS, CounterError, CounterWindow, EPOCH_SECONDS, EpochError,
    MAX_CACHE_CAPACITY, MIN_CLOCK, ReplayCache, SenderWindows, WINDOW, epoch_id, epoch_start,
    is_fresh,
};
use mqttvpn::tunnel::{Config, Tunnel};
use mqttvpn::wire::{NONCE_LEN, OVERHEAD};
use mqttvpn::wire2;

/// A deterministic stream of pseudo-random numbers (xorshift64).
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// ---- wire v1: the payload cache ----

#[test]
fn a_fingerprint_is_remembered_until_capacity_newer_ones_arrive() {
    let mut cache = ReplayCache::with_capacity(3);
    assert!(cache.insert(10));
    assert!(cache.insert(20));
    assert!(cache.insert(30));
    assert!(cache.contains(10));
    assert!(cache.insert(40));
    assert!(!cache.contains(10), "the oldest goes first");
    assert!(cache.contains(20) && cache.contains(30) && cache.contains(40));
    assert_eq!(cache.len(), 3);
}

#[test]
fn inserting_a_remembered_fingerprint_changes_nothing() {
    let mut cache = ReplayCache::with_capacity(2);
    cache.insert(1);
    cache.insert(2);
    assert!(!cache.insert(1));
    assert!(cache.contains(1) && cache.contains(2));
}

#[test]
fn the_cache_agrees_with_a_fifo_model_over_a_long_run() {
    for capacity in [1, 2, 7, 64, 1000] {
        let mut cache = ReplayCache::with_capacity(capacity);
        let mut model: VecDeque<u64> = VecDeque::new();
        let mut stream = Stream(0x9e37_79b9 + capacity as u64);
        for _ in 0..20_000 {
            // Small values repeat often, so hits, misses and evictions mix;
            // multiples of 4096 collide in the index on purpose.
            let fp = (stream.next() % (3 * capacity as u64)) * 4096;
            assert_eq!(
                cache.contains(fp),
                model.contains(&fp),
                "capacity {capacity}"
            );
            if !model.contains(&fp) {
                if model.len() == capacity {
                    model.pop_front();
                }
                model.push_back(fp);
            }
            cache.insert(fp);
            assert_eq!(cache.len(), model.len());
        }
        for fp in &model {
            assert!(cache.contains(*fp));
        }
    }
}

#[test]
fn a_cache_of_capacity_zero_remembers_nothing() {
    let mut cache = ReplayCache::with_capacity(0);
    assert!(!cache.insert(5));
    assert!(!cache.contains(5));
    assert_eq!(ReplayCache::memory_for(0), 0);
}

#[test]
fn the_cache_takes_twelve_bytes_per_entry() {
    assert_eq!(ReplayCache::memory_for(4096), 4096 * 12);
    assert_eq!(ReplayCache::memory_for(256), 256 * 12);
    assert_eq!(
        ReplayCache::with_capacity(usize::MAX).capacity(),
        MAX_CACHE_CAPACITY
    );
}

// ---- wire v2: the counter window ----

#[test]
fn a_window_accepts_newer_and_unseen_counters_and_refuses_the_rest() {
    let mut w = CounterWindow::new(100);
    assert_eq!(w.check(100), Err(CounterError::Replayed));
    assert_eq!(w.check(101), Ok(()));
    assert_eq!(w.check(99), Ok(()));
    w.accept(99);
    assert_eq!(w.check(99), Err(CounterError::Replayed));
    assert_eq!(w.top(), 100);
}

#[test]
fn the_window_reaches_exactly_window_minus_one_behind_the_newest() {
    let top = 5 * WINDOW + 17;
    let w = CounterWindow::new(top);
    assert_eq!(w.check(top - (WINDOW - 1)), Ok(()));
    assert_eq!(w.check(top - WINDOW), Err(CounterError::TooOld));
    assert_eq!(w.check(0), Err(CounterError::TooOld));
}

#[test]
fn a_jump_ahead_forgets_bits_that_left_the_window() {
    let mut w = CounterWindow::new(3);
    // 3 + 1088 lands on the same bitmap word and bit as 3 did.
    let far = 3 + WINDOW + 64;
    assert_eq!(w.check(far), Ok(()));
    w.accept(far);
    assert_eq!(w.check(far), Err(CounterError::Replayed));
    assert_eq!(w.check(far - 64), Ok(()), "a stale bit would refuse this");
    assert_eq!(w.check(3), Err(CounterError::TooOld));
}

#[test]
fn a_refused_counter_changes_nothing() {
    let mut w = CounterWindow::new(5000);
    let before = w.clone();
    w.accept(1);
    w.accept(5000);
    assert_eq!(w, before);
}

#[test]
fn the_window_agrees_with_a_set_model_over_a_long_run() {
    let mut stream = Stream(0x1234_5678);
    let mut w = CounterWindow::new(0);
    let mut seen = BTreeSet::from([0u64]);
    let mut top = 0u64;
    for _ in 0..50_000 {
        // Mostly near the top, sometimes far behind, sometimes far ahead.
        let r = stream.next();
        let counter = match r % 10 {
            0 => top + r % 3000,
            1 => top.saturating_sub(r % 3000),
            _ => (top + 40).saturating_sub(r % 100),
        };
        let expected = if counter > top {
            Ok(())
        } else if top - counter >= WINDOW {
            Err(CounterError::TooOld)
        } else if seen.contains(&counter) {
            Err(CounterError::Replayed)
        } else {
            Ok(())
        };
        assert_eq!(w.check(counter), expected, "counter {counter} top {top}");
        if expected.is_ok() {
            w.accept(counter);
            seen.insert(counter);
            top = top.max(counter);
        }
    }
}

// ---- wire v2: senders ----

/// 2027-01-15, Unix seconds.
const NOW: u64 = 1_800_000_000;

/// An epoch that started at `start` with random half `n`.
fn epoch(start: u64, n: u8) -> [u8; BOOT_ID_LEN] {
    epoch_id(start, &[n; 8])
}

fn host(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, n))
}

#[test]
fn each_sender_address_has_its_own_window() {
    let mut senders = SenderWindows::with_capacity(4);
    let e = epoch(NOW, 1);
    assert_eq!(senders.accept(host(1), &e, 7, NOW), Ok(()));
    assert_eq!(
        senders.check(host(1), &e, 7, NOW),
        Err(EpochError::Counter(CounterError::Replayed))
    );
    assert_eq!(senders.check(host(2), &e, 7, NOW), Ok(()));
    assert_eq!(senders.len(), 1);
}

#[test]
fn a_newer_epoch_replaces_a_senders_window_and_an_older_one_is_stale() {
    let mut senders = SenderWindows::with_capacity(4);
    senders
        .accept(host(1), &epoch(NOW - 30, 1), 500, NOW)
        .unwrap();
    senders.accept(host(1), &epoch(NOW - 5, 2), 0, NOW).unwrap();
    assert_eq!(senders.window(host(1)).unwrap().0, &epoch(NOW - 5, 2));
    assert_eq!(
        senders.check(host(1), &epoch(NOW - 30, 1), 501, NOW),
        Err(EpochError::Stale)
    );
}

#[test]
fn an_epoch_is_fresh_only_inside_the_clock_window() {
    let oldest = NOW - EPOCH_SECONDS - CLOCK_SKEW_SECONDS;
    assert_eq!(is_fresh(&epoch(oldest, 0), NOW), Ok(()));
    assert_eq!(is_fresh(&epoch(oldest - 1, 0), NOW), Err(EpochError::Stale));
    assert_eq!(is_fresh(&epoch(NOW + CLOCK_SKEW_SECONDS, 0), NOW), Ok(()));
    assert_eq!(
        is_fresh(&epoch(NOW + CLOCK_SKEW_SECONDS + 1, 0), NOW),
        Err(EpochError::Stale)
    );
    assert_eq!(
        is_fresh(&epoch(NOW, 0), MIN_CLOCK - 1),
        Err(EpochError::NoClock)
    );
    assert_eq!(epoch_start(&epoch(NOW, 9)), NOW);
}

#[test]
fn a_full_table_reuses_only_the_slot_of_a_stale_sender() {
    let mut senders = SenderWindows::with_capacity(2);
    senders
        .accept(host(1), &epoch(NOW - 100, 1), 0, NOW)
        .unwrap();
    senders.accept(host(2), &epoch(NOW, 2), 0, NOW).unwrap();
    assert_eq!(
        senders.accept(host(3), &epoch(NOW, 3), 0, NOW),
        Err(EpochError::TableFull)
    );
    // 30 s on, host 1's epoch has left the clock window; host 2's has not.
    let later = NOW + 30;
    assert_eq!(senders.accept(host(3), &epoch(later, 3), 0, later), Ok(()));
    assert!(senders.window(host(1)).is_none());
    assert_eq!(
        senders.check(host(2), &epoch(NOW, 2), 0, later),
        Err(EpochError::Counter(CounterError::Replayed))
    );
}

#[test]
fn a_table_of_capacity_zero_judges_only_freshness() {
    let mut senders = SenderWindows::with_capacity(0);
    assert_eq!(senders.accept(host(1), &epoch(NOW, 1), 0, NOW), Ok(()));
    assert_eq!(senders.accept(host(1), &epoch(NOW, 1), 0, NOW), Ok(()));
    assert_eq!(
        senders.accept(host(1), &epoch(NOW - 3600, 1), 0, NOW),
        Err(EpochError::Stale)
    );
    assert_eq!(SenderWindows::memory_for(0), 0);
}

#[test]
fn sender_tables_take_184_bytes_per_sender() {
    assert_eq!(SenderWindows::memory_for(64), 64 * 184);
}

// ---- no allocation on the packet path ----

struct Counting;

std::thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged, only counting calls
// made on the current thread (tests run in parallel threads).
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

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A 1400-byte IPv4 packet from 10.0.1.`host` to 10.0.1.2.
fn packet_from(host: u8) -> Vec<u8> {
    let mut p = vec![0u8; 1400];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&1400u16.to_be_bytes());
    p[12..16].copy_from_slice(&[10, 0, 1, host]);
    p[16..20].copy_from_slice(&[10, 0, 1, 2]);
    p
}

#[test]
fn judging_replays_allocates_nothing_even_while_evicting() {
    let a_config = Config::new(Ipv4Addr::new(10, 0, 1, 1)).with_password(b"pw");
    let b_config = Config::new(Ipv4Addr::new(10, 0, 1, 2))
        .with_password(b"pw")
        .with_replay_capacity(64);
    let key = wire2::Key::from_bytes(&[7; 32]);
    for v2 in [false, true] {
        let (mut a_config, mut b_config) = (a_config.clone(), b_config.clone());
        if v2 {
            a_config = a_config.with_wire_v2(key.clone());
            b_config = b_config.with_wire_v2(key.clone());
            b_config.v2_senders = 2;
        }
        // Four senders (10.0.1.11 to .14) taking turns in pairs, the clock
        // jumping 150 s between pairs: each pair finds the other pair's
        // epochs stale and takes over their slots of the v2 table.
        let mut senders: Vec<(Tunnel, Vec<u8>)> = (11..15u8)
            .map(|n| (Tunnel::new(a_config.clone()).unwrap(), packet_from(n)))
            .collect();
        let mut b = Tunnel::new(b_config).unwrap();
        let mut payload = vec![0u8; 1400 + OVERHEAD];
        let mut delivered = vec![0u8; 1400 + OVERHEAD];
        let before = allocations();
        for i in 0..1000u32 {
            let now = NOW + u64::from(i / 2) * 150;
            let mut nonce = [0u8; NONCE_LEN];
            nonce[..4].copy_from_slice(&i.to_le_bytes());
            let (from, packet) = &mut senders[i as usize % 4];
            from.handle_clock(now);
            b.handle_clock(now);
            let sent = from.handle_outbound(packet, &nonce, &mut payload).unwrap();
            let message = &payload[..sent.len];
            let topic = sent.topic.as_str();
            assert_eq!(b.handle_inbound(topic, message, &mut delivered), Ok(1400));
            assert!(b.handle_inbound(topic, message, &mut delivered).is_err());
        }
        assert_eq!(allocations() - before, 0, "allocations with v2 = {v2}");
        assert_eq!(b.counters().rx_packets, 1000);
    }
}
