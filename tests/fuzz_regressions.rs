//! The fuzz targets on a normal build: every committed corpus file and
//! every crash kept in `tests/data/fuzz-regressions/` goes through the same
//! code as its fuzz target (`fuzz/src/`, included below), so a crash once
//! found stays fixed and the seeds stay meaningful. A regression file is
//! named `<target>-<what>`; the target's `run` panics if a property fails.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzz;

use std::path::Path;

use mqttvpn::ip::PeekError;
use mqttvpn::mqtt::{ConnectRefused, ConnectionError};
use mqttvpn::tunnel::DropReason;
use mqttvpn::wire::OpenError;

const TARGETS: [&str; 5] = [
    "wire_open",
    "ip_peek",
    "topic_parse",
    "mqtt_session",
    "c_abi",
];

/// The files of `dir` (relative to the repository), sorted by name; none
/// if it does not exist.
fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let files = files(&format!("fuzz/corpus/{target}"));
    assert!(
        !files.is_empty(),
        "fuzz/corpus/{target} is empty or missing"
    );
    files
}

fn seed<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    let name = format!("seed-{name}");
    &files
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no corpus file {name}"))
        .1
}

fn replay(target: &str, data: &[u8]) {
    // Each `run` checks its properties itself; what it returns is for the
    // tests below.
    match target {
        "wire_open" => _ = fuzz::wire_open::run(data),
        "ip_peek" => _ = fuzz::ip_peek::run(data),
        "topic_parse" => _ = fuzz::topic_parse::run(data),
        "mqtt_session" => _ = fuzz::mqtt_session::run(data),
        "c_abi" => _ = fuzz::c_abi::run(data),
        _ => panic!("no fuzz target {target}"),
    }
}

#[test]
fn every_corpus_file_replays_through_its_target_without_a_failed_property() {
    for target in TARGETS {
        for (name, data) in corpus(target) {
            eprintln!("{target}/{name}");
            replay(target, &data);
        }
    }
}

#[test]
fn every_kept_crash_replays_without_a_failed_property() {
    for (name, data) in files("tests/data/fuzz-regressions") {
        let target = TARGETS
            .iter()
            .find(|t| name.starts_with(&format!("{t}-")))
            .unwrap_or_else(|| panic!("{name} does not start with a target name"));
        eprintln!("{name}");
        replay(target, &data);
    }
}

#[test]
fn only_the_wire_vectors_open_with_their_password() {
    let wire = corpus("wire_open");
    for (name, data) in &wire {
        let opened = fuzz::wire_open::run(data);
        if name.starts_with("seed-vector-") {
            assert_eq!(opened.map(|p| p.len()), Ok(data.len() - 56), "{name}");
        } else if name.starts_with("seed-") {
            assert!(opened.is_err(), "{name} opened");
        }
    }
    let opened = fuzz::wire_open::run(seed(&wire, "vector-icmp_echo_secret")).unwrap();
    assert_eq!(&opened[..4], &[0x45, 0, 0, 0x54]);
    // Garbage never opens: no input of the other targets is a payload.
    for target in &TARGETS[1..] {
        for (name, data) in corpus(target) {
            let opened = fuzz::wire_open::run(&data);
            assert!(
                matches!(opened, Err(OpenError::Forged | OpenError::TooShort)),
                "{target}/{name} opened: {opened:?}"
            );
        }
    }
}

#[test]
fn the_ip_seeds_parse_as_their_names_say() {
    let ip = corpus("ip_peek");
    for (name, data) in &ip {
        if name.starts_with("seed-") && !name.ends_with("truncated") {
            assert!(fuzz::ip_peek::run(data).is_ok(), "{name}");
        }
    }
    let header = fuzz::ip_peek::run(seed(&ip, "ipv4-link-padding")).unwrap();
    assert_eq!(header.total_len, 20);
    assert_eq!(
        fuzz::ip_peek::run(seed(&ip, "ipv4-truncated")),
        Err(PeekError::BadLength)
    );
}

#[test]
fn the_topic_seeds_reach_the_tunnel_as_their_names_say() {
    let topics = corpus("topic_parse");
    let run = |name| fuzz::topic_parse::run(seed(&topics, name));

    let sealed_vector = run("own-sealed-vector");
    assert_eq!(sealed_vector.sealed, Ok(84));
    assert_eq!(sealed_vector.plain, Err(DropReason::Malformed));
    assert_eq!(run("broadcast-sealed-vector").sealed, Ok(20));
    assert_eq!(run("own-plain").plain, Ok(32));
    assert_eq!(run("reading-topic").plain, Ok(32));
    assert_eq!(run("read-all-other-node").plain, Ok(20));
    assert_eq!(run("ipv6-own").plain, Ok(52));
    assert_eq!(run("ipv6-all-nodes").plain, Ok(48));
    assert_eq!(run("other-prefix").plain, Err(DropReason::UnknownTopic));
    assert_eq!(run("leading-zero").plain, Err(DropReason::UnknownTopic));
    assert_eq!(run("mtu-576-too-large").plain, Err(DropReason::TooLarge));
    assert_eq!(run("short-buffer").plain, Err(DropReason::BufferTooSmall));
}

#[test]
fn the_broker_stream_seeds_connect_and_deliver() {
    let streams = corpus("mqtt_session");
    let run = |name| fuzz::mqtt_session::run(seed(&streams, name));

    let first = run("connack-suback-publish");
    assert_eq!((first.publishes, first.frames), (1, 3));
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    // The QoS 2 duplicate is acknowledged but not delivered again.
    assert_eq!(run("qos1-qos2-pubrel").publishes, 2);
    assert_eq!(run("oversize-publish-skipped").publishes, 0);
    assert_eq!(
        run("refused").errors,
        [ConnectionError::Refused(ConnectRefused::NotAuthorized)]
    );
    assert_eq!(
        run("publish-before-connack").errors.first(),
        Some(&ConnectionError::UnexpectedPacket)
    );
    assert!(run("malformed-length").framer_error.is_some());
}

#[test]
fn the_c_abi_seeds_deliver_packets_through_the_port() {
    let scripts = corpus("c_abi");
    let run = |name| fuzz::c_abi::run(seed(&scripts, name));

    let plain = run("init-plain-traffic");
    assert!(plain.created);
    assert_eq!(plain.delivered, 2);
    assert!(plain.sent > 0);
    assert!(run("init-sealed-vector").delivered >= 3);
    assert_eq!(run("new-full-config").delivered, 1);
    assert_eq!(run("init-full-prefix").delivered, 1);
    assert!(run("uri-connect-pending").created);
    assert!(run("partial-sends-and-reentry").delivered >= 1);
    assert!(run("minimal-table").delivered >= 1);
    assert!(!run("attach-fails").created);
}
