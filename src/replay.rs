//! Replay protection: what a receiver remembers of the payloads it accepted.
//!
//! Two mechanisms, one per wire version, both allocated once and bounded:
//!
//! - [`ReplayCache`] (wire v1, whose nonces are random): the last `capacity`
//!   accepted payloads by a 64-bit fingerprint, oldest evicted first (FIFO).
//!   [`ReplayCache::memory_for`] gives its heap size: 12 bytes per entry
//!   (8 for the fingerprint, 2 × 2 for the index at load factor ≤ 1/2), so
//!   48 KiB for 4096 entries.
//! - [`SenderWindows`] (wire v2, whose nonces carry a time-stamped epoch id
//!   and a counter): for each of up to `capacity` sender addresses, the
//!   newest epoch heard and a [`CounterWindow`] of [`WINDOW`] counters in
//!   the style of RFC 6479. Epochs older than the clock window
//!   ([`is_fresh`]) are refused outright, so a slot is reused only once its
//!   sender's epoch has gone stale. [`SenderWindows::memory_for`] gives its
//!   heap size.
//!
//! Nothing is remembered until a payload has authenticated: callers open
//! the payload, judge it ([`ReplayCache::contains`],
//! [`SenderWindows::check`]: a v2 sender's address is the opened packet's
//! source) and record it only then ([`ReplayCache::insert`],
//! [`SenderWindows::accept`]). So forged traffic cannot evict anything.

use alloc::vec::Vec;
use core::fmt;
use core::mem::size_of;
use core::net::IpAddr;

/// Largest [`ReplayCache`] capacity; larger requests are clamped to it.
pub const MAX_CACHE_CAPACITY: usize = u16::MAX as usize;

/// Wire v1: a set of the fingerprints of the last `capacity` accepted
/// payloads, evicting the oldest.
///
/// A ring buffer holds the fingerprints in arrival order; an open-addressing
/// index (linear probing, at most half full, backward-shift deletion) finds
/// them. Both are allocated by [`ReplayCache::with_capacity`] and never grow.
#[derive(Clone)]
pub struct ReplayCache {
    /// Fingerprints in arrival order; `ring[next]` is the oldest once full.
    ring: Vec<u64>,
    /// 0 is empty, `i + 1` points at `ring[i]`. Length a power of two.
    index: Vec<u16>,
    next: usize,
    len: usize,
}

