//! The Linux node over TLS and WebSocket brokers: a mosquitto with a CA made
//! in the test (openssl), verified by default, refused with the wrong CA,
//! skipped only with `--insecure`, and client-certificate authentication.
//!
//! Needs root; skipped with a printed reason otherwise (never in CI).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{Lab, can_use_namespaces, have_mosquitto};

const A: &str = "10.0.1.1";
const B: &str = "10.0.1.2";
const TLS_PORT: u16 = 8883;
const MUTUAL_TLS_PORT: u16 = 8884;
const WS_PORT: u16 = 9001;

fn ready(test: &str) -> bool {
    can_use_namespaces(test) && have_mosquitto(test)
}

/// A CA, a second unrelated CA, a broker certificate for the broker's veth
/// addresses and a client certificate, all made with openssl in `dir`.
fn make_pki(dir: &Path) {
    let script = r#"
set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key; key other.key; key server.key; key client.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=mqtt-vpn-test-ca
openssl req -x509 -new -key other.key -out other.pem -days 2 -subj /CN=unrelated-ca
openssl req -new -key server.key -out server.csr -subj /CN=broker
printf 'subjectAltName=IP:198.18.1.1,IP:198.18.2.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext 2>/dev/null
openssl req -new -key client.key -out client.csr -subj /CN=node
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 -extfile client.ext 2>/dev/null
# mosquitto drops root for its own user before it reads the key.
chmod -R a+rX .
"#;
    support::run(Command::new("sh").arg("-c").arg(script).current_dir(dir));
}

/// Mosquitto with a TLS listener, a TLS listener that requires a client
/// certificate, and a WebSocket listener.
fn lab_with_tls() -> Lab {
    let mut lab = Lab::new(2);
    let dir = lab.path("pki");
    std::fs::create_dir_all(&dir).unwrap();
    make_pki(&dir);
    let d = dir.display();
    let tls = |port: u16, require: bool| {
        format!(
            "listener {port} 0.0.0.0\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nrequire_certificate {require}\n"
        )
    };
    let config = format!(
        "{}{}listener {WS_PORT} 0.0.0.0\nprotocol websockets\n",
        tls(TLS_PORT, false),
        tls(MUTUAL_TLS_PORT, true)
    );
    lab.start_mosquitto_with(&config);
    lab
}

fn url(scheme: &str, n: usize, port: u16) -> String {
    format!("{scheme}://198.18.{n}.1:{port}")
}

fn pki(lab: &Lab, file: &str) -> String {
    lab.path("pki").join(file).display().to_string()
}

#[test]
fn nodes_verify_the_broker_with_their_ca_file_and_tunnel_over_tls() {
    if !ready("tls_ca_file") {
        return;
    }
    let mut lab = lab_with_tls();
    let ca = pki(&lab, "ca.pem");
    for (n, address) in [(1, A), (2, B)] {
        let broker = url("ssl", n, TLS_PORT);
        lab.start_node_via(n, address, &broker, &["-k", "pw", "--ca-file", &ca]);
    }
    let up = lab.host(1).ns.wait_for_ping(B, Duration::from_secs(15));
    assert!(up.is_some(), "no ping over TLS\n{}", lab.logs());
}

#[test]
fn a_node_with_the_wrong_ca_refuses_the_broker_with_a_clear_error() {
    if !ready("tls_wrong_ca") {
        return;
    }
    let mut lab = lab_with_tls();
    let other = pki(&lab, "other.pem");
    let node = lab.start_node_via(1, A, &url("ssl", 1, TLS_PORT), &["--ca-file", &other]);
    std::thread::sleep(Duration::from_secs(3));
    let log = lab.proc(node).log_text();
    assert!(
        log.contains("UnknownIssuer"),
        "no certificate error logged:\n{log}"
    );
    assert!(
        !log.contains("connected to"),
        "connected despite the wrong CA:\n{log}"
    );
    assert!(
        lab.proc(node).is_running(),
        "the node must keep retrying, not exit"
    );
}

