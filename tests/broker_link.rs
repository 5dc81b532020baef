//! The core's broker link, driven with simulated time and no sockets: two
//! nodes, each a tunnel and a link, joined by a small in-test broker that
//! decodes what the links send and switches PUBLISHes by topic. Covers what
//! both drivers rely on: connecting, the keepalive timeout, the one backoff
//! policy, resubscribing after a reconnect, SUBSCRIBEs split when they do
//! not fit, a refused CONNECT and a refused subscription.

use std::net::Ipv4Addr;

use mqttvpn::link::{
    Buffers, CONNECT_TIMEOUT_MS, Link, LinkError, LinkEvent, MAX_BACKOFF_MS, MIN_BACKOFF_MS, Phase,
    SendError,
};
use mqttvpn::mqtt::codec::decode_remaining_length;
use mqttvpn::mqtt::{ConnectRefused, ConnectionError, Options};
use mqttvpn::tunnel::{Config, Tunnel};
use mqttvpn::wire::NONCE_LEN;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const PASSWORD: &[u8] = b"correct horse";

/// What the simulated broker does with one client's packets.
#[derive(Default)]
struct Client {
    /// Bytes received and not yet a whole packet.
    inbox: Vec<u8>,
    /// Bytes for the client.
    outbox: Vec<u8>,
    filters: Vec<String>,
    /// Each SUBSCRIBE's filters, in order.
    subscribes: Vec<Vec<String>>,
    unsubscribes: Vec<Vec<String>>,
    connects: usize,
    pings: usize,
    /// CONNACK return code to answer with.
    connack_code: u8,
    /// Filters to refuse in SUBACKs.
    refuse: Vec<String>,
    /// Whether PINGREQs are answered.
    silent: bool,
}

/// A broker for any number of clients, switching QoS 0 PUBLISHes by exact
/// topic (the tunnel subscribes exact topics).
#[derive(Default)]
struct Broker {
    clients: Vec<Client>,
}

impl Broker {
    fn add(&mut self) -> usize {
        self.clients.push(Client::default());
        self.clients.len() - 1
    }

    /// Takes bytes a client wrote and answers every whole packet.
    fn receive(&mut self, from: usize, bytes: &[u8]) {
        self.clients[from].inbox.extend_from_slice(bytes);
        loop {
            let inbox = &self.clients[from].inbox;
            if inbox.len() < 2 {
                return;
            }
            let Some((body_len, len_len)) = decode_remaining_length(&inbox[1..]).unwrap() else {
                return;
            };
            let total = 1 + len_len + body_len;
            if inbox.len() < total {
                return;
            }
            let first = inbox[0];
            let body = inbox[1 + len_len..total].to_vec();
            self.clients[from].inbox.drain(..total);
            self.packet(from, first, &body);
        }
    }

    fn packet(&mut self, from: usize, first: u8, body: &[u8]) {
        let client = &mut self.clients[from];
        match first >> 4 {
            1 => {
                client.connects += 1;
                client
                    .outbox
                    .extend_from_slice(&[0x20, 2, 0, client.connack_code]);
            }
            3 => {
                let (topic, rest) = string(body);
                let payload = rest.to_vec();
                for to in 0..self.clients.len() {
                    if self.clients[to].filters.contains(&topic) {
                        let message = publish(&topic, &payload);
                        self.clients[to].outbox.extend_from_slice(&message);
                    }
                }
            }
            8 => {
                let id = [body[0], body[1]];
                let mut rest = &body[2..];
                let mut codes = Vec::new();
                let mut filters = Vec::new();
                while !rest.is_empty() {
                    let (filter, after) = string(rest);
                    rest = &after[1..]; // requested QoS
                    let refused = client.refuse.contains(&filter);
                    codes.push(if refused { 0x80 } else { 0 });
                    if !refused && !client.filters.contains(&filter) {
                        client.filters.push(filter.clone());
                    }
                    filters.push(filter);
                }
                client.subscribes.push(filters);
                client
                    .outbox
                    .extend_from_slice(&[0x90, 2 + codes.len() as u8]);
                client.outbox.extend_from_slice(&id);
                client.outbox.extend_from_slice(&codes);
            }
            10 => {
                let id = [body[0], body[1]];
                let mut rest = &body[2..];
                let mut filters = Vec::new();
                while !rest.is_empty() {
                    let (filter, after) = string(rest);
                    rest = after;
                    client.filters.retain(|f| *f != filter);
                    filters.push(filter);
                }
                client.unsubscribes.push(filters);
                client.outbox.extend_from_slice(&[0xb0, 2, id[0], id[1]]);
            }
            12 => {
                client.pings += 1;
                if !client.silent {
                    client.outbox.extend_from_slice(&[0xd0, 0]);
                }
            }
            14 => client.filters.clear(),
            other => panic!("the broker got a packet of type {other}"),
        }
    }

