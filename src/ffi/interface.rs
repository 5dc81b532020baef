//! One interface's state, in safe Rust: the tunnel core, the MQTT session,
//! the broker connection's life cycle (connect, backoff, reconnect,
//! resubscribe) and the buffers, all sized when the interface is made.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ip::IpHeader;
use crate::mqtt::{Event, Options, PublishError, QoS, Session, SubscribeError};
use crate::topic::{self, Topic};
use crate::tunnel::{Config, DropReason, Tunnel};
use crate::wire;

use super::boundary::mqtt_if_result::{self, *};
use super::platform::{Connect, MQTT_IF_LOG_DEBUG, MQTT_IF_LOG_ERROR, MQTT_IF_LOG_INFO, Platform};

/// MQTT keepalive of the ESP8266 C library.
pub(crate) const DEFAULT_KEEPALIVE_SECS: u16 = 120;
/// First reconnect delay; it doubles after each failure up to [`MAX_BACKOFF_MS`].
const MIN_BACKOFF_MS: u64 = 1_000;
const MAX_BACKOFF_MS: u64 = 30_000;
/// How long a TCP connection may take before it is given up.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Smallest MTU an IPv4 interface may have (RFC 791).
pub(crate) const MIN_MTU: usize = 68;

/// Everything an interface is made from, checked.
pub(crate) struct Settings<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: Option<&'a str>,
    pub broker_password: &'a [u8],
    pub prefix: &'a str,
    pub password: &'a [u8],
    pub client_id: Option<&'a str>,
    pub ipaddr: u32,
    pub netmask: u32,
    pub gw: u32,
    pub mtu: usize,
    pub keepalive_secs: u16,
}

/// An address in lwIP byte order (network order in memory).
pub(crate) fn ipv4(addr: u32) -> Ipv4Addr {
    Ipv4Addr::from(addr.to_ne_bytes())
}

fn lwip_order(addr: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(addr.octets())
}

/// Where the broker connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not tried yet: the first tick connects.
    Idle,
    /// `tcp_connect` said it is connecting.
    Connecting { deadline: u64 },
    /// TCP is up; the session does MQTT on it.
    Open,
    /// Failed; the next attempt is at `until`.
    Backoff { until: u64 },
}

/// The next hop lwIP chose for an outbound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextHop {
    /// From `mqtt_if_output`: 0.0.0.0 means the packet's destination.
    V4(Ipv4Addr),
    /// From `mqtt_if_output6`: `None` or `::` means the destination.
    V6(Option<Ipv6Addr>),
}

/// What one call to [`Interface::receive`] did.
pub(crate) struct Received {
    /// Bytes taken from the input.
    pub consumed: usize,
    /// A packet for the IP stack, at the start of the delivery buffer.
    pub deliver: Option<usize>,
    /// Nothing could be taken (the socket does not drain); try later.
    pub stalled: bool,
}

pub(crate) struct Interface {
    /// Boxed: built in its own frame and moved as a pointer, so making an
    /// interface stays within a device's 4 KB stack.
    tunnel: Box<Tunnel>,
    /// Boxed like the tunnel, for the same reason.
    session: Box<Session>,
    /// Broker host name, NUL-terminated for `tcp_connect`.
    host: Box<[u8]>,
    port: u16,
    link: Link,
    backoff_ms: u64,
    now_ms: u64,
    /// Whether the reading topics should be subscribed (`mqtt_if_subscribe`).
    want_subscribed: bool,
    /// The next subscription to send after a (re)connect, if any are left.
    sub_cursor: Option<usize>,
    /// Packets `mqtt_if_output*` dropped while no session was up.
    dropped_not_connected: u64,
    /// Packets dropped because the transmit buffer stayed full (the
    /// socket does not drain).
    dropped_tx_full: u64,
    /// Longest topic the interface publishes or reads: `<prefix>/` and the
    /// longest address text.
    max_topic_len: usize,
    gw: u32,
    /// The largest MTU the buffers hold.
    mtu_capacity: usize,
    platform: Platform,
}

