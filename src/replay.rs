//! Replay protection: what a receiver remembers of the payloads it accepted.
//!
//! Two mechanisms, one per wire version, both allocated once and bounded:
//!
//! - [`ReplayCache`] (wire v1, whose nonces are random): the last `capacity`
//!   accepted payloads by a 64-bit fingerprint, oldest evicted first (FIFO).
//!   [`ReplayCache::memory_for`] gives its heap size: 12 bytes per entry
//!   (8 for the fingerprint, 2 × 2 for the index at load factor ≤ 1/2), so
//!   48 KiB for 4096 entries.
//! - [`SenderWindows`] (wire v2, whose nonces carry a per-sender counter): for
//!   each of up to `capacity` senders (by boot id), a [`CounterWindow`] of
//!   [`WINDOW`] counters in the style of RFC 6479. The least recently
//!   accepted sender is evicted when a new one arrives at a full table.
//!   [`SenderWindows::memory_for`] gives its heap size.
//!
//! Nothing is remembered until a payload has authenticated: callers check
//! first ([`ReplayCache::contains`], [`SenderWindows::check`]), open the
//! payload, and record it only if it opened ([`ReplayCache::insert`],
//! [`SenderWindows::accept`]). So forged traffic cannot evict anything.

use alloc::vec::Vec;
use core::fmt;
use core::mem::size_of;

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

/// Length of a wire-v2 sender's boot id.
pub const BOOT_ID_LEN: usize = 16;

#[derive(Debug, Clone)]
struct Sender {
    boot_id: [u8; BOOT_ID_LEN],
    window: CounterWindow,
    last_used: u64,
}

/// Wire v2: a [`CounterWindow`] for each of up to `capacity` senders, keyed
/// by boot id. A new sender at a full table replaces the least recently
/// accepted one, whose window is forgotten.
#[derive(Debug, Clone)]
pub struct SenderWindows {
    senders: Vec<Sender>,
    capacity: usize,
    /// Counts acceptances, to order senders by recency without a clock.
    tick: u64,
}

impl SenderWindows {
    /// A table for up to `capacity` senders, allocated now. 0 tracks no
    /// sender: every counter is accepted (no replay protection).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            senders: Vec::with_capacity(capacity),
            capacity,
            tick: 0,
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

    /// The window of the sender with `boot_id`, if it is tracked.
    pub fn window(&self, boot_id: &[u8; BOOT_ID_LEN]) -> Option<&CounterWindow> {
        self.senders
            .iter()
            .find(|s| &s.boot_id == boot_id)
            .map(|s| &s.window)
    }

    /// Whether `counter` from `boot_id` may be accepted. A sender not
    /// tracked (new, or evicted) may send any counter.
    pub fn check(&self, boot_id: &[u8; BOOT_ID_LEN], counter: u64) -> Result<(), CounterError> {
        self.window(boot_id).map_or(Ok(()), |w| w.check(counter))
    }

    /// Records `counter` from `boot_id` as accepted (after it authenticated).
    pub fn accept(&mut self, boot_id: &[u8; BOOT_ID_LEN], counter: u64) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        let tick = self.tick;
        if let Some(sender) = self.senders.iter_mut().find(|s| &s.boot_id == boot_id) {
            sender.window.accept(counter);
            sender.last_used = tick;
            return;
        }
        let sender = Sender {
            boot_id: *boot_id,
            window: CounterWindow::new(counter),
            last_used: tick,
        };
        if self.senders.len() < self.capacity {
            // Within the capacity reserved at construction: no allocation.
            self.senders.push(sender);
        } else if let Some(lru) = self.senders.iter_mut().min_by_key(|s| s.last_used) {
            *lru = sender;
        }
    }

    /// Forgets every sender.
    pub fn clear(&mut self) {
        self.senders.clear();
    }
}
