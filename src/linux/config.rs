//! The node's settings: command line and TOML file share one schema
//! ([`Settings`]); [`Settings::resolve`] checks them and yields a
//! [`NodeConfig`] or a [`UsageError`] that says what to fix.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::Parser;
use serde::Deserialize;

use crate::topic::{self, validate_prefix};
use crate::tunnel;

/// Largest tunnel MTU: one IP packet plus the sealing overhead must fit a
/// 64 KiB MQTT message.
pub const MAX_MTU: u16 = 65000;
/// Smallest MTU a node accepts: IPv4 requires 576 (IPv6 1280).
pub const MIN_MTU: u16 = 576;

/// Settings from the command line or a TOML file (same names, long form).
///
/// Every field is optional here so that a file and the command line can be
/// merged (the command line wins); [`Settings::resolve`] applies defaults and
/// checks what is mandatory.
#[derive(Debug, Default, Clone, Parser, Deserialize)]
#[command(
    name = "mqtt_vpn",
    // `mqtt_vpn 0.1.0 (x86_64-unknown-linux-musl)`: the triple comes from build.rs.
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MQTT_VPN_TARGET"), ")"),
    about = "IP over an MQTT broker: a TUN interface whose packets travel as MQTT messages",
    after_help = "Example:\n  mqtt_vpn -i mq0 -a 10.0.1.1 -b tcp://broker.example:1883 -k secret\n\n\
                  Passwords can also come from MQTT_VPN_PASSWORD / MQTT_VPN_BROKER_PASSWORD\n\
                  or from --vpn-password-file / --broker-password-file, which keeps them\n\
                  off the process list."
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// TUN interface name (default: the kernel picks tunN).
    #[arg(short = 'i', long)]
    pub interface: Option<String>,
    /// IPv4 address of this node inside the VPN.
    #[arg(short = 'a', long)]
    pub address: Option<Ipv4Addr>,
    /// Broker URL: tcp://, mqtt://, ssl://, mqtts://, ws:// or wss://.
    /// Repeat for redundant brokers: the node keeps a session with each.
    #[arg(short = 'b', long)]
    #[serde(default, deserialize_with = "one_or_many")]
    pub broker: Vec<String>,
    /// Netmask of the VPN subnet [default: 255.255.255.0].
    #[arg(short = 'm', long)]
    pub netmask: Option<Ipv4Addr>,
    /// Broker user name.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Broker password.
    #[arg(
        short = 'p',
        long,
        env = "MQTT_VPN_BROKER_PASSWORD",
        hide_env_values = true
    )]
    pub broker_password: Option<Secret>,
    /// Read the broker password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub broker_password_file: Option<PathBuf>,
    /// VPN password; absent or empty: no encryption.
    #[arg(short = 'k', long, env = "MQTT_VPN_PASSWORD", hide_env_values = true)]
    pub vpn_password: Option<Secret>,
    /// Read the VPN password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub vpn_password_file: Option<PathBuf>,
    /// IPv6 address of the interface.
    #[arg(short = '6', long)]
    pub ipv6: Option<Ipv6Addr>,
    /// IPv6 prefix length [default: 64].
    #[arg(short = 'x', long, value_name = "PREFIXLEN")]
    pub ipv6_prefix_len: Option<u8>,
    /// MQTT client id [default: MQTT_VPN_<random>].
    #[arg(short = 'n', long)]
    pub client_id: Option<String>,
    /// Also receive packets for this IPv4 address (repeatable).
    #[arg(short = 't', long = "reading-topic", value_name = "IPv4")]
    #[serde(default)]
    pub reading_topics: Vec<Ipv4Addr>,
    /// Debug logging.
    #[arg(short = 'd', long)]
    #[serde(default)]
    pub debug: bool,
    /// Topic prefix [default: mqttip].
    #[arg(long)]
    pub prefix: Option<String>,
    /// Interface MTU [default: 1500]; above 1500 only among mqtt-vpn nodes.
    #[arg(long)]
    pub mtu: Option<u16>,
    /// MQTT keepalive in seconds [default: 20].
    #[arg(long, value_name = "SECONDS")]
    pub keepalive: Option<u16>,
    /// CA certificates (PEM) to verify the broker with, instead of the system roots.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Do not verify the broker's certificate (unsafe; for tests only).
    #[arg(long)]
    #[serde(default)]
    pub insecure: bool,
    /// Also run an MQTT broker in this process, listening on ADDR:PORT.
    /// Beyond loopback it needs --broker-auth-file (or --broker-open).
    #[arg(long, value_name = "ADDR:PORT")]
    pub broker_listen: Option<SocketAddr>,
    /// The served broker's logins: one `user:password` a line. This node
    /// logs in to it as the first user unless -u is given.
    #[arg(long, value_name = "FILE")]
    pub broker_auth_file: Option<PathBuf>,
    /// Serve the broker without logins beyond loopback: anyone who reaches
    /// the port reads plain packets and can inject and fake presence.
    #[arg(long)]
    #[serde(default)]
    pub broker_open: bool,
    /// Serve the broker over TLS with this certificate chain (PEM); needs
    /// --broker-key. Nodes then use ssl://HOST:PORT.
    #[arg(long, value_name = "FILE")]
    pub broker_cert: Option<PathBuf>,
    /// The served broker's private key (PEM), for --broker-cert.
    #[arg(long, value_name = "FILE")]
    pub broker_key: Option<PathBuf>,
    /// Read and write the TUN device without segmentation offload (one
    /// packet per system call). Offload is local to this host: the wire
    /// format is the same either way.
    #[arg(long)]
    #[serde(default)]
    pub no_offload: bool,
    /// Worker threads [default: 1]; more only help when the node, not the
    /// broker, is the bottleneck.
    #[arg(long, value_name = "N")]
    pub threads: Option<u8>,
    /// Do not publish this node's retained status (nor its Last Will) on
    /// `<prefix>-status/<address>`, nor read other nodes' statuses.
    #[arg(long)]
    #[serde(default)]
    pub no_presence: bool,
    /// Control socket that `mqtt_vpn status` reads
    /// [default: /run/mqtt_vpn/<interface>.sock].
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Serve Prometheus metrics over HTTP on ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Wire format to send: v1 (the C nodes', default) or v2 (counter
    /// nonces with replay windows, salted slow key; read by mqtt-vpn nodes
    /// only). A v2 node reads both.
    #[arg(long, value_name = "v1|v2")]
    pub wire: Option<String>,
    /// With --wire v2: peers in this subnet only speak v1 (C nodes), so
    /// packets to them are sealed with v1 (repeatable, CIDR).
    #[arg(long = "v1-peer", value_name = "CIDR")]
    #[serde(default)]
    pub v1_peers: Vec<String>,
    /// With --wire v2 and --v1-peer: the password of the v1 peers, read from
    /// the first line of FILE [default: the VPN password].
    #[arg(long, value_name = "FILE")]
    pub v1_password_file: Option<PathBuf>,
    /// With --wire v2: neither read nor send batches (several packets in
    /// one message; by default announced in the status and used between
    /// mqtt-vpn nodes that both read them).
    #[arg(long)]
    #[serde(default)]
    pub no_batch: bool,
    /// Send packets for CIDR to the node at VIA, a gateway that forwards
    /// them (repeatable), e.g. --route 192.168.4.0/24=10.0.1.7.
    #[arg(long = "route", value_name = "CIDR=VIA")]
    #[serde(default, rename = "route")]
    pub routes: Vec<String>,
    /// Deliver received packets for CIDR, a network this node forwards to
    /// (a gateway's LAN; repeatable), e.g. --forward 192.168.4.0/24. Packets
    /// for any other address that is not this node's are dropped.
    #[arg(long = "forward", value_name = "CIDR")]
    #[serde(default, rename = "forward")]
    pub forward: Vec<String>,
    /// Read settings from this TOML file (command-line flags win).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
}

