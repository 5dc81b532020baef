//! Two tunnel state machines wired back to back, as two nodes on one broker.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};

use mqttvpn::tunnel::{Config, Direction, DropReason, Route, RouteError, Subnet, Tunnel};
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

/// A nonce never handed out before, as a CSPRNG's would be.
fn fresh_nonce() -> [u8; NONCE_LEN] {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut nonce = NONCE;
    nonce[..8].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    nonce
}

/// Sends `packet` from `from` and offers the message to `to`.
fn carry(from: &mut Tunnel, to: &mut Tunnel, packet: &[u8]) -> Result<Vec<u8>, DropReason> {
    let mut payload = vec![0u8; packet.len() + OVERHEAD];
    let sent = from.handle_outbound(packet, &fresh_nonce(), &mut payload)?;
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
    a.set_mtu(9000).unwrap();
    assert_eq!(carry(&mut a, &mut b, &big), Err(DropReason::TooLarge));
    b.set_mtu(9000).unwrap();
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

/// Seals `packet` at `from`: the topic and the payload as published.
fn publish(from: &mut Tunnel, packet: &[u8]) -> (String, Vec<u8>) {
    let mut payload = vec![0u8; packet.len() + OVERHEAD];
    let sent = from
        .handle_outbound(packet, &fresh_nonce(), &mut payload)
        .unwrap();
    payload.truncate(sent.len);
    (sent.topic.as_str().to_owned(), payload)
}

fn deliver(to: &mut Tunnel, (topic, payload): &(String, Vec<u8>)) -> Result<usize, DropReason> {
    to.handle_inbound(topic, payload, &mut [0u8; 2048])
}

// ---- replay protection, wire v1 ----

#[test]
fn a_replayed_sealed_payload_is_dropped_and_counted() {
    let (mut a, mut b) = (node(A, "pw"), node(B, "pw"));
    let message = publish(&mut a, &ipv4(A, B, 84));
    assert_eq!(deliver(&mut b, &message), Ok(84));
    assert_eq!(deliver(&mut b, &message), Err(DropReason::Replayed));
    assert_eq!(deliver(&mut b, &message), Err(DropReason::Replayed));
    assert_eq!(b.counters().rx_packets, 1);
    assert_eq!(
        b.counters()
            .dropped(Direction::Inbound, DropReason::Replayed),
        2
    );
    assert_eq!(DropReason::Replayed.name(), "replayed");
    assert!(DropReason::ALL.contains(&DropReason::Replayed));
}

#[test]
fn a_replay_with_altered_padding_bytes_is_still_a_replay() {
    let (mut a, mut b) = (node(A, "pw"), node(B, "pw"));
    let (topic, payload) = publish(&mut a, &ipv4(A, B, 84));
    assert_eq!(deliver(&mut b, &(topic.clone(), payload.clone())), Ok(84));
    let mut altered = payload;
    altered[NONCE_LEN] ^= 0xff; // the unchecked BOXZEROBYTES
    assert_eq!(
        deliver(&mut b, &(topic, altered)),
        Err(DropReason::Replayed)
    );
}

#[test]
fn different_packets_under_one_reused_nonce_are_not_replays() {
    // The C Linux tool can repeat nonces; only an identical payload is a replay.
    let (mut a, mut b) = (node(A, "pw"), node(B, "pw"));
    let mut payload = [0u8; 256];
    for len in [60, 61, 62] {
        let sent = a
            .handle_outbound(&ipv4(A, B, len), &NONCE, &mut payload)
            .unwrap();
        let message = (sent.topic.as_str().to_owned(), payload[..sent.len].to_vec());
        assert_eq!(deliver(&mut b, &message), Ok(len));
    }
}

#[test]
fn a_replay_older_than_the_cache_capacity_gets_through() {
    let mut a = node(A, "pw");
    let mut b = Tunnel::new(Config::new(B).with_password(b"pw").with_replay_capacity(4)).unwrap();
    let first = publish(&mut a, &ipv4(A, B, 40));
    assert_eq!(deliver(&mut b, &first), Ok(40));
    for _ in 0..3 {
        carry(&mut a, &mut b, &ipv4(A, B, 40)).unwrap();
    }
    assert_eq!(deliver(&mut b, &first), Err(DropReason::Replayed));
    carry(&mut a, &mut b, &ipv4(A, B, 40)).unwrap();
    assert_eq!(deliver(&mut b, &first), Ok(40), "evicted by the fifth");
    assert_eq!(b.replay_memory(), 4 * 8 + 8 * 2);
}

#[test]
fn a_forged_payload_does_not_enter_the_replay_cache() {
    let (mut a, mut b) = (node(A, "pw"), node(B, "pw"));
    let mut wrong = node(A, "other");
    let forged = publish(&mut wrong, &ipv4(A, B, 84));
    assert_eq!(deliver(&mut b, &forged), Err(DropReason::DecryptFailed));
    assert_eq!(deliver(&mut b, &forged), Err(DropReason::DecryptFailed));
    assert_eq!(carry(&mut a, &mut b, &ipv4(A, B, 84)).unwrap().len(), 84);
}

#[test]
fn plain_mode_has_nothing_to_judge_so_a_repeated_message_is_delivered() {
    let (mut a, mut b) = (node(A, ""), node(B, ""));
    let message = publish(&mut a, &ipv4(A, B, 60));
    assert_eq!(deliver(&mut b, &message), Ok(60));
    assert_eq!(deliver(&mut b, &message), Ok(60));
    assert_eq!(b.replay_memory(), 0, "no cache allocated in plain mode");
}

#[test]
fn setting_a_password_later_allocates_the_replay_cache() {
    let (mut a, mut b) = (node(A, "pw"), node(B, ""));
    b.set_password(b"pw");
    let message = publish(&mut a, &ipv4(A, B, 60));
    assert_eq!(deliver(&mut b, &message), Ok(60));
    assert_eq!(deliver(&mut b, &message), Err(DropReason::Replayed));
}

// ---- routes ----

const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 3);
const LAN_HOST: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 100);

