//! The tunnel state machine of one node.
//!
//! [`Tunnel`] makes every decision that does not need I/O: which topic an
//! outbound packet goes to, whether an inbound message is for this node,
//! sealing and opening, and counting what passed and what was dropped and
//! why. A driver feeds it packets read from its network interface
//! ([`Tunnel::handle_outbound`]) and messages received from the broker
//! ([`Tunnel::handle_inbound`]), and subscribes to [`Tunnel::subscriptions`].
//!
//! ```
//! use core::net::Ipv4Addr;
//! use mqttvpn::tunnel::{Config, Tunnel};
//!
//! let mut a = Tunnel::new(Config::new(Ipv4Addr::new(10, 0, 1, 1)).with_password(b"pw")).unwrap();
//! let mut b = Tunnel::new(Config::new(Ipv4Addr::new(10, 0, 1, 2)).with_password(b"pw")).unwrap();
//! // A minimal IPv4 header from 10.0.1.1 to 10.0.1.2.
//! let packet = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 1, 1, 10, 0, 1, 2];
//! let mut payload = [0u8; 128];
//! let sent = a.handle_outbound(&packet, &[42; 24], &mut payload).unwrap();
//! assert_eq!(sent.topic.as_str(), "mqttip/10.0.1.2");
//! let mut received = [0u8; 128];
//! let n = b.handle_inbound(sent.topic.as_str(), &payload[..sent.len], &mut received).unwrap();
//! assert_eq!(&received[..n], &packet);
//! ```
//!
//! ## Replay protection
//! In sealed mode every payload that opens is remembered, and an exact
//! replay is dropped as [`DropReason::Replayed`]. Wire v1 payloads are
//! remembered by fingerprint in a [`ReplayCache`] of the last
//! [`Config::replay_capacity`] payloads (12 bytes each, allocated when the
//! tunnel gets a v1 key); an older replay gets through. Wire v2 payloads
//! carry a time-stamped epoch id and a counter, and are judged by the
//! sender's newest epoch and a window of counters ([`SenderWindows`]); see
//! [`Config::wire_v2`] and [`Tunnel::handle_clock`]. Plain mode has no nonce, counter or tag to
//! judge: every plain message is delivered, replayed or not.
//!
//! ## Wire v2 and v1 peers
//! With [`Config::wire_v2`] set, a node sends v2 except to the addresses in
//! [`Config::v1_peers`] (and to the broadcast topics while that list is not
//! empty), which get v1. It receives both: a payload starting with
//! [`wire2::MAGIC`] is opened as v2 (and, if that fails and the node has a
//! v1 key, as v1), any other as v1. Without a v1 password a v2 node speaks
//! only v2. The format and its rules are in `docs/wire-v2.md`.
//!
//! ```
//! use core::net::Ipv4Addr;
//! use mqttvpn::tunnel::{Config, Tunnel};
//! use mqttvpn::wire2;
//!
//! // Once per start: the slow key derivation.
//! let key = wire2::Key::derive(b"pw", b"mqttip").unwrap();
//! let config = Config::new(Ipv4Addr::new(10, 0, 1, 1))
//!     .with_password(b"pw") // keep v1 for the C nodes
//!     .with_wire_v2(key)
//!     .with_v1_peer("10.0.1.7/32".parse().unwrap());
//! let mut tunnel = Tunnel::new(config).unwrap();
//! // v2 needs the wall clock: the driver passes it in, in Unix seconds.
//! tunnel.handle_clock(1_800_000_000);
//! let packet = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 1, 1, 10, 0, 1, 2];
//! let mut payload = [0u8; 128];
//! // The first packet starts an epoch: its start time and 8 of these random bytes.
//! tunnel.handle_outbound(&packet, &[0x5e; 24], &mut payload).unwrap();
//! let epoch = tunnel.epoch_id().unwrap();
//! assert_eq!(wire2::epoch_start(&epoch), 1_800_000_000);
//! ```
//!
//! ## Routes
//! An IPv4 packet goes to the topic of its next hop ([`Tunnel::next_hop`]):
//! the most specific of [`Config::routes`] and the node's own subnet that
//! contains the destination, the own subnet winning ties; its `via` address
//! if it is a route, the destination itself otherwise or when nothing
//! matches. This is what the lwIP nodes do with lwIP's next hop.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ip::IpHeader;
use crate::replay::{
    CounterError, EPOCH_SECONDS, EpochError, MIN_CLOCK, ReplayCache, SenderWindows,
};
use crate::topic::{self, Topic, TopicError};
use crate::wire::{self, Key, NONCE_LEN, OpenError};
use crate::wire2::{self, BOOT_ID_LEN, Framing};

pub use crate::route::{Route, RouteError, Subnet};

/// The IPv6 all-nodes link-local multicast address; the one IPv6 multicast
/// group carried, on its own topic so that IPv4-only C nodes never see it.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Largest packet a node of the C implementation writes to its interface.
pub const DEFAULT_MTU: usize = 1500;
/// Smallest MTU an IPv4 interface may have (RFC 791).
pub const MIN_MTU: usize = 68;
/// Largest MTU: the largest IPv4 packet.
pub const MAX_MTU: usize = 65_535;
/// The subnet mask of the C nodes: a /24.
pub const DEFAULT_NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);