/// A setting that cannot work, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A [`UsageError`] saying `message`.
fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// How the node reaches its broker: the core's URI scheme (TCP, TLS,
/// WebSocket, WebSocket over TLS).
pub use crate::uri::Scheme as Transport;

/// A parsed broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// The transport.
    pub transport: Transport,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// HTTP path for WebSocket transports (`/mqtt` unless given).
    pub path: String,
}

impl BrokerUrl {
    /// The URL a WebSocket client asks for.
    pub fn websocket_url(&self) -> String {
        let scheme = if self.transport == Transport::Wss {
            "wss"
        } else {
            "ws"
        };
        format!(
            "{scheme}://{}:{}{}",
            self.host_for_url(),
            self.port,
            self.path
        )
    }

    /// The host as a URL writes it (IPv6 in brackets).
    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Tcp => "tcp",
            Transport::Tls => "ssl",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
        };
        write!(f, "{scheme}://{}:{}", self.host_for_url(), self.port)?;
        if matches!(self.transport, Transport::Ws | Transport::Wss) {
            f.write_str(&self.path)?;
        }
        Ok(())
    }
}

impl FromStr for BrokerUrl {
    type Err = UsageError;

    /// Parses with the core's [`BrokerUri`](crate::uri::BrokerUri); the
    /// daemon wants the scheme spelled out.
    fn from_str(url: &str) -> Result<Self, UsageError> {
        let bad = |why: &dyn std::fmt::Display| {
            usage(format!(
                "invalid broker URL '{url}': {why} (expected e.g. tcp://host:1883, ssl://host:8883, ws://host:80/mqtt)"
            ))
        };
        if !url.contains("://") {
            return Err(bad(&"no scheme"));
        }
        let uri = crate::uri::BrokerUri::parse(url).map_err(|e| bad(&e))?;
        Ok(Self {
            transport: uri.scheme,
            host: uri.host.to_owned(),
            port: uri.port,
            path: uri.path.to_owned(),
        })
    }
}

