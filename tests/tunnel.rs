//! Two tunnel state machines wired back to back, as two nodes on one broker.

use std::net::Ipv4Addr;

use mqttvpn::tunnel::{Config, Direction, DropReason, Tunnel};
use mqttvpn::wire::{NONCE_LEN, OVERHEAD};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const NONCE: [u8; NONCE_LEN] = [0x5a; NONCE_LEN];

/// An IPv4/UDP packet of `len` bytes from `src` to `dst`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn node(address: Ipv4Addr, password: &str) -> Tunnel {
    Tunnel::new(Config::new(address).with_password(password.as_bytes())).unwrap()
}

/// Sends `packet` from `from` and offers the message to `to`.
fn carry(from: &mut Tunnel, to: &mut Tunnel, packet: &[u8]) -> Result<Vec<u8>, DropReason> {
    let mut payload = vec![0u8; packet.len() + OVERHEAD];
    let sent = from.handle_outbound(packet, &NONCE, &mut payload)?;
    let mut out = vec![0u8; 65536];
    let n = to.handle_inbound(sent.topic.as_str(), &payload[..sent.len], &mut out)?;
    out.truncate(n);
    Ok(out)
}

#[test]
fn a_packet_crosses_between_nodes_with_the_same_password() {
    let (mut a, mut b) = (node(A, "pw"), node(B, "pw"));
    let packet = ipv4(A, B, 84);
    assert_eq!(carry(&mut a, &mut b, &packet).unwrap(), packet);
    assert_eq!(a.counters().tx_packets, 1);
    assert_eq!(a.counters().tx_bytes, 84);
    assert_eq!(b.counters().rx_packets, 1);
    assert_eq!(b.counters().rx_bytes, 84);
}

#[test]
fn a_packet_crosses_in_plain_mode_unchanged_on_the_wire() {
    let mut a = node(A, "");
    let packet = ipv4(A, B, 60);
    let mut payload = [0u8; 128];
    let sent = a.handle_outbound(&packet, &NONCE, &mut payload).unwrap();
    assert_eq!(&payload[..sent.len], &packet[..]);
    assert!(!a.is_sealed());
}

#[test]
fn a_node_with_the_wrong_password_counts_a_decrypt_failure() {
    let (mut a, mut b) = (node(A, "pw"), node(B, "other"));
    assert_eq!(
        carry(&mut a, &mut b, &ipv4(A, B, 84)),
        Err(DropReason::DecryptFailed)
    );
    assert_eq!(
        b.counters()
            .dropped(Direction::Inbound, DropReason::DecryptFailed),
        1
    );
    assert_eq!(b.counters().rx_packets, 0);
}

#[test]
fn a_plain_node_drops_sealed_traffic_as_malformed() {
    let (mut a, mut b) = (node(A, "pw"), node(B, ""));
    assert_eq!(
        carry(&mut a, &mut b, &ipv4(A, B, 84)),
        Err(DropReason::Malformed)
    );
}

#[test]
fn packets_go_to_the_topic_of_their_destination() {
    let mut a = node(A, "");
    let mut out = [0u8; 128];
    let sent = a
        .handle_outbound(&ipv4(A, B, 20), &NONCE, &mut out)
        .unwrap();
    assert_eq!(sent.topic.as_str(), "mqttip/10.0.1.2");
}

#[test]
fn both_broadcast_addresses_go_to_the_broadcast_topic() {
    let mut a = node(A, "");
    let mut out = [0u8; 128];
    for dst in [Ipv4Addr::BROADCAST, Ipv4Addr::new(10, 0, 1, 255)] {
        let sent = a
            .handle_outbound(&ipv4(A, dst, 20), &NONCE, &mut out)
            .unwrap();
        assert_eq!(sent.topic.as_str(), "mqttip/255.255.255.255", "{dst}");
    }
}

#[test]
fn a_slash_32_netmask_has_no_subnet_broadcast() {
    let mut config = Config::new(A);
    config.netmask = Ipv4Addr::new(255, 255, 255, 255);
    let a = Tunnel::new(config).unwrap();
    assert_eq!(a.topic_for(A).as_str(), "mqttip/10.0.1.1");
}

#[test]
fn a_node_subscribes_to_itself_broadcast_and_its_reading_topics() {
    let mut config = Config::new(B).with_prefix("site/vpn");
    config.reading_topics = vec![Ipv4Addr::new(172, 16, 0, 100), B];
    let b = Tunnel::new(config).unwrap();
    let topics: Vec<&str> = b.subscriptions().iter().map(|t| t.as_str()).collect();
    assert_eq!(
        topics,
        [
            "site/vpn/10.0.1.2",
            "site/vpn/255.255.255.255",
            "site/vpn/172.16.0.100"
        ]
    );
}

#[test]
fn a_reading_topic_delivers_packets_for_a_third_address() {
    let mut a = node(A, "pw");
    let mut gateway = node(B, "pw");
    let lan_host = Ipv4Addr::new(172, 16, 0, 100);
    let packet = ipv4(A, lan_host, 40);
    assert_eq!(
        carry(&mut a, &mut gateway, &packet),
        Err(DropReason::UnknownTopic)
    );
    gateway.add_reading_topic(lan_host);
    assert_eq!(carry(&mut a, &mut gateway, &packet).unwrap(), packet);
    gateway.flush_reading_topics();
    assert_eq!(
        carry(&mut a, &mut gateway, &packet),
        Err(DropReason::UnknownTopic)
    );
}