fn route(network: &str, via: Ipv4Addr) -> Route {
    Route {
        destination: network.parse().unwrap(),
        via,
    }
}

fn routed_node(routes: &[Route]) -> Tunnel {
    let mut config = Config::new(A);
    for r in routes {
        config = config.with_route(*r);
    }
    Tunnel::new(config).unwrap()
}

fn topic_of(node: &mut Tunnel, dst: Ipv4Addr) -> String {
    let mut out = [0u8; 128];
    let sent = node
        .handle_outbound(&ipv4(A, dst, 20), &fresh_nonce(), &mut out)
        .unwrap();
    sent.topic.as_str().to_owned()
}

#[test]
fn a_packet_for_a_routed_network_goes_to_the_topic_of_its_gateway() {
    let mut a = routed_node(&[route("172.16.0.0/24", GATEWAY)]);
    assert_eq!(topic_of(&mut a, LAN_HOST), "mqttip/10.0.1.3");
    assert_eq!(a.next_hop(LAN_HOST), GATEWAY);
}

#[test]
fn without_a_matching_route_a_packet_goes_to_the_topic_of_its_destination() {
    let mut a = routed_node(&[route("172.16.0.0/24", GATEWAY)]);
    assert_eq!(
        topic_of(&mut a, Ipv4Addr::new(192, 0, 2, 7)),
        "mqttip/192.0.2.7"
    );
    assert_eq!(topic_of(&mut a, B), "mqttip/10.0.1.2");
}

