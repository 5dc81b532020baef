//! The Linux node end to end: real TUN devices in network namespaces, a real
//! mosquitto (or the in-process broker), real ping and TCP.
//!
//! Needs root; skipped with a printed reason otherwise (never in CI).

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::{Lab, can_use_namespaces, counter, have_mosquitto};

const A: &str = "10.0.1.1";
const B: &str = "10.0.1.2";
const UP: Duration = Duration::from_secs(15);

fn ready(test: &str) -> bool {
    can_use_namespaces(test) && have_mosquitto(test)
}

/// Mosquitto and two nodes, A in host 1 and B in host 2, with `args` each;
/// returns once A can ping B.
fn two_nodes(args_a: &[&str], args_b: &[&str]) -> Lab {
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    lab.start_node(1, A, args_a);
    lab.start_node(2, B, args_b);
    assert!(
        lab.host(1).ns.wait_for_ping(B, UP).is_some(),
        "tunnel did not come up\n{}",
        lab.logs()
    );
    lab
}

/// Small and full-MTU pings both ways between A and B, all answered.
fn assert_pings_cross_both_ways(lab: &Lab) {
    for (from, to, name) in [(1, B, "A -> B"), (2, A, "B -> A")] {
        for size in [56, 1472] {
            let ok = lab.host(from).ns.ping(to, 3, size);
            assert!(ok, "{name}, {size}-byte pings\n{}", lab.logs());
        }
    }
}

#[test]
fn ping_crosses_the_tunnel_both_ways_in_plain_mode() {
    if !ready("ping_plain") {
        return;
    }
    assert_pings_cross_both_ways(&two_nodes(&[], &[]));
}

#[test]
fn ping_crosses_the_tunnel_both_ways_encrypted() {
    if !ready("ping_encrypted") {
        return;
    }
    assert_pings_cross_both_ways(&two_nodes(&["-k", "pw"], &["-k", "pw"]));
}

/// Sends `bytes` random bytes over TCP from host 1 to `dst` (a listener in
/// host 2) and checks that their sha256 arrives unchanged.
fn assert_tcp_arrives_intact(lab: &Lab, dst: &str, bytes: usize) {
    let (sent, received) = lab
        .start_tcp_transfer(dst, bytes)
        .finish()
        .unwrap_or_else(|why| panic!("transfer to {dst} failed: {why}\n{}", lab.logs()));
    assert_eq!(sent, received, "the data arrived changed");
    assert!(
        !received.starts_with(support::EMPTY_SHA256_PREFIX),
        "received nothing"
    );
}

#[test]
fn ten_megabytes_of_tcp_arrive_intact_through_the_encrypted_tunnel() {
    if !ready("tcp_transfer") {
        return;
    }
    let lab = two_nodes(&["-k", "pw"], &["-k", "pw"]);
    assert_tcp_arrives_intact(&lab, B, 10 * 1024 * 1024);
}

