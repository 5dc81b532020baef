//! Topics: `topic::validate_prefix` and `topic::parse_address` on
//! arbitrary text, and `Tunnel::handle_inbound` (plain and sealed) with the
//! topic and payload taken from the input; then the input's payload sent
//! through `handle_outbound` must come back out of a receiving tunnel.
//!
//! Input: `flags || prefix || '\n' || topic || '\n' || payload`.
//! Flags: bit 0 read all, bit 1 an IPv6 address, bit 2 an extra reading
//! topic, bit 3 output buffers one byte short, bits 4-5 the netmask,
//! bit 6 MTU 576 instead of 1500. The parse functions get the prefix as it
//! is; tunnels fall back to the default prefix when it is invalid.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mqttvpn::ip::IpHeader;
use mqttvpn::topic::{self, Topic};
use mqttvpn::tunnel::{Config, Direction, DropReason, Tunnel};
use mqttvpn::wire::{self, NONCE_LEN};

use super::input::Input;
use super::wire_open::PASSWORD;

/// The node's own address: the committed vectors are sent to it.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const IPV6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const READING: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 3);

/// What the plain and the sealed tunnel did with the inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// `handle_inbound` of the plain tunnel.
    pub plain: Result<usize, DropReason>,
    /// `handle_inbound` of the tunnel with [`PASSWORD`].
    pub sealed: Result<usize, DropReason>,
}

fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Runs the input; returns what `handle_inbound` did.
pub fn run(data: &[u8]) -> Outcome {
    let mut input = Input::new(data);
    let flags = input.u8();
    let mut parts = input.rest().splitn(3, |&b| b == b'\n');
    let prefix = text(parts.next().unwrap_or_default());
    let topic = text(parts.next().unwrap_or_default());
    let payload = parts.next().unwrap_or_default();

    prefixes_and_addresses_round_trip(&prefix, &topic);

    let valid = topic::validate_prefix(&prefix).is_ok();
    let made = Tunnel::new(config(flags, &prefix));
    assert_eq!(
        made.is_ok(),
        valid,
        "Tunnel::new and validate_prefix disagree"
    );
    let prefix = if valid {
        &*prefix
    } else {
        topic::DEFAULT_PREFIX
    };
    let config = config(flags, prefix);
    let sealed_config = config.clone().with_password(PASSWORD);
    let out_len = if flags & 0x08 != 0 {
        payload.len().saturating_sub(1)
    } else {
        payload.len() + wire::OVERHEAD
    };

    let outcome = Outcome {
        plain: inbound(
            Tunnel::new(config.clone()).unwrap(),
            &topic,
            payload,
            out_len,
        ),
        sealed: inbound(
            Tunnel::new(sealed_config.clone()).unwrap(),
            &topic,
            payload,
            out_len,
        ),
    };
    for config in [config, sealed_config] {
        outbound_packets_come_back_in(config, payload, out_len);
    }
    outcome
}

fn config(flags: u8, prefix: &str) -> Config {
    let mut config = Config::new(ADDRESS).with_prefix(prefix);
    config.read_all = flags & 0x01 != 0;
    if flags & 0x02 != 0 {
        config.ipv6 = Some(IPV6);
    }
    if flags & 0x04 != 0 {
        config.reading_topics.push(READING);
    }
    config.netmask = [
        Ipv4Addr::new(255, 255, 255, 0),
        Ipv4Addr::new(255, 255, 255, 254),
        Ipv4Addr::new(255, 0, 0, 0),
        Ipv4Addr::new(0, 0, 0, 0),
    ][usize::from(flags >> 4 & 3)];
    if flags & 0x40 != 0 {
        config.mtu = 576;
    }
    config
}

/// An address read out of a topic formats back into a topic that reads
/// the same address.
fn prefixes_and_addresses_round_trip(prefix: &str, topic: &str) {
    let valid = topic::validate_prefix(prefix);
    let parsed = topic::parse_address(prefix, topic);
    if let Ok(address) = parsed {
        assert!(topic.starts_with(prefix) && topic[prefix.len()..].starts_with('/'));
        if valid.is_ok() {
            let formatted = Topic::for_address(prefix, address).expect("a valid prefix");
            assert_eq!(
                topic::parse_address(prefix, formatted.as_str()),
                Ok(address)
            );
            if address.is_ipv4() {
                // Dotted decimal has one spelling; IPv6 text has several.
                assert_eq!(formatted.as_str(), topic);
            }
        }
    }
    match valid {
        Ok(()) => {
            let wildcard = Topic::wildcard(prefix).expect("a valid prefix");
            assert_eq!(wildcard.as_str().len(), prefix.len() + 2);
        }
        Err(_) => {
            assert!(Topic::for_address(prefix, IpAddr::V4(ADDRESS)).is_err());
        }
    }
}

/// One inbound message; the counters and the output agree with the result.
fn inbound(
    mut tunnel: Tunnel,
    topic: &str,
    payload: &[u8],
    out_len: usize,
) -> Result<usize, DropReason> {
    let mut out = vec![0u8; out_len];
    let reads = tunnel.reads(topic);
    let result = tunnel.handle_inbound(topic, payload, &mut out);
    let counters = tunnel.counters().clone();
    match result {
        Ok(n) => {
            assert!(reads);
            assert!(n <= tunnel.config().mtu);
            assert_eq!(IpHeader::parse(&out[..n]).map(|h| h.total_len), Ok(n));
            if !tunnel.is_sealed() {
                assert_eq!(&out[..n], &payload[..n]);
            }
            assert_eq!((counters.rx_packets, counters.rx_bytes), (1, n as u64));
            assert_eq!(counters.dropped_total(Direction::Inbound), 0);
        }
        Err(reason) => {
            assert_eq!(reads, reason != DropReason::UnknownTopic);
            assert_eq!(counters.rx_packets, 0);
            assert_eq!(counters.dropped(Direction::Inbound, reason), 1);
            assert_eq!(counters.dropped_total(Direction::Inbound), 1);
        }
    }
    result
}

/// The payload as an IP packet from this node: if it is sent, a node that
/// reads every topic under the prefix, with the same password, receives
/// exactly the packet.
fn outbound_packets_come_back_in(config: Config, packet: &[u8], out_len: usize) {
    let mut sender = Tunnel::new(config.clone()).unwrap();
    let mut receiver = Tunnel::new(Config {
        read_all: true,
        ..config
    })
    .unwrap();
    let nonce = [0x5a; NONCE_LEN];
    let mut payload = vec![0u8; out_len];
    let sent = match sender.handle_outbound(packet, &nonce, &mut payload) {
        Ok(sent) => sent,
        Err(reason) => {
            assert_eq!(sender.counters().dropped(Direction::Outbound, reason), 1);
            return;
        }
    };
    assert_eq!(sender.counters().tx_packets, 1);
    let header = IpHeader::parse(packet).expect("only IP packets are sent");
    let prefix = &sender.config().prefix;
    let to = topic::parse_address(prefix, sent.topic.as_str()).expect("a topic under the prefix");
    if let (IpAddr::V4(dst), IpAddr::V4(to)) = (header.dst, to) {
        assert!(to == dst || to == topic::BROADCAST, "{dst} sent to {to}");
    } else {
        assert_eq!(to, header.dst);
    }
    let mut received = vec![0u8; header.total_len];
    assert_eq!(
        receiver.handle_inbound(sent.topic.as_str(), &payload[..sent.len], &mut received),
        Ok(header.total_len)
    );
    assert_eq!(received, &packet[..header.total_len]);
}
