//! Wire v2: the vectors of `tests/data/wire-v2.json` (made independently of
//! this crate, with Python's hashlib and libsodium, by the program in
//! `docs/wire-v2.md`), and v2 between tunnels: replay windows, restarts,
//! reordering, and the mix with v1 peers.

use std::net::Ipv4Addr;

use mqttvpn::replay::{EPOCH_SECONDS, WINDOW};
use mqttvpn::tunnel::{Config, Direction, DropReason, Subnet, Tunnel};
use mqttvpn::wire::{self, NONCE_LEN};
use mqttvpn::wire2::{self, BOOT_ID_LEN, Framing, Header, Key, OpenError};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wire-v2.json");

fn vectors() -> Value {
    serde_json::from_slice(&std::fs::read(VECTORS).expect("tests/data/wire-v2.json")).unwrap()
}

fn hex_field(entry: &Value, name: &str) -> Vec<u8> {
    hex::decode(
        entry[name]
            .as_str()
            .unwrap_or_else(|| panic!("field {name}")),
    )
    .unwrap()
}

fn entries<'a>(all: &'a Value, list: &str) -> &'a [Value] {
    let entries = all[list].as_array().unwrap();
    assert!(!entries.is_empty(), "no `{list}` entries");
    entries
}

fn key_field(entry: &Value) -> Key {
    Key::from_bytes(&hex_field(entry, "key").try_into().unwrap())
}

fn address(entry: &Value) -> &[u8] {
    wire2::topic_address(entry["topic"].as_str().unwrap())
}