/// TLS settings for `ssl://` and `wss://` brokers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// CA bundle to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub client_auth: Option<(PathBuf, PathBuf)>,
    /// Skip certificate verification.
    pub insecure: bool,
}

/// A checked node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// TUN interface name, if one was asked for.
    pub interface: Option<String>,
    /// The node's IPv4 address in the VPN.
    pub address: Ipv4Addr,
    /// The VPN netmask.
    pub netmask: Ipv4Addr,
    /// Optional IPv6 address and prefix length of the interface.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    /// The brokers, at least one; with several the node keeps a session
    /// with each.
    pub brokers: Vec<BrokerUrl>,
    /// Broker user name and password.
    pub credentials: Option<(String, Secret)>,
    /// VPN password; empty means plain mode.
    pub vpn_password: Secret,
    /// MQTT client id.
    pub client_id: String,
    /// Extra addresses whose topics this node reads.
    pub reading_topics: Vec<Ipv4Addr>,
    /// Topic prefix.
    pub prefix: String,
    /// Interface MTU.
    pub mtu: u16,
    /// MQTT keepalive in seconds.
    pub keepalive: u16,
    /// TLS settings.
    pub tls: TlsSettings,
    /// In-process broker listen address.
    pub broker_listen: Option<SocketAddr>,
    /// Its logins, user to password (`None`: no login asked).
    pub broker_logins: Option<Vec<(String, Secret)>>,
    /// Its TLS certificate chain and key (`None`: plain TCP).
    pub broker_tls: Option<(PathBuf, PathBuf)>,
    /// Debug logging.
    pub debug: bool,
    /// TUN segmentation offload (virtio-net header, GSO reads, GRO writes).
    pub offload: bool,
    /// Runtime worker threads; 1 runs everything on the main thread.
    pub threads: u8,
    /// Publish and read status messages.
    pub presence: bool,
    /// Control socket path, if not the default.
    pub control: Option<PathBuf>,
    /// Prometheus metrics listen address.
    pub metrics: Option<SocketAddr>,
    /// Send wire v2 (and read both).
    pub wire_v2: bool,
    /// Peers that only speak wire v1.
    pub v1_peers: Vec<tunnel::Subnet>,
    /// With `v1_peers`: their password, if not the VPN password.
    pub v1_password: Option<Secret>,
    /// Read and send wire-v2 batches (wire v2 and presence on, no
    /// `--no-batch`).
    pub batch: bool,
    /// Routes through gateway nodes.
    pub routes: Vec<tunnel::Route>,
    /// Networks this node delivers received packets for (a gateway's LAN).
    pub forward: Vec<tunnel::Subnet>,
}

impl NodeConfig {
    /// The core tunnel configuration for this node.
    pub fn tunnel_config(&self) -> tunnel::Config {
        // With wire v2, v1 is read and sent only for --v1-peer nodes
        // (v2-only otherwise), under their own password if given.
        let v1_password = match (self.wire_v2, self.v1_peers.is_empty()) {
            (true, true) => "",
            (true, false) => self
                .v1_password
                .as_ref()
                .unwrap_or(&self.vpn_password)
                .expose(),
            (false, _) => self.vpn_password.expose(),
        };
        let mut config = tunnel::Config::new(self.address)
            .with_prefix(&self.prefix)
            .with_password(v1_password.as_bytes());
        config.netmask = self.netmask;
        config.ipv6 = self.ipv6.map(|(address, _)| address);
        config.reading_topics = self.reading_topics.clone();
        config.mtu = usize::from(self.mtu);
        for route in &self.routes {
            config = config.with_route(*route);
        }
        config.forward_for = self.forward.clone();
        config.batch_receive = self.batch_receive();
        config
    }