#[test]
fn the_longest_matching_route_wins_whatever_the_order() {
    let far = Ipv4Addr::new(10, 0, 1, 4);
    for routes in [
        [route("172.16.0.0/16", far), route("172.16.0.0/24", GATEWAY)],
        [route("172.16.0.0/24", GATEWAY), route("172.16.0.0/16", far)],
    ] {
        let mut a = routed_node(&routes);
        assert_eq!(topic_of(&mut a, LAN_HOST), "mqttip/10.0.1.3");
        assert_eq!(
            topic_of(&mut a, Ipv4Addr::new(172, 16, 9, 9)),
            "mqttip/10.0.1.4"
        );
    }
}

#[test]
fn the_own_subnet_beats_a_default_route_but_not_a_host_route() {
    let moved = Ipv4Addr::new(10, 0, 1, 50);
    let mut a = routed_node(&[
        route("0.0.0.0/0", GATEWAY),
        route("10.0.1.50/32", Ipv4Addr::new(10, 0, 1, 4)),
    ]);
    assert_eq!(topic_of(&mut a, B), "mqttip/10.0.1.2");
    assert_eq!(
        topic_of(&mut a, Ipv4Addr::new(8, 8, 8, 8)),
        "mqttip/10.0.1.3"
    );
    assert_eq!(topic_of(&mut a, moved), "mqttip/10.0.1.4");
}

#[test]
fn a_route_as_long_as_the_own_subnet_loses_to_it() {
    let mut a = routed_node(&[route("10.0.1.0/24", GATEWAY)]);
    assert_eq!(topic_of(&mut a, B), "mqttip/10.0.1.2");
}

#[test]
fn broadcasts_are_never_routed() {
    let mut a = routed_node(&[route("0.0.0.0/0", GATEWAY)]);
    assert_eq!(
        topic_of(&mut a, Ipv4Addr::BROADCAST),
        "mqttip/255.255.255.255"
    );
    assert_eq!(
        topic_of(&mut a, Ipv4Addr::new(10, 0, 1, 255)),
        "mqttip/255.255.255.255"
    );
}

#[test]
fn a_caller_chosen_next_hop_overrides_the_routes() {
    let mut a = routed_node(&[route("172.16.0.0/24", GATEWAY)]);
    let mut out = [0u8; 128];
    let via = Ipv4Addr::new(10, 0, 1, 9);
    let sent = a
        .handle_outbound_via(&ipv4(A, LAN_HOST, 20), via, &NONCE, &mut out)
        .unwrap();
    assert_eq!(sent.topic.as_str(), "mqttip/10.0.1.9");
    let sent = a
        .handle_outbound_via(
            &ipv4(A, LAN_HOST, 20),
            Ipv4Addr::UNSPECIFIED,
            &NONCE,
            &mut out,
        )
        .unwrap();
    assert_eq!(
        sent.topic.as_str(),
        "mqttip/10.0.1.3",
        "0.0.0.0: the routes decide"
    );
}

#[test]
fn a_gateway_delivers_a_packet_for_a_host_behind_it_that_arrives_on_its_own_topic() {
    let mut a = Tunnel::new(
        Config::new(A)
            .with_password(b"pw")
            .with_route(route("172.16.0.0/24", GATEWAY)),
    )
    .unwrap();
    let mut gateway = Tunnel::new(
        Config::new(GATEWAY)
            .with_password(b"pw")
            .with_forward_for("172.16.0.0/24".parse().unwrap()),
    )
    .unwrap();
    let packet = ipv4(A, LAN_HOST, 64);
    // Read on the gateway's own topic, not a reading topic for the LAN host:
    // the kernel behind the interface forwards it.
    assert_eq!(carry(&mut a, &mut gateway, &packet).unwrap(), packet);
    assert!(!gateway.reads("mqttip/172.16.0.100"));
}