    /// The connection of `client` closed: its subscriptions go.
    fn drop_connection(&mut self, client: usize) {
        let c = &mut self.clients[client];
        c.filters.clear();
        c.inbox.clear();
        c.outbox.clear();
    }
}

fn string(bytes: &[u8]) -> (String, &[u8]) {
    let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    let text = String::from_utf8(bytes[2..2 + len].to_vec()).unwrap();
    (text, &bytes[2 + len..])
}

fn publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    let body = 2 + topic.len() + payload.len();
    let mut out = vec![0x30];
    let mut len = body;
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// One node: a tunnel, its link, and what reached its IP stack.
struct Node {
    tunnel: Tunnel,
    link: Link,
    client: usize,
    /// Whether the simulated driver holds an open connection.
    open: bool,
    /// Events the link reported, in order.
    events: Vec<LinkEvent>,
    delivered: Vec<Vec<u8>>,
    /// What the next connection attempt does.
    connect_works: bool,
}

impl Node {
    fn new(broker: &mut Broker, address: Ipv4Addr, keepalive: u16) -> Self {
        Self::with_buffers(broker, address, keepalive, Buffers::for_packets(1500, 40))
    }

    fn with_buffers(broker: &mut Broker, address: Ipv4Addr, keepalive: u16, b: Buffers) -> Self {
        let tunnel = Tunnel::new(Config::new(address).with_password(PASSWORD)).unwrap();
        let options = Options::new(&format!("node-{address}")).with_keepalive(keepalive);
        let mut link = Link::new(options, b).unwrap();
        link.set_filters(tunnel.subscriptions().iter().map(|t| t.as_str()));
        Self {
            tunnel,
            link,
            client: broker.add(),
            open: false,
            events: Vec::new(),
            delivered: Vec::new(),
            connect_works: true,
        }
    }

    /// One pass of a driver: timers, events, bytes both ways, until nothing
    /// moves.
    fn drive(&mut self, broker: &mut Broker, now: u64) {
        if self.link.poll_timeout().is_some_and(|due| now >= due) {
            self.link.handle_timeout(now);
        }
        loop {
            let mut moved = false;
            while let Some(event) = self.link.poll_event() {
                moved = true;
                self.events.push(event);
                match event {
                    LinkEvent::Connect if self.connect_works => {
                        self.open = true;
                        self.link.handle_connected(now).unwrap();
                    }
                    LinkEvent::Connect => {
                        self.link
                            .handle_closed(now, LinkError::ConnectFailed)
                            .unwrap();
                    }
                    LinkEvent::Down { close, .. } => {
                        assert!(!close || self.open, "asked to close what is not open");
                        self.open = false;
                        broker.drop_connection(self.client);
                    }
                    LinkEvent::Connected | LinkEvent::SubscribeRefused { .. } => {}
                }
            }
            let pending = self.link.transmit().to_vec();
            if !pending.is_empty() {
                moved = true;
                self.link.consume(pending.len(), now);
                broker.receive(self.client, &pending);
            }
            let inbound = std::mem::take(&mut broker.clients[self.client].outbox);
            let mut input = &inbound[..];
            while !input.is_empty() {
                moved = true;
                let mut out = vec![0u8; 2000];
                let fed = self
                    .link
                    .handle_bytes(input, now, &mut self.tunnel, &mut out, |_, _| false);
                assert!(!fed.stalled, "the test driver always drains");
                if let Some(len) = fed.packet {
                    self.delivered.push(out[..len].to_vec());
                }
                input = &input[fed.used..];
            }
            if !moved {
                return;
            }
        }
    }

    fn send(&mut self, packet: &[u8], nonce: u8) -> Result<(), SendError> {
        let nonce = [nonce; NONCE_LEN];
        self.link
            .send_packet(&mut self.tunnel, packet, Ipv4Addr::UNSPECIFIED, &nonce)
    }

    fn downs(&self) -> Vec<(LinkError, u64)> {
        self.events
            .iter()
            .filter_map(|e| match *e {
                LinkEvent::Down {
                    error, retry_in_ms, ..
                } => Some((error, retry_in_ms)),
                _ => None,
            })
            .collect()
    }

    fn count(&self, wanted: LinkEvent) -> usize {
        self.events.iter().filter(|e| **e == wanted).count()
    }
}

fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
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

fn pair(keepalive: u16) -> (Broker, Node, Node) {
    let mut broker = Broker::default();
    let mut a = Node::new(&mut broker, A, keepalive);
    let mut b = Node::new(&mut broker, B, keepalive);
    a.drive(&mut broker, 0);
    b.drive(&mut broker, 0);
    (broker, a, b)
}

