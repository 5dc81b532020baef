//! The node's run loop: TUN -> core -> broker, and broker -> core -> TUN.
//!
//! Two tasks, one per direction, each with its own copy of the core
//! [`Tunnel`] (its configuration does not change on Linux), so neither takes
//! a lock per packet. Each task copies its counters into [`SharedCounters`]
//! when it goes idle or every [`COUNTER_PERIOD`], which is what status
//! reports read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Packet, QoS};
use tun_rs::AsyncDevice;

use super::RunError;
use crate::tunnel::{Counters, Direction, DropReason, Tunnel};
use crate::wire::{NONCE_LEN, OVERHEAD};

/// Longest a counter snapshot lags behind a busy task.
pub const COUNTER_PERIOD: Duration = Duration::from_millis(100);
/// First reconnect delay; it doubles per failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest reconnect delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Counters of both directions, and the driver's own.
#[derive(Debug, Default)]
pub struct SharedCounters {
    outbound: Mutex<Counters>,
    inbound: Mutex<Counters>,
    driver: Mutex<DriverCounters>,
    connected: AtomicBool,
}

/// What the driver counts beyond the core: broker sessions and packets that
/// could not be queued for the broker.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DriverCounters {
    /// Successful broker connections (the first one included).
    pub connects: u64,
    /// Failed connection attempts and lost sessions.
    pub connection_errors: u64,
    /// Outbound packets dropped because the broker link was down or full.
    pub broker_unavailable: u64,
}

impl SharedCounters {
    /// A merged snapshot: outbound figures from the outbound task, inbound
    /// from the inbound task.
    pub fn snapshot(&self) -> (Counters, Counters, DriverCounters) {
        (
            lock(&self.outbound).clone(),
            lock(&self.inbound).clone(),
            *lock(&self.driver),
        )
    }