/// Why a [`Config`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The topic prefix cannot make topics.
    Prefix(TopicError),
    /// The MTU is outside [`MIN_MTU`]..=[`MAX_MTU`].
    Mtu,
    /// The netmask's ones are not contiguous (`255.0.255.0`).
    Netmask,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prefix(e) => write!(f, "topic prefix: {e}"),
            Self::Mtu => write!(f, "MTU outside {MIN_MTU}..={MAX_MTU}"),
            Self::Netmask => f.write_str("netmask is not contiguous"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

impl From<TopicError> for ConfigError {
    fn from(e: TopicError) -> Self {
        Self::Prefix(e)
    }
}

/// Whether `netmask` is some ones followed by zeros (`/0` to `/32`).
pub fn is_contiguous_netmask(netmask: Ipv4Addr) -> bool {
    let bits = u32::from(netmask);
    bits.leading_ones() + bits.trailing_zeros() == 32
}

/// Wire-v1 payloads remembered for replay detection unless configured:
/// 4096 (48 KiB) with `std`, 256 (3 KiB) on the bare-metal build.
pub const DEFAULT_REPLAY_CAPACITY: usize = if cfg!(feature = "std") { 4096 } else { 256 };

/// Wire-v2 sender addresses tracked for replay detection unless
/// configured: 64 with `std`, 16 on the bare-metal build
/// ([`SenderWindows::memory_for`] gives the bytes).
pub const DEFAULT_V2_SENDERS: usize = if cfg!(feature = "std") { 64 } else { 16 };

/// What a node needs to speak wire v2.
#[derive(Debug, Clone)]
pub struct WireV2 {
    /// The v2 key, [`wire2::Key::derive`]d once from the password.
    pub key: wire2::Key,
}

/// What one node is: its address, subnet, topic prefix and key.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node's own IPv4 address; it receives `<prefix>/<address>`.
    pub address: Ipv4Addr,
    /// The node's own IPv6 address, if it has one: it then also receives
    /// `<prefix>/<IPv6 address>` and the all-nodes topic `<prefix>/ff02::1`.
    pub ipv6: Option<Ipv6Addr>,
    /// The subnet mask; packets to the subnet's broadcast address go to the
    /// broadcast topic.
    pub netmask: Ipv4Addr,
    /// Topic prefix, [`topic::DEFAULT_PREFIX`] unless set.
    pub prefix: String,
    /// The wire-v1 key; `None` is plain mode.
    pub key: Option<Key>,
    /// Extra addresses whose topics this node also reads (a gateway for a LAN
    /// host subscribes to that host's address).
    pub reading_topics: Vec<Ipv4Addr>,
    /// Read every topic under the prefix (`<prefix>/#`), as the ESP32
    /// component can.
    pub read_all: bool,
    /// Largest IP packet carried either way.
    pub mtu: usize,
    /// Static routes: a packet for an address in `destination` is published
    /// to the topic of `via` (see [`Tunnel::next_hop`]).
    pub routes: Vec<Route>,
    /// Wire-v1 payloads remembered for replay detection (12 bytes each,
    /// allocated once; 0 turns v1 replay detection off).
    pub replay_capacity: usize,
    /// Speak wire v2 (opt-in): send v2, accept v2 and v1.
    pub wire_v2: Option<WireV2>,
    /// With wire v2: peers that only speak v1, which are sent v1. While it is
    /// not empty, the broadcast topics are sent v1 too (every node reads them).
    pub v1_peers: Vec<Subnet>,
    /// With wire v2: sender addresses whose newest epoch and replay window
    /// are kept (allocated once; a slot is reused only when its sender's
    /// epoch has gone stale, so size it for every address that talks to the
    /// node within two minutes).
    pub v2_senders: usize,
    /// Networks this node forwards to (a gateway's LAN): received packets
    /// for them are delivered to the interface. Packets for any other
    /// address that is not the node's own are dropped
    /// ([`DropReason::NotForThisNode`]).
    pub forward_for: Vec<Subnet>,
    /// With wire v2: the largest batch (packets in one message, bytes
    /// before sealing) this node reads; 0 reads none. A driver announces
    /// it to its peers (and sizes its receive buffer for it); batches are
    /// sent only to peers that announced it ([`Tunnel::set_batch_peers`]).
    pub batch_receive: usize,
}

impl Config {
    /// A node at `address` with the C nodes' defaults: netmask
    /// 255.255.255.0, prefix `mqttip`, no encryption, MTU 1500.
    pub fn new(address: Ipv4Addr) -> Self {
        Self {
            address,
            ipv6: None,
            netmask: DEFAULT_NETMASK,
            prefix: String::from(topic::DEFAULT_PREFIX),
            key: None,
            reading_topics: Vec::new(),
            read_all: false,
            mtu: DEFAULT_MTU,
            routes: Vec::new(),
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            wire_v2: None,
            v1_peers: Vec::new(),
            v2_senders: DEFAULT_V2_SENDERS,
            forward_for: Vec::new(),
            batch_receive: 0,
        }
    }

    /// Sets the pre-shared password; an empty one means plain mode.
    pub fn with_password(mut self, password: &[u8]) -> Self {
        self.key = Key::from_password(password);
        self
    }

    /// Sets the topic prefix.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = String::from(prefix);
        self
    }

    /// Speaks wire v2 with `key`. Keep [`Config::with_password`] to also
    /// speak v1. v2 needs the wall clock ([`Tunnel::handle_clock`]).
    pub fn with_wire_v2(mut self, key: wire2::Key) -> Self {
        self.wire_v2 = Some(WireV2 { key });
        self
    }

    /// Sends wire v1 to the nodes in `subnet` (with wire v2 on).
    pub fn with_v1_peer(mut self, subnet: Subnet) -> Self {
        self.v1_peers.push(subnet);
        self
    }

    /// Delivers received packets for `subnet` (a gateway's LAN).
    pub fn with_forward_for(mut self, subnet: Subnet) -> Self {
        self.forward_for.push(subnet);
        self
    }

    /// Adds a static route.
    pub fn with_route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Sets how many wire-v1 payloads are remembered against replays.
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Checks what [`Tunnel::new`] needs: a prefix that makes topics, an
    /// MTU in [`MIN_MTU`]..=[`MAX_MTU`], a contiguous netmask.
    pub fn validate(&self) -> Result<(), ConfigError> {
        topic::validate_prefix(&self.prefix)?;
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError::Mtu);
        }
        if !is_contiguous_netmask(self.netmask) {
            return Err(ConfigError::Netmask);
        }
        Ok(())
    }
}

/// Which way a packet was going when it was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the local interface towards the broker.
    Outbound,
    /// From the broker towards the local interface.
    Inbound,
}