/// The IPv4 next hop to hand the core: lwIP's for an IPv4 packet; none
/// (0.0.0.0) for an IPv6 packet, which goes to the topic of its
/// destination, the only next hop the core publishes IPv6 to. A packet that
/// does not parse is left to the core, which counts it as malformed.
fn via(packet: &[u8], next_hop: NextHop) -> Result<Ipv4Addr, mqtt_if_result> {
    let Ok(header) = IpHeader::parse(packet) else {
        return Ok(Ipv4Addr::UNSPECIFIED);
    };
    match (header.dst, next_hop) {
        (IpAddr::V4(_), NextHop::V4(hop)) => Ok(hop),
        (IpAddr::V6(_), NextHop::V4(hop)) if hop.is_unspecified() => Ok(hop),
        (IpAddr::V6(dst), NextHop::V6(hop))
            if hop.is_none_or(|hop| hop.is_unspecified() || hop == dst) =>
        {
            Ok(Ipv4Addr::UNSPECIFIED)
        }
        _ => Err(MQTT_IF_ERR_DROPPED),
    }
}

/// Tags of wire v1 payloads an interface remembers to drop replays.
const EMBEDDED_REPLAY_CAPACITY: usize = 128;

/// Largest publish body (topic length, topic, payload) of one packet.
fn publish_body_len(topic_len: usize, mtu: usize) -> usize {
    2 + topic_len + wire::sealed_len(mtu)
}

impl Interface {
    /// Makes an interface. Its parts are made by helpers that are never
    /// inlined, so their temporaries (a tunnel is about 700 bytes on a
    /// device) never share one frame: making an interface from `setup()`
    /// stays within the ESP8266 core's 4 KB stack.
    #[inline(never)]
    pub(crate) fn new(s: &Settings<'_>, platform: Platform) -> Result<Self, mqtt_if_result> {
        topic::validate_prefix(s.prefix).map_err(|_| MQTT_IF_ERR_INVALID_PREFIX)?;
        if s.user.is_none() && !s.broker_password.is_empty() {
            return Err(MQTT_IF_ERR_INVALID_ARGUMENT);
        }
        let tunnel = Self::new_tunnel(s)?;
        // Our own topics are at most `<prefix>/` and the longest address
        // text (IPv6 may be set later); anything longer the broker sends is
        // not for us and is skipped.
        let own_topic = s.prefix.len() + topic::MAX_TOPIC_LEN - topic::MAX_PREFIX_LEN;
        let session = Self::new_session(s, &platform, own_topic)?;
        let mut host = Vec::with_capacity(s.host.len() + 1);
        host.extend_from_slice(s.host.as_bytes());
        host.push(0);
        Ok(Self {
            tunnel,
            session,
            host: host.into_boxed_slice(),
            port: s.port,
            link: Link::Idle,
            backoff_ms: MIN_BACKOFF_MS,
            now_ms: 0,
            want_subscribed: true,
            sub_cursor: None,
            max_topic_len: own_topic,
            dropped_not_connected: 0,
            dropped_tx_full: 0,
            gw: s.gw,
            mtu_capacity: s.mtu,
            platform,
        })
    }

    /// The configuration is set field by field, not with the by-value
    /// builder, which at opt-level s left a copy per step in this frame.
    #[inline(never)]
    fn new_tunnel(s: &Settings<'_>) -> Result<Box<Tunnel>, mqtt_if_result> {
        let mut config = Config::new(ipv4(s.ipaddr));
        config.prefix = String::from(s.prefix);
        config.netmask = ipv4(s.netmask);
        config.mtu = s.mtu;
        config.key = wire::Key::from_password(s.password);
        // The bare-metal replay memory (128 tags, 1.5 KiB) on every build, so
        // an interface costs the same on the host as on the device.
        config.replay_capacity = EMBEDDED_REPLAY_CAPACITY;
        Tunnel::new(config)
            .map(Box::new)
            .map_err(|_| MQTT_IF_ERR_INVALID_PREFIX)
    }

    #[inline(never)]
    fn new_session(
        s: &Settings<'_>,
        platform: &Platform,
        own_topic: usize,
    ) -> Result<Box<Session>, mqtt_if_result> {
        let client_id = match s.client_id {
            Some(id) => String::from(id),
            None => {
                let mut r = [0u8; 4];
                platform.random(&mut r);
                Options::default_client_id(u32::from_ne_bytes(r))
            }
        };
        let mut options = Options::new(&client_id).with_keepalive(s.keepalive_secs);
        if let Some(user) = s.user {
            options = options.with_login(user, s.broker_password);
        }
        options.max_incoming = publish_body_len(own_topic, s.mtu) + 2;
        let publish = 1 + 4 + publish_body_len(own_topic, s.mtu);
        let connect = 64 + client_id.len() + s.user.map_or(0, str::len) + s.broker_password.len();
        options.tx_capacity = publish.max(connect) + crate::mqtt::session::CONTROL_RESERVE;
        Session::new(options)
            .map(Box::new)
            .map_err(|_| MQTT_IF_ERR_INVALID_ARGUMENT)
    }