#[test]
fn the_key_is_pbkdf2_hmac_sha256_of_the_password_salted_with_the_network_name() {
    let all = vectors();
    for v in entries(&all, "kdf") {
        let name = v["name"].as_str().unwrap();
        let password = hex_field(v, "password_hex");
        assert_eq!(
            password,
            v["password"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        assert_eq!(v["iterations"].as_u64(), Some(wire2::KDF_ITERATIONS.into()));
        let network = v["network"].as_str().unwrap().as_bytes();
        let raw = Key::derive_bytes(&password, network).unwrap();
        assert_eq!(hex::encode(raw), v["key"].as_str().unwrap(), "{name}");
    }
    assert!(
        Key::derive(b"", b"mqttip").is_none(),
        "empty password: no key"
    );
}

#[test]
fn every_vector_seals_to_its_payload_and_opens_to_its_header_and_plaintext() {
    let all = vectors();
    for v in entries(&all, "vectors") {
        let name = v["name"].as_str().unwrap();
        let key = key_field(v);
        let header = Header {
            boot_id: hex_field(v, "boot_id").try_into().unwrap(),
            counter: v["counter"].as_str().unwrap().parse().unwrap(),
        };
        let plaintext = hex_field(v, "plaintext");
        let payload = hex_field(v, "payload");

        let mut sealed = vec![0u8; wire2::sealed_len(plaintext.len())];
        let n = wire2::seal(&key, &header, address(v), &plaintext, &mut sealed).unwrap();
        assert_eq!(
            hex::encode(&sealed[..n]),
            hex::encode(&payload),
            "{name}: seal"
        );

        let mut opened = vec![0u8; plaintext.len()];
        let (got, m) = wire2::open(&key, address(v), &payload, &mut opened).unwrap();
        assert_eq!(
            (got, &opened[..m]),
            (header, &plaintext[..]),
            "{name}: open"
        );
        assert_eq!(wire2::header(&payload), Ok(header), "{name}: header");
    }
}

#[test]
fn every_batch_vector_seals_and_opens_byte_for_byte() {
    let all = vectors();
    for v in entries(&all, "batches") {
        let name = v["name"].as_str().unwrap();
        let header = Header {
            boot_id: hex_field(v, "boot_id").try_into().unwrap(),
            counter: v["counter"].as_str().unwrap().parse().unwrap(),
        };
        let packets: Vec<Vec<u8>> = v["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| hex::decode(p.as_str().unwrap()).unwrap())
            .collect();
        let payload = hex_field(v, "payload");
        let mut sealed = vec![0u8; wire2::OVERHEAD];
        packets.iter().for_each(|p| sealed.extend_from_slice(p));
        wire2::seal_framed_in_place(
            &key_field(v),
            &header,
            Framing::Batch,
            address(v),
            &mut sealed,
        )
        .unwrap();
        assert_eq!(hex::encode(&sealed), hex::encode(&payload), "{name}: seal");
        assert_eq!(wire2::framing(&payload), Some(Framing::Batch), "{name}");
        let mut opened = vec![0u8; payload.len()];
        let (_, n) = wire2::open(&key_field(v), address(v), &payload, &mut opened).unwrap();
        let split: Vec<&[u8]> = mqttvpn::ip::packets(&opened[..n]).collect();
        let want: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        assert_eq!(split, want, "{name}: open and split");
    }
}

#[test]
fn every_reject_entry_is_refused_with_its_typed_error() {
    let all = vectors();
    for r in entries(&all, "reject") {
        let name = r["name"].as_str().unwrap();
        let payload = hex_field(r, "payload");
        let mut out = vec![0u8; payload.len() + 1];
        let err = wire2::open(&key_field(r), address(r), &payload, &mut out).unwrap_err();
        let expected = match r["error"].as_str().unwrap() {
            "TooShort" => OpenError::TooShort,
            "NotV2" => OpenError::NotV2,
            "Forged" => OpenError::Forged,
            other => panic!("{name}: unknown error {other}"),
        };
        assert_eq!(err, expected, "{name}: {}", r["why"]);
    }
}

#[test]
fn a_short_output_buffer_is_refused_not_overrun() {
    let key = Key::from_bytes(&[9; 32]);
    let header = Header {
        boot_id: [1; BOOT_ID_LEN],
        counter: 0,
    };
    let mut small = [0u8; wire2::OVERHEAD + 3];
    assert_eq!(
        wire2::seal(&key, &header, b"10.0.1.2", &[0x45; 20], &mut small),
        Err(wire2::SealError::BufferTooSmall)
    );
    let mut payload = [0u8; 128];
    let n = wire2::seal(&key, &header, b"10.0.1.2", &[0x45; 20], &mut payload).unwrap();
    assert_eq!(
        wire2::open(&key, b"10.0.1.2", &payload[..n], &mut [0u8; 19]),
        Err(OpenError::BufferTooSmall)
    );
}

#[test]
fn v2_overhead_fits_in_buffers_sized_for_v1() {
    assert_eq!(wire2::OVERHEAD, 44);
    let sized_for_v1 = [0u8; 1500 + wire::OVERHEAD];
    let key = Key::from_bytes(&[1; 32]);
    let header = Header {
        boot_id: [1; BOOT_ID_LEN],
        counter: 0,
    };
    let mut out = sized_for_v1;
    assert!(wire2::seal(&key, &header, b"10.0.1.2", &[0x45; 1500], &mut out).is_ok());
}

// ---- between tunnels ----

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const C: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 3);
const NONCE: [u8; NONCE_LEN] = [0x33; NONCE_LEN];

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p
}

fn v2_key() -> Key {
    Key::from_bytes(&[0x42; 32])
}

/// The wall clock most tests run at (2027-01-15, Unix seconds).
const NOW: u64 = 1_800_000_000;

/// A tunnel of `config` whose clock reads [`NOW`].
fn at_now(config: Config) -> Tunnel {
    let mut tunnel = Tunnel::new(config).unwrap();
    tunnel.handle_clock(NOW);
    tunnel
}

/// A node speaking v2, and v1 with the same password.
fn v2_node(address: Ipv4Addr) -> Tunnel {
    at_now(
        Config::new(address)
            .with_password(b"pw")
            .with_wire_v2(v2_key()),
    )
}

fn v1_node(address: Ipv4Addr) -> Tunnel {
    Tunnel::new(Config::new(address).with_password(b"pw")).unwrap()
}

type Message = (String, Vec<u8>);

fn publish(from: &mut Tunnel, packet: &[u8]) -> Message {
    let mut payload = vec![0u8; packet.len() + wire::OVERHEAD];
    let sent = from.handle_outbound(packet, &NONCE, &mut payload).unwrap();
    payload.truncate(sent.len);
    (sent.topic.as_str().to_owned(), payload)
}

/// `count` messages from `from` to B, counters 0 to `count - 1`.
fn messages(from: &mut Tunnel, count: usize) -> Vec<Message> {
    (0..count).map(|_| publish(from, &ipv4(A, B, 40))).collect()
}

fn deliver(to: &mut Tunnel, (topic, payload): &Message) -> Result<usize, DropReason> {
    to.handle_inbound(topic, payload, &mut [0u8; 2048])
}

fn counter_of((_, payload): &Message) -> u64 {
    wire2::header(payload).unwrap().counter
}

#[test]
fn v2_nodes_send_v2_with_counters_from_zero_under_an_epoch_stamped_with_their_clock() {
    let (mut a, mut b) = (v2_node(A), v2_node(B));
    let sent = messages(&mut a, 3);
    for (i, message) in sent.iter().enumerate() {
        assert!(wire2::is_v2(&message.1));
        assert_eq!(message.1.len(), 40 + wire2::OVERHEAD);
        let header = wire2::header(&message.1).unwrap();
        assert_eq!(wire2::epoch_start(&header.boot_id), NOW);
        assert_eq!(header.boot_id[8..], NONCE[..8], "the epoch's random half");
        assert_eq!(header.counter, i as u64);
        assert_eq!(deliver(&mut b, message), Ok(40));
    }
    assert_eq!(b.counters().rx_packets, 3);
}

#[test]
fn a_key_derived_from_the_password_works_between_nodes() {
    let key = || Key::derive(b"pw", b"mqttip").unwrap();
    let mut a = at_now(Config::new(A).with_wire_v2(key()));
    let mut b = at_now(Config::new(B).with_wire_v2(key()));
    let message = publish(&mut a, &ipv4(A, B, 84));
    assert_eq!(deliver(&mut b, &message), Ok(84));
}

#[test]
fn a_replayed_counter_is_dropped_and_counted() {
    let (mut a, mut b) = (v2_node(A), v2_node(B));
    let sent = messages(&mut a, 2);
    assert_eq!(deliver(&mut b, &sent[0]), Ok(40));
    assert_eq!(deliver(&mut b, &sent[1]), Ok(40));
    assert_eq!(deliver(&mut b, &sent[0]), Err(DropReason::Replayed));
    assert_eq!(deliver(&mut b, &sent[1]), Err(DropReason::Replayed));
    assert_eq!(
        b.counters()
            .dropped(Direction::Inbound, DropReason::Replayed),
        2
    );
}

#[test]
fn reordering_within_the_window_is_accepted_once_each() {
    let (mut a, mut b) = (v2_node(A), v2_node(B));
    let sent = messages(&mut a, 6);
    for i in [5, 3, 4, 0, 2, 1] {
        assert_eq!(deliver(&mut b, &sent[i]), Ok(40), "counter {i}");
    }
    for i in [0, 3, 5] {
        assert_eq!(deliver(&mut b, &sent[i]), Err(DropReason::Replayed), "{i}");
    }
}

#[test]
fn a_counter_a_whole_window_behind_the_newest_is_dropped_as_too_old() {
    let (mut a, mut b) = (v2_node(A), v2_node(B));
    let sent = messages(&mut a, WINDOW as usize + 2);
    let newest = sent.last().unwrap();
    assert_eq!(counter_of(newest), WINDOW + 1);
    assert_eq!(deliver(&mut b, newest), Ok(40));
    assert_eq!(
        deliver(&mut b, &sent[1]),
        Err(DropReason::TooOld),
        "WINDOW behind"
    );
    assert_eq!(deliver(&mut b, &sent[0]), Err(DropReason::TooOld));
    assert_eq!(deliver(&mut b, &sent[2]), Ok(40), "WINDOW - 1 behind");
    assert_eq!(
        b.counters().dropped(Direction::Inbound, DropReason::TooOld),
        2
    );
    assert_eq!(DropReason::TooOld.name(), "too_old");
}

#[test]
fn a_restart_starts_a_newer_epoch_from_zero_and_retires_the_old_one() {
    let mut b = v2_node(B);
    let mut before = v2_node(A);
    let old = messages(&mut before, 5);
    for m in &old {
        deliver(&mut b, m).unwrap();
    }
    let mut after = v2_node(A); // the same node, started again 5 s later
    after.handle_clock(NOW + 5);
    let new = messages(&mut after, 2);
    assert_eq!(counter_of(&new[0]), 0);
    assert_eq!(deliver(&mut b, &new[0]), Ok(40));
    assert_eq!(deliver(&mut b, &new[1]), Ok(40));
    assert_eq!(
        deliver(&mut b, &old[4]),
        Err(DropReason::TooOld),
        "the epoch before the restart is over for this sender"
    );
}

#[test]
fn a_v2_payload_republished_to_another_nodes_topic_does_not_open() {
    let (mut a, mut c) = (v2_node(A), v2_node(C));
    let (_, payload) = publish(&mut a, &ipv4(A, B, 40));
    assert_eq!(
        deliver(&mut c, &("mqttip/10.0.1.3".to_owned(), payload)),
        Err(DropReason::DecryptFailed)
    );
}

#[test]
fn a_tampered_or_truncated_v2_payload_is_dropped_with_its_reason() {
    let (mut a, mut b) = (v2_node(A), v2_node(B));
    let (topic, payload) = publish(&mut a, &ipv4(A, B, 40));
    let mut tampered = payload.clone();
    tampered[wire2::OVERHEAD + 3] ^= 1;
    assert_eq!(
        deliver(&mut b, &(topic.clone(), tampered)),
        Err(DropReason::DecryptFailed)
    );
    assert_eq!(
        deliver(
            &mut b,
            &(topic.clone(), payload[..wire2::OVERHEAD].to_vec())
        ),
        Err(DropReason::TooShort)
    );
    // Neither counted against the sender's window: the real one still opens.
    assert_eq!(deliver(&mut b, &(topic, payload)), Ok(40));
}

#[test]
fn a_v2_node_sends_v1_to_listed_v1_peers_and_accepts_v1_from_them() {
    let mut a = at_now(
        Config::new(A)
            .with_password(b"pw")
            .with_wire_v2(v2_key())
            .with_v1_peer("10.0.1.3/32".parse().unwrap()),
    );
    let (mut b, mut old) = (v2_node(B), v1_node(C));
    let to_old = publish(&mut a, &ipv4(A, C, 40));
    assert!(!wire2::is_v2(&to_old.1));
    assert_eq!(to_old.1.len(), 40 + wire::OVERHEAD);
    assert_eq!(deliver(&mut old, &to_old), Ok(40));
    let to_b = publish(&mut a, &ipv4(A, B, 40));
    assert!(wire2::is_v2(&to_b.1));
    assert_eq!(deliver(&mut b, &to_b), Ok(40));
    let from_old = publish(&mut old, &ipv4(C, A, 40));
    assert_eq!(deliver(&mut a, &from_old), Ok(40));
    assert_eq!(deliver(&mut a, &from_old), Err(DropReason::Replayed));
}

#[test]
fn broadcasts_go_as_v1_while_v1_peers_are_listed_and_as_v2_otherwise() {
    let broadcast = ipv4(A, Ipv4Addr::BROADCAST, 28);
    let mut mixed = at_now(
        Config::new(A)
            .with_password(b"pw")
            .with_wire_v2(v2_key())
            .with_v1_peer(Subnet::host(C)),
    );
    let (topic, payload) = publish(&mut mixed, &broadcast);
    assert_eq!(topic, "mqttip/255.255.255.255");
    assert!(!wire2::is_v2(&payload));
    assert_eq!(deliver(&mut v1_node(C), &(topic, payload)), Ok(28));
    let (_, payload) = publish(&mut v2_node(A), &broadcast);
    assert!(wire2::is_v2(&payload));
}

#[test]
fn a_node_without_v2_counts_a_v2_payload_as_wrong_version() {
    let mut old = v1_node(B);
    let message = publish(&mut v2_node(A), &ipv4(A, B, 40));
    assert_eq!(deliver(&mut old, &message), Err(DropReason::WrongVersion));
    assert_eq!(DropReason::WrongVersion.name(), "wrong_version");
}

#[test]
fn a_v2_node_without_a_v1_password_speaks_only_v2() {
    let mut only = at_now(
        Config::new(B)
            .with_wire_v2(v2_key())
            .with_v1_peer(Subnet::host(A)),
    );
    assert!(only.is_sealed());
    let from_v1 = publish(&mut v1_node(A), &ipv4(A, B, 40));
    assert_eq!(deliver(&mut only, &from_v1), Err(DropReason::WrongVersion));
    let (_, to_listed_v1_peer) = publish(&mut only, &ipv4(B, A, 40));
    assert!(
        wire2::is_v2(&to_listed_v1_peer),
        "no v1 key: never v1, never plain"
    );
}

#[test]
fn a_split_tunnel_sends_on_in_its_epoch_and_receives_with_its_replay_memory() {
    let mut a = v2_node(A);
    let b = v2_node(B);
    let first = publish(&mut a, &ipv4(A, B, 40));
    let (mut sending, _receiving) = a.split();
    assert_eq!(
        sending.epoch_id(),
        Some(wire2::header(&first.1).unwrap().boot_id)
    );
    assert_eq!(
        sending.replay_memory(),
        0,
        "the sender holds no replay memory"
    );
    let mut out = [0u8; 128];
    let next = sending
        .handle_outbound(&ipv4(A, B, 40), &NONCE, &mut out)
        .unwrap();
    let second = (next.topic.as_str().to_owned(), out[..next.len].to_vec());
    assert_eq!(
        counter_of(&second),
        1,
        "the counter goes on after the split"
    );
    let (_, mut b_receiving) = {
        let replay_memory = b.replay_memory();
        assert!(replay_memory > 0);
        let halves = b.split();
        assert_eq!(halves.1.replay_memory(), replay_memory);
        halves
    };
    for m in [&first, &second] {
        assert_eq!(b_receiving.handle_inbound(&m.0, &m.1, &mut out), Ok(40));
        assert_eq!(
            b_receiving.handle_inbound(&m.0, &m.1, &mut out),
            Err(DropReason::Replayed)
        );
    }
    assert_eq!(b_receiving.counters().rx_packets, 2);
}

#[test]
fn turning_v2_on_later_starts_an_epoch_and_counts_from_zero() {
    let mut a = v1_node(A);
    a.handle_clock(NOW);
    let mut b = v2_node(B);
    a.set_wire_v2(Some(mqttvpn::tunnel::WireV2 { key: v2_key() }));
    let message = publish(&mut a, &ipv4(A, B, 40));
    assert_eq!(counter_of(&message), 0);
    assert_eq!(deliver(&mut b, &message), Ok(40));
    a.set_wire_v2(None);
    assert!(!wire2::is_v2(&publish(&mut a, &ipv4(A, B, 40)).1));
}

#[test]
fn a_v2_tunnel_holds_bounded_replay_memory() {
    let b = v2_node(B);
    assert_eq!(
        b.replay_memory(),
        mqttvpn::replay::ReplayCache::memory_for(b.config().replay_capacity)
            + mqttvpn::replay::SenderWindows::memory_for(b.config().v2_senders)
    );
    assert_eq!(b.replay_memory(), 49_152 + 64 * 184);
}

#[test]
fn beside_v2_a_v1_payload_is_taken_only_from_a_listed_v1_peer() {
    let mut b = at_now(
        Config::new(B)
            .with_password(b"pw")
            .with_wire_v2(v2_key())
            .with_v1_peer(Subnet::host(C)),
    );
    let from_peer = publish(&mut v1_node(C), &ipv4(C, B, 40));
    assert_eq!(deliver(&mut b, &from_peer), Ok(40));
    // Any other holder of the v1 password must use v2 to reach this node.
    let from_other = publish(&mut v1_node(A), &ipv4(A, B, 40));
    assert_eq!(deliver(&mut b, &from_other), Err(DropReason::WrongVersion));
    assert_eq!(
        b.counters()
            .dropped(Direction::Inbound, DropReason::WrongVersion),
        1
    );
}

// ---- epochs: replays across boots and receiver restarts ----

/// A v2 node at `address` whose clock reads `clock`.
fn v2_node_at(address: Ipv4Addr, clock: u64) -> Tunnel {
    let mut node = v2_node(address);
    node.handle_clock(clock);
    node
}

/// The address of the `n`th extra sender, 10.0.2.n.
fn sender(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 2, n)
}