/// Why a packet or message was dropped. Every drop is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not an IP packet, or its length fields are inconsistent.
    Malformed,
    /// An IPv6 multicast packet other than to all nodes (ff02::1), which has
    /// no topic: neighbour solicitations, MLD, router solicitations.
    MulticastNotCarried,
    /// Longer than the tunnel MTU.
    TooLarge,
    /// The caller's output buffer cannot hold the result.
    BufferTooSmall,
    /// A message on a topic this node does not read.
    UnknownTopic,
    /// A sealed payload too short to hold a packet.
    TooShort,
    /// A sealed payload whose tag does not verify (wrong password or forged).
    DecryptFailed,
    /// A payload already accepted: a v1 payload still in the replay cache,
    /// or a v2 counter already seen from its sender.
    Replayed,
    /// A v2 payload whose counter is a whole window behind its sender's
    /// newest ([`crate::replay::WINDOW`]), or whose epoch is older than the
    /// clock window or than the newest epoch accepted from its sender.
    TooOld,
    /// A sealed payload of a wire version this node has no key for: v2 at a
    /// node without wire v2, v1 at a v2 node without a v1 password.
    WrongVersion,
    /// Wire v2 without a set wall clock ([`Tunnel::handle_clock`]): it can
    /// neither seal nor judge a payload's age.
    NoBootId,
    /// A packet whose inner destination is not this node: not its address,
    /// a broadcast, a multicast group, a reading topic's address or a
    /// network it forwards to ([`Config::forward_for`]). Without this, any
    /// key holder could make a node with IP forwarding relay packets into
    /// its LAN.
    NotForThisNode,
    /// A v2 payload from a sender address not tracked yet while every slot
    /// of [`Config::v2_senders`] holds a sender heard within the clock
    /// window: it cannot be judged later, so it is not accepted now.
    SenderTableFull,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 13] = [
        Self::Malformed,
        Self::MulticastNotCarried,
        Self::TooLarge,
        Self::BufferTooSmall,
        Self::UnknownTopic,
        Self::TooShort,
        Self::DecryptFailed,
        Self::Replayed,
        Self::TooOld,
        Self::WrongVersion,
        Self::NoBootId,
        Self::NotForThisNode,
        Self::SenderTableFull,
    ];

    /// The name as a C string (for the C ABI's `mqtt_if_drop_reason_str`).
    pub fn c_name(self) -> &'static core::ffi::CStr {
        match self {
            Self::Malformed => c"malformed",
            Self::MulticastNotCarried => c"multicast_not_carried",
            Self::TooLarge => c"too_large",
            Self::BufferTooSmall => c"buffer_too_small",
            Self::UnknownTopic => c"unknown_topic",
            Self::TooShort => c"too_short",
            Self::DecryptFailed => c"decrypt_failed",
            Self::Replayed => c"replayed",
            Self::TooOld => c"too_old",
            Self::WrongVersion => c"wrong_version",
            Self::NoBootId => c"no_boot_id",
            Self::NotForThisNode => c"not_for_this_node",
            Self::SenderTableFull => c"sender_table_full",
        }
    }

    /// A short snake_case name, for logs and metrics.
    pub fn name(self) -> &'static str {
        // The names are ASCII.
        self.c_name().to_str().unwrap_or_default()
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "not a well-formed IP packet",
            Self::MulticastNotCarried => "IPv6 multicast other than ff02::1 is not carried",
            Self::TooLarge => "packet larger than the tunnel MTU",
            Self::BufferTooSmall => "output buffer too small",
            Self::UnknownTopic => "message on a topic this node does not read",
            Self::TooShort => "sealed payload too short",
            Self::DecryptFailed => "payload does not decrypt (wrong password or forged)",
            Self::Replayed => "payload already received (replayed)",
            Self::TooOld => "v2 counter or epoch too old",
            Self::WrongVersion => "sealed with a wire version this node has no key for",
            Self::NoBootId => "wire v2 without a wall clock",
            Self::NotForThisNode => "inner destination is not this node",
            Self::SenderTableFull => "v2 sender table full",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DropReason {}

/// Packets and bytes that passed each way, and drops by direction and reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// IP packets published.
    pub tx_packets: u64,
    /// Bytes of IP packets published (before sealing).
    pub tx_bytes: u64,
    /// IP packets delivered to the interface.
    pub rx_packets: u64,
    /// Bytes of IP packets delivered.
    pub rx_bytes: u64,
    /// Messages published (one per packet, or one per wire-v2 batch).
    pub tx_messages: u64,
    /// Messages that delivered packets.
    pub rx_messages: u64,
    dropped_outbound: [u64; DropReason::ALL.len()],
    dropped_inbound: [u64; DropReason::ALL.len()],
}

impl Counters {
    /// How many packets were dropped going `direction` for `reason`.
    pub fn dropped(&self, direction: Direction, reason: DropReason) -> u64 {
        self.table(direction)[reason.index()]
    }

    /// All drops going `direction`.
    pub fn dropped_total(&self, direction: Direction) -> u64 {
        self.table(direction).iter().sum()
    }

    fn table(&self, direction: Direction) -> &[u64; DropReason::ALL.len()] {
        match direction {
            Direction::Outbound => &self.dropped_outbound,
            Direction::Inbound => &self.dropped_inbound,
        }
    }

    fn count_drop(&mut self, direction: Direction, reason: DropReason) {
        self.count_drops(direction, reason, 1);
    }

    fn count_drops(&mut self, direction: Direction, reason: DropReason, count: u64) {
        let table = match direction {
            Direction::Outbound => &mut self.dropped_outbound,
            Direction::Inbound => &mut self.dropped_inbound,
        };
        table[reason.index()] += count;
    }
}

/// A message to publish: its topic, and the payload length written at the
/// start of the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outbound {
    /// Where to publish.
    pub topic: Topic,
    /// Payload bytes written into the output buffer.
    pub len: usize,
}

/// One node's tunnel: configuration, subscriptions, replay memory and
/// counters, both ways. A driver that sends and receives in different
/// tasks [`split`](Tunnel::split)s it into a [`Sender`] and a [`Receiver`].
#[derive(Debug)]
pub struct Tunnel {
    config: Config,
    subscriptions: Vec<Topic>,
    counters: Counters,
    /// Wire-v1 payloads accepted lately (allocated while there is a v1 key).
    recent_v1: ReplayCache,
    /// Wire-v2 replay windows (allocated while wire v2 is on).
    senders: SenderWindows,
    /// The epoch id v2 payloads are sealed under; `None` until the first v2
    /// payload, and always in a [`Receiver`].
    epoch: Option<[u8; BOOT_ID_LEN]>,
    /// The counter of the next v2 payload of `epoch`.
    next_counter: u64,
    /// The wall clock in Unix seconds, as the driver last passed it in.
    clock: u64,
    /// Peers that read wire-v2 batches, with the largest they read.
    batch_peers: Vec<(Ipv4Addr, usize)>,
}

/// Where an outbound packet goes ([`Tunnel::destination`]).
struct Destination<'p> {
    /// The packet, cut to the length its header states.
    packet: &'p [u8],
    topic: Topic,
    /// The IPv4 node it is for, when it is for one node.
    hop: Option<Ipv4Addr>,
    /// For every node (a broadcast topic).
    broadcast: bool,
}

