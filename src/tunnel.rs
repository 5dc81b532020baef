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

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ip::IpHeader;
use crate::topic::{self, Topic, TopicError};
use crate::wire::{self, Key, NONCE_LEN, OpenError};

/// The IPv6 all-nodes link-local multicast address; the one IPv6 multicast
/// group carried, on its own topic so that IPv4-only C nodes never see it.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Largest packet a node of the C implementation writes to its interface.
pub const DEFAULT_MTU: usize = 1500;

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
}

impl Config {
    /// A node at `address` with the C nodes' defaults: netmask
    /// 255.255.255.0, prefix `mqttip`, no encryption, MTU 1500.
    pub fn new(address: Ipv4Addr) -> Self {
        Self {
            address,
            ipv6: None,
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            prefix: String::from(topic::DEFAULT_PREFIX),
            key: None,
            reading_topics: Vec::new(),
            read_all: false,
            mtu: DEFAULT_MTU,
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
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 7] = [
        Self::Malformed,
        Self::MulticastNotCarried,
        Self::TooLarge,
        Self::BufferTooSmall,
        Self::UnknownTopic,
        Self::TooShort,
        Self::DecryptFailed,
    ];

    /// A short snake_case name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::MulticastNotCarried => "multicast_not_carried",
            Self::TooLarge => "too_large",
            Self::BufferTooSmall => "buffer_too_small",
            Self::UnknownTopic => "unknown_topic",
            Self::TooShort => "too_short",
            Self::DecryptFailed => "decrypt_failed",
        }
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
        let table = match direction {
            Direction::Outbound => &mut self.dropped_outbound,
            Direction::Inbound => &mut self.dropped_inbound,
        };
        table[reason.index()] += 1;
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

/// One node's tunnel: configuration, subscriptions and counters.
#[derive(Debug, Clone)]
pub struct Tunnel {
    config: Config,
    broadcast_topic: Topic,
    subscriptions: Vec<Topic>,
    counters: Counters,
}

impl Tunnel {
    /// Checks the configuration and builds the subscription list.
    pub fn new(config: Config) -> Result<Self, TopicError> {
        let broadcast_topic = Topic::for_address(&config.prefix, topic::BROADCAST.into())?;
        let mut tunnel = Self {
            config,
            broadcast_topic,
            subscriptions: Vec::new(),
            counters: Counters::default(),
        };
        tunnel.rebuild_subscriptions()?;
        Ok(tunnel)
    }