#[test]
fn captures_from_64_older_boots_neither_get_in_nor_evict_a_live_sender() {
    let mut b = v2_node(B);
    assert_eq!(b.config().v2_senders, 64);
    let mut a = v2_node(A);
    let live = messages(&mut a, 2);
    assert_eq!(deliver(&mut b, &live[0]), Ok(40));
    // One payload captured from each of 64 boots of other nodes, an hour ago.
    for n in 1..=64 {
        let mut old_boot = v2_node_at(sender(n), NOW - 3600);
        let capture = publish(&mut old_boot, &ipv4(sender(n), B, 40));
        assert_eq!(deliver(&mut b, &capture), Err(DropReason::TooOld), "{n}");
    }
    assert_eq!(
        b.counters().dropped(Direction::Inbound, DropReason::TooOld),
        64
    );
    assert_eq!(
        deliver(&mut b, &live[0]),
        Err(DropReason::Replayed),
        "A's window is still there"
    );
    assert_eq!(deliver(&mut b, &live[1]), Ok(40));
}

#[test]
fn a_capture_from_a_senders_earlier_boot_is_refused_once_a_later_boot_is_heard() {
    let mut b = v2_node(B);
    // Both boots within the clock window: only the sender's newest counts.
    let capture = publish(&mut v2_node_at(A, NOW - 90), &ipv4(A, B, 40));
    let current = publish(&mut v2_node_at(A, NOW - 10), &ipv4(A, B, 40));
    assert_eq!(deliver(&mut b, &current), Ok(40));
    assert_eq!(deliver(&mut b, &capture), Err(DropReason::TooOld));
}