/// Which way an outbound payload is sealed.
#[derive(Clone, Copy)]
enum Seal {
    Plain,
    V1,
    V2,
}

/// Appends `<prefix>/<address>` (`<prefix>/#` for `None`) to `topics`,
/// unless `unique` and it is there already. Never inlined: each topic
/// (175 bytes) is built in this small frame, not in one slot per call in the
/// caller's, which keeps a device's 4 KB stack clear.
#[inline(never)]
fn push_topic(
    topics: &mut Vec<Topic>,
    prefix: &str,
    address: Option<IpAddr>,
    unique: bool,
) -> Result<(), TopicError> {
    let topic = match address {
        Some(address) => Topic::for_address(prefix, address)?,
        None => Topic::wildcard(prefix)?,
    };
    if !(unique && topics.contains(&topic)) {
        topics.push(topic);
    }
    Ok(())
}

/// Where the broadcast topic sits in a tunnel's subscriptions: after the
/// node's own address.
const BROADCAST_SUBSCRIPTION: usize = 1;

impl Tunnel {
    /// Checks the configuration ([`Config::validate`]), builds the
    /// subscription list and allocates the replay memory (see the
    /// [module docs](self)).
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut tunnel = Self {
            config,
            subscriptions: Vec::new(),
            counters: Counters::default(),
            recent_v1: ReplayCache::with_capacity(0),
            senders: SenderWindows::with_capacity(0),
            epoch: None,
            next_counter: 0,
            clock: 0,
            batch_peers: Vec::new(),
        };
        tunnel.rebuild_subscriptions()?;
        tunnel.allocate_replay_memory();
        Ok(tunnel)
    }

    /// Sizes the replay memory for the keys in force; allocates only when a
    /// key appears or the size changes, never per packet.
    fn allocate_replay_memory(&mut self) {
        let v1 = if self.config.key.is_some() {
            self.config.replay_capacity
        } else {
            0
        };
        if self.recent_v1.capacity() != v1.min(crate::replay::MAX_CACHE_CAPACITY) {
            self.recent_v1 = ReplayCache::with_capacity(v1);
        }
        let v2 = if self.config.wire_v2.is_some() {
            self.config.v2_senders
        } else {
            0
        };
        if self.senders.capacity() != v2 {
            self.senders = SenderWindows::with_capacity(v2);
        }
    }

    fn rebuild_subscriptions(&mut self) -> Result<(), TopicError> {
        let prefix = &self.config.prefix;
        // Allocated to the exact count: a device keeps this for good.
        let count = 2
            + 2 * usize::from(self.config.ipv6.is_some())
            + self.config.reading_topics.len()
            + usize::from(self.config.read_all);
        let mut topics = Vec::with_capacity(count);
        push_topic(&mut topics, prefix, Some(self.config.address.into()), false)?;
        push_topic(&mut topics, prefix, Some(topic::BROADCAST.into()), false)?;
        if let Some(ipv6) = self.config.ipv6 {
            push_topic(&mut topics, prefix, Some(ipv6.into()), false)?;
            push_topic(&mut topics, prefix, Some(ALL_NODES.into()), false)?;
        }
        for address in &self.config.reading_topics {
            push_topic(&mut topics, prefix, Some((*address).into()), true)?;
        }
        if self.config.read_all {
            push_topic(&mut topics, prefix, None, false)?;
        }
        self.subscriptions = topics;
        Ok(())
    }

    /// `<prefix>/255.255.255.255`, kept (once) in the subscriptions at
    /// [`BROADCAST_SUBSCRIPTION`]: `new` fails unless the list is built,
    /// and a rebuild replaces it only with a complete one.
    fn broadcast_topic(&self) -> Topic {
        self.subscriptions[BROADCAST_SUBSCRIPTION]
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The topic filters this node subscribes to: its own address, broadcast,
    /// each extra reading topic and, with `read_all`, `<prefix>/#`.
    pub fn subscriptions(&self) -> &[Topic] {
        &self.subscriptions
    }

    /// Packet, byte and drop counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether payloads are sealed (a v1 password or wire v2 is set): drivers
    /// can skip drawing random bytes in plain mode.
    pub fn is_sealed(&self) -> bool {
        self.config.key.is_some() || self.config.wire_v2.is_some()
    }

    /// Heap bytes held for replay detection: the v1 cache and the v2 sender
    /// windows.
    pub fn replay_memory(&self) -> usize {
        ReplayCache::memory_for(self.recent_v1.capacity())
            + SenderWindows::memory_for(self.senders.capacity())
    }

    /// Replaces the v1 password (empty: no v1 key; plain mode unless wire
    /// v2 is on). The v1 replay cache is allocated when a key appears and
    /// kept (not cleared) when it changes.
    pub fn set_password(&mut self, password: &[u8]) {
        self.config.key = Key::from_password(password);
        self.allocate_replay_memory();
    }

    /// Turns wire v2 on with a new key, or off with `None`. The next v2
    /// payload starts a new epoch.
    pub fn set_wire_v2(&mut self, wire_v2: Option<WireV2>) {
        self.epoch = None;
        self.next_counter = 0;
        self.config.wire_v2 = wire_v2;
        self.allocate_replay_memory();
    }

    /// The epoch id the last wire-v2 payload was sealed under (`None`
    /// without wire v2, before the first v2 payload, and in a [`Receiver`]).
    pub fn epoch_id(&self) -> Option<[u8; BOOT_ID_LEN]> {
        self.config.wire_v2.as_ref().and(self.epoch)
    }

    /// The wall clock, in seconds since the Unix epoch (UTC). Wire v2 needs
    /// it both ways: a sender stamps each epoch with its start and begins a
    /// new one every [`EPOCH_SECONDS`]; a receiver refuses epochs outside
    /// the clock window ([`crate::replay::is_fresh`]). Drivers pass it in
    /// before each batch of packets; a time before [`MIN_CLOCK`] means
    /// "not set", and v2 then drops with [`DropReason::NoBootId`].
    pub fn handle_clock(&mut self, unix_seconds: u64) {
        self.clock = unix_seconds;
    }

    /// Moves the node to another address; the subscriptions change with it.
    pub fn set_address(&mut self, address: Ipv4Addr) {
        self.config.address = address;
        // Prefix was validated at construction, so topics cannot fail now.
        let _ = self.rebuild_subscriptions();
    }

    /// Gives the node an IPv6 address (`None`: none) without touching
    /// anything else: its subscriptions change with it, the replay memory
    /// and counters stay.
    pub fn set_ipv6(&mut self, ipv6: Option<Ipv6Addr>) {
        self.config.ipv6 = ipv6;
        // Prefix was validated at construction, so topics cannot fail now.
        let _ = self.rebuild_subscriptions();
    }

    /// Changes the subnet mask; a mask that is not contiguous is refused
    /// and the old one kept.
    pub fn set_netmask(&mut self, netmask: Ipv4Addr) -> Result<(), ConfigError> {
        if !is_contiguous_netmask(netmask) {
            return Err(ConfigError::Netmask);
        }
        self.config.netmask = netmask;
        Ok(())
    }

    /// Changes the tunnel MTU.
    pub fn set_mtu(&mut self, mtu: usize) -> Result<(), ConfigError> {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(ConfigError::Mtu);
        }
        self.config.mtu = mtu;
        Ok(())
    }

    /// Splits the tunnel into its two halves, for a driver that sends and
    /// receives in different tasks. The [`Sender`] keeps the wire-v2 epoch
    /// and counter (there is one sender per epoch) and no replay
    /// memory; the [`Receiver`] keeps the replay memory and the
    /// subscriptions, and cannot send. Each counts its own direction.
    pub fn split(self) -> (Sender, Receiver) {
        let receiving = Self {
            config: self.config.clone(),
            subscriptions: self.subscriptions.clone(),
            counters: self.counters.clone(),
            recent_v1: self.recent_v1,
            senders: self.senders,
            epoch: None,
            next_counter: 0,
            clock: self.clock,
            batch_peers: Vec::new(),
        };
        let sending = Self {
            config: self.config,
            subscriptions: self.subscriptions,
            counters: self.counters,
            recent_v1: ReplayCache::with_capacity(0),
            senders: SenderWindows::with_capacity(0),
            epoch: self.epoch,
            next_counter: self.next_counter,
            clock: self.clock,
            batch_peers: self.batch_peers,
        };
        (Sender(sending), Receiver(receiving))
    }

    /// Also reads the topic of `address`.
    pub fn add_reading_topic(&mut self, address: Ipv4Addr) {
        if !self.config.reading_topics.contains(&address) {
            self.config.reading_topics.push(address);
            let _ = self.rebuild_subscriptions();
        }
    }

    /// Reads every topic under the prefix (`<prefix>/#`).
    pub fn set_read_all(&mut self, read_all: bool) {
        self.config.read_all = read_all;
        let _ = self.rebuild_subscriptions();
    }

    /// Forgets the extra reading topics and `read_all`.
    pub fn flush_reading_topics(&mut self) {
        self.config.reading_topics.clear();
        self.config.read_all = false;
        let _ = self.rebuild_subscriptions();
    }

    /// The topic that carries a packet for `dst`: the broadcast topic for
    /// 255.255.255.255 and for the subnet's broadcast address. No routing:
    /// see [`Tunnel::next_hop`].
    pub fn topic_for(&self, dst: Ipv4Addr) -> Topic {
        if self.is_broadcast(dst) {
            return self.broadcast_topic();
        }
        Topic::for_address(&self.config.prefix, dst.into()).unwrap_or(self.broadcast_topic())
    }

    /// The node a packet for `dst` is published to: the `via` of the most
    /// specific route containing `dst`, unless the node's own subnet is at
    /// least as specific; `dst` itself if it is on the own subnet or no route
    /// matches. Routes do not recurse: `via` is used as it is.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Ipv4Addr {
        let mask = u32::from(self.config.netmask);
        let mut best = ((u32::from(dst) ^ u32::from(self.config.address)) & mask == 0)
            .then_some((mask.leading_ones(), dst));
        for route in &self.config.routes {
            let len = u32::from(route.destination.prefix_len());
            if route.destination.contains(dst) && best.is_none_or(|(best_len, _)| len > best_len) {
                best = Some((len, route.via));
            }
        }
        best.map_or(dst, |(_, hop)| hop)
    }

    fn topic_for_v6(&self, dst: Ipv6Addr) -> Result<Topic, DropReason> {
        // The prefix was validated at construction; this cannot fail.
        Topic::for_address(&self.config.prefix, dst.into()).map_err(|_| DropReason::Malformed)
    }

    fn is_broadcast(&self, dst: Ipv4Addr) -> bool {
        dst == topic::BROADCAST || self.is_subnet_broadcast(dst)
    }

    fn is_subnet_broadcast(&self, dst: Ipv4Addr) -> bool {
        let mask = u32::from(self.config.netmask);
        // /31 and /32 have no broadcast address (RFC 3021).
        mask.count_zeros() >= 2 && u32::from(dst) == (u32::from(self.config.address) | !mask)
    }

    /// An IP packet read from the local interface: writes the payload to
    /// publish into `out` and says where to publish it: the topic of the
    /// packet's next hop ([`Tunnel::next_hop`]). `nonce` must be fresh
    /// CSPRNG output whenever the tunnel [`is_sealed`](Tunnel::is_sealed):
    /// wire v1 uses it as its nonce, and a wire-v2 payload that starts a new
    /// epoch takes the epoch's 8 random bytes from it. Plain mode ignores it.
    pub fn handle_outbound(
        &mut self,
        packet: &[u8],
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        self.count_outbound(packet, None, nonce, out)
    }

    /// Like [`Tunnel::handle_outbound`] for an IPv4 packet whose next hop the
    /// caller chose (lwIP's): published to the topic of `next_hop`, and with
    /// wire v2 authenticated for that topic. An unspecified `next_hop`
    /// (0.0.0.0) means no choice.
    pub fn handle_outbound_via(
        &mut self,
        packet: &[u8],
        next_hop: Ipv4Addr,
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        let via = (!next_hop.is_unspecified()).then_some(next_hop);
        self.count_outbound(packet, via, nonce, out)
    }

    fn count_outbound(
        &mut self,
        packet: &[u8],
        via: Option<Ipv4Addr>,
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        let result = self.outbound(packet, via, nonce, out);
        match result {
            Ok(_) => {
                self.counters.tx_packets += 1;
                self.counters.tx_bytes += packet.len() as u64;
                self.counters.tx_messages += 1;
            }
            Err(reason) => self.counters.count_drop(Direction::Outbound, reason),
        }
        result
    }

    fn outbound(
        &mut self,
        packet: &[u8],
        via: Option<Ipv4Addr>,
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        let Destination {
            packet,
            topic,
            hop,
            broadcast,
        } = self.destination(packet, via)?;
        let len = match (
            self.seal_for(hop, broadcast),
            &self.config.key,
            &self.config.wire_v2,
        ) {
            (Seal::V1, Some(key), _) => {
                wire::seal(key, nonce, packet, out).map_err(|_| DropReason::BufferTooSmall)?
            }
            (Seal::V2, _, Some(v2)) => {
                let header =
                    next_v2_header(&mut self.epoch, &mut self.next_counter, self.clock, nonce)?;
                let address = wire2::topic_address(topic.as_str());
                wire2::seal(&v2.key, &header, address, packet, out)
                    .map_err(|_| DropReason::BufferTooSmall)?
            }
            (Seal::Plain, None, None) => {
                let out = out
                    .get_mut(..packet.len())
                    .ok_or(DropReason::BufferTooSmall)?;
                out.copy_from_slice(packet);
                packet.len()
            }
            // seal_for picks only a version there is a key for: never plain
            // text from a sealed node.
            _ => return Err(DropReason::WrongVersion),
        };
        Ok(Outbound { topic, len })
    }

    /// Where `packet` goes: the packet cut to its stated length, its topic,
    /// the IPv4 node it is for when it is one node, and whether it is for
    /// every node.
    fn destination<'p>(
        &self,
        packet: &'p [u8],
        via: Option<Ipv4Addr>,
    ) -> Result<Destination<'p>, DropReason> {
        let header = IpHeader::parse(packet).map_err(|_| DropReason::Malformed)?;
        let mut hop = None;
        let topic = match header.dst {
            IpAddr::V4(dst) if self.is_broadcast(dst) => self.broadcast_topic(),
            IpAddr::V4(dst) => {
                let next = via.unwrap_or_else(|| self.next_hop(dst));
                hop = Some(next);
                self.topic_for(next)
            }
            IpAddr::V6(dst) if dst == ALL_NODES => self.topic_for_v6(dst)?,
            IpAddr::V6(dst) if dst.is_multicast() => return Err(DropReason::MulticastNotCarried),
            IpAddr::V6(dst) => self.topic_for_v6(dst)?,
        };
        let packet = &packet[..header.total_len];
        if packet.len() > self.config.mtu {
            return Err(DropReason::TooLarge);
        }
        let broadcast = topic == self.broadcast_topic() || header.dst == IpAddr::V6(ALL_NODES);
        Ok(Destination {
            packet,
            topic,
            hop,
            broadcast,
        })
    }

    /// Replaces the peers that read wire-v2 batches: each with the largest
    /// batch it reads (bytes of packets), as it announced. Packets for any
    /// other node go one per message.
    pub fn set_batch_peers(&mut self, peers: impl IntoIterator<Item = (Ipv4Addr, usize)>) {
        self.batch_peers.clear();
        self.batch_peers.extend(peers);
    }

    /// If `packet` may travel in a wire-v2 batch: its topic and the most
    /// bytes of packets one batch to it may hold. `None` for a packet that
    /// goes alone (not v2, a broadcast, IPv6, or a next hop that does not
    /// read batches).
    pub fn batch_topic(&self, packet: &[u8]) -> Option<(Topic, usize)> {
        let destination = self.destination(packet, None).ok()?;
        Some((destination.topic, self.batch_limit(&destination)?))
    }

    /// The most bytes of packets one batch to `destination` may hold, if it
    /// is one IPv4 node (never a broadcast or IPv6), sealed with v2, that
    /// reads batches.
    fn batch_limit(&self, destination: &Destination) -> Option<usize> {
        let hop = destination.hop?;
        if !matches!(self.seal_for(Some(hop), destination.broadcast), Seal::V2) {
            return None;
        }
        let (_, limit) = self.batch_peers.iter().find(|(peer, _)| *peer == hop)?;
        Some(*limit)
    }

    /// Seals `packets`, all for one topic ([`Tunnel::batch_topic`]) and
    /// together no longer than its limit, into one wire-v2 batch in `out`.
    /// One packet is sealed as [`Tunnel::handle_outbound`] does. A packet
    /// that does not belong (another topic, not batchable, over the limit)
    /// drops the whole batch as [`DropReason::Malformed`]: the caller
    /// groups them.
    pub fn handle_outbound_batch(
        &mut self,
        packets: &[&[u8]],
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        if let [packet] = packets {
            return self.handle_outbound(packet, nonce, out);
        }
        let result = self.outbound_batch(packets, nonce, out);
        let count = packets.len() as u64;
        match &result {
            Ok(_) => {
                self.counters.tx_packets += count;
                self.counters.tx_bytes += packets.iter().map(|p| p.len() as u64).sum::<u64>();
                self.counters.tx_messages += 1;
            }
            Err(reason) => self
                .counters
                .count_drops(Direction::Outbound, *reason, count),
        }
        result
    }

    fn outbound_batch(
        &mut self,
        packets: &[&[u8]],
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        // The first packet sets the topic and the limit; every other must
        // share the topic and stay within the limit.
        let mut batch: Option<(Topic, usize)> = None;
        let mut end = wire2::OVERHEAD;
        for packet in packets {
            let destination = self.destination(packet, None)?;
            let limit = match batch {
                Some((topic, limit)) if topic == destination.topic => limit,
                Some(_) => return Err(DropReason::Malformed),
                None => {
                    let limit = self
                        .batch_limit(&destination)
                        .ok_or(DropReason::Malformed)?;
                    batch = Some((destination.topic, limit));
                    limit
                }
            };
            let packet = destination.packet;
            if end - wire2::OVERHEAD + packet.len() > limit {
                return Err(DropReason::Malformed);
            }
            out.get_mut(end..end + packet.len())
                .ok_or(DropReason::BufferTooSmall)?
                .copy_from_slice(packet);
            end += packet.len();
        }
        let Some(v2) = &self.config.wire_v2 else {
            return Err(DropReason::WrongVersion);
        };
        let (topic, _) = batch.ok_or(DropReason::Malformed)?;
        let header = next_v2_header(&mut self.epoch, &mut self.next_counter, self.clock, nonce)?;
        let address = wire2::topic_address(topic.as_str());
        wire2::seal_framed_in_place(&v2.key, &header, Framing::Batch, address, &mut out[..end])
            .map_err(|_| DropReason::BufferTooSmall)?;
        Ok(Outbound { topic, len: end })
    }

    /// How a payload for `hop` (an IPv4 node; `None` for IPv6) or for every
    /// node (`broadcast`) is sealed.
    fn seal_for(&self, hop: Option<Ipv4Addr>, broadcast: bool) -> Seal {
        let v1 = self.config.key.is_some();
        if self.config.wire_v2.is_none() {
            return if v1 { Seal::V1 } else { Seal::Plain };
        }
        let v1_peer = match hop {
            _ if broadcast => !self.config.v1_peers.is_empty(),
            Some(hop) => self.config.v1_peers.iter().any(|s| s.contains(hop)),
            None => false,
        };
        if v1 && v1_peer { Seal::V1 } else { Seal::V2 }
    }

    /// A message received from the broker: if it is for this node and holds
    /// a valid packet, writes the packet into `out` and returns its length.
    ///
    /// The topic decides whether the message is for this node; the packet's
    /// destination address does not. A gateway receives on its own topic
    /// packets for the hosts routed through it, and delivers them to its
    /// interface for its kernel to forward.
    pub fn handle_inbound(
        &mut self,
        topic: &str,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DropReason> {
        let result = self.inbound(topic, payload, out);
        match result {
            Ok((len, packets)) => {
                self.counters.rx_packets += packets as u64;
                self.counters.rx_bytes += len as u64;
                self.counters.rx_messages += 1;
            }
            Err(reason) => self.counters.count_drop(Direction::Inbound, reason),
        }
        result.map(|(len, _)| len)
    }

    /// The length of what was written to `out` and how many packets it is.
    fn inbound(
        &mut self,
        topic: &str,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), DropReason> {
        if !self.reads(topic) {
            return Err(DropReason::UnknownTopic);
        }
        let (len, framing) = if self.is_sealed() {
            self.open(topic, payload, out)?
        } else {
            let out = out
                .get_mut(..payload.len())
                .ok_or(DropReason::BufferTooSmall)?;
            out.copy_from_slice(payload);
            (payload.len(), Framing::Single)
        };
        let mut at = 0;
        let mut packets = 0;
        loop {
            let header = IpHeader::parse(&out[at..len]).map_err(|_| DropReason::Malformed)?;
            if header.total_len > self.config.mtu {
                return Err(DropReason::TooLarge);
            }
            if !self.is_for_this_node(header.dst) {
                return Err(DropReason::NotForThisNode);
            }
            at += header.total_len;
            packets += 1;
            // One packet may be followed by padding; a batch is packets
            // back to back to its very end.
            if framing == Framing::Single || at == len {
                return Ok((at, packets));
            }
        }
    }

    /// Whether a received packet for `dst` is this node's to deliver: its
    /// own addresses, broadcasts, multicast, the addresses of its reading
    /// topics and the networks it forwards to; anything with `read_all`.
    fn is_for_this_node(&self, dst: IpAddr) -> bool {
        let config = &self.config;
        match dst {
            _ if config.read_all => true,
            IpAddr::V4(dst) => {
                dst == config.address
                    || dst == topic::BROADCAST
                    || dst.is_multicast()
                    || self.is_subnet_broadcast(dst)
                    || config.reading_topics.contains(&dst)
                    || config.forward_for.iter().any(|s| s.contains(dst))
            }
            IpAddr::V6(dst) => config.ipv6 == Some(dst) || dst == ALL_NODES,
        }
    }

    /// Opens a sealed payload of either wire version, judging replays.
    fn open(
        &mut self,
        topic: &str,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, Framing), DropReason> {
        if let (Some(v2), Some(framing)) = (&self.config.wire_v2, wire2::framing(payload)) {
            // A batch is opened only up to the size this node announced.
            let readable = framing == Framing::Single
                || payload.len().saturating_sub(wire2::OVERHEAD) <= self.config.batch_receive;
            if readable {
                let at = (topic, self.clock);
                match open_v2(&v2.key, &mut self.senders, at, payload, out) {
                    // A v1 payload whose random nonce begins like a v2 header
                    // (once in 2^32): it gets its chance as v1 below.
                    Err(DropReason::DecryptFailed) if self.config.key.is_some() => {}
                    result => return result.map(|len| (len, framing)),
                }
            } else if self.config.key.is_none() {
                return Err(DropReason::WrongVersion);
            }
        }
        let Some(key) = &self.config.key else {
            return Err(DropReason::WrongVersion);
        };
        let fingerprint = wire::fingerprint(payload);
        if fingerprint.is_some_and(|f| self.recent_v1.contains(f)) {
            return Err(DropReason::Replayed);
        }
        let len = wire::open(key, payload, out).map_err(|e| match e {
            OpenError::TooShort => DropReason::TooShort,
            OpenError::Forged if self.config.wire_v2.is_none() && wire2::is_v2(payload) => {
                DropReason::WrongVersion
            }
            OpenError::Forged => DropReason::DecryptFailed,
            OpenError::BufferTooSmall => DropReason::BufferTooSmall,
        })?;
        // Beside wire v2, v1 is taken only from the v1 peers: a packet whose
        // source is anyone else must come sealed with v2.
        if self.config.wire_v2.is_some() && !self.sent_by_v1_peer(&out[..len]) {
            return Err(DropReason::WrongVersion);
        }
        if let Some(f) = fingerprint {
            self.recent_v1.insert(f);
        }
        Ok((len, Framing::Single))
    }

    /// Whether `packet` comes from an address in [`Config::v1_peers`].
    fn sent_by_v1_peer(&self, packet: &[u8]) -> bool {
        match IpHeader::parse(packet).map(|h| h.src) {
            Ok(IpAddr::V4(src)) => self.config.v1_peers.iter().any(|s| s.contains(src)),
            _ => false,
        }
    }

    /// Whether a message on `topic` is for this node.
    pub fn reads(&self, topic: &str) -> bool {
        if self.config.read_all {
            let prefix = &self.config.prefix;
            return topic.len() > prefix.len() + 1
                && topic.starts_with(prefix.as_str())
                && topic.as_bytes()[prefix.len()] == b'/';
        }
        self.subscriptions.iter().any(|t| t.as_str() == topic)
    }
}

