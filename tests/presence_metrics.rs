//! Presence, `mqtt_vpn status` and Prometheus metrics, end to end: nodes in
//! network namespaces around a real mosquitto announce themselves with
//! retained status messages and a Last Will, and report over their control
//! socket and HTTP.
//!
//! Needs root; skipped with a printed reason otherwise (never in CI).

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Lab, MQTT_VPN, can_use_namespaces, connect_in, have_mosquitto};

const A: &str = "10.0.1.1";
const B: &str = "10.0.1.2";

fn ready(test: &str) -> bool {
    can_use_namespaces(test) && have_mosquitto(test)
}

/// What `mqtt_vpn status --control <socket>` prints, or its error.
fn status(socket: &Path) -> Result<String, String> {
    let out = Command::new(MQTT_VPN)
        .args(["status", "--control"])
        .arg(socket)
        .output()
        .expect("run mqtt_vpn status");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The line of `status` output about peer `address`, if any.
fn peer_line(report: &str, address: &str) -> Option<String> {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{address} ")))
        .map(str::to_owned)
}

/// Waits until `check` holds for the status report of the node at
/// `socket` (which may not be listening yet).
fn wait_for_status(lab: &Lab, socket: &Path, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = status(socket);
        if let Ok(report) = &report {
            if check(report) {
                return report.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen in 10 s; last report:\n{report:?}\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn nodes_see_each_other_online_then_offline_after_a_clean_stop_or_a_crash() {
    if !ready("nodes_see_each_other_online_then_offline_after_a_clean_stop_or_a_crash") {
        return;
    }
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    let socket_a = lab.path("a.sock");
    let socket_b = lab.path("b.sock");
    let a_control = socket_a.to_str().unwrap().to_owned();
    let b_control = socket_b.to_str().unwrap().to_owned();
    lab.start_node(1, A, &["-k", "pw", "--control", &a_control]);
    let b = lab.start_node(2, B, &["-k", "pw", "--control", &b_control]);
    assert!(
        lab.host(1)
            .ns
            .wait_for_ping(B, Duration::from_secs(15))
            .is_some(),
        "tunnel did not come up\n{}",
        lab.logs()
    );

    let report = wait_for_status(&lab, &socket_a, "B online in A's report", |r| {
        peer_line(r, B).is_some_and(|l| l.contains(" online "))
    });
    assert!(report.contains("tcp://198.18.1.1:1883: up"), "{report}");
    assert!(report.contains("peers: 1 online, 0 offline"), "{report}");
    let tx: u64 = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("tx_packets "))
        .and_then(|v| v.parse().ok())
        .expect("a tx_packets line");
    assert!(tx > 0, "the pings were counted: {report}");

    // A clean stop publishes "offline" before disconnecting.
    assert_eq!(lab.proc(b).stop(), Some(0), "B stops cleanly on SIGTERM");
    wait_for_status(&lab, &socket_a, "B offline after SIGTERM", |r| {
        peer_line(r, B).is_some_and(|l| l.contains(" offline "))
    });

    // A crash leaves it to the broker, which publishes B's Last Will.
    let b = lab.start_node(2, B, &["-k", "pw", "--control", &b_control]);
    wait_for_status(&lab, &socket_a, "B online again", |r| {
        peer_line(r, B).is_some_and(|l| l.contains(" online "))
    });
    lab.proc(b).kill();
    wait_for_status(&lab, &socket_a, "B offline after SIGKILL (its will)", |r| {
        peer_line(r, B).is_some_and(|l| l.contains(" offline "))
    });
}

#[test]
fn a_second_node_with_an_address_already_online_warns_loudly() {
    if !ready("a_second_node_with_an_address_already_online_warns_loudly") {
        return;
    }
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    let socket_a = lab.path("a.sock");
    let a_control = socket_a.to_str().unwrap().to_owned();
    lab.start_node(1, A, &["--control", &a_control]);
    wait_for_status(&lab, &socket_a, "A's own session", |r| r.contains(": up"));
    let intruder = lab.start_node(2, A, &["--control", lab.path("b.sock").to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab.proc(intruder).log_text().contains("ADDRESS CONFLICT") {
        assert!(
            Instant::now() < deadline,
            "no conflict warning in 10 s\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        lab.proc(intruder)
            .log_text()
            .contains("10.0.1.1 is already held"),
        "the warning names the address\n{}",
        lab.logs()
    );
}

#[test]
fn metrics_are_served_in_the_prometheus_text_format() {
    if !ready("metrics_are_served_in_the_prometheus_text_format") {
        return;
    }
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    lab.start_node(1, A, &["-k", "pw", "--metrics", "127.0.0.1:9184"]);
    lab.start_node(2, B, &["-k", "pw"]);
    assert!(
        lab.host(1)
            .ns
            .wait_for_ping(B, Duration::from_secs(15))
            .is_some(),
        "tunnel did not come up\n{}",
        lab.logs()
    );
    let scrape = || {
        let mut stream = connect_in(&lab.host(1).ns, "127.0.0.1:9184".parse().unwrap())
            .expect("connect to the metrics port inside host 1");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    // Counters reach the report within 100 ms of the last packet.
    std::thread::sleep(Duration::from_millis(300));
    let response = scrape();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response.contains("# TYPE mqtt_vpn_tx_packets_total counter"),
        "{response}"
    );
    let value = |prefix: &str| -> f64 {
        response
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no sample {prefix} in\n{response}"))
    };
    assert!(value("mqtt_vpn_tx_packets_total{interface=\"mq0\"}") >= 1.0);
    assert!(value("mqtt_vpn_rx_packets_total{interface=\"mq0\"}") >= 1.0);
    // Malformed status messages are counted, not silently skipped.
    assert_eq!(
        value("mqtt_vpn_status_messages_ignored_total{interface=\"mq0\"}"),
        0.0
    );
    assert_eq!(
        value("mqtt_vpn_broker_up{interface=\"mq0\",broker=\"tcp://198.18.1.1:1883\"}"),
        1.0
    );
    assert_eq!(
        value(
            "mqtt_vpn_dropped_packets_total{interface=\"mq0\",direction=\"in\",reason=\"decrypt_failed\"}"
        ),
        0.0
    );
    assert_eq!(
        value("mqtt_vpn_peers{interface=\"mq0\",state=\"online\"}"),
        1.0,
        "B is online"
    );
}