#[test]
fn after_a_receiver_restart_captures_older_than_the_clock_window_are_refused() {
    let mut a = v2_node_at(A, NOW - 600);
    let old = publish(&mut a, &ipv4(A, B, 40));
    assert_eq!(deliver(&mut v2_node_at(B, NOW - 600), &old), Ok(40));
    let mut restarted = v2_node(B);
    assert_eq!(deliver(&mut restarted, &old), Err(DropReason::TooOld));
    // The documented limit: a capture younger than the clock window (two
    // minutes) is taken once more by a receiver that restarted since.
    let recent = publish(&mut v2_node_at(C, NOW - 30), &ipv4(C, B, 40));
    assert_eq!(deliver(&mut v2_node(B), &recent), Ok(40));
    assert_eq!(deliver(&mut restarted, &recent), Ok(40));
    assert_eq!(deliver(&mut restarted, &recent), Err(DropReason::Replayed));
}

#[test]
fn a_sender_starts_a_new_epoch_every_minute_and_its_receivers_follow() {
    let mut a = v2_node(A);
    let first = publish(&mut a, &ipv4(A, B, 40));
    a.handle_clock(NOW + EPOCH_SECONDS - 1);
    let same_epoch = publish(&mut a, &ipv4(A, B, 40));
    a.handle_clock(NOW + EPOCH_SECONDS);
    let next_epoch = publish(&mut a, &ipv4(A, B, 40));
    let header = |m: &Message| wire2::header(&m.1).unwrap();
    assert_eq!(header(&same_epoch).boot_id, header(&first).boot_id);
    assert_eq!(counter_of(&same_epoch), 1);
    assert_eq!(
        wire2::epoch_start(&header(&next_epoch).boot_id),
        NOW + EPOCH_SECONDS
    );
    assert_eq!(counter_of(&next_epoch), 0);
    let mut b = v2_node_at(B, NOW + EPOCH_SECONDS);
    for m in [&first, &same_epoch, &next_epoch] {
        assert_eq!(deliver(&mut b, m), Ok(40));
    }
    assert_eq!(deliver(&mut b, &same_epoch), Err(DropReason::TooOld));
}