#[test]
fn a_node_drops_a_packet_on_its_topic_for_a_network_it_does_not_forward_to() {
    let mut a = Tunnel::new(
        Config::new(A)
            .with_password(b"pw")
            .with_route(route("172.16.0.0/24", GATEWAY)),
    )
    .unwrap();
    // A key holder points a packet for the LAN at a node that is no gateway.
    let mut not_a_gateway = node(GATEWAY, "pw");
    let packet = ipv4(A, LAN_HOST, 64);
    assert_eq!(
        carry(&mut a, &mut not_a_gateway, &packet),
        Err(DropReason::NotForThisNode)
    );
    let counters = not_a_gateway.counters();
    assert_eq!(
        counters.dropped(Direction::Inbound, DropReason::NotForThisNode),
        1
    );
    assert_eq!(counters.rx_packets, 0);
    // Its own address, broadcasts and multicast still arrive.
    for dst in [
        GATEWAY,
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(10, 0, 1, 255),
        Ipv4Addr::new(224, 0, 0, 251),
    ] {
        let packet = ipv4(A, dst, 64);
        let mut b = node(A, "pw");
        let mut payload = vec![0u8; 64 + OVERHEAD];
        let sent = b
            .handle_outbound_via(&packet, GATEWAY, &fresh_nonce(), &mut payload)
            .unwrap();
        let mut out = vec![0u8; 2048];
        assert_eq!(
            not_a_gateway.handle_inbound(sent.topic.as_str(), &payload[..sent.len], &mut out),
            Ok(64),
            "a packet for {dst}"
        );
    }
}

#[test]
fn subnets_and_routes_are_checked_when_made() {
    assert_eq!(
        "10.0.2.0/24".parse::<Subnet>().map(|s| s.to_string()),
        Ok("10.0.2.0/24".to_owned())
    );
    assert_eq!("10.0.2.7".parse::<Subnet>().map(|s| s.prefix_len()), Ok(32));
    assert_eq!(
        "10.0.2.1/24".parse::<Subnet>(),
        Err(RouteError::HostBitsSet)
    );
    assert_eq!(
        "10.0.2.0/33".parse::<Subnet>(),
        Err(RouteError::PrefixTooLong)
    );
    assert_eq!("10.0.2.0/x".parse::<Subnet>(), Err(RouteError::Syntax));
    assert_eq!(
        Route::new(Ipv4Addr::new(10, 0, 2, 0), 40, GATEWAY),
        Err(RouteError::PrefixTooLong)
    );
    assert!("0.0.0.0/0".parse::<Subnet>().unwrap().contains(LAN_HOST));
}

#[test]
fn the_core_refuses_a_config_it_cannot_carry_and_says_which_part() {
    use mqttvpn::tunnel::{ConfigError, MAX_MTU, MIN_MTU};
    let mut config = Config::new(A);
    config.mtu = MIN_MTU - 1;
    assert_eq!(Tunnel::new(config.clone()).err(), Some(ConfigError::Mtu));
    config.mtu = MAX_MTU + 1;
    assert_eq!(Tunnel::new(config.clone()).err(), Some(ConfigError::Mtu));
    config.mtu = 1500;
    config.netmask = Ipv4Addr::new(255, 0, 255, 0);
    assert_eq!(
        Tunnel::new(config.clone()).err(),
        Some(ConfigError::Netmask)
    );
    config.netmask = Ipv4Addr::new(255, 255, 255, 0);
    config.prefix = "a/+".into();
    assert!(matches!(
        Tunnel::new(config).err(),
        Some(ConfigError::Prefix(_))
    ));
}

#[test]
fn a_live_tunnel_keeps_its_netmask_and_mtu_when_given_bad_ones() {
    use mqttvpn::tunnel::ConfigError;
    let mut a = node(A, "pw");
    assert_eq!(
        a.set_netmask(Ipv4Addr::new(255, 255, 0, 255)),
        Err(ConfigError::Netmask)
    );
    assert_eq!(a.set_mtu(20), Err(ConfigError::Mtu));
    assert_eq!(a.config().netmask, Ipv4Addr::new(255, 255, 255, 0));
    assert_eq!(a.config().mtu, 1500);
    assert_eq!(a.set_netmask(Ipv4Addr::new(255, 255, 0, 0)), Ok(()));
}
