//! The node's outbound per-packet work without any I/O, so that a test can
//! drive it with a counting allocator: sealing and framing outbound packets
//! into shared batches ([`Publisher`], [`BatchPool`]). The inbound side is
//! the core's [`Link`](crate::link::Link).
//!
//! Nothing here allocates per packet: batches come from a pool and are
//! handed to the broker writers as `Arc`s that return to the pool when the
//! last writer drops them; the session and the tunnel write into buffers
//! made once.

use std::sync::Arc;

use crate::mqtt::codec::ClientPacket;
use crate::tunnel::{DropReason, Sender};
use crate::wire::NONCE_LEN;

/// Bytes of random nonce material fetched from the OS at a time.
const NONCE_POOL: usize = NONCE_LEN * 256;

/// A batch of encoded PUBLISH packets, shared by the writers of every broker.
pub type Batch = Arc<Vec<u8>>;

/// Random nonces, fetched from the OS 256 at a time (one `getrandom` call
/// per 256 packets instead of one per packet).
pub struct NonceSource {
    pool: Box<[u8; NONCE_POOL]>,
    used: usize,
}

impl Default for NonceSource {
    fn default() -> Self {
        Self {
            pool: Box::new([0; NONCE_POOL]),
            used: NONCE_POOL,
        }
    }
}

impl NonceSource {
    /// The next 24 random bytes.
    pub fn take(&mut self) -> Result<[u8; NONCE_LEN], getrandom::Error> {
        if self.used == NONCE_POOL {
            getrandom::fill(&mut self.pool[..])?;
            self.used = 0;
        }
        let mut nonce = [0; NONCE_LEN];
        nonce.copy_from_slice(&self.pool[self.used..self.used + NONCE_LEN]);
        // Never hand out the same bytes twice.
        self.pool[self.used..self.used + NONCE_LEN].fill(0);
        self.used += NONCE_LEN;
        Ok(nonce)
    }
}

/// Batch buffers made once and reused: a slot is free again when no writer
/// holds its `Arc` any more.
pub struct BatchPool {
    slots: Vec<Batch>,
    limit: usize,
    capacity: usize,
    next: usize,
}

impl BatchPool {
    /// Up to `limit` buffers of `capacity` bytes each, made as needed.
    pub fn new(limit: usize, capacity: usize) -> Self {
        Self {
            slots: Vec::with_capacity(limit),
            limit,
            capacity,
            next: 0,
        }
    }

    /// The index of a free, emptied buffer, or `None` while every buffer is
    /// still queued at some writer (the brokers are slower than the TUN
    /// device).
    pub fn acquire(&mut self) -> Option<usize> {
        let n = self.slots.len();
        let free = (0..n)
            .map(|k| (self.next + k) % n)
            .find(|&i| Arc::strong_count(&self.slots[i]) == 1);
        let index = match free {
            Some(i) => i,
            None if n < self.limit => {
                self.slots.push(Arc::new(Vec::with_capacity(self.capacity)));
                n
            }
            None => return None,
        };
        self.next = (index + 1) % self.slots.len();
        if let Some(buffer) = Arc::get_mut(&mut self.slots[index]) {
            buffer.clear();
        }
        Some(index)
    }

    /// The buffer of slot `index` to fill; `None` once it is shared.
    pub fn buffer(&mut self, index: usize) -> Option<&mut Vec<u8>> {
        self.slots.get_mut(index).and_then(Arc::get_mut)
    }

    /// A handle on slot `index` for the writers; the slot is free again
    /// when every handle is dropped.
    pub fn share(&self, index: usize) -> Batch {
        self.slots[index].clone()
    }

    /// How many buffers exist.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no buffer was made yet.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Why an outbound packet was not framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishDrop {
    /// The core refused it (counted in the tunnel's counters).
    Tunnel(DropReason),
    /// The OS random source failed.
    Random,
}

/// The outbound half: packet -> sealed payload -> PUBLISH bytes appended to
/// a batch.
pub struct Publisher {
    tunnel: Sender,
    nonces: NonceSource,
    payload: Vec<u8>,
}

impl Publisher {
    /// A publisher around the outbound copy of the tunnel.
    pub fn new(tunnel: Sender) -> Self {
        let payload = vec![0; tunnel.config().mtu + 256];
        Self {
            tunnel,
            nonces: NonceSource::default(),
            payload,
        }
    }

    /// The tunnel (for its counters).
    pub fn tunnel(&self) -> &Sender {
        &self.tunnel
    }

    /// Passes the wall clock to the tunnel (wire v2 stamps its epochs).
    pub fn handle_clock(&mut self, unix_seconds: u64) {
        self.tunnel.handle_clock(unix_seconds);
    }

    /// Seals `packet` and appends its PUBLISH to `batch`.
    pub fn push(&mut self, packet: &[u8], batch: &mut Vec<u8>) -> Result<(), PublishDrop> {
        let nonce = if self.tunnel.is_sealed() {
            self.nonces.take().map_err(|_| PublishDrop::Random)?
        } else {
            [0; NONCE_LEN]
        };
        let out = self
            .tunnel
            .handle_outbound(packet, &nonce, &mut self.payload)
            .map_err(PublishDrop::Tunnel)?;
        append_publish(batch, out.topic.as_str(), &self.payload[..out.len]);
        Ok(())
    }
}

/// Appends a QoS 0 PUBLISH of `payload` on `topic` to `batch`. `batch`
/// keeps its capacity when it has room, so steady state allocates nothing.
pub fn append_publish(batch: &mut Vec<u8>, topic: &str, payload: &[u8]) {
    let packet = ClientPacket::Publish { topic, payload };
    // Topics come from the core (valid, short) and payloads are bounded by
    // the MTU, so encoding cannot fail; a failure drops only this packet.
    let Ok(len) = packet.encoded_len() else {
        return;
    };
    let start = batch.len();
    batch.resize(start + len, 0);
    if packet.encode(&mut batch[start..]).is_err() {
        batch.truncate(start);
    }
}
