//! IPv4 and IPv6 header peek.
//!
//! [`IpHeader::parse`] checks the buffer's length against the header once;
//! after that no accessor can panic. Only the fields the tunnel needs are
//! read: version, total length, source and destination.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Field offsets of the IPv4 header (RFC 791).
mod v4 {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const MIN_HEADER: usize = 20;
}

/// Field offsets of the IPv6 header (RFC 8200).
mod v6 {
    pub const PAYLOAD_LEN: usize = 4;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const HEADER: usize = 40;
}

/// Why a buffer is not an IP packet the tunnel can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeekError {
    /// Empty, or shorter than the fixed header of its version.
    Truncated,
    /// The version nibble is neither 4 nor 6.
    UnknownVersion,
    /// The header's length fields disagree with each other or with the buffer.
    BadLength,
}

impl fmt::Display for PeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "shorter than an IP header",
            Self::UnknownVersion => "IP version is neither 4 nor 6",
            Self::BadLength => "IP length fields disagree with the buffer",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PeekError {}

/// IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// The header fields of a checked IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeader {
    /// Length of the whole packet as its header states it (never more than the buffer).
    pub total_len: usize,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
}

impl IpHeader {
    /// Reads the header of the packet at the start of `buf`.
    ///
    /// The buffer may be longer than the packet (link padding); it may not be
    /// shorter than the length the header claims.
    pub fn parse(buf: &[u8]) -> Result<Self, PeekError> {
        match buf.first().map(|b| b >> 4) {
            None => Err(PeekError::Truncated),
            Some(4) => Self::parse_v4(buf),
            Some(6) => Self::parse_v6(buf),
            Some(_) => Err(PeekError::UnknownVersion),
        }
    }

    fn parse_v4(buf: &[u8]) -> Result<Self, PeekError> {
        let header: &[u8; v4::MIN_HEADER] = buf
            .get(..v4::MIN_HEADER)
            .and_then(|h| h.try_into().ok())
            .ok_or(PeekError::Truncated)?;
        let header_len = usize::from(header[v4::VER_IHL] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([
            header[v4::TOTAL_LEN],
            header[v4::TOTAL_LEN + 1],
        ]));
        if header_len < v4::MIN_HEADER || total_len < header_len || total_len > buf.len() {
            return Err(PeekError::BadLength);
        }
        Ok(Self {
            total_len,
            src: IpAddr::V4(Ipv4Addr::from(addr4(header, v4::SRC))),
            dst: IpAddr::V4(Ipv4Addr::from(addr4(header, v4::DST))),
        })
    }

    fn parse_v6(buf: &[u8]) -> Result<Self, PeekError> {
        let header: &[u8; v6::HEADER] = buf
            .get(..v6::HEADER)
            .and_then(|h| h.try_into().ok())
            .ok_or(PeekError::Truncated)?;
        let payload_len = usize::from(u16::from_be_bytes([
            header[v6::PAYLOAD_LEN],
            header[v6::PAYLOAD_LEN + 1],
        ]));
        let total_len = v6::HEADER + payload_len;
        if total_len > buf.len() {
            return Err(PeekError::BadLength);
        }
        Ok(Self {
            total_len,
            src: IpAddr::V6(Ipv6Addr::from(addr16(header, v6::SRC))),
            dst: IpAddr::V6(Ipv6Addr::from(addr16(header, v6::DST))),
        })
    }

    /// The packet's IP version.
    pub fn version(&self) -> IpVersion {
        match self.dst {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }
}

fn addr4(header: &[u8; v4::MIN_HEADER], at: usize) -> [u8; 4] {
    let mut a = [0; 4];
    a.copy_from_slice(&header[at..at + 4]);
    a
}

fn addr16(header: &[u8; v6::HEADER], at: usize) -> [u8; 16] {
    let mut a = [0; 16];
    a.copy_from_slice(&header[at..at + 16]);
    a
}

/// The IP packets lying back to back in `buf` (a wire-v2 batch, once the
/// tunnel has checked it): each as long as its header says. Stops at the
/// first bytes that are not a whole packet.
pub fn packets(buf: &[u8]) -> Packets<'_> {
    Packets { rest: buf }
}

/// Iterator of [`packets`].
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Packets<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = IpHeader::parse(self.rest).ok()?.total_len;
        let (packet, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(total_len: u16) -> [u8; 64] {
        let mut p = [0u8; 64];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&total_len.to_be_bytes());
        p[12..16].copy_from_slice(&[10, 0, 1, 1]);
        p[16..20].copy_from_slice(&[10, 0, 1, 2]);
        p
    }

    #[test]
    fn ipv4_header_yields_addresses_and_length() {
        let p = ipv4(28);
        let h = IpHeader::parse(&p[..28]).unwrap();
        assert_eq!(h.version(), IpVersion::V4);
        assert_eq!(h.total_len, 28);
        assert_eq!(h.src, IpAddr::from([10, 0, 1, 1]));
        assert_eq!(h.dst, IpAddr::from([10, 0, 1, 2]));
    }

    #[test]
    fn ipv4_total_length_beyond_the_buffer_is_refused() {
        let p = ipv4(40);
        assert_eq!(IpHeader::parse(&p[..28]), Err(PeekError::BadLength));
    }

    #[test]
    fn ipv4_with_header_length_below_five_words_is_refused() {
        let mut p = ipv4(20);
        p[0] = 0x44;
        assert_eq!(IpHeader::parse(&p[..20]), Err(PeekError::BadLength));
    }

    #[test]
    fn short_and_unknown_buffers_are_refused() {
        assert_eq!(IpHeader::parse(&[]), Err(PeekError::Truncated));
        assert_eq!(IpHeader::parse(&[0x45; 19]), Err(PeekError::Truncated));
        assert_eq!(IpHeader::parse(&[0x60; 39]), Err(PeekError::Truncated));
        assert_eq!(IpHeader::parse(&[0x50; 40]), Err(PeekError::UnknownVersion));
    }

    #[test]
    fn ipv6_header_yields_addresses_and_length() {
        let mut p = [0u8; 48];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&8u16.to_be_bytes());
        p[8..24].copy_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"ff02::1".parse::<Ipv6Addr>().unwrap().octets());
        let h = IpHeader::parse(&p).unwrap();
        assert_eq!(h.version(), IpVersion::V6);
        assert_eq!(h.total_len, 48);
        assert_eq!(h.dst, "ff02::1".parse::<IpAddr>().unwrap());
        assert_eq!(IpHeader::parse(&p[..47]), Err(PeekError::BadLength));
    }
}