/// The sending half of a [`Tunnel::split`] tunnel: packets in, payloads and
/// topics out.
#[derive(Debug)]
pub struct Sender(Tunnel);

impl Sender {
    /// See [`Tunnel::handle_outbound`].
    pub fn handle_outbound(
        &mut self,
        packet: &[u8],
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        self.0.handle_outbound(packet, nonce, out)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        self.0.config()
    }

    /// Outbound counters (the inbound ones stay at zero here).
    pub fn counters(&self) -> &Counters {
        self.0.counters()
    }

    /// Whether payloads are sealed.
    pub fn is_sealed(&self) -> bool {
        self.0.is_sealed()
    }

    /// The boot id wire-v2 payloads are sealed under.
    pub fn epoch_id(&self) -> Option<[u8; BOOT_ID_LEN]> {
        self.0.epoch_id()
    }

    /// See [`Tunnel::set_batch_peers`].
    pub fn set_batch_peers(&mut self, peers: impl IntoIterator<Item = (Ipv4Addr, usize)>) {
        self.0.set_batch_peers(peers);
    }

    /// See [`Tunnel::batch_topic`].
    pub fn batch_topic(&self, packet: &[u8]) -> Option<(Topic, usize)> {
        self.0.batch_topic(packet)
    }

    /// Whether any peer reads batches ([`Tunnel::set_batch_peers`]).
    pub fn has_batch_peers(&self) -> bool {
        !self.0.batch_peers.is_empty()
    }