#[test]
fn two_links_connect_subscribe_and_carry_a_sealed_packet_each_way() {
    let (mut broker, mut a, mut b) = pair(60);
    assert!(a.link.is_connected() && b.link.is_connected());
    assert_eq!(a.count(LinkEvent::Connected), 1);
    assert_eq!(
        broker.clients[b.client].filters,
        ["mqttip/10.0.1.2", "mqttip/255.255.255.255"]
    );
    let ping = ipv4_packet(A, B, 84);
    a.send(&ping, 1).unwrap();
    a.drive(&mut broker, 10);
    b.drive(&mut broker, 10);
    assert_eq!(b.delivered, [ping]);
    let pong = ipv4_packet(B, A, 84);
    b.send(&pong, 2).unwrap();
    b.drive(&mut broker, 20);
    a.drive(&mut broker, 20);
    assert_eq!(a.delivered, [pong]);
    assert_eq!(b.tunnel.counters().rx_packets, 1);
}

#[test]
fn nothing_is_sent_before_the_broker_accepted_the_session() {
    let mut broker = Broker::default();
    let mut a = Node::new(&mut broker, A, 60);
    assert_eq!(
        a.send(&ipv4_packet(A, B, 60), 1),
        Err(SendError::NotConnected)
    );
    a.drive(&mut broker, 0);
    assert_eq!(a.send(&ipv4_packet(A, B, 60), 1), Ok(()));
}

#[test]
fn an_unanswered_keepalive_ends_the_link_and_it_comes_back_after_the_backoff() {
    let (mut broker, mut a, _b) = pair(20);
    broker.clients[a.client].silent = true;
    // Quiet for the keepalive: a PINGREQ, then half the keepalive to answer.
    a.drive(&mut broker, 20_000);
    assert_eq!(broker.clients[a.client].pings, 1);
    a.drive(&mut broker, 29_999);
    assert!(a.link.is_connected(), "still inside the answer timeout");
    a.drive(&mut broker, 30_000);
    assert_eq!(
        a.downs(),
        [(LinkError::Session(ConnectionError::Timeout), MIN_BACKOFF_MS)]
    );
    assert!(!a.link.is_connected() && !a.open);
    broker.clients[a.client].silent = false;
    a.drive(&mut broker, 30_000 + MIN_BACKOFF_MS - 1);
    assert_eq!(
        broker.clients[a.client].connects, 1,
        "no retry inside the backoff"
    );
    a.drive(&mut broker, 30_000 + MIN_BACKOFF_MS);
    assert_eq!(broker.clients[a.client].connects, 2);
    assert!(a.link.is_connected());
}

#[test]
fn failed_attempts_back_off_doubling_to_the_cap_and_a_session_resets_it() {
    let mut broker = Broker::default();
    let mut a = Node::new(&mut broker, A, 60);
    a.connect_works = false;
    let mut now = 0;
    for _ in 0..10 {
        a.drive(&mut broker, now);
        now = a.link.poll_timeout().unwrap();
    }
    let delays: Vec<u64> = a.downs().iter().map(|d| d.1).collect();
    assert_eq!(
        delays,
        [
            1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000, 30_000
        ]
    );
    assert_eq!(*delays.iter().max().unwrap(), MAX_BACKOFF_MS);
    a.connect_works = true;
    a.drive(&mut broker, now);
    assert!(a.link.is_connected());
    a.link.handle_closed(now + 5, LinkError::Closed).unwrap();
    a.drive(&mut broker, now + 5);
    assert_eq!(a.downs().last(), Some(&(LinkError::Closed, MIN_BACKOFF_MS)));
}

#[test]
fn a_connection_attempt_that_never_finishes_is_given_up() {
    let mut broker = Broker::default();
    let mut a = Node::new(&mut broker, A, 60);
    a.link.handle_timeout(0);
    assert_eq!(a.link.poll_event(), Some(LinkEvent::Connect));
    assert_eq!(a.link.poll_timeout(), Some(CONNECT_TIMEOUT_MS));
    a.link.handle_timeout(CONNECT_TIMEOUT_MS);
    assert_eq!(
        a.link.poll_event(),
        Some(LinkEvent::Down {
            error: LinkError::ConnectTimeout,
            close: true,
            retry_in_ms: MIN_BACKOFF_MS,
        })
    );
    assert!(a.link.handle_connected(CONNECT_TIMEOUT_MS + 1).is_err());
}

#[test]
fn after_a_reconnect_every_topic_is_subscribed_again() {
    let (mut broker, mut a, mut b) = pair(60);
    b.link.handle_closed(100, LinkError::Closed).unwrap();
    b.drive(&mut broker, 100);
    assert!(broker.clients[b.client].filters.is_empty());
    b.drive(&mut broker, 100 + MIN_BACKOFF_MS);
    assert_eq!(broker.clients[b.client].subscribes.len(), 2);
    assert_eq!(
        broker.clients[b.client].filters,
        ["mqttip/10.0.1.2", "mqttip/255.255.255.255"]
    );
    let packet = ipv4_packet(A, B, 200);
    a.send(&packet, 7).unwrap();
    a.drive(&mut broker, 2_000);
    b.drive(&mut broker, 2_000);
    assert_eq!(b.delivered, [packet]);
}

