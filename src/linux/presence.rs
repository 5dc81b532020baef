//! Presence: each node publishes a retained status message on
//! `<prefix>-status/<IPv4 address>` (a sibling of the data prefix, so nodes
//! that read `<prefix>/#` never see it), with a Last Will that marks it
//! offline, and reads everyone else's to keep a table of peers.
//!
//! The status is a small JSON object:
//!
//! ```text
//! {"node":"MQTT_VPN_1234","address":"10.0.1.1","ipv6":"fd00::1","online":true,
//!  "version":"0.1.0","wire":["v1"],"mtu":1500,"since":1764000000}
//! ```
//!
//! `since` is when the node started (Unix seconds) while online, and when
//! it stopped (or its broker noticed it gone: then absent) while offline.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Most peers remembered; statuses of further addresses are ignored (and
/// counted) so a flood of status topics cannot grow memory without bound.
pub const MAX_PEERS: usize = 4096;
/// Longest status message read.
pub const MAX_STATUS_LEN: usize = 1024;

/// One node's status message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The node's MQTT client id.
    pub node: String,
    /// Its IPv4 address in the VPN.
    pub address: Ipv4Addr,
    /// Its IPv6 address, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    /// Whether it is connected.
    pub online: bool,
    /// Software version.
    #[serde(default)]
    pub version: String,
    /// Wire versions it reads.
    #[serde(default)]
    pub wire: Vec<String>,
    /// Its interface MTU.
    #[serde(default)]
    pub mtu: u16,
    /// Start time (online) or stop time (offline), Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The largest wire-v2 batch it reads (bytes of packets in one
    /// message); 0 or absent: one packet per message.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub batch: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// This node's identity and the peers it has heard of.
#[derive(Debug)]
pub struct Presence {
    prefix: String,
    own: Status,
    peers: BTreeMap<Ipv4Addr, Status>,
    ignored: u64,
    conflict_warned: bool,
    /// Bumped whenever the set of peers that read batches may have changed.
    generation: u64,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Presence {
    /// Presence of the node `own` under the data prefix `prefix`.
    pub fn new(prefix: &str, own: Status) -> Self {
        Self {
            prefix: format!("{prefix}-status"),
            own,
            peers: BTreeMap::new(),
            ignored: 0,
            conflict_warned: false,
            generation: 0,
        }
    }

    /// The filter that matches every node's status.
    pub fn filter(&self) -> String {
        format!("{}/+", self.prefix)
    }

    /// This node's status topic.
    pub fn topic(&self) -> String {
        format!("{}/{}", self.prefix, self.own.address)
    }

    /// The retained message that says this node is up.
    pub fn online_message(&self) -> Vec<u8> {
        serde_json::to_vec(&self.own).unwrap_or_default()
    }

    /// The message that says this node is gone: the Last Will (no time:
    /// the broker sends it later) or the goodbye at a clean stop.
    pub fn offline_message(&self, at: Option<u64>) -> Vec<u8> {
        let status = Status {
            online: false,
            since: at,
            ..self.own.clone()
        };
        serde_json::to_vec(&status).unwrap_or_default()
    }

    /// This node's own status.
    pub fn own(&self) -> &Status {
        &self.own
    }

    /// Takes a message received on a status topic. Warns (once per start)
    /// when another online node claims this node's address.
    pub fn handle(&mut self, topic: &str, payload: &[u8]) {
        if payload.is_empty() || payload.len() > MAX_STATUS_LEN {
            self.ignored += 1;
            return;
        }
        let Ok(status) = serde_json::from_slice::<Status>(payload) else {
            self.ignored += 1;
            return;
        };
        if !topic.ends_with(&format!("/{}", status.address)) {
            self.ignored += 1;
            return;
        }
        if status.node == self.own.node {
            return;
        }
        if status.address == self.own.address && status.online && !self.conflict_warned {
            self.conflict_warned = true;
            tracing::error!(
                "ADDRESS CONFLICT: {} is already held by the online node '{}' (version {}); \
                 two nodes with one address lose each other's packets: give this node another -a",
                status.address,
                status.node,
                status.version
            );
        }
        if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&status.address) {
            self.ignored += 1;
            return;
        }
        let batch = |s: &Status| (s.online, s.batch);
        if self.peers.get(&status.address).map(batch) != Some(batch(&status)) {
            self.generation += 1;
        }
        self.peers.insert(status.address, status);
    }

    /// A number that changes whenever [`Presence::batch_peers`] may have.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The online peers that read wire-v2 batches, with the largest each
    /// reads.
    pub fn batch_peers(&self) -> impl Iterator<Item = (Ipv4Addr, usize)> + '_ {
        self.peers
            .values()
            .filter(|s| s.online && s.batch > 0)
            .map(|s| (s.address, s.batch))
    }

    /// Peers heard of, by address (this node excluded).
    pub fn peers(&self) -> impl Iterator<Item = &Status> {
        self.peers.values()
    }

    /// Status messages ignored: malformed, too long, address mismatch, or
    /// over [`MAX_PEERS`].
    pub fn ignored(&self) -> u64 {
        self.ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(node: &str, last: u8, online: bool) -> Status {
        Status {
            node: node.into(),
            address: Ipv4Addr::new(10, 0, 1, last),
            ipv6: None,
            online,
            version: "0.1.0".into(),
            wire: vec!["v1".into()],
            mtu: 1500,
            since: Some(1),
            batch: 0,
        }
    }

    #[test]
    fn a_status_message_round_trips_through_json() {
        let p = Presence::new("mqttip", status("a", 1, true));
        let back: Status = serde_json::from_slice(&p.online_message()).unwrap();
        assert_eq!(back, *p.own());
        assert_eq!(p.topic(), "mqttip-status/10.0.1.1");
        assert_eq!(p.filter(), "mqttip-status/+");
    }

    #[test]
    fn peers_are_recorded_and_garbage_is_counted() {
        let mut p = Presence::new("mqttip", status("a", 1, true));
        let b = serde_json::to_vec(&status("b", 2, true)).unwrap();
        p.handle("mqttip-status/10.0.1.2", &b);
        p.handle("mqttip-status/10.0.1.3", &b); // topic and address disagree
        p.handle("mqttip-status/10.0.1.4", b"not json");
        p.handle("mqttip-status/10.0.1.1", &p.online_message()); // our own echo
        assert_eq!(p.peers().count(), 1);
        assert_eq!(p.ignored(), 2);
        let gone = serde_json::to_vec(&status("b", 2, false)).unwrap();
        p.handle("mqttip-status/10.0.1.2", &gone);
        assert!(!p.peers().next().unwrap().online);
    }

    #[test]
    fn the_peer_table_is_bounded() {
        let mut p = Presence::new("mqttip", status("a", 1, true));
        for i in 0..(MAX_PEERS as u32 + 10) {
            let mut s = status("x", 0, true);
            s.address = Ipv4Addr::from(0x0a00_0000 + i + 2);
            let topic = format!("mqttip-status/{}", s.address);
            p.handle(&topic, &serde_json::to_vec(&s).unwrap());
        }
        assert_eq!(p.peers().count(), MAX_PEERS);
        assert_eq!(p.ignored(), 10);
    }
}
