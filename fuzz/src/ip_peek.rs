//! `IpHeader::parse` on arbitrary bytes, checked against the header
//! fields read independently here.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mqttvpn::ip::{IpHeader, IpVersion, PeekError};

/// Parses `data`; returns what `parse` said.
pub fn run(data: &[u8]) -> Result<IpHeader, PeekError> {
    let parsed = IpHeader::parse(data);
    let version = data.first().map(|b| b >> 4);
    match parsed {
        Ok(header) => {
            assert!(header.total_len <= data.len(), "longer than the buffer");
            match version {
                Some(4) => the_ipv4_fields_are_the_buffers(data, &header),
                Some(6) => the_ipv6_fields_are_the_buffers(data, &header),
                _ => panic!("parsed a packet of version {version:?}"),
            }
            // The packet alone, without link padding, reads the same.
            assert_eq!(IpHeader::parse(&data[..header.total_len]), Ok(header));
            // One byte less is refused.
            assert!(IpHeader::parse(&data[..header.total_len - 1]).is_err());
        }
        Err(PeekError::Truncated) => match version {
            None => {}
            Some(4) => assert!(data.len() < 20),
            Some(6) => assert!(data.len() < 40),
            Some(v) => panic!("version {v} reported as truncated"),
        },
        Err(PeekError::UnknownVersion) => assert!(!matches!(version, Some(4 | 6) | None)),
        Err(PeekError::BadLength) => assert!(matches!(version, Some(4 | 6))),
    }
    parsed
}

fn the_ipv4_fields_are_the_buffers(data: &[u8], header: &IpHeader) {
    let ihl = usize::from(data[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
    assert_eq!(header.version(), IpVersion::V4);
    assert!(
        ihl >= 20 && ihl <= total,
        "header length {ihl}, total {total}"
    );
    assert_eq!(header.total_len, total);
    let src: [u8; 4] = data[12..16].try_into().unwrap();
    let dst: [u8; 4] = data[16..20].try_into().unwrap();
    assert_eq!(header.src, IpAddr::V4(Ipv4Addr::from(src)));
    assert_eq!(header.dst, IpAddr::V4(Ipv4Addr::from(dst)));
}

fn the_ipv6_fields_are_the_buffers(data: &[u8], header: &IpHeader) {
    let payload = usize::from(u16::from_be_bytes([data[4], data[5]]));
    assert_eq!(header.version(), IpVersion::V6);
    assert_eq!(header.total_len, 40 + payload);
    let src: [u8; 16] = data[8..24].try_into().unwrap();
    let dst: [u8; 16] = data[24..40].try_into().unwrap();
    assert_eq!(header.src, IpAddr::V6(Ipv6Addr::from(src)));
    assert_eq!(header.dst, IpAddr::V6(Ipv6Addr::from(dst)));
}
