//! Past the C tool, end to end in network namespaces around a real
//! mosquitto: replayed payloads are not delivered (wire v1 and v2), wire v2
//! nodes talk to each other and, through `--v1-peer`, to v1 nodes, and
//! `--route` reaches a host behind a gateway node.
//!
//! Needs root; skipped with a printed reason otherwise (never in CI).

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mqttvpn::mqtt::{Event, Options, QoS, Session};
use support::{
    BROKER_PORT, Lab, can_use_namespaces, connect_in, counter, counters, have_mosquitto,
};

const A: &str = "10.0.1.1";
const B: &str = "10.0.1.2";
const C: &str = "10.0.1.3";
const UP: Duration = Duration::from_secs(15);

fn ready(test: &str) -> bool {
    can_use_namespaces(test) && have_mosquitto(test)
}

/// A blocking MQTT client on the crate's sans-IO session, inside the
/// broker's namespace: what an attacker with access to the broker can do.
struct Spy {
    stream: TcpStream,
    session: Session,
    buf: Vec<u8>,
}

impl Spy {
    fn connect(lab: &Lab) -> Self {
        let stream = connect_in(
            &lab.broker_ns,
            format!("127.0.0.1:{BROKER_PORT}").parse().unwrap(),
        )
        .expect("connect to mosquitto");
        let mut options = Options::new("spy");
        options.max_incoming = 70_000;
        let mut spy = Self {
            stream,
            session: Session::new(options).unwrap(),
            buf: vec![0; 70_000],
        };
        spy.session.connect(0);
        spy.wait(|e| matches!(e, Event::Connected { .. }).then_some(()));
        spy
    }

    fn flush(&mut self) {
        let n = self.session.transmit().len();
        self.stream.write_all(self.session.transmit()).unwrap();
        self.session.consume(n, 0);
    }

    /// Reads until `take` returns something for an event (5 s at most).
    fn wait<T>(&mut self, mut take: impl FnMut(Event) -> Option<T>) -> T {
        self.try_wait(Duration::from_secs(5), &mut take)
            .expect("the broker answered within 5 s")
    }

    fn try_wait<T>(
        &mut self,
        timeout: Duration,
        take: &mut impl FnMut(Event) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            self.flush();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let n = match self.stream.read(&mut self.buf) {
                Ok(0) => panic!("the broker closed the spy's connection"),
                Ok(n) => n,
                Err(_) => return None,
            };
            let mut input = &self.buf[..n];
            let mut found = None;
            while !input.is_empty() {
                let used = self.session.handle_bytes(input, 0).unwrap();
                input = &input[used..];
                while let Some(event) = self.session.poll_event() {
                    if found.is_none() {
                        found = take(event);
                    }
                }
                if used == 0 {
                    let pending = self.session.transmit().to_vec();
                    self.stream.write_all(&pending).unwrap();
                    self.session.consume(pending.len(), 0);
                }
            }
            if found.is_some() {
                return found;
            }
        }
    }

    fn subscribe(&mut self, filter: &str) {
        let id = self.session.subscribe(&[filter], QoS::AtMostOnce).unwrap();
        self.wait(|e| {
            matches!(e, Event::Subscribed { packet_id } if packet_id == id).then_some(())
        });
    }

    /// Every payload published on the subscribed topics within `window`.
    fn capture(&mut self, window: Duration) -> Vec<(String, Vec<u8>)> {
        let mut seen = Vec::new();
        let deadline = Instant::now() + window;
        while Instant::now() < deadline {
            let _ = self.try_wait(
                deadline.saturating_duration_since(Instant::now()),
                &mut |e| {
                    if let Event::Publish { topic, payload } = e {
                        seen.push((topic.to_owned(), payload.to_vec()));
                    }
                    None::<()>
                },
            );
        }
        seen
    }

    fn publish(&mut self, topic: &str, payload: &[u8]) {
        self.session.publish(topic, payload).unwrap();
        self.flush();
    }
}