    pub(crate) fn addresses(&self) -> (u32, u32, u32) {
        let config = self.tunnel.config();
        (
            lwip_order(config.address),
            lwip_order(config.netmask),
            self.gw,
        )
    }

    pub(crate) fn mtu(&self) -> usize {
        self.tunnel.config().mtu
    }

    /// The tunnel's counters, the session's and the interface's own drops
    /// (not connected, transmit buffer full).
    pub(crate) fn stats(
        &self,
    ) -> (
        &crate::tunnel::Counters,
        crate::mqtt::session::Stats,
        [u64; 2],
    ) {
        (
            self.tunnel.counters(),
            self.session.stats(),
            [self.dropped_not_connected, self.dropped_tx_full],
        )
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.link == Link::Open && self.session.is_connected()
    }

    // ---- the broker connection ----

    /// Runs the timers: connects, reconnects after the backoff, keeps the
    /// session alive, resubscribes and sends what is queued.
    pub(crate) fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        match self.link {
            Link::Idle => self.start_connect(),
            Link::Backoff { until } if now_ms >= until => self.start_connect(),
            Link::Backoff { .. } => {}
            Link::Connecting { deadline } if now_ms >= deadline => {
                self.platform.tcp_close();
                self.fail("TCP connection to the broker timed out");
            }
            Link::Connecting { .. } => {}
            Link::Open => match self.session.handle_timeout(now_ms) {
                Ok(()) => {
                    self.pump_subscriptions();
                    self.flush();
                }
                Err(error) => {
                    self.platform.tcp_close();
                    self.fail(format_args!("MQTT: {error}"));
                }
            },
        }
    }

    fn start_connect(&mut self) {
        let host = core::str::from_utf8(&self.host[..self.host.len() - 1]).unwrap_or("?");
        self.platform.log(
            MQTT_IF_LOG_INFO,
            format_args!("connecting to {host}:{}", self.port),
        );
        match self.platform.tcp_connect(&self.host, self.port) {
            Connect::Connected => self.tcp_up(),
            Connect::Pending => {
                self.link = Link::Connecting {
                    deadline: self.now_ms.saturating_add(CONNECT_TIMEOUT_MS),
                }
            }
            Connect::Failed => self.fail("TCP connection to the broker failed"),
        }
    }

    /// The port says the TCP connection it was making is up.
    pub(crate) fn tcp_connected(&mut self) -> Result<(), mqtt_if_result> {
        match self.link {
            Link::Connecting { .. } => {
                self.tcp_up();
                Ok(())
            }
            _ => Err(MQTT_IF_ERR_STATE),
        }
    }

    fn tcp_up(&mut self) {
        self.link = Link::Open;
        self.session.connect(self.now_ms);
        self.flush();
    }

    /// The port says the connection closed (or could not be made).
    pub(crate) fn tcp_closed(&mut self) -> Result<(), mqtt_if_result> {
        match self.link {
            Link::Open | Link::Connecting { .. } => {
                self.fail("broker connection closed");
                Ok(())
            }
            _ => Err(MQTT_IF_ERR_STATE),
        }
    }

    /// The connection is over (already closed): retry after the backoff.
    fn fail(&mut self, why: impl core::fmt::Display) {
        let delay = self.backoff_ms;
        self.platform.log(
            MQTT_IF_LOG_ERROR,
            format_args!("{why}; retrying in {} ms", delay),
        );
        self.link = Link::Backoff {
            until: self.now_ms.saturating_add(delay),
        };
        self.backoff_ms = (delay * 2).min(MAX_BACKOFF_MS);
        self.sub_cursor = None;
    }

    /// Sends what the session has queued, as far as the socket takes it.
    fn flush(&mut self) {
        if self.link != Link::Open {
            return;
        }
        loop {
            let pending = self.session.transmit();
            if pending.is_empty() {
                return;
            }
            match self.platform.tcp_send(pending) {
                Some(0) => return,
                Some(n) => self.session.consume(n, self.now_ms),
                None => {
                    self.platform.tcp_close();
                    self.fail("sending to the broker failed");
                    return;
                }
            }
        }
    }

    /// Takes received bytes up to the end of one MQTT packet; a packet for
    /// this node is written to `delivery`.
    pub(crate) fn receive(&mut self, data: &[u8], delivery: &mut [u8]) -> Received {
        let all = Received {
            consumed: data.len(),
            deliver: None,
            stalled: false,
        };
        if self.link != Link::Open {
            return all; // bytes of a connection we gave up
        }
        let mut used = self.session.handle_bytes(data, self.now_ms);
        if used == Ok(0) && !data.is_empty() {
            // The transmit buffer keeps no room for an acknowledgement.
            self.flush();
            used = self.session.handle_bytes(data, self.now_ms);
        }
        let consumed = match used {
            Ok(n) => n,
            Err(error) => {
                self.platform.tcp_close();
                self.fail(format_args!("MQTT: {error}"));
                return all;
            }
        };
        let mut deliver = None;
        let mut connected = false;
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected { .. } => connected = true,
                Event::Publish { topic, payload } => {
                    match self.tunnel.handle_inbound(topic, payload, delivery) {
                        Ok(n) => deliver = Some(n),
                        Err(reason) => self.platform.log(
                            MQTT_IF_LOG_DEBUG,
                            format_args!("dropped a message on {topic}: {reason}"),
                        ),
                    }
                }
                Event::SubscribeFailed { .. } => self.platform.log(
                    MQTT_IF_LOG_ERROR,
                    format_args!("the broker refused a subscription"),
                ),
                Event::Subscribed { .. } | Event::Unsubscribed { .. } => {}
            }
        }
        if connected {
            self.platform
                .log(MQTT_IF_LOG_INFO, format_args!("connected to the broker"));
            self.backoff_ms = MIN_BACKOFF_MS;
            if self.want_subscribed {
                self.sub_cursor = Some(0);
            }
        }
        self.pump_subscriptions();
        self.flush();
        Received {
            consumed,
            deliver,
            stalled: consumed == 0,
        }
    }

    // ---- packets ----

    /// An IP packet lwIP sends towards `next_hop`. The core picks the topic
    /// and, for an IPv4 packet, takes lwIP's next hop as its own choice
    /// ([`Tunnel::handle_outbound_via`]), so what is sealed is what is
    /// published: wire v2 authenticates exactly that topic.
    pub(crate) fn output(
        &mut self,
        packet: &[u8],
        next_hop: NextHop,
    ) -> Result<(), mqtt_if_result> {
        if !self.is_connected() {
            self.dropped_not_connected += 1;
            return Err(MQTT_IF_ERR_NOT_CONNECTED);
        }
        let via = via(packet, next_hop)?;
        let mut nonce = [0u8; wire::NONCE_LEN];
        if self.tunnel.is_sealed() {
            self.platform.random(&mut nonce);
        }
        // A full transmit buffer is flushed to the socket once and the
        // packet tried again.
        let mut queued = self.queue_sealed(packet, via, &nonce);
        if queued == Err(PublishError::TxFull) {
            self.flush();
            queued = self.queue_sealed(packet, via, &nonce);
        }
        self.flush();
        match queued {
            Ok(Ok(())) => Ok(()),
            // The tunnel counted its own drop reason.
            Ok(Err(_)) => Err(MQTT_IF_ERR_DROPPED),
            Err(_) => {
                self.dropped_tx_full += 1;
                Err(MQTT_IF_ERR_DROPPED)
            }
        }
    }

    /// Seals `packet` straight into the session's transmit buffer (no
    /// buffer of the interface's own: one MTU less of heap).
    fn queue_sealed(
        &mut self,
        packet: &[u8],
        via: Ipv4Addr,
        nonce: &[u8; wire::NONCE_LEN],
    ) -> Result<Result<(), DropReason>, PublishError> {
        let max_payload = packet.len() + wire::OVERHEAD.max(crate::wire2::OVERHEAD);
        let tunnel = &mut self.tunnel;
        self.session
            .publish_with(self.max_topic_len, max_payload, |buf| {
                tunnel
                    .handle_outbound_via(packet, via, nonce, buf)
                    .map(|out| (out.topic, out.len))
            })
    }

    // ---- subscriptions ----

    /// Sends the SUBSCRIBEs still due, one topic each, while they fit.
    fn pump_subscriptions(&mut self) {
        while let Some(i) = self.sub_cursor {
            let Some(topic) = self.tunnel.subscriptions().get(i).copied() else {
                self.sub_cursor = None;
                return;
            };
            match self.session.subscribe(&[topic.as_str()], QoS::AtMostOnce) {
                Ok(_) | Err(SubscribeError::InvalidFilter | SubscribeError::TooLarge) => {
                    self.sub_cursor = Some(i + 1);
                }
                Err(SubscribeError::TxFull) => {
                    self.flush();
                    if !self.session.transmit().is_empty() {
                        return; // the socket is full: the next tick goes on
                    }
                }
                Err(SubscribeError::NotConnected | SubscribeError::NoFilters) => return,
            }
        }
    }

    /// After the topic list changed: drops the topics no longer read and
    /// subscribes the whole list again (subscribing twice is harmless).
    fn resync(&mut self, before: &[Topic]) {
        if !self.is_connected() || !self.want_subscribed {
            return;
        }
        for old in before {
            if !self
                .tunnel
                .subscriptions()
                .iter()
                .any(|t| t.as_str() == old.as_str())
            {
                let _ = self.session.unsubscribe(&[old.as_str()]);
            }
        }
        self.sub_cursor = Some(0);
        self.pump_subscriptions();
        self.flush();
    }

    fn change_topics(&mut self, change: impl FnOnce(&mut Tunnel)) {
        let before: Vec<Topic> = self.tunnel.subscriptions().to_vec();
        change(&mut self.tunnel);
        self.resync(&before);
    }

    pub(crate) fn add_reading_topic(&mut self, addr: u32) {
        self.change_topics(|t| t.add_reading_topic(ipv4(addr)));
    }

    pub(crate) fn add_wildcard_reading_topic(&mut self) {
        self.change_topics(|t| t.set_read_all(true));
    }

    pub(crate) fn flush_reading_topics(&mut self) {
        self.change_topics(Tunnel::flush_reading_topics);
    }

    pub(crate) fn subscribe(&mut self) {
        self.want_subscribed = true;
        if self.is_connected() {
            self.sub_cursor = Some(0);
            self.pump_subscriptions();
            self.flush();
        }
    }

    pub(crate) fn unsubscribe(&mut self) {
        self.want_subscribed = false;
        self.sub_cursor = None;
        if self.is_connected() {
            for i in 0..self.tunnel.subscriptions().len() {
                let topic = self.tunnel.subscriptions()[i];
                if self.session.unsubscribe(&[topic.as_str()]) == Err(SubscribeError::TxFull) {
                    self.flush();
                    let _ = self.session.unsubscribe(&[topic.as_str()]);
                }
            }
            self.flush();
        }
    }

    // ---- configuration ----

    pub(crate) fn set_password(&mut self, password: &[u8]) {
        self.tunnel.set_password(password);
    }

    pub(crate) fn set_ipaddr(&mut self, addr: u32) {
        self.change_topics(|t| t.set_address(ipv4(addr)));
    }

    /// Gives the interface an IPv6 address (`None`: none): it then reads
    /// `<prefix>/<address>` and `<prefix>/ff02::1`. Replay memory and
    /// counters stay.
    pub(crate) fn set_ip6addr(&mut self, addr: Option<Ipv6Addr>) {
        if self.tunnel.config().ipv6 != addr {
            self.change_topics(|t| t.set_ipv6(addr));
        }
    }

    pub(crate) fn set_netmask(&mut self, mask: u32) {
        self.tunnel.set_netmask(ipv4(mask));
    }

    pub(crate) fn set_gw(&mut self, gw: u32) {
        self.gw = gw;
    }

    pub(crate) fn set_mtu(&mut self, mtu: usize) -> Result<(), mqtt_if_result> {
        if !(MIN_MTU..=self.mtu_capacity).contains(&mtu) {
            return Err(MQTT_IF_ERR_INVALID_ARGUMENT);
        }
        self.tunnel.set_mtu(mtu);
        Ok(())
    }

    /// The CONNECT carries the keepalive: the connection is made again.
    pub(crate) fn set_keepalive(&mut self, secs: u16) -> Result<(), mqtt_if_result> {
        self.session.set_keepalive(secs);
        if matches!(self.link, Link::Open | Link::Connecting { .. }) {
            self.platform.tcp_close();
            self.link = Link::Backoff { until: self.now_ms };
        }
        Ok(())
    }

    /// Says goodbye to the broker and closes the connection.
    pub(crate) fn shut_down(&mut self) {
        match self.link {
            Link::Open => {
                self.session.disconnect();
                self.flush();
                self.platform.tcp_close();
            }
            Link::Connecting { .. } => self.platform.tcp_close(),
            Link::Idle | Link::Backoff { .. } => {}
        }
        self.link = Link::Idle;
    }
}
