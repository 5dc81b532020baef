//! IPv4 networks and static routes: which addresses a [`Subnet`] holds and
//! which node a [`Route`] sends a network's packets to.

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

/// Why a [`Subnet`] or [`Route`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The prefix length is more than 32.
    PrefixTooLong,
    /// The network address has bits set beyond the prefix (`10.0.2.1/24`).
    HostBitsSet,
    /// Not of the form `A.B.C.D/len`.
    Syntax,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PrefixTooLong => "prefix length above 32",
            Self::HostBitsSet => "network address has host bits set for its prefix length",
            Self::Syntax => "expected A.B.C.D/prefix-length",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RouteError {}

/// An IPv4 network: an address with no bits set beyond its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Subnet {
    /// The network `network/prefix_len`; refuses a prefix above 32 and host
    /// bits set, as `ip route` does.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Self, RouteError> {
        if prefix_len > 32 {
            return Err(RouteError::PrefixTooLong);
        }
        let subnet = Self {
            network,
            prefix_len,
        };
        if u32::from(network) & !subnet.mask() != 0 {
            return Err(RouteError::HostBitsSet);
        }
        Ok(subnet)
    }

    /// The single address `address/32`.
    pub fn host(address: Ipv4Addr) -> Self {
        Self {
            network: address,
            prefix_len: 32,
        }
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length, 0 to 32.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `address` is in this network.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.network)
    }

    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Subnet {
    type Err = RouteError;

    /// Parses `A.B.C.D/len`; a bare `A.B.C.D` is `/32`.
    fn from_str(s: &str) -> Result<Self, RouteError> {
        let (address, prefix_len) = match s.split_once('/') {
            Some((address, len)) => (address, len.parse().map_err(|_| RouteError::Syntax)?),
            None => (s, 32),
        };
        Self::new(address.parse().map_err(|_| RouteError::Syntax)?, prefix_len)
    }
}

/// A static route: packets for `destination` are published to the topic of
/// `via`, the node that forwards them (a gateway reading its own topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The network reached through `via`.
    pub destination: Subnet,
    /// The next hop, a node of the tunnel.
    pub via: Ipv4Addr,
}

impl Route {
    /// Packets for `network/prefix_len` go to `via`.
    pub fn new(network: Ipv4Addr, prefix_len: u8, via: Ipv4Addr) -> Result<Self, RouteError> {
        Ok(Self {
            destination: Subnet::new(network, prefix_len)?,
            via,
        })
    }
}