    /// The largest wire-v2 batch this node reads and announces (0: none).
    pub fn batch_receive(&self) -> usize {
        if self.batch { BATCH_RECEIVE } else { 0 }
    }
}

/// The largest wire-v2 batch a Linux node reads: most of a 64 KB TUN
/// read (one GSO super-segment) in one message.
pub const BATCH_RECEIVE: usize = 65_000;

impl Settings {
    /// Reads a TOML settings file.
    pub fn from_file(path: &Path) -> Result<Self, UsageError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read config file {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| usage(format!("config file {}: {}", path.display(), e.message())))
    }

    /// Fills what the command line left open from `file`.
    pub fn merge(self, file: Settings) -> Settings {
        Settings {
            interface: self.interface.or(file.interface),
            address: self.address.or(file.address),
            broker: if self.broker.is_empty() {
                file.broker
            } else {
                self.broker
            },
            netmask: self.netmask.or(file.netmask),
            user: self.user.or(file.user),
            broker_password: self.broker_password.or(file.broker_password),
            broker_password_file: self.broker_password_file.or(file.broker_password_file),
            vpn_password: self.vpn_password.or(file.vpn_password),
            vpn_password_file: self.vpn_password_file.or(file.vpn_password_file),
            ipv6: self.ipv6.or(file.ipv6),
            ipv6_prefix_len: self.ipv6_prefix_len.or(file.ipv6_prefix_len),
            client_id: self.client_id.or(file.client_id),
            reading_topics: if self.reading_topics.is_empty() {
                file.reading_topics
            } else {
                self.reading_topics
            },
            debug: self.debug || file.debug,
            prefix: self.prefix.or(file.prefix),
            mtu: self.mtu.or(file.mtu),
            keepalive: self.keepalive.or(file.keepalive),
            ca_file: self.ca_file.or(file.ca_file),
            client_cert: self.client_cert.or(file.client_cert),
            client_key: self.client_key.or(file.client_key),
            insecure: self.insecure || file.insecure,
            broker_listen: self.broker_listen.or(file.broker_listen),
            broker_auth_file: self.broker_auth_file.or(file.broker_auth_file),
            broker_open: self.broker_open || file.broker_open,
            broker_cert: self.broker_cert.or(file.broker_cert),
            broker_key: self.broker_key.or(file.broker_key),
            no_offload: self.no_offload || file.no_offload,
            threads: self.threads.or(file.threads),
            no_presence: self.no_presence || file.no_presence,
            control: self.control.or(file.control),
            metrics: self.metrics.or(file.metrics),
            wire: self.wire.or(file.wire),
            v1_password_file: self.v1_password_file.or(file.v1_password_file),
            no_batch: self.no_batch || file.no_batch,
            v1_peers: if self.v1_peers.is_empty() {
                file.v1_peers
            } else {
                self.v1_peers
            },
            routes: if self.routes.is_empty() {
                file.routes
            } else {
                self.routes
            },
            forward: if self.forward.is_empty() {
                file.forward
            } else {
                self.forward
            },
            config: self.config,
        }
    }

    /// Applies defaults and checks everything; `random` picks the default
    /// client id.
    pub fn resolve(self, random: u32) -> Result<NodeConfig, UsageError> {
        let mut settings = self.with_config_file()?;
        let address = settings.address.ok_or_else(|| {
            usage("missing the node's VPN address: give -a <IPv4>, e.g. -a 10.0.1.1")
        })?;
        let brokers = settings.parse_brokers()?;
        let wire = settings.wire_options()?;
        let routes = settings.parse_routes()?;
        let forward = settings.parse_forward()?;
        let basics = settings.basics(address)?;
        let logins = settings.take_logins()?;
        let client_id = settings.take_client_id(random)?;
        settings.check_interface()?;
        let tls = settings.take_tls(&brokers)?;
        let broker_tls = settings.served_tls()?;
        Ok(NodeConfig {
            interface: settings.interface,
            address,
            netmask: basics.netmask,
            ipv6: settings.ipv6.map(|a| (a, basics.ipv6_prefix_len)),
            brokers,
            credentials: logins.credentials,
            vpn_password: logins.vpn_password,
            client_id,
            reading_topics: settings.reading_topics,
            prefix: basics.prefix,
            mtu: basics.mtu,
            keepalive: basics.keepalive,
            tls,
            broker_listen: settings.broker_listen,
            broker_logins: logins.served,
            broker_tls,
            debug: settings.debug,
            offload: !settings.no_offload,
            threads: basics.threads,
            presence: !settings.no_presence,
            control: settings.control,
            metrics: settings.metrics,
            wire_v2: wire.v2,
            v1_peers: wire.v1_peers,
            v1_password: wire.v1_password,
            batch: wire.v2 && !settings.no_presence && !settings.no_batch,
            routes,
            forward,
        })
    }

    /// These settings, with what they leave open filled from the
    /// `--config` file if one is given.
    fn with_config_file(self) -> Result<Settings, UsageError> {
        match &self.config {
            Some(path) => {
                let file = Self::from_file(path)?;
                Ok(self.merge(file))
            }
            None => Ok(self),
        }
    }

    /// The brokers, each named once: the `-b` URLs, or the in-process
    /// broker when only `--broker-listen` is given.
    fn parse_brokers(&self) -> Result<Vec<BrokerUrl>, UsageError> {
        let brokers: Vec<BrokerUrl> = match (self.broker.as_slice(), self.broker_listen) {
            ([], Some(listen)) => vec![local_broker_url(listen)],
            ([], None) => {
                return Err(usage(
                    "missing the broker: give -b <URL>, e.g. -b tcp://broker.example:1883 (or --broker-listen to serve one)",
                ));
            }
            (urls, _) => urls.iter().map(|u| u.parse()).collect::<Result<_, _>>()?,
        };
        if let Some(twice) = brokers
            .iter()
            .enumerate()
            .find(|(i, b)| brokers[..*i].contains(b))
        {
            return Err(usage(format!(
                "broker {} is given twice: each -b must name a different broker",
                twice.1
            )));
        }
        Ok(brokers)
    }

    /// The wire format to send (`--wire`), the v1-only peers and their
    /// password, checked against each other and the VPN password.
    fn wire_options(&self) -> Result<WireOptions, UsageError> {
        let v2 = match self.wire.as_deref() {
            None | Some("v1") => false,
            Some("v2") => true,
            Some(other) => {
                return Err(usage(format!("--wire {other}: use v1 or v2")));
            }
        };
        let v1_peers = self
            .v1_peers
            .iter()
            .map(|s| {
                s.parse::<tunnel::Subnet>()
                    .map_err(|e| usage(format!("--v1-peer {s}: {e} (expected e.g. 10.0.1.0/24)")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if v2
            && self
                .vpn_password
                .as_ref()
                .is_none_or(|p| p.expose().is_empty())
            && self.vpn_password_file.is_none()
        {
            return Err(usage(
                "--wire v2 needs a VPN password (-k): v2 is always sealed",
            ));
        }
        if !v1_peers.is_empty() && !v2 {
            return Err(usage("--v1-peer only makes sense with --wire v2"));
        }
        if self.v1_password_file.is_some() && v1_peers.is_empty() {
            return Err(usage(
                "--v1-password-file is the password of --v1-peer nodes: give --v1-peer too",
            ));
        }
        let v1_password = secret(
            None,
            self.v1_password_file.clone(),
            "v1",
            "MQTT_VPN_V1_PASSWORD",
        )?;
        Ok(WireOptions {
            v2,
            v1_peers,
            v1_password,
        })
    }

    /// The `--route` entries.
    fn parse_routes(&self) -> Result<Vec<tunnel::Route>, UsageError> {
        self.routes.iter().map(|s| parse_route(s)).collect()
    }

    /// The `--forward` networks.
    fn parse_forward(&self) -> Result<Vec<tunnel::Subnet>, UsageError> {
        self.forward
            .iter()
            .map(|s| {
                s.parse::<tunnel::Subnet>().map_err(|e| {
                    usage(format!("--forward {s}: {e} (expected e.g. 192.168.4.0/24)"))
                })
            })
            .collect()
    }

    /// The settings with plain defaults and ranges, checked in turn (with
    /// the node's `address`, which must be unicast, after the netmask).
    fn basics(&self, address: Ipv4Addr) -> Result<Basics, UsageError> {
        let threads = self.threads.unwrap_or(1);
        if threads == 0 || threads > 16 {
            return Err(usage(format!("--threads {threads} is out of range 1..=16")));
        }
        let netmask = self.netmask.unwrap_or(tunnel::DEFAULT_NETMASK);
        if !tunnel::is_contiguous_netmask(netmask) {
            return Err(usage(format!(
                "netmask {netmask} is not contiguous: use e.g. -m 255.255.255.0"
            )));
        }
        if address.is_unspecified() || address.is_broadcast() || address.is_multicast() {
            return Err(usage(format!(
                "{address} cannot be a node's address: pick a unicast address"
            )));
        }
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| topic::DEFAULT_PREFIX.to_owned());
        validate_prefix(&prefix).map_err(|e| usage(format!("invalid --prefix '{prefix}': {e}")))?;
        let mtu = self.mtu.unwrap_or(tunnel::DEFAULT_MTU as u16);
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(usage(format!(
                "--mtu {mtu} is out of range {MIN_MTU}..={MAX_MTU}"
            )));
        }
        let keepalive = self.keepalive.unwrap_or(20);
        if keepalive < 5 {
            return Err(usage(format!(
                "--keepalive {keepalive} is too short: use at least 5 seconds"
            )));
        }
        let ipv6_prefix_len = self.ipv6_prefix_len.unwrap_or(64);
        if ipv6_prefix_len == 0 || ipv6_prefix_len > 128 {
            return Err(usage(format!(
                "-x {ipv6_prefix_len}: an IPv6 prefix length is 1..=128"
            )));
        }
        Ok(Basics {
            threads,
            netmask,
            prefix,
            mtu,
            keepalive,
            ipv6_prefix_len,
        })
    }

    /// Takes the passwords (inline or from their files) and works out the
    /// logins: the served broker's, and the node's own (by default the
    /// first served login when the node uses only its own broker).
    fn take_logins(&mut self) -> Result<Logins, UsageError> {
        let broker_password = secret(
            self.broker_password.take(),
            self.broker_password_file.take(),
            "broker",
            "MQTT_VPN_BROKER_PASSWORD",
        )?;
        let vpn_password = secret(
            self.vpn_password.take(),
            self.vpn_password_file.take(),
            "VPN",
            "MQTT_VPN_PASSWORD",
        )?;
        let served = self.served_logins()?;
        // The node logs in to its own broker as the first user.
        let (user, broker_password) = match (&served, self.user.take()) {
            (Some(logins), None) if self.broker.is_empty() && broker_password.is_none() => {
                let (user, password) = &logins[0];
                (Some(user.clone()), Some(password.clone()))
            }
            (_, user) => (user, broker_password),
        };
        let credentials = match (user, broker_password) {
            (Some(user), password) => Some((user, password.unwrap_or_default())),
            (None, Some(_)) => return Err(usage("a broker password (-p) needs a user name (-u)")),
            (None, None) => None,
        };
        Ok(Logins {
            credentials,
            vpn_password: vpn_password.unwrap_or_default(),
            served,
        })
    }

    /// The served broker's logins (`--broker-auth-file`), which a broker
    /// served beyond loopback needs unless `--broker-open` is given.
    fn served_logins(&self) -> Result<Option<Vec<(String, Secret)>>, UsageError> {
        let logins = match &self.broker_auth_file {
            Some(path) if self.broker_listen.is_some() => Some(read_logins(path)?),
            Some(_) => return Err(usage("--broker-auth-file needs --broker-listen")),
            None => None,
        };
        if let Some(listen) = self.broker_listen {
            if !listen.ip().is_loopback() && logins.is_none() && !self.broker_open {
                return Err(usage(format!(
                    "--broker-listen {listen} would serve every host that reaches it without a login: \
                     give --broker-auth-file FILE (user:password lines), listen on 127.0.0.1, \
                     or say --broker-open"
                )));
            }
        }
        Ok(logins)
    }

    /// The served broker's certificate and key, checked readable.
    fn served_tls(&self) -> Result<Option<(PathBuf, PathBuf)>, UsageError> {
        let (cert, key) = match (&self.broker_cert, &self.broker_key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            _ => return Err(usage("--broker-cert and --broker-key go together")),
        };
        if self.broker_listen.is_none() {
            return Err(usage("--broker-cert needs --broker-listen"));
        }
        for path in [cert, key] {
            std::fs::metadata(path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
        }
        Ok(Some((cert.clone(), key.clone())))
    }

    /// Takes the MQTT client id: `-n`, or `MQTT_VPN_<random>`.
    fn take_client_id(&mut self, random: u32) -> Result<String, UsageError> {
        let client_id = self
            .client_id
            .take()
            .unwrap_or_else(|| crate::mqtt::Options::default_client_id(random));
        if client_id.is_empty() || client_id.len() > 65535 {
            return Err(usage("the client id (-n) must be 1 to 65535 bytes"));
        }
        Ok(client_id)
    }

    /// Checks the TUN interface name asked for, if any.
    fn check_interface(&self) -> Result<(), UsageError> {
        if let Some(name) = &self.interface {
            if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0']) {
                return Err(usage(format!(
                    "interface name '{name}' is not valid: 1 to 15 characters, no '/' or spaces"
                )));
            }
        }
        Ok(())
    }

    /// Takes the TLS settings, refused when none of `brokers` uses TLS.
    fn take_tls(&mut self, brokers: &[BrokerUrl]) -> Result<TlsSettings, UsageError> {
        let tls = TlsSettings {
            ca_file: self.ca_file.take(),
            client_auth: self.client_cert.take().zip(self.client_key.take()),
            insecure: self.insecure,
        };
        let tls_used = brokers
            .iter()
            .any(|b| matches!(b.transport, Transport::Tls | Transport::Wss));
        if !tls_used && (tls.ca_file.is_some() || tls.client_auth.is_some() || tls.insecure) {
            return Err(usage(format!(
                "TLS options given but the broker URL {} is not ssl://, mqtts:// or wss://",
                brokers[0]
            )));
        }
        Ok(tls)
    }
}

/// The wire settings, checked: the format sent and the peers that only
/// read v1.
struct WireOptions {
    /// Send wire v2 (and read both).
    v2: bool,
    /// Peers that only speak wire v1.
    v1_peers: Vec<tunnel::Subnet>,
    /// Their password, if not the VPN password.
    v1_password: Option<Secret>,
}

/// The settings with plain defaults and ranges, checked.
struct Basics {
    /// Runtime worker threads.
    threads: u8,
    /// The VPN netmask.
    netmask: Ipv4Addr,
    /// Topic prefix.
    prefix: String,
    /// Interface MTU.
    mtu: u16,
    /// MQTT keepalive in seconds.
    keepalive: u16,
    /// Prefix length of the interface's IPv6 address.
    ipv6_prefix_len: u8,
}

/// The passwords and logins, checked.
struct Logins {
    /// The node's broker login.
    credentials: Option<(String, Secret)>,
    /// VPN password; empty means plain mode.
    vpn_password: Secret,
    /// The in-process broker's logins.
    served: Option<Vec<(String, Secret)>>,
}

/// `CIDR=VIA`, e.g. `192.168.4.0/24=10.0.1.7`.
fn parse_route(s: &str) -> Result<tunnel::Route, UsageError> {
    let bad = |why: String| {
        usage(format!(
            "--route {s}: {why} (expected e.g. 192.168.4.0/24=10.0.1.7)"
        ))
    };
    let (cidr, via) = s.split_once('=').ok_or_else(|| bad("no '='".into()))?;
    let destination: tunnel::Subnet = cidr.parse().map_err(|e| bad(format!("{e}")))?;
    let via: Ipv4Addr = via
        .parse()
        .map_err(|_| bad(format!("'{via}' is not an IPv4 address")))?;
    Ok(tunnel::Route { destination, via })
}

/// A TOML value that is one string or a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// The served broker's logins: `user:password` lines (blank lines and `#`
/// comments skipped).
fn read_logins(path: &Path) -> Result<Vec<(String, Secret)>, UsageError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read the broker login file {}: {e}",
            path.display()
        ))
    })?;
    let mut logins = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                logins.push((user.to_owned(), Secret(password.to_owned())));
            }
            _ => {
                return Err(usage(format!(
                    "{} line {}: expected user:password",
                    path.display(),
                    n + 1
                )));
            }
        }
    }
    if logins.is_empty() {
        return Err(usage(format!(
            "{} holds no user:password line",
            path.display()
        )));
    }
    Ok(logins)
}