#[test]
fn without_a_wall_clock_v2_neither_seals_nor_accepts() {
    let config = || Config::new(A).with_wire_v2(v2_key());
    let mut no_clock = Tunnel::new(config()).unwrap();
    let mut out = [0u8; 128];
    assert_eq!(
        no_clock.handle_outbound(&ipv4(A, B, 40), &NONCE, &mut out),
        Err(DropReason::NoBootId)
    );
    let mut b = Tunnel::new(Config::new(B).with_wire_v2(v2_key())).unwrap();
    let message = publish(&mut at_now(config()), &ipv4(A, B, 40));
    assert_eq!(deliver(&mut b, &message), Err(DropReason::NoBootId));
    b.handle_clock(NOW);
    assert_eq!(deliver(&mut b, &message), Ok(40));
}

#[test]
fn an_epoch_from_a_clock_far_ahead_is_refused() {
    let ahead = publish(&mut v2_node_at(A, NOW + 3600), &ipv4(A, B, 40));
    assert_eq!(deliver(&mut v2_node(B), &ahead), Err(DropReason::TooOld));
    let slightly = publish(&mut v2_node_at(A, NOW + 30), &ipv4(A, B, 40));
    assert_eq!(deliver(&mut v2_node(B), &slightly), Ok(40));
}

