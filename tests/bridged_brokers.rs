//! Scaling out over brokers: two mosquittos joined by a bridge on the data
//! prefix (`mqttip/#`) and the status prefix (`mqttip-status/#`), node A on
//! the first and node B on the second. Encrypted pings and a TCP transfer
//! cross the bridge, every packet once, and each node sees the other online
//! through the bridged status topics.
//!
//! Needs root and mosquitto; skipped with a printed reason otherwise (never
//! in CI).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Lab, can_use_namespaces, counter, have_mosquitto};

const A: &str = "10.0.1.1";
const B: &str = "10.0.1.2";
const SECOND_PORT: u16 = 1884;
const MQTT_VPN: &str = env!("CARGO_BIN_EXE_mqtt_vpn");

/// The second broker's configuration: its own listener and a bridge to the
/// first broker carrying both prefixes both ways. Mosquitto marks the
/// bridge connection so that a message never goes back the way it came
/// (`try_private`, on by default), which is what keeps packets single.
fn bridge_config(first_port: u16) -> String {
    format!(
        "allow_anonymous true\npersistence false\nlistener {SECOND_PORT} 0.0.0.0\n\
         connection to-first\naddress 127.0.0.1:{first_port}\n\
         topic mqttip/# both 0\ntopic mqttip-status/# both 0\n\
         cleansession true\nbridge_protocol_version mqttv311\n"
    )
}

/// What `mqtt_vpn status --control <socket>` prints, once `check` holds
/// for it (up to 15 s).
fn wait_for_status(lab: &Lab, socket: &Path, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = Command::new(MQTT_VPN)
            .args(["status", "--control"])
            .arg(socket)
            .output()
            .expect("run mqtt_vpn status");
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && check(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "not seen in 15 s; last report:\n{report}\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn encrypted_traffic_and_presence_cross_a_bridge_between_two_brokers_once() {
    if !(can_use_namespaces("bridged_brokers") && have_mosquitto("bridged_brokers")) {
        return;
    }
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    let conf = lab.path("mosquitto-bridge.conf");
    std::fs::write(&conf, bridge_config(support::BROKER_PORT)).unwrap();
    let mut second = lab.broker_ns.command("/usr/sbin/mosquitto");
    second.arg("-c").arg(&conf);
    lab.start(second, "mosquitto-bridge");

    let socket_a = lab.path("a.sock");
    let control_a = socket_a.to_str().unwrap().to_owned();
    lab.start_node(1, A, &["-k", "pw", "--control", &control_a]);
    let second_url = format!("tcp://198.18.2.1:{SECOND_PORT}");
    let b = lab.start_node_via(2, B, &second_url, &["-k", "pw"]);
    assert!(
        lab.host(1)
            .ns
            .wait_for_ping(B, Duration::from_secs(20))
            .is_some(),
        "no ping crossed the bridge\n{}",
        lab.logs()
    );

    // B's retained status reached A's broker over the bridge.
    let report = wait_for_status(&lab, &socket_a, |r| {
        r.lines()
            .any(|l| l.trim_start().starts_with(&format!("{B} ")) && l.contains(" online "))
    });
    assert!(report.contains("peers: 1 online"), "{report}");

    let pings = lab
        .host(1)
        .ns
        .command("ping")
        .args(["-n", "-c", "50", "-i", "0.05", "-W", "2", B])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let transfer = lab.start_tcp_transfer(B, 4 << 20);
    let pings = pings.wait_with_output().unwrap();
    let sums = transfer.finish();
    let ping_text = String::from_utf8_lossy(&pings.stdout);
    assert!(
        ping_text.contains(" 0% packet loss"),
        "pings were lost across the bridge:\n{ping_text}\n{}",
        lab.logs()
    );
    assert!(
        !ping_text.contains("DUP!"),
        "a ping came back twice (a bridge loop):\n{ping_text}"
    );
    let (sent, received) =
        sums.unwrap_or_else(|why| panic!("the transfer failed: {why}\n{}", lab.logs()));
    assert_eq!(sent, received, "the data arrived changed");
    assert_eq!(
        counter(lab.proc(b), "dropped_in_replayed"),
        0,
        "B received copies of packets (a bridge loop)\n{}",
        lab.logs()
    );
}