    fn rebuild_subscriptions(&mut self) -> Result<(), TopicError> {
        let prefix = &self.config.prefix;
        let mut topics = Vec::with_capacity(3 + self.config.reading_topics.len());
        topics.push(Topic::for_address(prefix, self.config.address.into())?);
        topics.push(self.broadcast_topic);
        if let Some(ipv6) = self.config.ipv6 {
            topics.push(Topic::for_address(prefix, ipv6.into())?);
            topics.push(Topic::for_address(prefix, ALL_NODES.into())?);
        }
        for address in &self.config.reading_topics {
            let t = Topic::for_address(prefix, (*address).into())?;
            if !topics.contains(&t) {
                topics.push(t);
            }
        }
        if self.config.read_all {
            topics.push(Topic::wildcard(prefix)?);
        }
        self.subscriptions = topics;
        Ok(())
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

    /// Whether sealing needs a nonce: drivers can skip drawing random bytes
    /// in plain mode.
    pub fn is_sealed(&self) -> bool {
        self.config.key.is_some()
    }

    /// Replaces the password (empty: plain mode).
    pub fn set_password(&mut self, password: &[u8]) {
        self.config.key = Key::from_password(password);
    }

    /// Moves the node to another address; the subscriptions change with it.
    pub fn set_address(&mut self, address: Ipv4Addr) {
        self.config.address = address;
        // Prefix was validated at construction, so topics cannot fail now.
        let _ = self.rebuild_subscriptions();
    }

    /// Changes the subnet mask.
    pub fn set_netmask(&mut self, netmask: Ipv4Addr) {
        self.config.netmask = netmask;
    }

    /// Changes the tunnel MTU.
    pub fn set_mtu(&mut self, mtu: usize) {
        self.config.mtu = mtu;
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
    /// 255.255.255.255 and for the subnet's broadcast address.
    pub fn topic_for(&self, dst: Ipv4Addr) -> Topic {
        if dst == topic::BROADCAST || self.is_subnet_broadcast(dst) {
            return self.broadcast_topic;
        }
        Topic::for_address(&self.config.prefix, dst.into()).unwrap_or(self.broadcast_topic)
    }

    fn topic_for_v6(&self, dst: Ipv6Addr) -> Result<Topic, DropReason> {
        // The prefix was validated at construction; this cannot fail.
        Topic::for_address(&self.config.prefix, dst.into()).map_err(|_| DropReason::Malformed)
    }

    fn is_subnet_broadcast(&self, dst: Ipv4Addr) -> bool {
        let mask = u32::from(self.config.netmask);
        // /31 and /32 have no broadcast address (RFC 3021).
        mask.count_zeros() >= 2 && u32::from(dst) == (u32::from(self.config.address) | !mask)
    }

    /// An IP packet read from the local interface: writes the payload to
    /// publish into `out` and says where to publish it. `nonce` must be fresh
    /// CSPRNG output; it is ignored in plain mode.
    pub fn handle_outbound(
        &mut self,
        packet: &[u8],
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        let result = self.outbound(packet, nonce, out);
        match result {
            Ok(_) => {
                self.counters.tx_packets += 1;
                self.counters.tx_bytes += packet.len() as u64;
            }
            Err(reason) => self.counters.count_drop(Direction::Outbound, reason),
        }
        result
    }

    fn outbound(
        &self,
        packet: &[u8],
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<Outbound, DropReason> {
        let header = IpHeader::parse(packet).map_err(|_| DropReason::Malformed)?;
        let topic = match header.dst {
            IpAddr::V4(dst) => self.topic_for(dst),
            IpAddr::V6(dst) if dst == ALL_NODES => self.topic_for_v6(dst)?,
            IpAddr::V6(dst) if dst.is_multicast() => return Err(DropReason::MulticastNotCarried),
            IpAddr::V6(dst) => self.topic_for_v6(dst)?,
        };
        let packet = &packet[..header.total_len];
        if packet.len() > self.config.mtu {
            return Err(DropReason::TooLarge);
        }
        let len = match &self.config.key {
            Some(key) => {
                wire::seal(key, nonce, packet, out).map_err(|_| DropReason::BufferTooSmall)?
            }
            None => {
                let out = out
                    .get_mut(..packet.len())
                    .ok_or(DropReason::BufferTooSmall)?;
                out.copy_from_slice(packet);
                packet.len()
            }
        };
        Ok(Outbound { topic, len })
    }

    /// A message received from the broker: if it is for this node and holds
    /// a valid packet, writes the packet into `out` and returns its length.
    pub fn handle_inbound(
        &mut self,
        topic: &str,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, DropReason> {
        let result = self.inbound(topic, payload, out);
        match result {
            Ok(len) => {
                self.counters.rx_packets += 1;
                self.counters.rx_bytes += len as u64;
            }
            Err(reason) => self.counters.count_drop(Direction::Inbound, reason),
        }
        result
    }

    fn inbound(&self, topic: &str, payload: &[u8], out: &mut [u8]) -> Result<usize, DropReason> {
        if !self.reads(topic) {
            return Err(DropReason::UnknownTopic);
        }
        let len = match &self.config.key {
            Some(key) => wire::open(key, payload, out).map_err(|e| match e {
                OpenError::TooShort => DropReason::TooShort,
                OpenError::Forged => DropReason::DecryptFailed,
                OpenError::BufferTooSmall => DropReason::BufferTooSmall,
            })?,
            None => {
                let out = out
                    .get_mut(..payload.len())
                    .ok_or(DropReason::BufferTooSmall)?;
                out.copy_from_slice(payload);
                payload.len()
            }
        };
        let header = IpHeader::parse(&out[..len]).map_err(|_| DropReason::Malformed)?;
        if header.total_len > self.config.mtu {
            return Err(DropReason::TooLarge);
        }
        Ok(header.total_len)
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
