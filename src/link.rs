//! One broker connection's whole life, without I/O: the layer both drivers
//! run, so that connecting, reconnecting and subscribing are written once.
//!
//! A [`Link`] owns the MQTT [`Session`], the connection's phase (idle,
//! connecting, open, backing off), the reconnect backoff, the keepalive
//! (through the session), the subscription set and its (re)subscription
//! after every CONNACK, and the buffer sizes, which it derives from the MTU
//! and the longest topic. The driver owns the socket and the clock; like
//! quinn-proto's `Connection`, a link is driven by
//!
//! - inputs: [`Link::handle_timeout`], [`Link::handle_connected`],
//!   [`Link::handle_closed`], [`Link::handle_bytes`], and
//! - outputs: [`Link::poll_event`] (open a connection, close it, the
//!   session is up), [`Link::transmit`] / [`Link::consume`] (bytes for the
//!   socket) and [`Link::poll_timeout`] (when to call `handle_timeout`).
//!
//! ```
//! use mqttvpn::link::{Buffers, Link, LinkEvent};
//! use mqttvpn::mqtt::Options;
//! use mqttvpn::tunnel::{Config, Tunnel};
//!
//! let mut tunnel = Tunnel::new(Config::new([10, 0, 1, 2].into())).unwrap();
//! let buffers = Buffers::for_packets(1500, 40);
//! let mut link = Link::new(Options::new("node2"), buffers).unwrap();
//! link.set_filters(tunnel.subscriptions().iter().map(|t| t.as_str()));
//!
//! // The first timer asks for a connection; the driver opens one.
//! link.handle_timeout(0);
//! assert_eq!(link.poll_event(), Some(LinkEvent::Connect));
//! link.handle_connected(5).unwrap();
//! assert_eq!(link.transmit()[0], 0x10); // CONNECT
//! let n = link.transmit().len();
//! link.consume(n, 5);
//!
//! // The broker's CONNACK: the link subscribes the tunnel's topics.
//! let mut out = [0u8; 1500];
//! let fed = link.handle_bytes(&[0x20, 2, 0, 0], 10, &mut tunnel, &mut out, |_, _| false);
//! assert_eq!(fed.used, 4);
//! assert_eq!(link.poll_event(), Some(LinkEvent::Connected));
//! assert_eq!(link.transmit()[0], 0x82); // SUBSCRIBE
//! ```

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

use crate::mqtt::session::CONTROL_RESERVE;
use crate::mqtt::{ConnectionError, Event, Options, OptionsError, PublishError, QoS, Session};
use crate::mqtt::{State, Stats, SubscribeError};
use crate::tunnel::{DropReason, Receive, Tunnel};
use crate::wire::{self, NONCE_LEN};