/// Captures what A sends B during a ping, publishes it again, and checks
/// that B delivers none of it a second time.
fn replays_are_dropped(node_args: &[&str]) {
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    lab.start_node(1, A, node_args);
    let b = lab.start_node(2, B, node_args);
    assert!(
        lab.host(1).ns.wait_for_ping(B, UP).is_some(),
        "tunnel did not come up\n{}",
        lab.logs()
    );
    let mut spy = Spy::connect(&lab);
    spy.subscribe("mqttip/10.0.1.2");
    let ping = std::thread::scope(|s| {
        let pinger = s.spawn(|| lab.host(1).ns.ping(B, 5, 56));
        let captured = spy.capture(Duration::from_millis(1500));
        (pinger.join().unwrap(), captured)
    });
    let (pinged, captured) = ping;
    assert!(pinged, "pings crossed\n{}", lab.logs());
    assert!(captured.len() >= 5, "captured {} payloads", captured.len());
    std::thread::sleep(Duration::from_millis(300));
    let delivered_before = counter(lab.proc(b), "rx_packets");
    let replayed_before = counter(lab.proc(b), "dropped_in_replayed");
    for (topic, payload) in &captured {
        spy.publish(topic, payload);
    }
    std::thread::sleep(Duration::from_millis(500));
    let delivered_after = counter(lab.proc(b), "rx_packets");
    let replayed_after = counter(lab.proc(b), "dropped_in_replayed");
    assert_eq!(
        delivered_after,
        delivered_before,
        "replayed payloads reached B's TUN device\n{}",
        lab.logs()
    );
    assert_eq!(
        replayed_after - replayed_before,
        captured.len() as u64,
        "each replay is dropped and counted"
    );
}

#[test]
fn a_replayed_v1_payload_is_not_delivered() {
    if !ready("a_replayed_v1_payload_is_not_delivered") {
        return;
    }
    replays_are_dropped(&["-k", "pw"]);
}

#[test]
fn a_replayed_v2_payload_is_not_delivered() {
    if !ready("a_replayed_v2_payload_is_not_delivered") {
        return;
    }
    replays_are_dropped(&["-k", "pw", "--wire", "v2"]);
}

#[test]
fn v2_nodes_reach_v1_nodes_listed_as_v1_peers_and_only_those() {
    if !ready("v2_nodes_reach_v1_nodes_listed_as_v1_peers_and_only_those") {
        return;
    }
    let mut lab = Lab::new(3);
    lab.start_mosquitto();
    // A speaks v2 and knows C only speaks v1; B speaks v2 and does not.
    lab.start_node(
        1,
        A,
        &["-k", "pw", "--wire", "v2", "--v1-peer", "10.0.1.3/32"],
    );
    let b = lab.start_node(2, B, &["-k", "pw", "--wire", "v2"]);
    let c = lab.start_node(3, C, &["-k", "pw"]);
    assert!(
        lab.host(1).ns.wait_for_ping(B, UP).is_some(),
        "v2 to v2\n{}",
        lab.logs()
    );
    assert!(
        lab.host(1).ns.ping(C, 3, 56),
        "v2 (as v1) to v1\n{}",
        lab.logs()
    );
    assert!(lab.host(3).ns.ping(A, 3, 56), "v1 to v2\n{}", lab.logs());
    assert!(
        !lab.host(2).ns.ping(C, 2, 56),
        "B sends v2, which C cannot read\n{}",
        lab.logs()
    );
    assert!(
        counter(lab.proc(c), "dropped_in_wrong_version") >= 2,
        "C recognised B's packets as wire v2 and counted them\n{}",
        lab.logs()
    );
    // B lists no v1 peer: it is v2-only and takes no v1 from C.
    assert!(
        !lab.host(3).ns.ping(B, 2, 56),
        "C's v1 reached a v2-only node\n{}",
        lab.logs()
    );
    assert!(
        counter(lab.proc(b), "dropped_in_wrong_version") >= 2,
        "B counted C's v1 packets\n{}",
        lab.logs()
    );
}

