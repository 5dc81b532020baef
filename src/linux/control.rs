//! What a running node tells about itself: a [`Report`] of its counters,
//! broker links and peers, served on a local control socket (read by
//! `mqtt_vpn status`) and, with `--metrics ADDR:PORT`, over HTTP in the
//! Prometheus text format.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

use super::RunError;
use super::node::{LinkShared, SharedCounters};
use super::presence::{Presence, Status};
use crate::tunnel::{Direction, DropReason};

/// Where the control sockets live.
pub const CONTROL_DIR: &str = "/run/mqtt_vpn";

/// The default control socket of the node on interface `name`.
pub fn default_socket(name: &str) -> PathBuf {
    Path::new(CONTROL_DIR).join(format!("{name}.sock"))
}

/// Everything a report reads.
#[derive(Clone)]
pub struct Sources {
    /// The TUN interface name.
    pub interface: String,
    /// Counters of both directions and of the driver.
    pub counters: Arc<SharedCounters>,
    /// Every broker link.
    pub links: Vec<Arc<LinkShared>>,
    /// Presence: this node and its peers.
    pub presence: Arc<Mutex<Presence>>,
}

/// One broker link in a report.
#[derive(Debug, Clone)]
pub struct LinkReport {
    /// The broker's URL.
    pub url: String,
    /// Whether the session is up.
    pub up: bool,
    /// Sessions the broker accepted.
    pub connects: u64,
    /// Last PINGREQ round trip in milliseconds (0: none measured yet).
    pub rtt_ms: u64,
    /// The last error.
    pub last_error: Option<String>,
}

/// A snapshot of a node.
#[derive(Debug, Clone)]
pub struct Report {
    /// The TUN interface name.
    pub interface: String,
    /// This node's status.
    pub own: Status,
    /// Peers heard of.
    pub peers: Vec<Status>,
    /// Broker links.
    pub links: Vec<LinkReport>,
    /// `(name, value)` of every counter, names as in the SIGUSR1 log line.
    pub counters: Vec<(String, u64)>,
}

impl Sources {
    /// Takes a snapshot.
    pub fn report(&self) -> Report {
        let (own, peers, status_ignored) = {
            let p = super::lock(&self.presence);
            (p.own().clone(), p.peers().cloned().collect(), p.ignored())
        };
        let links = self
            .links
            .iter()
            .map(|l| LinkReport {
                url: l.url.clone(),
                up: l.up.load(Ordering::Relaxed),
                connects: l.connects.load(Ordering::Relaxed),
                rtt_ms: l.rtt_ms.load(Ordering::Relaxed),
                last_error: l.last_error(),
            })
            .collect();
        let (out, inb, driver) = self.counters.snapshot();
        let mut counters = vec![
            ("tx_packets".to_owned(), out.tx_packets),
            ("tx_bytes".to_owned(), out.tx_bytes),
            ("rx_packets".to_owned(), inb.rx_packets),
            ("rx_bytes".to_owned(), inb.rx_bytes),
            ("tx_messages".to_owned(), out.tx_messages),
            ("rx_messages".to_owned(), inb.rx_messages),
            ("connects".to_owned(), driver.connects),
            ("connection_errors".to_owned(), driver.connection_errors),
            (
                "dropped_broker_unavailable".to_owned(),
                driver.broker_unavailable,
            ),
            ("dropped_in_oversize".to_owned(), driver.oversize),
            ("status_messages_ignored".to_owned(), status_ignored),
        ];
        for (direction, c, tag) in [
            (Direction::Outbound, &out, "out"),
            (Direction::Inbound, &inb, "in"),
        ] {
            for reason in DropReason::ALL {
                counters.push((
                    format!("dropped_{tag}_{}", reason.name()),
                    c.dropped(direction, reason),
                ));
            }
        }
        Report {
            interface: self.interface.clone(),
            own,
            peers,
            links,
            counters,
        }
    }
}