#[test]
fn read_all_accepts_every_address_under_the_prefix_only() {
    let mut b = node(B, "");
    b.set_read_all(true);
    assert!(b.subscriptions().iter().any(|t| t.as_str() == "mqttip/#"));
    assert!(b.reads("mqttip/192.0.2.7"));
    assert!(!b.reads("mqttip"));
    assert!(!b.reads("mqttip/"));
    assert!(!b.reads("mqttipx/10.0.1.2"));
}

#[test]
fn messages_for_other_nodes_are_dropped_as_unknown_topic() {
    let mut b = node(B, "");
    let packet = ipv4(A, B, 20);
    let mut out = [0u8; 64];
    assert_eq!(
        b.handle_inbound("mqttip/10.0.1.3", &packet, &mut out),
        Err(DropReason::UnknownTopic)
    );
    assert_eq!(
        b.counters()
            .dropped(Direction::Inbound, DropReason::UnknownTopic),
        1
    );
}

/// An IPv6/UDP packet of `len` bytes from `src` to `dst`.
fn ipv6(src: &str, dst: &str, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.parse::<std::net::Ipv6Addr>().unwrap().octets());
    p[24..40].copy_from_slice(&dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
    p
}

fn node6(address: Ipv4Addr, ipv6: &str) -> Tunnel {
    let mut config = Config::new(address).with_password(b"pw");
    config.ipv6 = Some(ipv6.parse().unwrap());
    Tunnel::new(config).unwrap()
}

#[test]
fn ipv6_packets_go_to_the_rfc5952_topic_of_their_destination_and_arrive() {
    let (mut a, mut b) = (node6(A, "fd00:1::1"), node6(B, "fd00:1:0:0::2"));
    let packet = ipv6("fd00:1::1", "fd00:1::2", 100);
    let mut payload = [0u8; 256];
    let sent = a.handle_outbound(&packet, &NONCE, &mut payload).unwrap();
    assert_eq!(sent.topic.as_str(), "mqttip/fd00:1::2");
    assert_eq!(carry(&mut a, &mut b, &packet).unwrap(), packet);
}

#[test]
fn a_node_with_ipv6_subscribes_to_its_address_and_all_nodes() {
    let b = node6(B, "fd00:1::2");
    let topics: Vec<&str> = b.subscriptions().iter().map(|t| t.as_str()).collect();
    assert_eq!(
        topics,
        [
            "mqttip/10.0.1.2",
            "mqttip/255.255.255.255",
            "mqttip/fd00:1::2",
            "mqttip/ff02::1"
        ]
    );
}

#[test]
fn all_nodes_multicast_is_carried_and_other_ipv6_multicast_is_dropped() {
    let (mut a, mut b) = (node6(A, "fd00:1::1"), node6(B, "fd00:1::2"));
    let all_nodes = ipv6("fe80::1", "ff02::1", 64);
    assert_eq!(carry(&mut a, &mut b, &all_nodes).unwrap(), all_nodes);
    let solicitation = ipv6("fe80::1", "ff02::1:ff00:2", 72);
    let mut out = [0u8; 256];
    assert_eq!(
        a.handle_outbound(&solicitation, &NONCE, &mut out),
        Err(DropReason::MulticastNotCarried)
    );
    assert_eq!(
        a.counters()
            .dropped(Direction::Outbound, DropReason::MulticastNotCarried),
        1
    );
}

#[test]
fn an_ipv4_only_node_reads_no_ipv6_topic() {
    let mut b = node(B, "pw");
    assert!(b.subscriptions().iter().all(|t| !t.as_str().contains(':')));
    let mut a = node6(A, "fd00:1::1");
    assert_eq!(
        carry(&mut a, &mut b, &ipv6("fd00:1::1", "ff02::1", 64)),
        Err(DropReason::UnknownTopic)
    );
}

#[test]
fn packets_above_the_mtu_are_dropped_both_ways() {
    let (mut a, mut b) = (node(A, "pw"), node(B, "pw"));
    let big = ipv4(A, B, 1501);
    let mut payload = vec![0u8; 2000];
    assert_eq!(
        a.handle_outbound(&big, &NONCE, &mut payload),
        Err(DropReason::TooLarge)
    );
    a.set_mtu(9000);
    assert_eq!(carry(&mut a, &mut b, &big), Err(DropReason::TooLarge));
    b.set_mtu(9000);
    assert_eq!(carry(&mut a, &mut b, &big).unwrap(), big);
}

#[test]
fn a_short_output_buffer_is_a_drop_not_a_panic() {
    let mut a = node(A, "pw");
    let mut small = [0u8; 40];
    assert_eq!(
        a.handle_outbound(&ipv4(A, B, 84), &NONCE, &mut small),
        Err(DropReason::BufferTooSmall)
    );
}

#[test]
fn changing_the_address_moves_the_subscription() {
    let mut b = node(B, "");
    b.set_address(Ipv4Addr::new(10, 0, 1, 9));
    assert!(b.reads("mqttip/10.0.1.9"));
    assert!(!b.reads("mqttip/10.0.1.2"));
}

#[test]
fn an_invalid_prefix_is_refused_at_construction() {
    assert!(Tunnel::new(Config::new(A).with_prefix("bad/#")).is_err());
}
