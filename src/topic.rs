//! Topics: `<prefix>/<address>`.
//!
//! The one place that formats and parses topics. IPv4 addresses are dotted
//! decimal without leading zeros, IPv6 addresses RFC 5952 text, exactly what
//! `core::net` prints. [`Topic`] is a fixed-size buffer, so making a topic for
//! a packet allocates nothing.

use core::fmt::{self, Write};
use core::net::{IpAddr, Ipv4Addr};
use core::str::FromStr;

/// The default topic prefix of the C nodes.
pub const DEFAULT_PREFIX: &str = "mqttip";
/// Longest prefix accepted, in bytes.
pub const MAX_PREFIX_LEN: usize = 128;
/// Longest address text: an IPv4-mapped IPv6 address such as
/// `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
const MAX_ADDRESS_LEN: usize = 45;
/// Longest topic that [`Topic`] holds.
pub const MAX_TOPIC_LEN: usize = MAX_PREFIX_LEN + 1 + MAX_ADDRESS_LEN;
/// The broadcast address; its topic receives broadcast traffic.
pub const BROADCAST: Ipv4Addr = Ipv4Addr::BROADCAST;

/// Why a prefix or topic was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// The prefix is empty.
    EmptyPrefix,
    /// The prefix is longer than [`MAX_PREFIX_LEN`] bytes.
    PrefixTooLong,
    /// The prefix holds an MQTT wildcard (`+` or `#`) or a NUL.
    ForbiddenCharacter,
    /// The prefix starts with `$`, which brokers reserve for themselves.
    ReservedPrefix,
    /// The topic does not start with `<prefix>/`.
    OtherPrefix,
    /// The part after the prefix is not an IP address.
    NotAnAddress,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptyPrefix => "topic prefix is empty",
            Self::PrefixTooLong => "topic prefix is longer than 128 bytes",
            Self::ForbiddenCharacter => "topic prefix contains '+', '#' or NUL",
            Self::ReservedPrefix => "topic prefix starts with '$' (reserved by brokers)",
            Self::OtherPrefix => "topic does not start with the prefix and '/'",
            Self::NotAnAddress => "topic does not end in an IP address",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TopicError {}

/// Checks that `prefix` can start a topic that brokers route by name.
pub fn validate_prefix(prefix: &str) -> Result<(), TopicError> {
    if prefix.is_empty() {
        Err(TopicError::EmptyPrefix)
    } else if prefix.len() > MAX_PREFIX_LEN {
        Err(TopicError::PrefixTooLong)
    } else if prefix.contains(['+', '#', '\0']) {
        Err(TopicError::ForbiddenCharacter)
    } else if prefix.starts_with('$') {
        Err(TopicError::ReservedPrefix)
    } else {
        Ok(())
    }
}

/// A topic held inline: `<prefix>/<suffix>` in at most [`MAX_TOPIC_LEN`] bytes.
#[derive(Clone, Copy)]
pub struct Topic {
    buf: [u8; MAX_TOPIC_LEN],
    len: u8,
}

impl Topic {
    /// `<prefix>/<address>`. The prefix must be valid ([`validate_prefix`]).
    pub fn for_address(prefix: &str, address: IpAddr) -> Result<Self, TopicError> {
        validate_prefix(prefix)?;
        let mut topic = Self::empty();
        // Cannot fail: prefix, '/' and any address fit in MAX_TOPIC_LEN.
        write!(topic, "{prefix}/{address}").map_err(|_| TopicError::PrefixTooLong)?;
        Ok(topic)
    }

    /// `<prefix>/#`: every topic under the prefix.
    pub fn wildcard(prefix: &str) -> Result<Self, TopicError> {
        validate_prefix(prefix)?;
        let mut topic = Self::empty();
        write!(topic, "{prefix}/#").map_err(|_| TopicError::PrefixTooLong)?;
        Ok(topic)
    }

    fn empty() -> Self {
        Self {
            buf: [0; MAX_TOPIC_LEN],
            len: 0,
        }
    }

    /// The topic text.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever written in, so this cannot fail.
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Write for Topic {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let start = usize::from(self.len);
        let end = start + s.len();
        let dst = self.buf.get_mut(start..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = u8::try_from(end).map_err(|_| fmt::Error)?;
        Ok(())
    }
}

impl PartialEq for Topic {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Topic {}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads the address out of `<prefix>/<address>`.
pub fn parse_address(prefix: &str, topic: &str) -> Result<IpAddr, TopicError> {
    let rest = topic
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or(TopicError::OtherPrefix)?;
    IpAddr::from_str(rest).map_err(|_| TopicError::NotAnAddress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv6Addr;

    #[test]
    fn ipv4_topic_is_dotted_decimal_under_the_prefix() {
        let t = Topic::for_address("mqttip", IpAddr::from([10, 0, 1, 2])).unwrap();
        assert_eq!(t.as_str(), "mqttip/10.0.1.2");
    }

    #[test]
    fn ipv6_topic_is_rfc5952_text() {
        let a: Ipv6Addr = "fd00:0:0:0:0:0:0:1".parse().unwrap();
        let t = Topic::for_address("vpn/site", a.into()).unwrap();
        assert_eq!(t.as_str(), "vpn/site/fd00::1");
    }

    #[test]
    fn the_longest_prefix_and_address_fit() {
        let prefix = "p".repeat(MAX_PREFIX_LEN);
        let a: Ipv6Addr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        let t = Topic::for_address(&prefix, a.into()).unwrap();
        assert_eq!(parse_address(&prefix, t.as_str()), Ok(a.into()));
    }

    #[test]
    fn bad_prefixes_are_refused_with_their_reason() {
        assert_eq!(validate_prefix(""), Err(TopicError::EmptyPrefix));
        assert_eq!(validate_prefix("a+b"), Err(TopicError::ForbiddenCharacter));
        assert_eq!(validate_prefix("a/#"), Err(TopicError::ForbiddenCharacter));
        assert_eq!(validate_prefix("a\0"), Err(TopicError::ForbiddenCharacter));
        assert_eq!(validate_prefix("$SYS"), Err(TopicError::ReservedPrefix));
        assert_eq!(
            validate_prefix(&"x".repeat(129)),
            Err(TopicError::PrefixTooLong)
        );
        assert_eq!(validate_prefix("mqttip"), Ok(()));
    }

    #[test]
    fn addresses_parse_back_only_under_the_same_prefix() {
        assert_eq!(
            parse_address("mqttip", "mqttip/10.0.1.2"),
            Ok(IpAddr::from([10, 0, 1, 2]))
        );
        assert_eq!(
            parse_address("mqttip", "other/10.0.1.2"),
            Err(TopicError::OtherPrefix)
        );
        assert_eq!(
            parse_address("mqttip", "mqttip10.0.1.2"),
            Err(TopicError::OtherPrefix)
        );
        assert_eq!(
            parse_address("mqttip", "mqttip/10.0.01.2"),
            Err(TopicError::NotAnAddress)
        );
        assert_eq!(
            parse_address("mqttip", "mqttip/#"),
            Err(TopicError::NotAnAddress)
        );
    }
}