impl ReplayCache {
    /// A cache remembering up to `capacity` payloads (clamped to
    /// [`MAX_CACHE_CAPACITY`]); 0 remembers nothing and allocates nothing.
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.min(MAX_CACHE_CAPACITY);
        Self {
            ring: alloc::vec![0; capacity],
            index: alloc::vec![0; Self::index_len(capacity)],
            next: 0,
            len: 0,
        }
    }

    fn index_len(capacity: usize) -> usize {
        if capacity == 0 {
            0
        } else {
            (2 * capacity).next_power_of_two()
        }
    }

    /// Heap bytes a cache of `capacity` entries takes.
    pub fn memory_for(capacity: usize) -> usize {
        let capacity = capacity.min(MAX_CACHE_CAPACITY);
        capacity * size_of::<u64>() + Self::index_len(capacity) * size_of::<u16>()
    }

    /// How many payloads it can remember.
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// How many it remembers now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it remembers nothing yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `fingerprint` is among the remembered ones.
    pub fn contains(&self, fingerprint: u64) -> bool {
        self.find(fingerprint).is_some()
    }

    /// Remembers `fingerprint`, forgetting the oldest one when full. Returns
    /// `false` if it was already remembered (nothing changes then).
    pub fn insert(&mut self, fingerprint: u64) -> bool {
        if self.ring.is_empty() || self.contains(fingerprint) {
            return false;
        }
        let slot = self.next;
        if self.len == self.ring.len() {
            let oldest = self.ring[slot];
            if let Some(at) = self.find(oldest) {
                self.remove_at(at);
            }
        } else {
            self.len += 1;
        }
        self.ring[slot] = fingerprint;
        let mask = self.index.len() - 1;
        let mut at = self.home(fingerprint);
        // The index is at most half full, so an empty slot comes first.
        for _ in 0..self.index.len() {
            if self.index[at] == 0 {
                // `slot` < capacity <= u16::MAX, so `slot + 1` fits.
                self.index[at] = (slot + 1) as u16;
                break;
            }
            at = (at + 1) & mask;
        }
        self.next = (slot + 1) % self.ring.len();
        true
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.index.fill(0);
        self.next = 0;
        self.len = 0;
    }

    fn home(&self, fingerprint: u64) -> usize {
        // Fibonacci hashing: the high bits of the product are well mixed.
        let mixed = fingerprint.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 32) as usize & (self.index.len().wrapping_sub(1))
    }

    /// The index slot that points at `fingerprint`.
    fn find(&self, fingerprint: u64) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut at = self.home(fingerprint);
        for _ in 0..self.index.len() {
            match self.index[at] {
                0 => return None,
                i if self.ring.get(usize::from(i) - 1) == Some(&fingerprint) => return Some(at),
                _ => at = (at + 1) & mask,
            }
        }
        None
    }

    /// Empties index slot `hole`, moving later entries of its probe run back
    /// so that every entry stays reachable from its home slot.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.index.len() - 1;
        let mut at = hole;
        for _ in 0..self.index.len() {
            at = (at + 1) & mask;
            let entry = self.index[at];
            if entry == 0 {
                break;
            }
            let home = self.home(self.ring[usize::from(entry) - 1]);
            // The entry may stay if its home lies cyclically in (hole, at].
            let stays = if hole <= at {
                hole < home && home <= at
            } else {
                hole < home || home <= at
            };
            if !stays {
                self.index[hole] = entry;
                hole = at;
            }
        }
        self.index[hole] = 0;
    }
}

impl fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayCache")
            .field("capacity", &self.capacity())
            .field("len", &self.len)
            .finish()
    }
}

/// Counters behind a sender's highest accepted counter that are still
/// judged one by one; anything older is refused as [`CounterError::TooOld`].
pub const WINDOW: u64 = 1024;

const BLOCK_BITS: u64 = u64::BITS as u64;
/// One block more than the window covers, as in RFC 6479, so that advancing
/// the window only ever clears whole blocks.
const BLOCKS: usize = (WINDOW / BLOCK_BITS) as usize + 1;

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterError {
    /// This counter was already accepted from this sender.
    Replayed,
    /// The counter is [`WINDOW`] or more behind the sender's highest.
    TooOld,
}

impl fmt::Display for CounterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Replayed => "counter already seen from this sender",
            Self::TooOld => "counter older than the replay window",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CounterError {}

/// The counters accepted from one sender: the highest, and a bitmap of the
/// [`WINDOW`] below it (RFC 6479).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterWindow {
    top: u64,
    bitmap: [u64; BLOCKS],
}

impl CounterWindow {
    /// A window that has accepted only `first`.
    pub fn new(first: u64) -> Self {
        let mut window = Self {
            top: first,
            bitmap: [0; BLOCKS],
        };
        window.set(first);
        window
    }

    /// The highest counter accepted.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Whether `counter` may be accepted: newer than the highest, or inside
    /// the window and not seen yet.
    pub fn check(&self, counter: u64) -> Result<(), CounterError> {
        if counter > self.top {
            return Ok(());
        }
        if self.top - counter >= WINDOW {
            return Err(CounterError::TooOld);
        }
        let (block, bit) = Self::position(counter);
        if self.bitmap[block] & bit != 0 {
            return Err(CounterError::Replayed);
        }
        Ok(())
    }

    /// Records `counter` as accepted (after it authenticated); moves the
    /// window forward if it is the newest. A counter [`CounterWindow::check`]
    /// refuses changes nothing.
    pub fn accept(&mut self, counter: u64) {
        if self.check(counter).is_err() {
            return;
        }
        if counter > self.top {
            let from = self.top / BLOCK_BITS;
            let to = counter / BLOCK_BITS;
            let steps = (to - from).min(BLOCKS as u64);
            for i in 1..=steps {
                self.bitmap[((from + i) % BLOCKS as u64) as usize] = 0;
            }
            self.top = counter;
        }
        self.set(counter);
    }