#[test]
fn a_full_sender_table_takes_a_new_sender_only_in_the_place_of_a_stale_one() {
    let mut config = Config::new(B).with_wire_v2(v2_key());
    config.v2_senders = 2;
    let mut b = at_now(config);
    for n in [1, 2] {
        let m = publish(&mut v2_node(sender(n)), &ipv4(sender(n), B, 40));
        assert_eq!(deliver(&mut b, &m), Ok(40));
    }
    let third = publish(&mut v2_node(sender(3)), &ipv4(sender(3), B, 40));
    assert_eq!(deliver(&mut b, &third), Err(DropReason::SenderTableFull));
    assert_eq!(DropReason::SenderTableFull.name(), "sender_table_full");
    // Two minutes of silence later both epochs are stale: a slot is free.
    let later = NOW + 2 * EPOCH_SECONDS + 1;
    b.handle_clock(later);
    let third = publish(&mut v2_node_at(sender(3), later), &ipv4(sender(3), B, 40));
    assert_eq!(deliver(&mut b, &third), Ok(40));
}

#[test]
fn v2_senders_are_told_apart_by_their_authenticated_source_address() {
    // Same clock, same random bytes: the same epoch id and counters.
    let (mut a, mut c) = (v2_node(A), v2_node(C));
    let from_a = publish(&mut a, &ipv4(A, B, 40));
    let from_c = publish(&mut c, &ipv4(C, B, 40));
    assert_eq!(from_a.1[..wire2::HEADER_LEN], from_c.1[..wire2::HEADER_LEN]);
    let mut b = v2_node(B);
    assert_eq!(deliver(&mut b, &from_a), Ok(40));
    assert_eq!(
        deliver(&mut b, &from_c),
        Ok(40),
        "C has a window of its own"
    );
    assert_eq!(deliver(&mut b, &from_c), Err(DropReason::Replayed));
}

