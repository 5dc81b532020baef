//! Broker URIs, `scheme://host[:port][/path]`, split once for both drivers:
//! the Linux daemon's `-b` and the C ABI's `mqtt_if_init_uri`.

use core::fmt;

/// How a broker is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `tcp://` or `mqtt://` (also a URI without a scheme): port 1883.
    Tcp,
    /// `ssl://`, `mqtts://` or `tls://`: port 8883.
    Tls,
    /// `ws://`: port 80.
    Ws,
    /// `wss://`: port 443.
    Wss,
}

impl Scheme {
    /// The port a URI without one means.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tcp => 1883,
            Self::Tls => 8883,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }

    /// Whether a path after the authority means something (WebSocket).
    pub fn has_path(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// Why a broker URI was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// The scheme is none of [`Scheme`]'s.
    UnknownScheme,
    /// Nothing where the host goes.
    NoHost,
    /// `[` without `]`.
    UnclosedBracket,
    /// The port is not 1 to 65535.
    BadPort,
    /// `user:password@` in the URI: logins are given apart.
    Login,
    /// A path on a scheme without paths.
    Path,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownScheme => "unknown scheme",
            Self::NoHost => "no host",
            Self::UnclosedBracket => "unclosed '['",
            Self::BadPort => "bad port",
            Self::Login => "put the user name and password apart, not in the URL",
            Self::Path => "a path is only meaningful for ws:// and wss://",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UriError {}

/// A broker URI, split: what it borrows is from the text parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerUri<'a> {
    /// How to reach the broker.
    pub scheme: Scheme,
    /// Host name or address, without the brackets of an IPv6 address.
    pub host: &'a str,
    /// The port given, or the scheme's default.
    pub port: u16,
    /// The WebSocket path (`/mqtt` unless given); empty for other schemes.
    pub path: &'a str,
}

impl<'a> BrokerUri<'a> {
    /// Parses `scheme://host[:port][/path]`; a URI without `://` is `tcp://`.
    /// IPv6 hosts are bracketed (`tcp://[::1]:1883`).
    pub fn parse(uri: &'a str) -> Result<Self, UriError> {
        let (scheme, rest) = match uri.split_once("://") {
            Some((name, rest)) => (scheme_named(name)?, rest),
            None => (Scheme::Tcp, uri),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(UriError::Login);
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']').ok_or(UriError::UnclosedBracket)?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(UriError::NoHost);
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(UriError::BadPort)?,
            None => scheme.default_port(),
        };
        let path = match (scheme.has_path(), path) {
            (true, "") => "/mqtt",
            (true, path) => path,
            (false, "" | "/") => "",
            (false, _) => return Err(UriError::Path),
        };
        Ok(Self {
            scheme,
            host,
            port,
            path,
        })
    }
}

fn scheme_named(name: &str) -> Result<Scheme, UriError> {
    const NAMES: [(&str, Scheme); 7] = [
        ("tcp", Scheme::Tcp),
        ("mqtt", Scheme::Tcp),
        ("ssl", Scheme::Tls),
        ("mqtts", Scheme::Tls),
        ("tls", Scheme::Tls),
        ("ws", Scheme::Ws),
        ("wss", Scheme::Wss),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, scheme)| *scheme)
        .ok_or(UriError::UnknownScheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_give_their_default_ports_and_a_port_overrides() {
        let cases = [
            ("tcp://h", Scheme::Tcp, 1883),
            ("MQTT://h:1884", Scheme::Tcp, 1884),
            ("h", Scheme::Tcp, 1883),
            ("mqtts://h", Scheme::Tls, 8883),
            ("ws://h", Scheme::Ws, 80),
            ("wss://h:8443/ws", Scheme::Wss, 8443),
        ];
        for (text, scheme, port) in cases {
            let uri = BrokerUri::parse(text).unwrap();
            assert_eq!(
                (uri.scheme, uri.host, uri.port),
                (scheme, "h", port),
                "{text}"
            );
        }
    }

    #[test]
    fn ipv6_hosts_come_out_of_their_brackets() {
        let uri = BrokerUri::parse("tcp://[fd00::1]:1883/").unwrap();
        assert_eq!((uri.host, uri.port, uri.path), ("fd00::1", 1883, ""));
    }

    #[test]
    fn websocket_paths_default_to_mqtt() {
        assert_eq!(BrokerUri::parse("ws://h").unwrap().path, "/mqtt");
        assert_eq!(BrokerUri::parse("ws://h/x").unwrap().path, "/x");
    }

    #[test]
    fn bad_uris_say_what_is_wrong() {
        let cases = [
            ("ftp://h", UriError::UnknownScheme),
            ("tcp://", UriError::NoHost),
            ("tcp://:1883", UriError::NoHost),
            ("tcp://[::1", UriError::UnclosedBracket),
            ("tcp://h:0", UriError::BadPort),
            ("tcp://h:99999", UriError::BadPort),
            ("tcp://u:p@h", UriError::Login),
            ("tcp://h/path", UriError::Path),
        ];
        for (text, error) in cases {
            assert_eq!(BrokerUri::parse(text), Err(error), "{text}");
        }
    }
}