impl Report {
    /// What `mqtt_vpn status` prints.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let own = &self.own;
        let _ = writeln!(
            s,
            "node {} on {}: {}{} mtu {} version {}",
            own.node,
            self.interface,
            own.address,
            own.ipv6.map(|a| format!(" {a}")).unwrap_or_default(),
            own.mtu,
            own.version
        );
        for link in &self.links {
            let _ = writeln!(
                s,
                "broker {}: {} (sessions {}, ping {} ms){}",
                link.url,
                if link.up { "up" } else { "DOWN" },
                link.connects,
                link.rtt_ms,
                link.last_error
                    .as_ref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            );
        }
        let online = self.peers.iter().filter(|p| p.online).count();
        let _ = writeln!(
            s,
            "peers: {online} online, {} offline",
            self.peers.len() - online
        );
        for peer in &self.peers {
            let _ = writeln!(
                s,
                "  {:<15} {:<7} {} {}{}",
                peer.address,
                if peer.online { "online" } else { "offline" },
                printable(&peer.node),
                printable(&peer.version),
                peer.ipv6.map(|a| format!(" {a}")).unwrap_or_default()
            );
        }
        let _ = writeln!(s, "counters:");
        for (name, value) in self
            .counters
            .iter()
            .filter(|(n, v)| *v > 0 || !n.starts_with("dropped_"))
        {
            let _ = writeln!(s, "  {name} {value}");
        }
        s
    }

    /// The Prometheus text exposition.
    pub fn to_prometheus(&self) -> String {
        let mut s = String::new();
        let iface = escape(&self.interface);
        self.write_counter_metrics(&mut s, &iface);
        self.write_broker_metrics(&mut s, &iface);
        self.write_peer_metrics(&mut s, &iface);
        s
    }

    /// The counters: a family each, except the drops, which share one
    /// family labelled by direction and reason.
    fn write_counter_metrics(&self, s: &mut String, iface: &str) {
        for (name, value) in &self.counters {
            if drop_labels(name).is_none() {
                write_family(
                    s,
                    &format!("{name}_total"),
                    "counter",
                    &name.replace('_', " "),
                );
                let _ = writeln!(s, "mqtt_vpn_{name}_total{{interface=\"{iface}\"}} {value}");
            }
        }
        write_family(
            s,
            "dropped_packets_total",
            "counter",
            "packets dropped, by direction and reason",
        );
        for (name, value) in &self.counters {
            if let Some((direction, reason)) = drop_labels(name) {
                let _ = writeln!(
                    s,
                    "mqtt_vpn_dropped_packets_total{{interface=\"{iface}\",direction=\"{direction}\",reason=\"{reason}\"}} {value}"
                );
            }
        }
    }

    /// The broker links: a family per figure, a sample per link.
    fn write_broker_metrics(&self, s: &mut String, iface: &str) {
        let plain = |value: String| Some((String::new(), value));
        self.write_link_family(
            s,
            iface,
            ("broker_up", "gauge", "1 while the broker session is up"),
            |l| plain(u8::from(l.up).to_string()),
        );
        self.write_link_family(
            s,
            iface,
            (
                "broker_sessions_total",
                "counter",
                "sessions the broker accepted",
            ),
            |l| plain(l.connects.to_string()),
        );
        self.write_link_family(
            s,
            iface,
            ("broker_rtt_seconds", "gauge", "last keepalive round trip"),
            |l| plain(format!("{:.3}", l.rtt_ms as f64 / 1000.0)),
        );
        self.write_link_family(
            s,
            iface,
            (
                "broker_last_error_info",
                "gauge",
                "the last broker error, as a label",
            ),
            |l| {
                let e = l.last_error.as_ref()?;
                Some((format!(",error=\"{}\"", escape(e)), "1".to_owned()))
            },
        );
    }

    /// Writes the family `(name, kind, help)` with a sample per link:
    /// `sample` gives the labels that follow `broker` and the value, or
    /// `None` to leave the link out.
    fn write_link_family(
        &self,
        s: &mut String,
        iface: &str,
        (name, kind, help): (&str, &str, &str),
        sample: impl Fn(&LinkReport) -> Option<(String, String)>,
    ) {
        write_family(s, name, kind, help);
        for l in &self.links {
            if let Some((labels, value)) = sample(l) {
                let _ = writeln!(
                    s,
                    "mqtt_vpn_{name}{{interface=\"{iface}\",broker=\"{}\"{labels}}} {value}",
                    escape(&l.url)
                );
            }
        }
    }

    /// The peers heard of, online and offline.
    fn write_peer_metrics(&self, s: &mut String, iface: &str) {
        write_family(s, "peers", "gauge", "peers heard of, by state");
        let online = self.peers.iter().filter(|p| p.online).count();
        let _ = writeln!(
            s,
            "mqtt_vpn_peers{{interface=\"{iface}\",state=\"online\"}} {online}"
        );
        let _ = writeln!(
            s,
            "mqtt_vpn_peers{{interface=\"{iface}\",state=\"offline\"}} {}",
            self.peers.len() - online
        );
    }
}