/// The URL of the in-process broker as seen from this host.
fn local_broker_url(listen: SocketAddr) -> BrokerUrl {
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "::1".to_owned(),
        ip => ip.to_string(),
    };
    BrokerUrl {
        transport: Transport::Tcp,
        host,
        port: listen.port(),
        path: "/mqtt".to_owned(),
    }
}

/// A password: never shown by `Debug`, wiped from memory when dropped.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(empty)"
        } else {
            "Secret(..)"
        })
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// The `what` password given inline or as the first line of `file` (not
/// both); `env` is the variable an inline password may have come from.
fn secret(
    inline: Option<Secret>,
    file: Option<PathBuf>,
    what: &str,
    env: &str,
) -> Result<Option<Secret>, UsageError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(usage(format!(
            "the {what} password is given both inline and as a file: keep one"
        ))),
        // An empty `-k ""` is the C tool's way to say plain; an empty
        // variable is more likely a secret that failed to arrive.
        (Some(p), None)
            if p.expose().is_empty() && std::env::var_os(env).is_some_and(|v| v.is_empty()) =>
        {
            Err(usage(format!(
                "{env} is set but empty: give the {what} password, or unset it for no password"
            )))
        }
        (Some(p), None) => Ok(Some(p)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                usage(format!(
                    "cannot read the {what} password file {}: {e}",
                    path.display()
                ))
            })?;
            let first = text.lines().next().unwrap_or_default();
            if first.is_empty() {
                return Err(usage(format!(
                    "the {what} password file {} has an empty first line: the password goes there \
                     (drop the option for no password)",
                    path.display()
                )));
            }
            Ok(Some(Secret(first.to_owned())))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_of_every_scheme_parse_with_default_ports() {
        let cases = [
            ("tcp://h", Transport::Tcp, 1883),
            ("mqtt://h:1884", Transport::Tcp, 1884),
            ("ssl://h", Transport::Tls, 8883),
            ("mqtts://h", Transport::Tls, 8883),
            ("ws://h", Transport::Ws, 80),
            ("wss://h", Transport::Wss, 443),
        ];
        for (url, transport, port) in cases {
            let b: BrokerUrl = url.parse().unwrap();
            assert_eq!(
                (b.transport, b.host.as_str(), b.port),
                (transport, "h", port),
                "{url}"
            );
        }
    }

    #[test]
    fn ipv6_brokers_and_websocket_paths_parse() {
        let b: BrokerUrl = "tcp://[::1]:1883".parse().unwrap();
        assert_eq!(b.host, "::1");
        let w: BrokerUrl = "wss://h/ws".parse().unwrap();
        assert_eq!(w.websocket_url(), "wss://h:443/ws");
    }

    #[test]
    fn bad_broker_urls_say_what_is_wrong() {
        for url in [
            "h:1883",
            "ftp://h",
            "tcp://",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://u:p@h",
            "tcp://h/x",
        ] {
            let e = url.parse::<BrokerUrl>().unwrap_err();
            assert!(e.0.contains("invalid broker URL"), "{url}: {e}");
        }
    }

    #[test]
    fn wire_v2_alone_is_v2_only_and_v1_peers_may_have_their_own_password() {
        let v2 = || Settings {
            vpn_password: Some("pw".parse().unwrap()),
            wire: Some("v2".into()),
            ..minimal()
        };
        let only = v2().resolve(0).unwrap();
        assert!(
            only.tunnel_config().key.is_none(),
            "a v1 key without v1 peers"
        );

        let dir = std::env::temp_dir().join(format!("mqttvpn-v1pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v1");
        std::fs::write(&path, "old-pw\n").unwrap();
        let mixed = Settings {
            v1_peers: vec!["10.0.1.7/32".into()],
            v1_password_file: Some(path.clone()),
            ..v2()
        }
        .resolve(0)
        .unwrap();
        let key = mixed
            .tunnel_config()
            .key
            .expect("a v1 key for the v1 peers");
        let packet = [0x45u8; 20];
        let mut sealed = [0u8; 20 + crate::wire::OVERHEAD];
        crate::wire::seal(&key, &[1; 24], &packet, &mut sealed).unwrap();
        let old = crate::wire::Key::from_password(b"old-pw").unwrap();
        assert_eq!(crate::wire::open(&old, &sealed, &mut [0u8; 64]), Ok(20));

        let without_peer = Settings {
            v1_password_file: Some(path),
            ..v2()
        }
        .resolve(0);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(without_peer.is_err());
    }

    fn minimal() -> Settings {
        Settings {
            address: Some(Ipv4Addr::new(10, 0, 1, 1)),
            broker: vec!["tcp://127.0.0.1:1883".into()],
            ..Settings::default()
        }
    }

    #[test]
    fn defaults_match_the_c_tool() {
        let c = minimal().resolve(7).unwrap();
        assert_eq!(c.netmask, Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.prefix, "mqttip");
        assert_eq!(c.mtu, 1500);
        assert_eq!(c.keepalive, 20);
        assert_eq!(c.client_id, "MQTT_VPN_7");
        assert_eq!(c.vpn_password.expose(), "");
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let file = Settings {
            prefix: Some("file".into()),
            mtu: Some(1400),
            ..minimal()
        };
        let cli = Settings {
            prefix: Some("cli".into()),
            ..Settings::default()
        };
        let c = cli.merge(file).resolve(0).unwrap();
        assert_eq!((c.prefix.as_str(), c.mtu), ("cli", 1400));
    }

    #[test]
    fn a_password_file_gives_its_first_line() {
        let dir = std::env::temp_dir().join(format!("mqttvpn-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        let c = Settings {
            vpn_password_file: Some(path),
            ..minimal()
        }
        .resolve(0)
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(c.vpn_password.expose(), "s3cret");
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "Debug shows the password"
        );
    }
}
