//! The node's outbound per-packet work without any I/O, so that a test can
//! drive it with a counting allocator: sealing and framing outbound packets
//! into shared batches ([`Publisher`], [`BatchPool`]). The inbound side is
//! the core's [`Link`](crate::link::Link).
//!
//! Nothing here allocates per packet: batches come from a pool and are
//! handed to the broker writers as `Arc`s that return to the pool when the
//! last writer drops them; the session and the tunnel write into buffers
//! made once.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::mqtt::codec::ClientPacket;
use crate::topic::Topic;
use crate::tunnel::Sender;
use crate::wire::NONCE_LEN;

/// Most packets sealed into one wire-v2 batch (at least what one TUN read
/// returns).
const MAX_GROUP: usize = 128;
const _: () = assert!(MAX_GROUP >= tun_rs::IDEAL_BATCH_SIZE);

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

/// Why outbound packets could not be framed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishDrop {
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
        let largest = tunnel.config().mtu.max(super::config::BATCH_RECEIVE);
        Self {
            tunnel,
            nonces: NonceSource::default(),
            payload: vec![0; largest + 256],
        }
    }

    /// Replaces the peers that read wire-v2 batches, each with the largest
    /// it reads (capped at what this publisher seals).
    pub fn set_batch_peers(&mut self, peers: impl Iterator<Item = (Ipv4Addr, usize)>) {
        let cap = self.payload.len() - 256;
        self.tunnel
            .set_batch_peers(peers.map(|(peer, limit)| (peer, limit.min(cap))));
    }

    /// Seals the packets of one TUN read and appends their PUBLISHes to
    /// `batch`: consecutive packets for one peer that reads batches go in
    /// one message, every other packet in its own. Returns how many packets
    /// were framed; packets the core refuses are counted there and skipped.
    pub fn push_all<'a>(
        &mut self,
        packets: impl Iterator<Item = &'a [u8]>,
        batch: &mut Vec<u8>,
    ) -> Result<u64, PublishDrop> {
        let mut group: [&[u8]; MAX_GROUP] = [&[]; MAX_GROUP];
        let (mut len, mut bytes) = (0, 0);
        let mut open: Option<(Topic, usize)> = None;
        let mut framed = 0;
        let batching = self.tunnel.has_batch_peers();
        for packet in packets {
            let this = if batching {
                self.tunnel.batch_topic(packet)
            } else {
                None
            };
            let joins = match (&open, &this) {
                (Some((topic, limit)), Some((next, _))) => {
                    next == topic && len < MAX_GROUP && bytes + packet.len() <= *limit
                }
                _ => false,
            };
            if !joins {
                framed += self.seal(&group[..len], batch)?;
                (len, bytes) = (0, 0);
                open = this;
                if open.is_none() {
                    framed += self.seal(&[packet], batch)?;
                    continue;
                }
            }
            group[len] = packet;
            len += 1;
            bytes += packet.len();
        }
        framed += self.seal(&group[..len], batch)?;
        Ok(framed)
    }

    /// Seals `packets` (none, one, or a group for one batch) into one
    /// message and appends its PUBLISH to `batch`; how many were framed.
    fn seal(&mut self, packets: &[&[u8]], batch: &mut Vec<u8>) -> Result<u64, PublishDrop> {
        if packets.is_empty() {
            return Ok(0);
        }
        let nonce = if self.tunnel.is_sealed() {
            self.nonces.take().map_err(|_| PublishDrop::Random)?
        } else {
            [0; NONCE_LEN]
        };
        match self
            .tunnel
            .handle_outbound_batch(packets, &nonce, &mut self.payload)
        {
            Ok(out) => {
                append_publish(batch, out.topic.as_str(), &self.payload[..out.len]);
                Ok(packets.len() as u64)
            }
            Err(reason) => {
                tracing::trace!("dropped {} outbound packet(s): {reason}", packets.len());
                Ok(0)
            }
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