// ---- batches: several packets in one message, between nodes that say so ----

/// The largest batch the test receivers read.
const BATCH: usize = 16_000;

/// A v2 node that reads batches of up to [`BATCH`] bytes.
fn batch_reader(address: Ipv4Addr) -> Tunnel {
    let mut config = Config::new(address).with_wire_v2(v2_key());
    config.batch_receive = BATCH;
    at_now(config)
}

/// A v2 node that sends batches to `peer`.
fn batch_sender(address: Ipv4Addr, peer: Ipv4Addr, limit: usize) -> Tunnel {
    let mut node = at_now(Config::new(address).with_wire_v2(v2_key()));
    node.set_batch_peers([(peer, limit)]);
    node
}

fn publish_batch(from: &mut Tunnel, packets: &[Vec<u8>]) -> Result<Message, DropReason> {
    let slices: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    let mut out = vec![0u8; BATCH * 2];
    let sent = from.handle_outbound_batch(&slices, &NONCE, &mut out)?;
    Ok((sent.topic.as_str().to_owned(), out[..sent.len].to_vec()))
}

/// Five packets of a flow from A to B, 40 to 1440 bytes.
fn flow() -> Vec<Vec<u8>> {
    [40, 1440, 1440, 600, 52]
        .map(|len| ipv4(A, B, len))
        .to_vec()
}

