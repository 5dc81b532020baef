//! Properties of the core that must hold for any input.

use mqttvpn::ip::IpHeader;
use mqttvpn::topic;
use mqttvpn::tunnel::{Config, Tunnel};
use mqttvpn::wire::{self, Key, NONCE_LEN};
use proptest::prelude::*;

fn key() -> Key {
    Key::from_password(b"proptest password").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sealing_then_opening_returns_the_packet(
        len in 20usize..=65535,
        fill in any::<u8>(),
        nonce in any::<[u8; NONCE_LEN]>(),
    ) {
        let packet: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ fill).collect();
        let mut payload = vec![0u8; len + wire::OVERHEAD];
        let n = wire::seal(&key(), &nonce, &packet, &mut payload).unwrap();
        prop_assert_eq!(n, len + wire::OVERHEAD);
        let mut opened = vec![0u8; len];
        let m = wire::open(&key(), &payload, &mut opened).unwrap();
        prop_assert_eq!(&opened[..m], &packet[..]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_open(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut out = [0u8; 512];
        prop_assert!(wire::open(&key(), &payload, &mut out).is_err());
    }

    #[test]
    fn ip_peek_never_panics_and_never_claims_more_than_the_buffer(
        buf in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        if let Ok(header) = IpHeader::parse(&buf) {
            prop_assert!(header.total_len <= buf.len());
        }
    }

    #[test]
    fn ip_peek_of_ipv4_looking_bytes_never_panics(
        mut buf in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        if let Some(first) = buf.first_mut() {
            *first = 0x40 | (*first & 0x0f);
        }
        if let Ok(header) = IpHeader::parse(&buf) {
            prop_assert!(header.total_len >= 20 && header.total_len <= buf.len());
        }
    }

    #[test]
    fn topic_parser_never_panics(prefix in "\\PC{0,8}", rest in "\\PC{0,64}") {
        let topic = format!("{prefix}/{rest}");
        let _ = topic::validate_prefix(&prefix);
        if let Ok(address) = topic::parse_address(&prefix, &topic) {
            prop_assert_eq!(address.to_string(), rest);
        }
    }

    #[test]
    fn tunnel_inbound_never_panics_on_garbage(
        payload in proptest::collection::vec(any::<u8>(), 0..256),
        sealed in any::<bool>(),
    ) {
        let password: &[u8] = if sealed { b"pw" } else { b"" };
        let mut node = Tunnel::new(Config::new([10, 0, 1, 2].into()).with_password(password)).unwrap();
        let mut out = [0u8; 256];
        let delivered = node.handle_inbound("mqttip/10.0.1.2", &payload, &mut out).is_ok();
        let counters = node.counters();
        prop_assert_eq!(counters.rx_packets + counters.dropped_total(mqttvpn::tunnel::Direction::Inbound), 1);
        prop_assert_eq!(delivered, counters.rx_packets == 1);
    }
}