#[test]
fn filters_that_do_not_fit_one_subscribe_are_split_over_several() {
    let mut broker = Broker::default();
    // A small transmit buffer: packets go elsewhere, as on Linux.
    let buffers = Buffers {
        packets_through_session: false,
        ..Buffers::for_packets(1500, 300)
    };
    let mut a = Node::with_buffers(&mut broker, A, 60, buffers);
    let long: Vec<String> = (0..40)
        .map(|i| format!("mqttip/{}/{i}", "x".repeat(200)))
        .collect();
    a.link.set_filters(long.iter().map(String::as_str));
    a.drive(&mut broker, 0);
    let client = &broker.clients[a.client];
    assert!(
        client.subscribes.len() >= 5,
        "{} SUBSCRIBEs for 40 filters of 210 bytes",
        client.subscribes.len()
    );
    assert_eq!(client.filters, long, "every filter, once, in order");
}

#[test]
fn changing_the_filters_on_a_live_session_sends_only_the_difference() {
    let (mut broker, mut a, _b) = pair(60);
    a.link.set_filters(["mqttip/10.0.1.1", "mqttip/10.9.9.9"]);
    a.drive(&mut broker, 50);
    let client = &broker.clients[a.client];
    assert_eq!(client.unsubscribes, [["mqttip/255.255.255.255"]]);
    assert_eq!(client.subscribes.last().unwrap(), &["mqttip/10.9.9.9"]);
    assert_eq!(client.filters, ["mqttip/10.0.1.1", "mqttip/10.9.9.9"]);
    a.link.set_subscribed(false);
    a.drive(&mut broker, 60);
    assert!(broker.clients[a.client].filters.is_empty());
    a.link.set_subscribed(true);
    a.drive(&mut broker, 70);
    assert_eq!(broker.clients[a.client].filters.len(), 2);
}

#[test]
fn a_broker_refusing_the_connect_makes_the_link_back_off_and_say_why() {
    let mut broker = Broker::default();
    let mut a = Node::new(&mut broker, A, 60);
    broker.clients[a.client].connack_code = 5;
    a.drive(&mut broker, 0);
    a.drive(&mut broker, MIN_BACKOFF_MS);
    let refused = LinkError::Session(ConnectionError::Refused(ConnectRefused::NotAuthorized));
    assert_eq!(
        a.downs(),
        [(refused, MIN_BACKOFF_MS), (refused, 2 * MIN_BACKOFF_MS)]
    );
    assert!(refused.to_string().contains("not authorized"), "{refused}");
    assert!(matches!(a.link.phase(), Phase::Backoff { .. }));
}

#[test]
fn a_refused_subscription_is_reported_by_its_filter() {
    let mut broker = Broker::default();
    let mut a = Node::new(&mut broker, A, 60);
    broker.clients[a.client].refuse = vec!["mqttip/255.255.255.255".into()];
    a.drive(&mut broker, 0);
    let refused: Vec<&str> = a
        .events
        .iter()
        .filter_map(|e| match e {
            LinkEvent::SubscribeRefused { index } => a.link.filter(*index),
            _ => None,
        })
        .collect();
    assert_eq!(refused, ["mqttip/255.255.255.255"]);
}

#[test]
fn a_broker_that_floods_acks_and_never_reads_stalls_the_link_within_its_buffer() {
    let (broker, mut a, _b) = pair(60);
    // 10 000 QoS 1 publishes, each wanting a PUBACK, and nothing read back.
    let mut flood = Vec::new();
    for id in 1..=10_000u16 {
        let topic = "mqttip/10.0.1.1";
        flood.extend_from_slice(&[0x32, (2 + topic.len() + 2 + 4) as u8]);
        flood.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        flood.extend_from_slice(topic.as_bytes());
        flood.extend_from_slice(&id.to_be_bytes());
        flood.extend_from_slice(&[0x45, 0, 0, 4]);
    }
    let mut input = &flood[..];
    let mut out = vec![0u8; 2000];
    let mut fed_total = 0;
    loop {
        let fed = a
            .link
            .handle_bytes(input, 1, &mut a.tunnel, &mut out, |_, _| false);
        input = &input[fed.used..];
        fed_total += fed.used;
        if fed.stalled || input.is_empty() {
            break;
        }
    }
    assert!(!input.is_empty(), "the link took all {fed_total} bytes");
    let queued = a.link.transmit().len();
    assert!(queued < 4_000, "{queued} bytes of acknowledgements queued");
    let _ = broker;
}
