//! What a running node tells about itself: a [`Report`] of its counters,
//! broker links and peers, served on a local control socket (read by
//! `mqtt_vpn status`) and, with `--metrics ADDR:PORT`, over HTTP in the
//! Prometheus text format.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

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
        let (own, peers) = {
            let p = super::lock(&self.presence);
            (p.own().clone(), p.peers().cloned().collect())
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
            ("connects".to_owned(), driver.connects),
            ("connection_errors".to_owned(), driver.connection_errors),
            (
                "dropped_broker_unavailable".to_owned(),
                driver.broker_unavailable,
            ),
            ("dropped_in_oversize".to_owned(), driver.oversize),
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
        let family = |s: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(
                s,
                "# HELP mqtt_vpn_{name} {help}\n# TYPE mqtt_vpn_{name} {kind}"
            );
        };
        let dropped = |name: &str| -> Option<(&'static str, String)> {
            if name == "dropped_broker_unavailable" {
                return Some(("out", "broker_unavailable".to_owned()));
            }
            let (direction, reason) = if let Some(r) = name.strip_prefix("dropped_in_") {
                ("in", r)
            } else {
                ("out", name.strip_prefix("dropped_out_")?)
            };
            Some((direction, reason.to_owned()))
        };
        for (name, value) in &self.counters {
            if dropped(name).is_none() {
                family(
                    &mut s,
                    &format!("{name}_total"),
                    "counter",
                    &name.replace('_', " "),
                );
                let _ = writeln!(s, "mqtt_vpn_{name}_total{{interface=\"{iface}\"}} {value}");
            }
        }
        family(
            &mut s,
            "dropped_packets_total",
            "counter",
            "packets dropped, by direction and reason",
        );
        for (name, value) in &self.counters {
            if let Some((direction, reason)) = dropped(name) {
                let _ = writeln!(
                    s,
                    "mqtt_vpn_dropped_packets_total{{interface=\"{iface}\",direction=\"{direction}\",reason=\"{reason}\"}} {value}"
                );
            }
        }
        family(
            &mut s,
            "broker_up",
            "gauge",
            "1 while the broker session is up",
        );
        for l in &self.links {
            let _ = writeln!(
                s,
                "mqtt_vpn_broker_up{{interface=\"{iface}\",broker=\"{}\"}} {}",
                escape(&l.url),
                u8::from(l.up)
            );
        }
        family(
            &mut s,
            "broker_sessions_total",
            "counter",
            "sessions the broker accepted",
        );
        for l in &self.links {
            let _ = writeln!(
                s,
                "mqtt_vpn_broker_sessions_total{{interface=\"{iface}\",broker=\"{}\"}} {}",
                escape(&l.url),
                l.connects
            );
        }
        family(
            &mut s,
            "broker_rtt_seconds",
            "gauge",
            "last keepalive round trip",
        );
        for l in &self.links {
            let _ = writeln!(
                s,
                "mqtt_vpn_broker_rtt_seconds{{interface=\"{iface}\",broker=\"{}\"}} {:.3}",
                escape(&l.url),
                l.rtt_ms as f64 / 1000.0
            );
        }
        family(
            &mut s,
            "broker_last_error_info",
            "gauge",
            "the last broker error, as a label",
        );
        for l in &self.links {
            if let Some(e) = &l.last_error {
                let _ = writeln!(
                    s,
                    "mqtt_vpn_broker_last_error_info{{interface=\"{iface}\",broker=\"{}\",error=\"{}\"}} 1",
                    escape(&l.url),
                    escape(e)
                );
            }
        }
        family(&mut s, "peers", "gauge", "peers heard of, by state");
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
        s
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

/// `mqtt_vpn status`: reads the report of the node whose control socket is
/// `socket`, or of the only node running when `None`.
pub fn status(socket: Option<&Path>) -> Result<String, String> {
    let path = match socket {
        Some(p) => p.to_path_buf(),
        None => {
            let found: Vec<PathBuf> = std::fs::read_dir(CONTROL_DIR)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                        .collect()
                })
                .unwrap_or_default();
            match found.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(format!(
                        "no running node: no control socket in {CONTROL_DIR} (is mqtt_vpn running, and are you root?)"
                    ));
                }
                many => {
                    return Err(format!(
                        "several nodes run ({}): pick one with -i <interface> or --control <socket>",
                        many.iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
    };
    let mut stream = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| format!("cannot reach the node at {}: {e}", path.display()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stream, &mut text)
        .map_err(|e| format!("reading from {}: {e}", path.display()))?;
    Ok(text)
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