/// First reconnect delay after a failure; it doubles after each further
/// failure up to [`MAX_BACKOFF_MS`], and a session the broker accepted
/// resets it.
pub const MIN_BACKOFF_MS: u64 = 1_000;
/// Longest reconnect delay.
pub const MAX_BACKOFF_MS: u64 = 30_000;
/// How long opening a connection (TCP, TLS, WebSocket) may take.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Most filters put in one SUBSCRIBE or UNSUBSCRIBE.
const MAX_FILTERS_PER_REQUEST: usize = 8;
/// SUBSCRIBEs remembered to name a refused filter (made once: a session
/// allocates nothing after it is made, however often it reconnects).
const REQUESTS_REMEMBERED: usize = 4;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Opening the connection failed.
    ConnectFailed,
    /// Opening the connection took longer than [`CONNECT_TIMEOUT_MS`].
    ConnectTimeout,
    /// The broker (or the network) closed the connection.
    Closed,
    /// Writing to the broker failed, or the broker stopped reading.
    SendFailed,
    /// The MQTT session failed: refused, protocol error, keepalive timeout.
    Session(ConnectionError),
    /// The driver asked for a new connection (a setting the CONNECT carries
    /// changed).
    Restart,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConnectFailed => f.write_str("connecting to the broker failed"),
            Self::ConnectTimeout => f.write_str("connecting to the broker timed out"),
            Self::Closed => f.write_str("the broker closed the connection"),
            Self::SendFailed => f.write_str("sending to the broker failed"),
            // The session's own words (a refused CONNECT names its reason:
            // bad user name or password, not authorized, ...).
            Self::Session(error) => fmt::Display::fmt(error, f),
            Self::Restart => f.write_str("reconnecting with new settings"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LinkError {}

/// A call that does not fit the link's phase (for instance a connection
/// reported up while none was being opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongPhase;

impl fmt::Display for WrongPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not possible in the broker link's current phase")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WrongPhase {}

/// What the driver must do or may report, from [`Link::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// Open a connection to the broker, then call
    /// [`Link::handle_connected`] (or [`Link::handle_closed`] with
    /// [`LinkError::ConnectFailed`]).
    Connect,
    /// The broker accepted the session; the subscriptions are queued.
    Connected,
    /// The connection is over. When `close` is set the link decided it
    /// (timeout, protocol error): the driver closes its socket. The next
    /// [`LinkEvent::Connect`] comes after `retry_in_ms`.
    Down {
        /// Why.
        error: LinkError,
        /// The driver still holds a connection and must close it.
        close: bool,
        /// Delay before the next attempt.
        retry_in_ms: u64,
    },
    /// The broker refused the subscription to [`Link::filters`]`[index]`
    /// (its ACLs), or the filter cannot be sent at all.
    SubscribeRefused {
        /// Position in [`Link::filters`] when it was sent.
        index: usize,
    },
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing tried yet: the next [`Link::handle_timeout`] connects.
    Idle,
    /// The driver is opening a connection, given up at `deadline`.
    Connecting {
        /// When the attempt is given up.
        deadline: u64,
    },
    /// A connection is open; the session does MQTT on it.
    Open,
    /// Failed; the next attempt is at `until`.
    Backoff {
        /// When the next attempt starts.
        until: u64,
    },
    /// Shut down with [`Link::shutdown`]: no more attempts.
    Stopped,
}

/// Buffer sizes of one link, derived from what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffers {
    /// Largest IP packet carried.
    pub mtu: usize,
    /// Longest topic published or read.
    pub max_topic_len: usize,
    /// Whether packets are published through the session's transmit buffer
    /// ([`Link::send_packet`]); a driver that frames them elsewhere (the
    /// Linux daemon's shared batches) keeps the buffer small.
    pub packets_through_session: bool,
    /// Extra transmit room, for instance status messages.
    pub extra_tx: usize,
    /// Smallest receive buffer, for messages that are not packets (status
    /// messages).
    pub min_incoming: usize,
}

impl Buffers {
    /// Sizes for a link that publishes packets of up to `mtu` bytes on
    /// topics of up to `max_topic_len` bytes through its session.
    pub fn for_packets(mtu: usize, max_topic_len: usize) -> Self {
        Self {
            mtu,
            max_topic_len,
            packets_through_session: true,
            extra_tx: 0,
            min_incoming: 0,
        }
    }

    /// The largest payload of one packet, sealed with either wire version.
    pub fn max_payload(&self) -> usize {
        self.mtu + wire::OVERHEAD.max(crate::wire2::OVERHEAD)
    }

    /// Largest publish body: topic length, topic, packet identifier (QoS 1
    /// and 2), payload.
    fn publish_body(&self) -> usize {
        2 + self.max_topic_len + 2 + self.max_payload()
    }

    fn apply(&self, options: &mut Options) {
        options.max_incoming = self.publish_body().max(self.min_incoming);
        let connect = options.connect_len();
        let publish = if self.packets_through_session {
            1 + 4 + self.publish_body()
        } else {
            0
        };
        // A SUBSCRIBE of the longest topic always fits.
        let request = 5 + 2 + 2 + self.max_topic_len + 1;
        options.tx_capacity = connect.max(publish).max(request) + CONTROL_RESERVE + self.extra_tx;
    }
}