    fn set(&mut self, counter: u64) {
        let (block, bit) = Self::position(counter);
        self.bitmap[block] |= bit;
    }

    fn position(counter: u64) -> (usize, u64) {
        let block = ((counter / BLOCK_BITS) % BLOCKS as u64) as usize;
        (block, 1 << (counter % BLOCK_BITS))
    }
}

/// Length of a wire-v2 epoch id (the "boot id" field of the header): the
/// epoch's start in Unix seconds (8 bytes, big-endian), then 8 random bytes.
pub const BOOT_ID_LEN: usize = 16;

/// Seconds a sender seals under one epoch id before it starts the next.
pub const EPOCH_SECONDS: u64 = 60;
/// How far apart two nodes' wall clocks may be.
pub const CLOCK_SKEW_SECONDS: u64 = 60;
/// Wall-clock readings before this (2020-01-01 00:00:00 UTC) mean the
/// node's clock is not set yet: wire v2 neither seals nor accepts then.
pub const MIN_CLOCK: u64 = 1_577_836_800;

/// The start, in Unix seconds, of the epoch `id` names.
pub fn epoch_start(id: &[u8; BOOT_ID_LEN]) -> u64 {
    let mut start = [0u8; 8];
    start.copy_from_slice(&id[..8]);
    u64::from_be_bytes(start)
}

/// The id of an epoch starting at `start` (Unix seconds) with the random
/// bytes `random`.
pub fn epoch_id(start: u64, random: &[u8; 8]) -> [u8; BOOT_ID_LEN] {
    let mut id = [0u8; BOOT_ID_LEN];
    id[..8].copy_from_slice(&start.to_be_bytes());
    id[8..].copy_from_slice(random);
    id
}

/// Whether a payload of the epoch `id` may still be sent at `now`: its
/// start lies between `now - EPOCH_SECONDS - CLOCK_SKEW_SECONDS` and
/// `now + CLOCK_SKEW_SECONDS`. Anything older was captured at least that
/// long ago (senders move to a new epoch every [`EPOCH_SECONDS`]).
pub fn is_fresh(id: &[u8; BOOT_ID_LEN], now: u64) -> Result<(), EpochError> {
    if now < MIN_CLOCK {
        return Err(EpochError::NoClock);
    }
    let start = epoch_start(id);
    let oldest = now.saturating_sub(EPOCH_SECONDS + CLOCK_SKEW_SECONDS);
    if start < oldest || start > now.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(EpochError::Stale);
    }
    Ok(())
}

/// Why [`SenderWindows`] refused a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochError {
    /// The counter was refused by the sender's window.
    Counter(CounterError),
    /// The epoch started outside the clock window ([`is_fresh`]) or before
    /// the newest epoch already accepted from this sender.
    Stale,
    /// The receiver's clock is not set ([`MIN_CLOCK`]).
    NoClock,
    /// Every slot holds a sender whose epoch is still fresh: this new
    /// sender cannot be tracked, so it is not accepted.
    TableFull,
}

impl From<CounterError> for EpochError {
    fn from(e: CounterError) -> Self {
        Self::Counter(e)
    }
}