/// Starts v2 nodes A (host 1) and B (host 2, with `b_args` too), waits
/// until A sees B's status, sends 2 MB over TCP from A to B and returns
/// A's and B's counters after it arrived intact.
fn v2_transfer(b_args: &[&str]) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut lab = Lab::new(2);
    lab.start_mosquitto();
    let a = lab.start_node(1, A, &["-k", "pw", "--wire", "v2"]);
    let b = lab.start_node(2, B, &[&["-k", "pw", "--wire", "v2"], b_args].concat());
    assert!(
        lab.host(1).ns.wait_for_ping(B, UP).is_some(),
        "{}",
        lab.logs()
    );
    // B's retained status reaches A when A subscribes; give it a moment
    // beyond the first ping.
    std::thread::sleep(Duration::from_millis(500));
    let (sent, received) = lab
        .start_tcp_transfer(B, 2 << 20)
        .finish()
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.logs()));
    assert_eq!(sent, received, "the transfer arrived intact");
    // Counters reach the report within 100 ms of the last packet.
    std::thread::sleep(Duration::from_millis(500));
    (counters(lab.proc(a)), counters(lab.proc(b)))
}

#[test]
fn v2_nodes_that_read_batches_carry_a_transfer_in_fewer_messages_than_packets() {
    if !ready("v2_nodes_that_read_batches_carry_a_transfer_in_fewer_messages_than_packets") {
        return;
    }
    let (a, b) = v2_transfer(&[]);
    let (packets, messages) = (a["tx_packets"], a["tx_messages"]);
    assert!(
        packets > 1000 && messages * 2 < packets,
        "A sent {packets} packets in {messages} messages"
    );
    assert!(
        b["rx_packets"] > 1000 && b["rx_messages"] * 2 < b["rx_packets"],
        "B: {b:?}"
    );
    assert_eq!(b.get("dropped_in_wrong_version"), None, "B: {b:?}");
}

#[test]
fn a_v2_node_sends_one_packet_per_message_to_a_peer_that_does_not_read_batches() {
    if !ready("a_v2_node_sends_one_packet_per_message_to_a_peer_that_does_not_read_batches") {
        return;
    }
    let (a, b) = v2_transfer(&["--no-batch"]);
    assert!(a["tx_packets"] > 1000, "A: {a:?}");
    assert_eq!(a["tx_messages"], a["tx_packets"], "A: {a:?}");
    assert!(b["rx_packets"] > 1000, "B: {b:?}");
    assert_eq!(b["rx_messages"], b["rx_packets"], "B: {b:?}");
}

#[test]
fn a_route_reaches_a_host_behind_a_gateway_node() {
    if !ready("a_route_reaches_a_host_behind_a_gateway_node") {
        return;
    }
    let mut lab = Lab::new(3);
    lab.start_mosquitto();
    // Host 3 is not a node: it sits behind B on a LAN 198.19.7.0/24.
    let lan = support::Netns::new("lan", &format!("{}-route", std::process::id()));
    lab.host(2).ns.ip(&[
        "link", "add", "lan0", "type", "veth", "peer", "name", "eth1", "netns", &lan.name,
    ]);
    lab.host(2)
        .ns
        .ip(&["addr", "add", "198.19.7.1/24", "dev", "lan0"]);
    lab.host(2).ns.ip(&["link", "set", "lan0", "up"]);
    lan.ip(&["addr", "add", "198.19.7.2/24", "dev", "eth1"]);
    lan.ip(&["link", "set", "eth1", "up"]);
    lan.ip(&["route", "add", "10.0.1.0/24", "via", "198.19.7.1"]);
    let mut forward = lab.host(2).ns.command("sysctl");
    support::run(forward.args(["-qw", "net.ipv4.ip_forward=1"]));
    lab.start_node(1, A, &["-k", "pw", "--route", "198.19.7.0/24=10.0.1.2"]);
    lab.start_node(2, B, &["-k", "pw", "--forward", "198.19.7.0/24"]);
    assert!(
        lab.host(1).ns.wait_for_ping(B, UP).is_some(),
        "tunnel did not come up\n{}",
        lab.logs()
    );
    assert!(
        lab.host(1).ns.ping("198.19.7.2", 3, 56),
        "A reaches the LAN host through gateway B\n{}",
        lab.logs()
    );
    assert!(
        lan.ping(A, 3, 1200),
        "the LAN host reaches A back\n{}",
        lab.logs()
    );
}