#[test]
fn a_batch_to_a_peer_that_reads_batches_is_one_message_carrying_every_packet() {
    let mut a = batch_sender(A, B, BATCH);
    let packets = flow();
    let (topic, limit) = a.batch_topic(&packets[0]).unwrap();
    assert_eq!((topic.as_str(), limit), ("mqttip/10.0.1.2", BATCH));
    let message = publish_batch(&mut a, &packets).unwrap();
    assert_eq!(wire2::framing(&message.1), Some(Framing::Batch));
    let total: usize = packets.iter().map(Vec::len).sum();
    assert_eq!(message.1.len(), total + wire2::OVERHEAD);
    let mut b = batch_reader(B);
    let mut out = vec![0u8; BATCH];
    let len = b.handle_inbound(&message.0, &message.1, &mut out).unwrap();
    let delivered: Vec<&[u8]> = mqttvpn::ip::packets(&out[..len]).collect();
    assert_eq!(
        delivered,
        packets.iter().map(Vec::as_slice).collect::<Vec<_>>()
    );
    let (sent, got) = (a.counters(), b.counters());
    assert_eq!((sent.tx_packets, sent.tx_messages), (5, 1));
    assert_eq!(
        (got.rx_packets, got.rx_messages, got.rx_bytes),
        (5, 1, total as u64)
    );
    assert_eq!(
        b.handle_inbound(&message.0, &message.1, &mut out),
        Err(DropReason::Replayed)
    );
}

#[test]
fn only_unicast_v2_packets_to_a_peer_that_reads_batches_may_be_batched() {
    let a = batch_sender(A, B, BATCH);
    assert!(a.batch_topic(&ipv4(A, C, 40)).is_none(), "C did not say");
    assert!(a.batch_topic(&ipv4(A, Ipv4Addr::BROADCAST, 40)).is_none());
    let v1_only = Tunnel::new(Config::new(A).with_password(b"pw")).unwrap();
    assert!(v1_only.batch_topic(&ipv4(A, B, 40)).is_none());
}

#[test]
fn a_node_that_does_not_read_batches_drops_them_unopened() {
    let (topic, payload) = publish_batch(&mut batch_sender(A, B, BATCH), &flow()).unwrap();
    let mut out = vec![0u8; BATCH];
    let mut v2_only = at_now(Config::new(B).with_wire_v2(v2_key()));
    assert_eq!(
        v2_only.handle_inbound(&topic, &payload, &mut out),
        Err(DropReason::WrongVersion)
    );
    // With a v1 password it gets its chance as v1, and fails to open.
    assert_eq!(
        v2_node(B).handle_inbound(&topic, &payload, &mut out),
        Err(DropReason::DecryptFailed)
    );
    assert_eq!(v2_only.counters().rx_packets, 0);
}

#[test]
fn a_batch_over_the_limit_is_refused_by_sender_and_receiver() {
    let packets: Vec<Vec<u8>> = (0..12).map(|_| ipv4(A, B, 1440)).collect();
    let over = publish_batch(&mut batch_sender(A, B, 10_000), &packets);
    assert_eq!(
        over,
        Err(DropReason::Malformed),
        "the sender keeps to the limit"
    );
    let mut too_big_for_b = batch_sender(A, B, 20_000);
    let message = publish_batch(&mut too_big_for_b, &packets).unwrap();
    assert_eq!(
        deliver(&mut batch_reader(B), &message),
        Err(DropReason::WrongVersion),
        "more than B announced"
    );
}

#[test]
fn packets_for_another_topic_are_never_sealed_into_a_batch() {
    let mut a = batch_sender(A, B, BATCH);
    let mixed = vec![ipv4(A, B, 40), ipv4(A, C, 40)];
    assert_eq!(publish_batch(&mut a, &mixed), Err(DropReason::Malformed));
    assert_eq!(
        a.counters()
            .dropped(Direction::Outbound, DropReason::Malformed),
        2
    );
}

#[test]
fn a_batch_relabelled_as_one_packet_does_not_open() {
    let (topic, mut payload) = publish_batch(&mut batch_sender(A, B, BATCH), &flow()).unwrap();
    payload[..4].copy_from_slice(&wire2::MAGIC);
    let mut out = vec![0u8; BATCH];
    assert_eq!(
        batch_reader(B).handle_inbound(&topic, &payload, &mut out),
        Err(DropReason::DecryptFailed)
    );
}