/// What one call to [`Link::handle_bytes`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fed {
    /// Input bytes consumed; feed the rest again.
    pub used: usize,
    /// A packet of this length is at the start of the output buffer.
    pub packet: Option<usize>,
    /// A message the tunnel refused (counted in its counters).
    pub dropped: Option<DropReason>,
    /// Nothing could be taken until the transmit bytes are sent.
    pub stalled: bool,
}

/// Why [`Link::send_packet`] did not queue a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No session is up.
    NotConnected,
    /// The tunnel refused the packet (counted in its counters).
    Dropped(DropReason),
    /// The transmit buffer is full: send, then try again.
    TxFull,
    /// The packet can never fit the transmit buffer.
    TooLarge,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConnected => f.write_str("no broker session is up"),
            Self::Dropped(reason) => write!(f, "dropped: {reason}"),
            Self::TxFull => f.write_str("the transmit buffer is full"),
            Self::TooLarge => f.write_str("the packet does not fit the transmit buffer"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}

/// One topic filter the link keeps subscribed.
#[derive(Debug, Clone)]
struct Filter {
    text: String,
    /// Subscribed on the current session (or the SUBSCRIBE is queued).
    sent: bool,
}

/// One broker connection's state (see the [module docs](self)).
#[derive(Debug)]
pub struct Link {
    session: Session,
    phase: Phase,
    backoff_ms: u64,
    now_ms: u64,
    filters: Vec<Filter>,
    /// Filters to unsubscribe from on the current session.
    dropped_filters: Vec<String>,
    /// Whether the filters should be subscribed at all.
    subscribed: bool,
    /// SUBSCRIBEs in flight: packet identifier and the index of their
    /// first filter, to name a refused one.
    requests: Vec<(u16, u16)>,
    events: VecDeque<LinkEvent>,
    /// Largest SUBSCRIBE or UNSUBSCRIBE, in bytes.
    max_request: usize,
    max_topic_len: usize,
    max_payload: usize,
    /// Shut down on an open connection: the DISCONNECT is still to send.
    farewell: bool,
}

impl Link {
    /// A link that connects with `options` (its buffer sizes are replaced
    /// by those of `buffers`); allocates the session's buffers.
    pub fn new(mut options: Options, buffers: Buffers) -> Result<Self, OptionsError> {
        buffers.apply(&mut options);
        let max_request = options.tx_capacity - CONTROL_RESERVE;
        Ok(Self {
            session: Session::new(options)?,
            phase: Phase::Idle,
            backoff_ms: MIN_BACKOFF_MS,
            now_ms: 0,
            filters: Vec::new(),
            dropped_filters: Vec::new(),
            subscribed: true,
            requests: Vec::with_capacity(REQUESTS_REMEMBERED),
            events: VecDeque::with_capacity(4),
            max_request,
            max_topic_len: buffers.max_topic_len,
            max_payload: buffers.max_payload(),
            farewell: false,
        })
    }