impl fmt::Display for EpochError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Counter(e) => e.fmt(f),
            Self::Stale => f.write_str("epoch outside the clock window or superseded"),
            Self::NoClock => f.write_str("wall clock not set"),
            Self::TableFull => f.write_str("every sender slot holds a live sender"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EpochError {}

#[derive(Debug, Clone)]
struct Sender {
    /// The packets' authenticated inner source address.
    address: IpAddr,
    /// The newest epoch accepted from it.
    epoch: [u8; BOOT_ID_LEN],
    window: CounterWindow,
}

/// Wire v2: for each of up to `capacity` sender addresses, the newest epoch
/// accepted from it and a [`CounterWindow`] for that epoch.
///
/// The sender address is the inner source of the opened packet, so it is
/// authenticated by the tag. One epoch per address: a newer epoch replaces
/// the window, an older one is refused as [`EpochError::Stale`]. A slot is
/// given to a new address only if one is free or holds an epoch that is no
/// longer fresh ([`is_fresh`]); so replays can neither evict a live
/// sender nor bring back an epoch it left.
#[derive(Debug, Clone)]
pub struct SenderWindows {
    senders: Vec<Sender>,
    capacity: usize,
}

impl SenderWindows {
    /// A table for up to `capacity` senders, allocated now. 0 tracks no
    /// sender: every fresh payload is accepted (no replay protection).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            senders: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// Heap bytes a table for `capacity` senders takes.
    pub fn memory_for(capacity: usize) -> usize {
        capacity * size_of::<Sender>()
    }

    /// How many senders it can track.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many it tracks now.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether it tracks no sender yet.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// The epoch and window tracked for `address`.
    pub fn window(&self, address: IpAddr) -> Option<(&[u8; BOOT_ID_LEN], &CounterWindow)> {
        self.senders
            .iter()
            .find(|s| s.address == address)
            .map(|s| (&s.epoch, &s.window))
    }

    /// Whether `counter` of epoch `epoch` from `address` may be accepted at
    /// `now` (Unix seconds).
    pub fn check(
        &self,
        address: IpAddr,
        epoch: &[u8; BOOT_ID_LEN],
        counter: u64,
        now: u64,
    ) -> Result<(), EpochError> {
        self.judge(self.find(address), epoch, counter, now)
    }

    /// Where `address` is tracked.
    fn find(&self, address: IpAddr) -> Option<usize> {
        self.senders.iter().position(|s| s.address == address)
    }

    /// [`SenderWindows::check`] for the sender at `tracked`, if any.
    fn judge(
        &self,
        tracked: Option<usize>,
        epoch: &[u8; BOOT_ID_LEN],
        counter: u64,
        now: u64,
    ) -> Result<(), EpochError> {
        is_fresh(epoch, now)?;
        match tracked.map(|i| &self.senders[i]) {
            Some(s) if &s.epoch == epoch => Ok(s.window.check(counter)?),
            Some(s) if epoch > &s.epoch => Ok(()),
            Some(_) => Err(EpochError::Stale),
            None if self.capacity == 0 || self.has_room(now) => Ok(()),
            None => Err(EpochError::TableFull),
        }
    }

    /// A free slot, or one whose epoch is no longer fresh.
    fn has_room(&self, now: u64) -> bool {
        self.senders.len() < self.capacity || self.stale_slot(now).is_some()
    }

    /// A slot whose epoch is no longer fresh.
    fn stale_slot(&self, now: u64) -> Option<usize> {
        self.senders
            .iter()
            .position(|s| is_fresh(&s.epoch, now).is_err())
    }

    /// Judges `counter` of `epoch` from `address` ([`SenderWindows::check`])
    /// and, if it passes, records it. Call it only for a payload that
    /// authenticated.
    pub fn accept(
        &mut self,
        address: IpAddr,
        epoch: &[u8; BOOT_ID_LEN],
        counter: u64,
        now: u64,
    ) -> Result<(), EpochError> {
        let tracked = self.find(address);
        self.judge(tracked, epoch, counter, now)?;
        if self.capacity == 0 {
            return Ok(());
        }
        let sender = Sender {
            address,
            epoch: *epoch,
            window: CounterWindow::new(counter),
        };
        match tracked {
            Some(i) if &self.senders[i].epoch == epoch => self.senders[i].window.accept(counter),
            Some(i) => self.senders[i] = sender,
            // Within the capacity reserved at construction: no allocation.
            None if self.senders.len() < self.capacity => self.senders.push(sender),
            // `judge` found a stale slot, or it would have refused.
            None => {
                if let Some(i) = self.stale_slot(now) {
                    self.senders[i] = sender;
                }
            }
        }
        Ok(())
    }

    /// Forgets every sender.
    pub fn clear(&mut self) {
        self.senders.clear();
    }
}
