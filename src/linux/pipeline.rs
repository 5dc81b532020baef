//! The node's per-packet work without any I/O, so that a test can drive it
//! with a counting allocator: sealing and framing outbound packets into
//! shared batches ([`Publisher`], [`BatchPool`]) and turning a broker's byte
//! stream into packets for the TUN device ([`BrokerLink`]).
//!
//! Nothing here allocates per packet: batches come from a pool and are
//! handed to the broker writers as `Arc`s that return to the pool when the
//! last writer drops them; the session and the tunnel write into buffers
//! made once.

use std::sync::{Arc, Mutex};

use super::presence::Presence;

use crate::mqtt::codec::{ClientPacket, QoS};
use crate::mqtt::session::{ConnectionError, Event, Options, Session};
use crate::tunnel::{DropReason, Tunnel};
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
    tunnel: Tunnel,
    nonces: NonceSource,
    payload: Vec<u8>,
}

impl Publisher {
    /// A publisher around the outbound copy of the tunnel.
    pub fn new(tunnel: Tunnel) -> Self {
        let payload = vec![0; tunnel.config().mtu + 256];
        Self {
            tunnel,
            nonces: NonceSource::default(),
            payload,
        }
    }

    /// The tunnel (for its counters).
    pub fn tunnel(&self) -> &Tunnel {
        &self.tunnel
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

/// What one call to [`BrokerLink::feed`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fed {
    /// Input bytes consumed; feed the rest again.
    pub used: usize,
    /// A packet of this length is in the output buffer, for the TUN device.
    pub packet: Option<usize>,
    /// The broker accepted the session just now (and the subscriptions are
    /// queued).
    pub connected: bool,
    /// The session's transmit bytes must be sent before more input is
    /// taken.
    pub needs_flush: bool,
}

/// The receiving side of one broker session: the core's MQTT session plus
/// the node's subscriptions.
pub struct BrokerLink {
    session: Session,
    subscriptions: Vec<String>,
    oversize_seen: u64,
    /// The status topics' prefix (with its `/`) and where they go.
    presence: Option<(String, Arc<Mutex<Presence>>)>,
}

impl BrokerLink {
    /// A link with `options` that subscribes to `subscriptions` after each
    /// CONNACK.
    pub fn new(options: Options, subscriptions: Vec<String>) -> Result<Self, String> {
        let session = Session::new(options).map_err(|e| e.to_string())?;
        Ok(Self {
            session,
            subscriptions,
            oversize_seen: 0,
            presence: None,
        })
    }

    /// Also reads the status messages of other nodes into `presence` (the
    /// caller adds [`Presence::filter`] to the subscriptions).
    pub fn with_presence(mut self, presence: Arc<Mutex<Presence>>) -> Self {
        let prefix = lock(&presence).filter().trim_end_matches('+').to_owned();
        self.presence = Some((prefix, presence));
        self
    }

    /// The MQTT session.
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    /// When the session's timers are next due (milliseconds on the
    /// driver's clock), if it runs any.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.session.poll_timeout()
    }

    /// Starts a session on a fresh connection: the CONNECT is queued.
    pub fn start(&mut self, now_ms: u64) {
        self.session.connect(now_ms);
    }

    /// Messages skipped for being longer than the largest packet carried,
    /// since the last call.
    pub fn take_oversize(&mut self) -> u64 {
        let total = self.session.stats().oversize_skipped;
        let new = total - self.oversize_seen;
        self.oversize_seen = total;
        new
    }

    /// Consumes broker bytes up to the end of one MQTT packet. A publish
    /// goes through `tunnel` into `out`.
    pub fn feed(
        &mut self,
        input: &[u8],
        now_ms: u64,
        tunnel: &mut Tunnel,
        out: &mut [u8],
    ) -> Result<Fed, ConnectionError> {
        let used = self.session.handle_bytes(input, now_ms)?;
        let mut fed = Fed {
            used,
            needs_flush: used == 0 && !input.is_empty(),
            ..Fed::default()
        };
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Publish { topic, payload }
                    if self
                        .presence
                        .as_ref()
                        .is_some_and(|(prefix, _)| topic.starts_with(prefix.as_str())) =>
                {
                    // Status messages are rare: a lock here costs nothing per packet.
                    if let Some((_, presence)) = &self.presence {
                        lock(presence).handle(topic, payload);
                    }
                }
                Event::Publish { topic, payload } => {
                    match tunnel.handle_inbound(topic, payload, out) {
                        Ok(len) => fed.packet = Some(len),
                        Err(reason) => tracing::trace!(
                            "dropped a message of {} bytes on {topic}: {reason}",
                            payload.len()
                        ),
                    }
                }
                Event::Connected { .. } => fed.connected = true,
                Event::SubscribeFailed { index, .. } => tracing::error!(
                    "the broker refused the subscription to {} (check its ACLs)",
                    self.subscriptions.get(index).map_or("?", String::as_str)
                ),
                Event::Subscribed { .. } | Event::Unsubscribed { .. } => {}
            }
        }
        if fed.connected {
            let filters: Vec<&str> = self.subscriptions.iter().map(String::as_str).collect();
            if let Err(e) = self.session.subscribe(&filters, QoS::AtMostOnce) {
                tracing::error!("cannot subscribe: {e}");
            }
        }
        Ok(fed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