    /// Where the connection stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The broker accepted the session on the open connection.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Open && self.session.is_connected()
    }

    /// The session's counters (publishes received, oversize messages
    /// skipped, the last keepalive round trip).
    pub fn stats(&self) -> Stats {
        self.session.stats()
    }

    /// The filters kept subscribed, in the order given.
    pub fn filters(&self) -> impl Iterator<Item = &str> {
        self.filters.iter().map(|f| f.text.as_str())
    }

    /// The filter at `index`, for naming a refused subscription.
    pub fn filter(&self, index: usize) -> Option<&str> {
        self.filters.get(index).map(|f| f.text.as_str())
    }

    /// Changes the keepalive; it takes effect with the next connection (the
    /// CONNECT carries it): call [`Link::restart`] to make one now.
    pub fn set_keepalive(&mut self, secs: u16) {
        self.session.set_keepalive(secs);
    }

    // ---- inputs ----

    /// Runs the timers: asks for a connection when one is due, gives up a
    /// connection attempt that takes too long, keeps the session alive and
    /// sends the subscriptions still due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        match self.phase {
            Phase::Idle => self.start_connect(),
            Phase::Backoff { until } if now_ms >= until => self.start_connect(),
            Phase::Connecting { deadline } if now_ms >= deadline => {
                self.fail(LinkError::ConnectTimeout, true);
            }
            Phase::Open => match self.session.handle_timeout(now_ms) {
                Ok(()) => self.pump(),
                Err(error) => self.fail(LinkError::Session(error), true),
            },
            Phase::Backoff { .. } | Phase::Connecting { .. } | Phase::Stopped => {}
        }
    }

    /// The connection asked for with [`LinkEvent::Connect`] is open: the
    /// CONNECT is queued.
    pub fn handle_connected(&mut self, now_ms: u64) -> Result<(), WrongPhase> {
        self.now_ms = now_ms;
        if !matches!(self.phase, Phase::Connecting { .. }) {
            return Err(WrongPhase);
        }
        self.phase = Phase::Open;
        self.requests.clear();
        self.dropped_filters.clear();
        for filter in &mut self.filters {
            filter.sent = false;
        }
        self.session.connect(now_ms);
        Ok(())
    }

    /// The connection (or the attempt to open one) is over, as the driver
    /// saw it: `error` says how. The link backs off and asks again.
    pub fn handle_closed(&mut self, now_ms: u64, error: LinkError) -> Result<(), WrongPhase> {
        self.now_ms = now_ms;
        match self.phase {
            Phase::Open | Phase::Connecting { .. } => {
                self.fail(error, false);
                Ok(())
            }
            _ => Err(WrongPhase),
        }
    }

    /// Takes received bytes up to the end of one MQTT packet. A publish on
    /// a topic `other` takes (status messages) goes there; any other
    /// goes through `tunnel`, and a packet for this node lands in `out`.
    /// When the session fails, the rest of the input is consumed (it
    /// belongs to a connection that is over) and [`LinkEvent::Down`] says so.
    pub fn handle_bytes(
        &mut self,
        input: &[u8],
        now_ms: u64,
        tunnel: &mut impl Receive,
        out: &mut [u8],
        mut other: impl FnMut(&str, &[u8]) -> bool,
    ) -> Fed {
        self.now_ms = now_ms;
        let mut fed = Fed {
            used: input.len(),
            ..Fed::default()
        };
        if self.phase != Phase::Open {
            return fed; // bytes of a connection given up
        }
        fed.used = match self.session.handle_bytes(input, now_ms) {
            Ok(used) => used,
            Err(error) => {
                self.fail(LinkError::Session(error), true);
                return fed;
            }
        };
        fed.stalled = fed.used == 0 && !input.is_empty();
        let mut connected = false;
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Publish { topic, payload } => {
                    if other(topic, payload) {
                        continue;
                    }
                    match tunnel.handle_inbound(topic, payload, out) {
                        Ok(len) => fed.packet = Some(len),
                        Err(reason) => fed.dropped = Some(reason),
                    }
                }
                Event::Connected { .. } => connected = true,
                Event::SubscribeFailed { packet_id, index } => {
                    let first = self
                        .requests
                        .iter()
                        .find(|(id, _)| *id == packet_id)
                        .map_or(0, |(_, first)| usize::from(*first));
                    self.events.push_back(LinkEvent::SubscribeRefused {
                        index: first + index,
                    });
                }
                Event::Subscribed { packet_id } => {
                    self.requests.retain(|(id, _)| *id != packet_id);
                }
                Event::Unsubscribed { .. } => {}
            }
        }
        if connected {
            self.backoff_ms = MIN_BACKOFF_MS;
            self.events.push_back(LinkEvent::Connected);
        }
        self.pump();
        fed
    }

    // ---- outputs ----

    /// The next thing the driver must do or may report.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// When [`Link::handle_timeout`] is next due, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.phase {
            Phase::Idle => Some(self.now_ms),
            Phase::Connecting { deadline } => Some(deadline),
            Phase::Backoff { until } => Some(until),
            Phase::Open => self.session.poll_timeout(),
            Phase::Stopped => None,
        }
    }

    /// Bytes to write to the connection, oldest first; empty while no
    /// connection is open. After writing some, call [`Link::consume`].
    pub fn transmit(&self) -> &[u8] {
        match self.phase {
            Phase::Open => self.session.transmit(),
            Phase::Stopped if self.farewell => self.session.transmit(),
            _ => &[],
        }
    }

    /// The first `n` bytes of [`Link::transmit`] were written at `now_ms`.
    /// Subscriptions still due are queued as room frees up.
    pub fn consume(&mut self, n: usize, now_ms: u64) {
        self.now_ms = now_ms;
        self.session.consume(n, now_ms);
        self.pump();
    }

    // ---- what the driver asks ----

    /// Sets the filters kept subscribed. On a live session the ones no
    /// longer wanted are unsubscribed and the new ones subscribed; after
    /// every CONNACK all of them are.
    pub fn set_filters<'a>(&mut self, filters: impl IntoIterator<Item = &'a str>) {
        let mut next: Vec<Filter> = Vec::new();
        for text in filters {
            if next.iter().any(|f| f.text == text) {
                continue;
            }
            let sent = self.filters.iter().any(|f| f.sent && f.text == text);
            next.push(Filter {
                text: String::from(text),
                sent,
            });
        }
        for old in core::mem::take(&mut self.filters) {
            if old.sent && !next.iter().any(|f| f.text == old.text) {
                self.dropped_filters.push(old.text);
            }
        }
        next.shrink_to_fit();
        self.filters = next;
        self.requests.clear();
        self.pump();
    }

    /// Subscribes (`true`) or unsubscribes (`false`) every filter, now if a
    /// session is up and after every CONNACK.
    pub fn set_subscribed(&mut self, subscribed: bool) {
        if self.subscribed == subscribed {
            return;
        }
        self.subscribed = subscribed;
        for filter in &mut self.filters {
            if !subscribed && filter.sent {
                self.dropped_filters.push(filter.text.clone());
            }
            filter.sent = false;
        }
        self.pump();
    }

    /// Queues a retained publish (a status message) on the live session.
    pub fn publish_retained(&mut self, topic: &str, payload: &[u8]) -> Result<(), PublishError> {
        self.session.publish_retained(topic, payload)
    }

    /// Seals `packet` through `tunnel` straight into the transmit buffer, to
    /// the topic of `via` (0.0.0.0: the topic of the packet's next hop).
    /// `nonce` must be fresh random bytes when the tunnel seals with wire v1.
    pub fn send_packet(
        &mut self,
        tunnel: &mut Tunnel,
        packet: &[u8],
        via: Ipv4Addr,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<(), SendError> {
        if !self.is_connected() {
            return Err(SendError::NotConnected);
        }
        let max_payload = (packet.len() + wire::OVERHEAD).min(self.max_payload);
        let queued = self
            .session
            .publish_with(self.max_topic_len, max_payload, |buf| {
                tunnel
                    .handle_outbound_via(packet, via, nonce, buf)
                    .map(|out| (out.topic, out.len))
            });
        match queued {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(SendError::Dropped(reason)),
            Err(PublishError::TxFull) => Err(SendError::TxFull),
            Err(PublishError::NotConnected) => Err(SendError::NotConnected),
            Err(PublishError::TooLarge | PublishError::InvalidTopic) => Err(SendError::TooLarge),
        }
    }

    /// Ends the connection now and makes a new one at once (for a new
    /// keepalive). Nothing happens while no connection is open or opening.
    pub fn restart(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        if matches!(self.phase, Phase::Open | Phase::Connecting { .. }) {
            self.phase = Phase::Backoff { until: now_ms };
            self.events.push_back(LinkEvent::Down {
                error: LinkError::Restart,
                close: true,
                retry_in_ms: 0,
            });
        }
    }

    /// Says goodbye: a DISCONNECT is queued on a live session (send
    /// [`Link::transmit`], then close the connection) and no further
    /// connection is asked for. Returns whether a connection was open or
    /// opening (and must be closed).
    pub fn shutdown(&mut self) -> bool {
        let open = matches!(self.phase, Phase::Open | Phase::Connecting { .. });
        self.farewell = self.phase == Phase::Open;
        if self.farewell {
            self.session.disconnect();
        }
        self.phase = Phase::Stopped;
        open
    }

    // ---- internals ----

    fn start_connect(&mut self) {
        self.phase = Phase::Connecting {
            deadline: self.now_ms.saturating_add(CONNECT_TIMEOUT_MS),
        };
        self.events.push_back(LinkEvent::Connect);
    }

    fn fail(&mut self, error: LinkError, close: bool) {
        let retry_in_ms = self.backoff_ms;
        self.phase = Phase::Backoff {
            until: self.now_ms.saturating_add(retry_in_ms),
        };
        self.backoff_ms = (retry_in_ms * 2).min(MAX_BACKOFF_MS);
        self.events.push_back(LinkEvent::Down {
            error,
            close,
            retry_in_ms,
        });
    }

    /// Queues the UNSUBSCRIBEs and SUBSCRIBEs still due, as many filters per
    /// packet as fit, while the transmit buffer has room.
    fn pump(&mut self) {
        if self.phase != Phase::Open || self.session.state() != State::Connected {
            return;
        }
        while !self.dropped_filters.is_empty() {
            let count = self.group(self.dropped_filters.iter().map(String::as_str));
            let mut group = [""; MAX_FILTERS_PER_REQUEST];
            for (slot, text) in group.iter_mut().zip(&self.dropped_filters) {
                *slot = text.as_str();
            }
            match self.session.unsubscribe(&group[..count]) {
                Err(SubscribeError::TxFull) => return,
                // Sent, or never sendable: either way it is done.
                _ => {
                    self.dropped_filters.drain(..count);
                }
            }
        }
        if !self.subscribed {
            return;
        }
        while let Some(first) = self.filters.iter().position(|f| !f.sent) {
            let due = self.filters[first..].iter().take_while(|f| !f.sent);
            let count = self.group(due.map(|f| f.text.as_str()));
            let mut group = [""; MAX_FILTERS_PER_REQUEST];
            for (slot, filter) in group.iter_mut().zip(&self.filters[first..]) {
                *slot = filter.text.as_str();
            }
            match self.session.subscribe(&group[..count], QoS::AtMostOnce) {
                Ok(packet_id) => {
                    if self.requests.len() == REQUESTS_REMEMBERED {
                        self.requests.remove(0);
                    }
                    let first = u16::try_from(first).unwrap_or(u16::MAX);
                    self.requests.push((packet_id, first));
                }
                Err(SubscribeError::TxFull) => return,
                Err(_) => self
                    .events
                    .push_back(LinkEvent::SubscribeRefused { index: first }),
            }
            for filter in &mut self.filters[first..first + count] {
                filter.sent = true;
            }
        }
    }

    /// How many of `filters` (at least one) fit one request.
    fn group<'a>(&self, filters: impl Iterator<Item = &'a str>) -> usize {
        // Fixed header (at most 5 bytes) and packet identifier.
        let mut len = 5 + 2;
        let mut count = 0;
        for text in filters.take(MAX_FILTERS_PER_REQUEST) {
            len += 2 + text.len() + 1;
            if count > 0 && len > self.max_request {
                break;
            }
            count += 1;
        }
        count.max(1)
    }
}