    /// See [`Tunnel::handle_outbound_batch`].
    pub fn handle_outbound_batch(
        &mut self,
        packets: &[&[u8]],
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        self.0.handle_outbound_batch(packets, nonce, out)
    }

    /// See [`Tunnel::handle_clock`].
    pub fn handle_clock(&mut self, unix_seconds: u64) {
        self.0.handle_clock(unix_seconds);
    }

    /// Heap bytes held for replay detection: none in a sender.
    pub fn replay_memory(&self) -> usize {
        self.0.replay_memory()
    }
}

/// The receiving half of a [`Tunnel::split`] tunnel: messages in, packets
/// out, judged against the replay memory.
#[derive(Debug)]
pub struct Receiver(Tunnel);

impl Receiver {
    /// See [`Tunnel::handle_inbound`].
    pub fn handle_inbound(
        &mut self,
        topic: &str,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DropReason> {
        self.0.handle_inbound(topic, payload, out)
    }

    /// Whether a message on `topic` is for this node.
    pub fn reads(&self, topic: &str) -> bool {
        self.0.reads(topic)
    }

    /// See [`Tunnel::handle_clock`].
    pub fn handle_clock(&mut self, unix_seconds: u64) {
        self.0.handle_clock(unix_seconds);
    }

    /// The topic filters this node subscribes to.
    pub fn subscriptions(&self) -> &[Topic] {
        self.0.subscriptions()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        self.0.config()
    }

    /// Inbound counters (the outbound ones stay at zero here).
    pub fn counters(&self) -> &Counters {
        self.0.counters()
    }

    /// Heap bytes held for replay detection.
    pub fn replay_memory(&self) -> usize {
        self.0.replay_memory()
    }
}

/// What turns received messages into packets: a whole [`Tunnel`] or the
/// [`Receiver`] half; the broker [`Link`](crate::link::Link) takes either.
pub trait Receive {
    /// See [`Tunnel::handle_inbound`].
    fn handle_inbound(
        &mut self,
        topic: &str,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DropReason>;
}

impl Receive for Tunnel {
    fn handle_inbound(
        &mut self,
        topic: &str,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DropReason> {
        Tunnel::handle_inbound(self, topic, payload, out)
    }
}

impl Receive for Receiver {
    fn handle_inbound(
        &mut self,
        topic: &str,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DropReason> {
        self.0.handle_inbound(topic, payload, out)
    }
}

/// The header of the next wire-v2 payload sealed at `now`: the next
/// counter of the current epoch, or counter 0 of a new epoch (started at
/// `now`, with 8 bytes of `random`) when there is none yet, the current one
/// is [`EPOCH_SECONDS`] old, or its counters are used up. The last counter
/// (`u64::MAX`) is never used.
fn next_v2_header(
    epoch: &mut Option<[u8; BOOT_ID_LEN]>,
    next_counter: &mut u64,
    now: u64,
    random: &[u8; NONCE_LEN],
) -> Result<wire2::Header, DropReason> {
    if now < MIN_CLOCK {
        return Err(DropReason::NoBootId);
    }
    let due = epoch.is_none_or(|id| {
        let start = wire2::epoch_start(&id);
        now >= start.saturating_add(EPOCH_SECONDS) || (*next_counter == u64::MAX && now > start)
    });
    if due {
        let mut epoch_random = [0u8; 8];
        epoch_random.copy_from_slice(&random[..8]);
        *epoch = Some(wire2::epoch_id(now, &epoch_random));
        *next_counter = 0;
    }
    let boot_id = epoch.ok_or(DropReason::NoBootId)?;
    let counter = *next_counter;
    *next_counter = counter.checked_add(1).ok_or(DropReason::NoBootId)?;
    Ok(wire2::Header { boot_id, counter })
}

/// Opens a v2 payload received on `topic`, then judges it at `now`: its
/// epoch must be fresh and not older than the newest one accepted from its
/// sender, its counter new within that epoch. The sender is the opened
/// packet's source address, which the tag authenticates. A payload that
/// does not open changes nothing.
fn open_v2(
    key: &wire2::Key,
    senders: &mut SenderWindows,
    (topic, now): (&str, u64),
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, DropReason> {
    let open_error = |e| match e {
        wire2::OpenError::TooShort => DropReason::TooShort,
        wire2::OpenError::NotV2 => DropReason::WrongVersion,
        wire2::OpenError::Forged => DropReason::DecryptFailed,
        wire2::OpenError::BufferTooSmall => DropReason::BufferTooSmall,
    };
    let header = wire2::header(payload).map_err(open_error)?;
    let (_, len) =
        wire2::open(key, wire2::topic_address(topic), payload, out).map_err(open_error)?;
    let sender = IpHeader::parse(&out[..len])
        .map_err(|_| DropReason::Malformed)?
        .src;
    senders
        .accept(sender, &header.boot_id, header.counter, now)
        .map_err(|e| match e {
            EpochError::Counter(CounterError::Replayed) => DropReason::Replayed,
            EpochError::Counter(CounterError::TooOld) | EpochError::Stale => DropReason::TooOld,
            EpochError::NoClock => DropReason::NoBootId,
            EpochError::TableFull => DropReason::SenderTableFull,
        })?;
    Ok(len)
}