/// Writes the `# HELP` and `# TYPE` lines of the metric family
/// `mqtt_vpn_{name}`.
fn write_family(s: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(
        s,
        "# HELP mqtt_vpn_{name} {help}\n# TYPE mqtt_vpn_{name} {kind}"
    );
}

/// The `direction` and `reason` labels of a drop counter, by its name in a
/// [`Report`]; `None` for the other counters.
fn drop_labels(name: &str) -> Option<(&'static str, &str)> {
    if name == "dropped_broker_unavailable" {
        return Some(("out", "broker_unavailable"));
    }
    if let Some(reason) = name.strip_prefix("dropped_in_") {
        Some(("in", reason))
    } else {
        Some(("out", name.strip_prefix("dropped_out_")?))
    }
}

/// A peer-supplied string as it may reach a terminal: control characters
/// (escape sequences, newlines) written as `\u{..}` escapes.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes a Prometheus label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves reports on a Unix socket at `path` (made with mode 0600 in a
/// directory only root can write): every connection gets the text report.
pub async fn serve_control(path: PathBuf, sources: Sources) -> Result<(), RunError> {
    use std::os::unix::fs::FileTypeExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| RunError::Control(format!("cannot create {}: {e}", dir.display())))?;
    }
    // A socket left by a node that died (nobody answers on it) is replaced;
    // anything else at the path is left alone.
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(&path).is_err() {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(_) => {
            return Err(RunError::Control(format!(
                "{} exists and is not a socket: refusing to replace it (choose another --control path)",
                path.display()
            )));
        }
        Err(_) => {}
    }
    // Born with mode 0600: no moment in which others may connect.
    let old_mask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(&path);
    rustix::process::umask(old_mask);
    let listener = bound.map_err(|e| {
        RunError::Control(format!(
            "cannot listen on {} ({e}): is another node using this interface name?",
            path.display()
        ))
    })?;
    let _guard = RemoveOnDrop(path);
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            accept_failed().await;
            continue;
        };
        let text = sources.report().to_text();
        tokio::spawn(async move {
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// After a failed accept (out of file descriptors, say): wait a little
/// rather than spin on the error.
async fn accept_failed() {
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// Removes the control socket at this path when the server stops.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Serves `GET /metrics` (any path, in fact) in the Prometheus text format.
pub async fn serve_metrics(addr: SocketAddr, sources: Sources) -> Result<(), RunError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| RunError::Control(format!("--metrics {addr}: {e}")))?;
    tracing::info!("metrics on http://{addr}/metrics");
    let slots = Arc::new(tokio::sync::Semaphore::new(METRICS_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            accept_failed().await;
            continue;
        };
        // Over the cap the connection is closed at once (dropped).
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let sources = sources.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(METRICS_DEADLINE, answer_scrape(stream, sources)).await;
            drop(slot);
        });
    }
}