#[test]
fn a_node_with_the_wrong_password_exchanges_nothing_and_counts_failures() {
    if !ready("wrong_password") {
        return;
    }
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    lab.start_node(1, A, &["-k", "right"]);
    let b = lab.start_node(2, B, &["-k", "wrong"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !lab.host(1).ns.ping(B, 3, 56),
        "ping crossed with the wrong password"
    );
    assert!(
        !lab.host(2).ns.ping(A, 3, 56),
        "ping crossed with the wrong password"
    );
    let failures = counter(lab.proc(b), "dropped_in_decrypt_failed");
    assert!(
        failures >= 3,
        "decrypt failures counted: {failures}\n{}",
        lab.logs()
    );
    assert_eq!(counter(lab.proc(b), "rx_packets"), 0);
}

#[test]
fn the_tunnel_returns_after_the_broker_is_killed_and_restarted() {
    if !ready("broker_restart") {
        return;
    }
    let mut lab = Lab::new(2);
    let broker = lab.start_mosquitto();
    let a = lab.start_node(1, A, &["-k", "pw"]);
    let b = lab.start_node(2, B, &["-k", "pw"]);
    assert!(
        lab.host(1).ns.wait_for_ping(B, UP).is_some(),
        "up\n{}",
        lab.logs()
    );
    lab.proc(broker).kill();
    assert!(
        !lab.host(1).ns.ping(B, 2, 56),
        "ping crossed without a broker"
    );
    std::thread::sleep(Duration::from_secs(3));
    lab.start_mosquitto();
    let back = lab.host(1).ns.wait_for_ping(B, Duration::from_secs(10));
    assert!(
        back.is_some(),
        "no ping within 10 s of the broker's return\n{}",
        lab.logs()
    );
    assert!(lab.proc(a).is_running() && lab.proc(b).is_running());
    assert!(counter(lab.proc(a), "connects") >= 2);
}

#[test]
fn the_tunnel_comes_up_when_the_broker_starts_after_the_nodes() {
    if !ready("broker_late") {
        return;
    }
    let mut lab = Lab::new(2);
    let a = lab.start_node(1, A, &[]);
    lab.start_node(2, B, &[]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        lab.proc(a).is_running(),
        "node exited without a broker\n{}",
        lab.logs()
    );
    lab.start_mosquitto();
    let up = lab.host(1).ns.wait_for_ping(B, Duration::from_secs(10));
    assert!(
        up.is_some(),
        "no ping within 10 s of the broker's start\n{}",
        lab.logs()
    );
}

/// Sends one UDP datagram from host `n` to `dst` port 9999 out of mq0.
fn send_udp(lab: &Lab, n: usize, dst: &str) {
    let script = format!(
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'mq0'); \
         [s.sendto(b'hello broadcast', ('{dst}', 9999)) for _ in range(3)]"
    );
    let out = lab
        .host(n)
        .ns
        .command("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn broadcasts_reach_the_other_node() {
    if !ready("broadcast") {
        return;
    }
    let lab = two_nodes(&["-k", "pw"], &["-k", "pw"]);
    for dst in ["255.255.255.255", "10.0.1.255"] {
        let listener = lab
            .host(2)
            .ns
            .command("python3")
            .args([
                "-c",
                "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
                 s.bind(('0.0.0.0', 9999)); s.settimeout(5); print(s.recv(100).decode())",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        send_udp(&lab, 1, dst);
        let out = listener.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "hello broadcast",
            "{dst}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            lab.logs()
        );
    }
}

#[test]
fn a_reading_topic_delivers_packets_for_a_third_address() {
    if !ready("reading_topic") {
        return;
    }
    let lab = two_nodes(&[], &["-t", "10.0.1.77"]);
    // B answers for 10.0.1.77 only if its packets reach it through -t.
    lab.host(2)
        .ns
        .ip(&["addr", "add", "10.0.1.77/32", "dev", "mq0"]);
    assert!(lab.host(1).ns.ping("10.0.1.77", 3, 56), "{}", lab.logs());
    // Without -t nothing arrives for an address nobody reads.
    lab.host(2)
        .ns
        .ip(&["addr", "add", "10.0.1.78/32", "dev", "mq0"]);
    assert!(!lab.host(1).ns.ping("10.0.1.78", 2, 56));
}

#[test]
fn the_in_process_broker_carries_the_tunnel_without_mosquitto() {
    if !can_use_namespaces("in_process_broker") {
        return;
    }
    let mut lab = Lab::new(2);
    lab.start_hub("pw");
    lab.start_node(1, A, &["-k", "pw"]);
    lab.start_node(2, B, &["-k", "pw"]);
    assert!(
        lab.host(1).ns.wait_for_ping(B, UP).is_some(),
        "{}",
        lab.logs()
    );
    assert!(lab.host(2).ns.ping(A, 3, 56), "{}", lab.logs());
    assert!(
        lab.host(1).ns.ping("10.0.1.254", 3, 56),
        "hub node\n{}",
        lab.logs()
    );
}

#[test]
fn the_in_process_broker_with_logins_serves_only_nodes_that_log_in() {
    if !can_use_namespaces("in_process_broker_logins") {
        return;
    }
    let mut lab = Lab::new(2);
    let logins = lab.path("logins");
    std::fs::write(&logins, "site:right-password\n").unwrap();
    lab.start_hub_with("pw", &["--broker-auth-file", logins.to_str().unwrap()]);
    lab.start_node(1, A, &["-k", "pw", "-u", "site", "-p", "right-password"]);
    lab.start_node(2, B, &["-k", "pw", "-u", "site", "-p", "wrong-password"]);
    assert!(
        lab.host(1).ns.wait_for_ping("10.0.1.254", UP).is_some(),
        "a node with the login reaches the hub (which logs in as the first user)\n{}",
        lab.logs()
    );
    assert!(
        !lab.host(2).ns.ping(A, 3, 56),
        "a node with a wrong password got through\n{}",
        lab.logs()
    );
}

#[test]
fn ipv6_ping_and_tcp_cross_the_tunnel() {
    if !ready("ipv6") {
        return;
    }
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    lab.start_node(1, A, &["-k", "pw", "-6", "fd00:1::1", "-x", "64"]);
    lab.start_node(2, B, &["-k", "pw", "-6", "fd00:1::2", "-x", "64"]);
    // Duplicate address detection keeps a new address tentative for a moment.
    let up = lab.host(1).ns.wait_for_ping("fd00:1::2", UP);
    assert!(up.is_some(), "no IPv6 ping\n{}", lab.logs());
    assert!(
        lab.host(2).ns.ping("fd00:1::1", 3, 1400),
        "B -> A 1400 B\n{}",
        lab.logs()
    );
    assert_tcp_arrives_intact(&lab, "fd00:1::2", 2 * 1024 * 1024);
}