    /// One log line with every non-zero counter.
    pub fn summary(&self) -> String {
        let (out, inb, driver) = self.snapshot();
        let mut s = format!(
            "tx_packets={} tx_bytes={} rx_packets={} rx_bytes={} connects={} connection_errors={} dropped_broker_unavailable={}",
            out.tx_packets,
            out.tx_bytes,
            inb.rx_packets,
            inb.rx_bytes,
            driver.connects,
            driver.connection_errors,
            driver.broker_unavailable
        );
        for (direction, counters, tag) in [
            (Direction::Outbound, &out, "out"),
            (Direction::Inbound, &inb, "in"),
        ] {
            for reason in DropReason::ALL {
                let n = counters.dropped(direction, reason);
                if n > 0 {
                    s.push_str(&format!(" dropped_{tag}_{}={n}", reason.name()));
                }
            }
        }
        s
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a task died mid-copy; the counters are still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copies a task's counters into the shared slot at most every COUNTER_PERIOD
/// while busy, and always when asked to flush.
struct CounterSync {
    shared: Arc<SharedCounters>,
    direction: Direction,
    last: Instant,
}

impl CounterSync {
    fn new(shared: Arc<SharedCounters>, direction: Direction) -> Self {
        Self {
            shared,
            direction,
            last: Instant::now(),
        }
    }

    fn maybe(&mut self, counters: &Counters) {
        if self.last.elapsed() >= COUNTER_PERIOD {
            self.flush(counters);
        }
    }

    fn flush(&mut self, counters: &Counters) {
        let slot = match self.direction {
            Direction::Outbound => &self.shared.outbound,
            Direction::Inbound => &self.shared.inbound,
        };
        lock(slot).clone_from(counters);
        self.last = Instant::now();
    }
}

/// Reads packets from the TUN device and publishes them.
pub async fn outbound(
    tun: Arc<AsyncDevice>,
    client: AsyncClient,
    mut tunnel: Tunnel,
    shared: Arc<SharedCounters>,
) -> Result<(), RunError> {
    let mtu = tunnel.config().mtu;
    let mut packet = vec![0u8; mtu + 1];
    let mut payload = vec![0u8; mtu + 1 + OVERHEAD];
    let mut nonce = [0u8; NONCE_LEN];
    let mut sync = CounterSync::new(shared.clone(), Direction::Outbound);
    loop {
        let len = match tun.try_recv(&mut packet) {
            Ok(len) => len,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                sync.flush(tunnel.counters());
                tun.recv(&mut packet).await.map_err(RunError::TunIo)?
            }
            Err(e) => return Err(RunError::TunIo(e)),
        };
        if !shared.connected.load(Ordering::Relaxed) {
            lock(&shared.driver).broker_unavailable += 1;
            continue;
        }
        if tunnel.is_sealed() {
            getrandom::fill(&mut nonce).map_err(|e| RunError::Random(e.to_string()))?;
        }
        match tunnel.handle_outbound(&packet[..len], &nonce, &mut payload) {
            Ok(out) => {
                let message = payload[..out.len].to_vec();
                if client
                    .try_publish(out.topic.as_str(), QoS::AtMostOnce, false, message)
                    .is_err()
                {
                    lock(&shared.driver).broker_unavailable += 1;
                }
            }
            Err(reason) => tracing::debug!("dropped outbound packet of {len} bytes: {reason}"),
        }
        sync.maybe(tunnel.counters());
    }
}

/// Drives the MQTT connection: (re)connects with backoff, subscribes after
/// every CONNACK, and writes received packets to the TUN device.
pub async fn inbound(
    tun: Arc<AsyncDevice>,
    client: AsyncClient,
    mut eventloop: EventLoop,
    mut tunnel: Tunnel,
    shared: Arc<SharedCounters>,
    broker: String,
) -> Result<(), RunError> {
    let mut packet = vec![0u8; tunnel.config().mtu + OVERHEAD + 1];
    let mut backoff = MIN_BACKOFF;
    let mut sync = CounterSync::new(shared.clone(), Direction::Inbound);
    let subscriptions: Vec<String> = tunnel
        .subscriptions()
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                match tunnel.handle_inbound(&publish.topic, &publish.payload, &mut packet) {
                    Ok(len) => {
                        tun.send(&packet[..len]).await.map_err(RunError::TunIo)?;
                    }
                    Err(reason) => tracing::debug!(
                        "dropped message of {} bytes on {}: {reason}",
                        publish.payload.len(),
                        publish.topic
                    ),
                }
                sync.maybe(tunnel.counters());
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(
                    "connected to {broker}; subscribing to {}",
                    subscriptions.join(", ")
                );
                backoff = MIN_BACKOFF;
                lock(&shared.driver).connects += 1;
                shared.connected.store(true, Ordering::Relaxed);
                // Queued from another task: this one must keep polling the
                // event loop, which is what drains the request channel.
                let client = client.clone();
                let filters: Vec<_> = subscriptions
                    .iter()
                    .map(|t| rumqttc::SubscribeFilter::new(t.clone(), QoS::AtMostOnce))
                    .collect();
                tokio::spawn(async move {
                    if let Err(e) = client.subscribe_many(filters).await {
                        tracing::error!("cannot queue SUBSCRIBE: {e}");
                    }
                });
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                use rumqttc::SubscribeReasonCode::Failure;
                if ack.return_codes.iter().any(|c| matches!(c, Failure)) {
                    tracing::error!(
                        "the broker refused a subscription (ACL?): {:?}",
                        ack.return_codes
                    );
                }
            }
            Ok(_) => sync.maybe(tunnel.counters()),
            Err(e) => {
                shared.connected.store(false, Ordering::Relaxed);
                sync.flush(tunnel.counters());
                lock(&shared.driver).connection_errors += 1;
                tracing::warn!(
                    "broker {broker}: {}; retrying in {:.1}s",
                    describe(&e),
                    backoff.as_secs_f32()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => {
            format!("connection refused ({code:?}): check -u/-p and the broker's ACLs")
        }
        other => other.to_string(),
    }
}