/// Scrapes served at once; more are refused until one ends.
const METRICS_CONNECTIONS: usize = 8;
/// The whole exchange of one scrape, request and answer.
const METRICS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads the request head (bounded; its content does not matter) and
/// answers with the metrics.
async fn answer_scrape(mut stream: tokio::net::TcpStream, sources: Sources) {
    let mut head = [0u8; 2048];
    let mut n = 0;
    while n < head.len() {
        match stream.read(&mut head[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
        if head[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let body = sources.report().to_prometheus();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Why `mqtt_vpn status` has no report to show.
#[derive(Debug, Error)]
pub enum StatusError {
    /// No control socket in [`CONTROL_DIR`].
    #[error(
        "no running node: no control socket in {} (is mqtt_vpn running, and are you root?)",
        CONTROL_DIR
    )]
    NoNode,
    /// Several control sockets in [`CONTROL_DIR`], and none was named.
    #[error(
        "several nodes run ({}): pick one with -i <interface> or --control <socket>",
        join_paths(.0)
    )]
    SeveralNodes(Vec<PathBuf>),
    /// Nothing answers on the control socket.
    #[error("cannot reach the node at {}: {source}", path.display())]
    Unreachable {
        /// The control socket.
        path: PathBuf,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
    /// The report could not be read.
    #[error("reading from {}: {source}", path.display())]
    Read {
        /// The control socket.
        path: PathBuf,
        /// Why the read failed.
        #[source]
        source: std::io::Error,
    },
}

/// `paths`, comma-separated.
fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `mqtt_vpn status`: reads the report of the node whose control socket is
/// `socket`, or of the only node running when `None`.
pub fn status(socket: Option<&Path>) -> Result<String, StatusError> {
    let path = match socket {
        Some(p) => p.to_path_buf(),
        None => only_socket()?,
    };
    let mut stream = std::os::unix::net::UnixStream::connect(&path).map_err(|source| {
        StatusError::Unreachable {
            path: path.clone(),
            source,
        }
    })?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stream, &mut text)
        .map_err(|source| StatusError::Read { path, source })?;
    Ok(text)
}

/// The control socket in [`CONTROL_DIR`], when there is exactly one.
fn only_socket() -> Result<PathBuf, StatusError> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(CONTROL_DIR)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                .collect()
        })
        .unwrap_or_default();
    match found.len() {
        0 => Err(StatusError::NoNode),
        1 => Ok(found.remove(0)),
        _ => Err(StatusError::SeveralNodes(found)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sources() -> Sources {
        let own = Status {
            node: "n".into(),
            address: "10.0.1.1".parse().unwrap(),
            ipv6: None,
            online: true,
            version: String::new(),
            wire: Vec::new(),
            mtu: 1500,
            since: None,
            batch: 0,
        };
        Sources {
            interface: "t0".into(),
            counters: Arc::default(),
            links: Vec::new(),
            presence: Arc::new(Mutex::new(Presence::new("mqttip", own))),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mqttvpn-control-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_peer_cannot_send_escape_sequences_to_the_status_terminal() {
        let mut report = sources().report();
        let mut evil = report.own.clone();
        evil.node = "evil\u{1b}[2J\nnode".into();
        evil.version = "1.0\r".into();
        report.peers.push(evil);
        let text = report.to_text();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(text.contains("evil\\u{1b}[2J\\u{a}node"), "{text}");
    }

    #[tokio::test]
    async fn a_scrape_that_trickles_its_request_is_cut_off_at_the_deadline() {
        use tokio::io::AsyncWriteExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let server = tokio::spawn(serve_metrics(addr, sources()));
        let mut stream = loop {
            if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
                break s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        // One byte a second, never the end of the head: the server must
        // answer (and close) by its deadline, not wait for 2 KiB.
        let started = std::time::Instant::now();
        while started.elapsed() < METRICS_DEADLINE * 2 {
            if stream.write_all(b"G").await.is_err() {
                break;
            }
            let mut buf = [0u8; 4096];
            match tokio::time::timeout(std::time::Duration::from_secs(1), stream.read(&mut buf))
                .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) | Err(_) => {}
            }
        }
        server.abort();
        assert!(
            started.elapsed() < METRICS_DEADLINE * 2,
            "the trickling connection was still open after {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_file_at_the_control_path_is_never_deleted() {
        let dir = scratch("file");
        let path = dir.join("mq0.sock");
        std::fs::write(&path, "precious").unwrap();
        let serving = serve_control(path.clone(), sources());
        let result = tokio::time::timeout(std::time::Duration::from_secs(2), serving).await;
        assert!(
            matches!(&result, Ok(Err(RunError::Control(m))) if m.contains("not a socket")),
            "{result:?}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn the_control_socket_is_made_with_mode_0600_and_a_stale_one_is_replaced() {
        let dir = scratch("socket");
        let path = dir.join("mq0.sock");
        // A socket nobody listens on any more, as a killed node leaves it.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let server = tokio::spawn(serve_control(path.clone(), sources()));
        let mut mode = 0;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                break;
            }
        }
        server.abort();
        assert_eq!(
            mode, 0o600,
            "the control socket did not come up with mode 0600"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
