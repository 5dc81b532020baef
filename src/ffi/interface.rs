//! One interface's state, in safe Rust: the tunnel core and the core's
//! broker [`Link`], adapted to the port's callbacks. Connecting, backoff,
//! keepalive and subscriptions are the link's; this file turns its events
//! into `tcp_connect`/`tcp_send`/`tcp_close` calls and log lines.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ip::IpHeader;
use crate::link::{Buffers, Link, LinkError, LinkEvent, Phase, SendError};
use crate::mqtt::Options;
use crate::topic;
use crate::tunnel::{Config, ConfigError, Tunnel};
use crate::wire;

use super::boundary::mqtt_if_result::{self, *};
use super::platform::{Connect, MQTT_IF_LOG_DEBUG, MQTT_IF_LOG_ERROR, MQTT_IF_LOG_INFO, Platform};

/// MQTT keepalive of the ESP8266 C library.
pub(crate) const DEFAULT_KEEPALIVE_SECS: u16 = 120;
/// Smallest MTU an interface may have: the core's.
pub(crate) const MIN_MTU: usize = crate::tunnel::MIN_MTU;

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
    /// The broker connection; boxed like the tunnel, for the same reason.
    link: Box<Link>,
    /// Broker host name, NUL-terminated for `tcp_connect`.
    host: Box<[u8]>,
    port: u16,
    now_ms: u64,
    /// Packets `mqtt_if_output*` dropped while no session was up.
    dropped_not_connected: u64,
    /// Packets dropped because the transmit buffer stayed full (the
    /// socket does not drain).
    dropped_tx_full: u64,
    /// Packets dropped because the port's random source failed.
    dropped_no_random: u64,
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
        let mut link = Self::new_link(s, &platform)?;
        link.set_filters(tunnel.subscriptions().iter().map(|t| t.as_str()));
        let mut host = Vec::with_capacity(s.host.len() + 1);
        host.extend_from_slice(s.host.as_bytes());
        host.push(0);
        Ok(Self {
            tunnel,
            link,
            host: host.into_boxed_slice(),
            port: s.port,
            now_ms: 0,
            dropped_not_connected: 0,
            dropped_tx_full: 0,
            dropped_no_random: 0,
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
        Tunnel::new(config).map(Box::new).map_err(|e| match e {
            ConfigError::Prefix(_) => MQTT_IF_ERR_INVALID_PREFIX,
            ConfigError::Mtu | ConfigError::Netmask => MQTT_IF_ERR_INVALID_ARGUMENT,
        })
    }

    #[inline(never)]
    fn new_link(s: &Settings<'_>, platform: &Platform) -> Result<Box<Link>, mqtt_if_result> {
        let client_id = match s.client_id {
            Some(id) => String::from(id),
            None => {
                let mut r = [0u8; 4];
                if !platform.random(&mut r) {
                    return Err(MQTT_IF_ERR_RANDOM);
                }
                Options::default_client_id(u32::from_ne_bytes(r))
            }
        };
        let mut options = Options::new(&client_id).with_keepalive(s.keepalive_secs);
        if let Some(user) = s.user {
            options = options.with_login(user, s.broker_password);
        }
        // Our own topics are at most `<prefix>/` and the longest address
        // text (IPv6 may be set later); anything longer the broker sends is
        // not for us and is skipped.
        let own_topic = s.prefix.len() + topic::MAX_TOPIC_LEN - topic::MAX_PREFIX_LEN;
        Link::new(options, Buffers::for_packets(s.mtu, own_topic))
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
    /// (not connected, transmit buffer full, no random bytes).
    pub(crate) fn stats(
        &self,
    ) -> (
        &crate::tunnel::Counters,
        crate::mqtt::session::Stats,
        [u64; 3],
    ) {
        (
            self.tunnel.counters(),
            self.link.stats(),
            [
                self.dropped_not_connected,
                self.dropped_tx_full,
                self.dropped_no_random,
            ],
        )
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    // ---- the broker connection: the link's events as port calls ----

    /// Runs the link's timers (connect, reconnect after the backoff,
    /// keepalive, subscriptions due) and sends what is queued.
    pub(crate) fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.link.handle_timeout(now_ms);
        self.run_events();
        self.flush();
    }

    /// Does what the link asks: open or close the connection, log.
    fn run_events(&mut self) {
        while let Some(event) = self.link.poll_event() {
            match event {
                LinkEvent::Connect => self.connect(),
                LinkEvent::Connected => self
                    .platform
                    .log(MQTT_IF_LOG_INFO, format_args!("connected to the broker")),
                LinkEvent::Down {
                    error,
                    close,
                    retry_in_ms,
                } => {
                    if close {
                        self.platform.tcp_close();
                    }
                    let level = match error {
                        LinkError::Restart => MQTT_IF_LOG_INFO,
                        _ => MQTT_IF_LOG_ERROR,
                    };
                    self.platform
                        .log(level, format_args!("{error}; retrying in {retry_in_ms} ms"));
                }
                LinkEvent::SubscribeRefused { index } => self.platform.log(
                    MQTT_IF_LOG_ERROR,
                    format_args!(
                        "the broker refused the subscription to {}",
                        self.link.filter(index).unwrap_or("?")
                    ),
                ),
            }
        }
    }

    fn connect(&mut self) {
        let host = core::str::from_utf8(&self.host[..self.host.len() - 1]).unwrap_or("?");
        self.platform.log(
            MQTT_IF_LOG_INFO,
            format_args!("connecting to {host}:{}", self.port),
        );
        let _ = match self.platform.tcp_connect(&self.host, self.port) {
            Connect::Connected => self.link.handle_connected(self.now_ms),
            Connect::Pending => Ok(()),
            Connect::Failed => self
                .link
                .handle_closed(self.now_ms, LinkError::ConnectFailed),
        };
    }

    /// The port says the TCP connection it was making is up.
    pub(crate) fn tcp_connected(&mut self) -> Result<(), mqtt_if_result> {
        self.link
            .handle_connected(self.now_ms)
            .map_err(|_| MQTT_IF_ERR_STATE)?;
        self.flush();
        Ok(())
    }

    /// The port says the connection closed (or could not be made).
    pub(crate) fn tcp_closed(&mut self) -> Result<(), mqtt_if_result> {
        self.link
            .handle_closed(self.now_ms, LinkError::Closed)
            .map_err(|_| MQTT_IF_ERR_STATE)?;
        self.run_events();
        Ok(())
    }

    /// Sends what the link has queued, as far as the socket takes it.
    fn flush(&mut self) {
        loop {
            let pending = self.link.transmit();
            if pending.is_empty() {
                break;
            }
            match self.platform.tcp_send(pending) {
                Some(0) => break,
                Some(n) => self.link.consume(n, self.now_ms),
                None => {
                    self.platform.tcp_close();
                    let _ = self.link.handle_closed(self.now_ms, LinkError::SendFailed);
                    break;
                }
            }
        }
        self.run_events();
    }

    /// Takes received bytes up to the end of one MQTT packet; a packet for
    /// this node is written to `delivery`.
    pub(crate) fn receive(&mut self, data: &[u8], delivery: &mut [u8]) -> Received {
        let no_other = |_: &str, _: &[u8]| false;
        let mut fed =
            self.link
                .handle_bytes(data, self.now_ms, &mut *self.tunnel, delivery, no_other);
        if fed.stalled {
            // The transmit buffer keeps no room for an acknowledgement.
            self.flush();
            fed = self
                .link
                .handle_bytes(data, self.now_ms, &mut *self.tunnel, delivery, no_other);
        }
        if let Some(reason) = fed.dropped {
            self.platform.log(
                MQTT_IF_LOG_DEBUG,
                format_args!("dropped a message of {} bytes: {reason}", data.len()),
            );
        }
        self.run_events();
        self.flush();
        Received {
            consumed: fed.used,
            deliver: fed.packet,
            stalled: fed.stalled,
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
        if self.tunnel.is_sealed() && !self.platform.random(&mut nonce) {
            self.dropped_no_random += 1;
            return Err(MQTT_IF_ERR_DROPPED);
        }
        // The packet is sealed straight into the link's transmit buffer; a
        // full buffer is flushed to the socket once and the packet tried
        // again.
        let mut sent = self.link.send_packet(&mut self.tunnel, packet, via, &nonce);
        if sent == Err(SendError::TxFull) {
            self.flush();
            sent = self.link.send_packet(&mut self.tunnel, packet, via, &nonce);
        }
        self.flush();
        match sent {
            Ok(()) => Ok(()),
            Err(SendError::NotConnected) => {
                self.dropped_not_connected += 1;
                Err(MQTT_IF_ERR_NOT_CONNECTED)
            }
            // The tunnel counted its own drop reason.
            Err(SendError::Dropped(_)) => Err(MQTT_IF_ERR_DROPPED),
            Err(SendError::TxFull | SendError::TooLarge) => {
                self.dropped_tx_full += 1;
                Err(MQTT_IF_ERR_DROPPED)
            }
        }
    }

    // ---- subscriptions ----

    /// Changes the tunnel's topics and gives the link the new list: on a
    /// live session it unsubscribes what went and subscribes what came.
    fn change_topics(&mut self, change: impl FnOnce(&mut Tunnel)) {
        change(&mut self.tunnel);
        self.link
            .set_filters(self.tunnel.subscriptions().iter().map(|t| t.as_str()));
        self.flush();
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
        self.link.set_subscribed(true);
        self.flush();
    }

    pub(crate) fn unsubscribe(&mut self) {
        self.link.set_subscribed(false);
        self.flush();
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

    pub(crate) fn set_netmask(&mut self, mask: u32) -> Result<(), mqtt_if_result> {
        self.tunnel
            .set_netmask(ipv4(mask))
            .map_err(|_| MQTT_IF_ERR_INVALID_ARGUMENT)
    }

    pub(crate) fn set_gw(&mut self, gw: u32) {
        self.gw = gw;
    }

    pub(crate) fn set_mtu(&mut self, mtu: usize) -> Result<(), mqtt_if_result> {
        if !(MIN_MTU..=self.mtu_capacity).contains(&mtu) {
            return Err(MQTT_IF_ERR_INVALID_ARGUMENT);
        }
        self.tunnel
            .set_mtu(mtu)
            .map_err(|_| MQTT_IF_ERR_INVALID_ARGUMENT)
    }

    /// The CONNECT carries the keepalive: the connection is made again.
    pub(crate) fn set_keepalive(&mut self, secs: u16) -> Result<(), mqtt_if_result> {
        self.link.set_keepalive(secs);
        self.link.restart(self.now_ms);
        self.run_events();
        Ok(())
    }

    /// Says goodbye to the broker and closes the connection.
    pub(crate) fn shut_down(&mut self) {
        let open = self.link.phase() == Phase::Open;
        if self.link.shutdown() {
            if open {
                self.flush();
            }
            self.platform.tcp_close();
        }
    }
}