#[test]
fn insecure_is_the_only_way_past_an_unknown_certificate() {
    if !ready("tls_insecure") {
        return;
    }
    let mut lab = lab_with_tls();
    // No --ca-file: the system roots do not know the test CA.
    let checked = lab.start_node_via(1, A, &url("ssl", 1, TLS_PORT), &[]);
    lab.start_node_via(2, B, &url("ssl", 2, TLS_PORT), &["--insecure"]);
    let node2_connected = || lab.logs().matches("connected to").count() >= 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !node2_connected() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        node2_connected(),
        "--insecure did not connect\n{}",
        lab.logs()
    );
    let log = lab.proc(checked).log_text();
    assert!(
        !log.contains("connected to"),
        "verified node connected to an unknown CA:\n{log}"
    );
}

#[test]
fn client_certificate_authentication_works_and_is_required() {
    if !ready("tls_client_cert") {
        return;
    }
    let mut lab = lab_with_tls();
    let (ca, cert, key) = (
        pki(&lab, "ca.pem"),
        pki(&lab, "client.pem"),
        pki(&lab, "client.key"),
    );
    let mtls = [
        "--ca-file",
        ca.as_str(),
        "--client-cert",
        cert.as_str(),
        "--client-key",
        key.as_str(),
    ];
    lab.start_node_via(1, A, &url("ssl", 1, MUTUAL_TLS_PORT), &mtls);
    lab.start_node_via(2, B, &url("ssl", 2, MUTUAL_TLS_PORT), &mtls);
    let up = lab.host(1).ns.wait_for_ping(B, Duration::from_secs(15));
    assert!(
        up.is_some(),
        "no ping with client certificates\n{}",
        lab.logs()
    );

    let mut lab = lab_with_tls();
    let ca = pki(&lab, "ca.pem");
    let bare = lab.start_node_via(1, A, &url("ssl", 1, MUTUAL_TLS_PORT), &["--ca-file", &ca]);
    std::thread::sleep(Duration::from_secs(3));
    let log = lab.proc(bare).log_text();
    assert!(
        !log.contains("connected to"),
        "connected without a client certificate:\n{log}"
    );
}

#[test]
fn a_websocket_broker_carries_the_tunnel() {
    if !ready("websocket") {
        return;
    }
    let mut lab = lab_with_tls();
    for (n, address) in [(1, A), (2, B)] {
        let broker = url("ws", n, WS_PORT);
        lab.start_node_via(n, address, &broker, &["-k", "pw"]);
    }
    let up = lab.host(1).ns.wait_for_ping(B, Duration::from_secs(15));
    assert!(up.is_some(), "no ping over WebSocket\n{}", lab.logs());
}

#[test]
fn the_in_process_broker_serves_tls_and_nodes_verify_it() {
    if !can_use_namespaces("served_broker_tls") {
        return;
    }
    let mut lab = Lab::new(2);
    let dir = lab.path("pki");
    std::fs::create_dir_all(&dir).unwrap();
    make_pki(&dir);
    let (cert, key) = (pki(&lab, "server.pem"), pki(&lab, "server.key"));
    lab.start_hub_with(
        "pw",
        &[
            "--broker-open",
            "--broker-cert",
            &cert,
            "--broker-key",
            &key,
        ],
    );
    let ca = pki(&lab, "ca.pem");
    let port = support::BROKER_PORT;
    lab.start_node_via(1, A, &url("ssl", 1, port), &["-k", "pw", "--ca-file", &ca]);
    lab.start_node_via(2, B, &url("ssl", 2, port), &["-k", "pw", "--ca-file", &ca]);
    assert!(
        lab.host(1)
            .ns
            .wait_for_ping(B, Duration::from_secs(15))
            .is_some(),
        "no ping through the TLS hub\n{}",
        lab.logs()
    );
    // A node speaking plain MQTT to the TLS port gets nowhere.
    let mut plain = lab.node_in(&lab.host(1).ns);
    plain.args(["-i", "mq1", "-a", "10.0.1.3", "-k", "pw", "-b"]);
    plain.arg(url("tcp", 1, port));
    let plain = lab.start(plain, "plain-node");
    std::thread::sleep(Duration::from_secs(3));
    let log = lab.proc(plain).log_text();
    assert!(
        !log.contains("connected to"),
        "a plain client got a session from the TLS broker:\n{log}"
    );
}
