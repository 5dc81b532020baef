//! The Linux node: a TUN interface whose packets travel through an MQTT
//! broker, flag-compatible with the C tool `mqtt_vpn`.
//!
//! - [`config`]: the command line and TOML settings, checked into a [`NodeConfig`].
//! - [`tun`]: the TUN device (tun-rs).
//! - [`transport`]: connections to a broker (TCP, TLS, WebSocket); [`tls`]: TLS trust.
//! - [`pipeline`]: the outbound per-packet work without I/O (sealing, framing, batches).
//! - [`node`]: the tasks around the core [`Tunnel`](crate::tunnel::Tunnel) and the
//!   core's broker [`Link`](crate::link::Link), which connects, backs off,
//!   keeps alive and subscribes; the tasks only do its I/O.
//! - [`broker`]: the optional in-process broker (rumqttd).
//! - [`cli`]: the `mqtt_vpn` command and its exit statuses.
//!
//! Errors: [`config::UsageError`] for settings that cannot work (exit status
//! 2), [`RunError`] for failures while running (exit status 1). The node
//! never exits because the broker is unreachable; it retries with backoff.

pub mod broker;
pub mod cli;
pub mod config;
pub mod control;
pub mod node;
pub mod pipeline;
pub mod presence;
pub mod tls;
pub mod transport;
#[allow(unsafe_code)]
pub mod tun;

use std::sync::Arc;

use thiserror::Error;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;

pub use config::{NodeConfig, Settings, UsageError};
use node::SharedCounters;
use tokio::sync::mpsc;

use crate::link::{Buffers, Link};

use crate::mqtt::session::{Options, WillOptions};
use presence::{Presence, Status};
use std::sync::Mutex;

/// Locks `m`; a poisoned lock only means a task died mid-update, and the
/// data (counters, presence) is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A failure while the node runs.
#[derive(Debug, Error)]
pub enum RunError {
    /// The TUN interface could not be created.
    #[error("{0}")]
    Tun(String),
    /// Reading or writing the TUN device failed.
    #[error("TUN device I/O: {0}")]
    TunIo(#[source] std::io::Error),
    /// TLS settings could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The in-process broker could not start.
    #[error("{0}")]
    Broker(String),
    /// The OS random source failed.
    #[error("OS random source: {0}")]
    Random(String),
    /// The configuration is invalid for the core (cannot happen after
    /// [`Settings::resolve`]).
    #[error("configuration: {0}")]
    Config(String),
    /// The control socket or the metrics listener could not start.
    #[error("{0}")]
    Control(String),
    /// The async runtime could not start or a task died.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// Runs a node until SIGINT or SIGTERM. SIGUSR1 logs the counters.
pub async fn run(config: NodeConfig) -> Result<(), RunError> {
    let tunnel = core_tunnel(&config)?;
    if let Some(listen) = config.broker_listen {
        broker::spawn(
            listen,
            usize::from(config.mtu) + 4096,
            config.broker_logins.as_deref(),
            config.broker_tls.as_ref(),
        )?;
    }
    let tun = Arc::new(tun::open(&config)?);
    let name = tun.name().unwrap_or_else(|_| "?".into());
    tun::add_routes(&name, &config.routes);
    log_start(&config, &tunnel, &name);
    let shared = Arc::new(SharedCounters::default());
    let presence = Arc::new(Mutex::new(own_presence(&config)));
    let links = BrokerLinks::new(&config, &tunnel, &presence)?;
    let duplicate = tunnel.is_sealed() && config.brokers.len() > 1;
    // The sending half keeps the wire-v2 epoch, the receiving half the
    // replay memory.
    let (sending, receiving) = tunnel.split();
    let outbound = tokio::spawn(node::outbound(
        tun.clone(),
        sending,
        links.handles,
        (duplicate, config.batch.then(|| presence.clone())),
        shared.clone(),
    ));
    let (stop, stop_rx) = mpsc::channel(1);
    let inbound = tokio::spawn(node::inbound(
        tun,
        links.inbound,
        receiving,
        shared.clone(),
        config.presence.then(|| presence.clone()),
        stop_rx,
    ));
    let sources = control::Sources {
        interface: name.clone(),
        counters: shared.clone(),
        links: links.reports,
        presence,
    };
    let (control, metrics) = spawn_reports(&config, &name, sources);
    let mut tasks = Tasks {
        outbound,
        inbound,
        stop,
        control,
        metrics,
    };
    let mut signals = Signals::new()?;
    let result = signals.wait(&mut tasks, &shared).await;
    tasks.stop_all().await;
    tracing::info!("stopped; counters: {}", shared.summary());
    result
}

/// The core tunnel of `config`: with wire v2, its key (derived from the
/// VPN password) and the v1-only peers.
fn core_tunnel(config: &NodeConfig) -> Result<crate::tunnel::Tunnel, RunError> {
    let mut tunnel_config = config.tunnel_config();
    if config.wire_v2 {
        let key = crate::wire2::Key::derive(
            config.vpn_password.expose().as_bytes(),
            config.prefix.as_bytes(),
        )
        .ok_or_else(|| RunError::Config("--wire v2 needs a VPN password".into()))?;
        if presence::unix_now() < crate::replay::MIN_CLOCK {
            tracing::warn!(
                "the wall clock is not set: wire v2 drops every packet until it is (start NTP)"
            );
        }
        tunnel_config = tunnel_config.with_wire_v2(key);
        for peer in &config.v1_peers {
            tunnel_config = tunnel_config.with_v1_peer(*peer);
        }
    }
    crate::tunnel::Tunnel::new(tunnel_config).map_err(|e| RunError::Config(e.to_string()))
}

/// Logs the interface `name` coming up with the node's settings, and warns
/// when packets travel unsealed.
fn log_start(config: &NodeConfig, tunnel: &crate::tunnel::Tunnel, name: &str) {
    tracing::info!(
        "interface {name} up: {}/{} mtu {}, {} mode, offload {}, broker {}",
        config.address,
        u32::from(config.netmask).leading_ones(),
        config.mtu,
        match (tunnel.is_sealed(), config.wire_v2) {
            (true, true) => "encrypted (sends wire v2)",
            (true, false) => "encrypted",
            _ => "plain",
        },
        if config.offload { "on" } else { "off" },
        config
            .brokers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" + ")
    );
    if !tunnel.is_sealed() {
        tracing::warn!(
            "plain mode: packets cross the broker unencrypted and unauthenticated (give -k or \
             --vpn-password-file to seal them)"
        );
    }
}

/// This node's presence: its status as of now, online.
fn own_presence(config: &NodeConfig) -> Presence {
    Presence::new(
        &config.prefix,
        Status {
            node: config.client_id.clone(),
            address: config.address,
            ipv6: config.ipv6.map(|(a, _)| a),
            online: true,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            wire: if config.wire_v2 {
                vec!["v1".to_owned(), "v2".to_owned()]
            } else {
                vec!["v1".to_owned()]
            },
            mtu: config.mtu,
            since: Some(presence::unix_now()),
            batch: config.batch_receive(),
        },
    )
}

/// The parts of every broker link, in the order of the brokers.
struct BrokerLinks {
    /// For reports.
    reports: Vec<Arc<node::LinkShared>>,
    /// For the outbound task.
    handles: Vec<node::LinkHandle>,
    /// For the inbound task.
    inbound: Vec<node::InboundLink>,
}

impl BrokerLinks {
    /// A link per broker of `config`, each subscribed to the tunnel's
    /// topics (and the status topics, with presence).
    fn new(
        config: &NodeConfig,
        tunnel: &crate::tunnel::Tunnel,
        presence: &Mutex<Presence>,
    ) -> Result<Self, RunError> {
        let (subscriptions, options) = subscriptions_and_options(config, tunnel, presence);
        tracing::info!("subscriptions: {}", subscriptions.join(", "));
        let mut links = Self {
            reports: Vec::new(),
            handles: Vec::new(),
            inbound: Vec::new(),
        };
        // One signal for every link's writer: a batch went out, so its
        // buffer may be free again.
        let freed = Arc::new(tokio::sync::Notify::new());
        for (index, url) in config.brokers.iter().enumerate() {
            let mut link = Link::new(options.clone(), link_buffers(config))
                .map_err(|e| RunError::Config(e.to_string()))?;
            link.set_filters(subscriptions.iter().map(String::as_str));
            let connector = transport::Connector::new(url, &config.tls)?;
            let parts = node::link(index, link, connector, freed.clone());
            links.reports.push(parts.shared);
            links.handles.push(parts.handle);
            links.inbound.push(parts.inbound);
        }
        Ok(links)
    }
}

/// The topic filters of every broker link and its session options; with
/// presence, the status filter and the Last Will that says the node is
/// offline.
fn subscriptions_and_options(
    config: &NodeConfig,
    tunnel: &crate::tunnel::Tunnel,
    presence: &Mutex<Presence>,
) -> (Vec<String>, Options) {
    let mut subscriptions: Vec<String> = tunnel
        .subscriptions()
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    let mut options = session_options(config);
    if config.presence {
        let p = lock(presence);
        subscriptions.push(p.filter());
        options.will = Some(WillOptions {
            topic: p.topic(),
            payload: p.offline_message(None),
            retain: true,
        });
    }
    (subscriptions, options)
}

/// Starts serving reports: the control socket (a failure there is only
/// logged) and, with `--metrics`, the metrics listener (a task that never
/// ends without it).
fn spawn_reports(
    config: &NodeConfig,
    name: &str,
    sources: control::Sources,
) -> (JoinHandle<()>, JoinHandle<Result<(), RunError>>) {
    let socket = config
        .control
        .clone()
        .unwrap_or_else(|| control::default_socket(name));
    let control_task = tokio::spawn({
        let sources = sources.clone();
        async move {
            if let Err(e) = control::serve_control(socket, sources).await {
                tracing::warn!("no control socket, `mqtt_vpn status` will not work: {e}");
            }
        }
    });
    let metrics_task = match config.metrics {
        Some(addr) => tokio::spawn(control::serve_metrics(addr, sources)),
        None => tokio::spawn(std::future::pending()),
    };
    (control_task, metrics_task)
}

/// The tasks of a running node.
struct Tasks {
    /// TUN to brokers.
    outbound: JoinHandle<Result<(), RunError>>,
    /// Brokers to TUN.
    inbound: JoinHandle<Result<(), RunError>>,
    /// Asks the inbound task for a clean stop.
    stop: mpsc::Sender<()>,
    /// The control socket.
    control: JoinHandle<()>,
    /// The metrics listener (or a task that never ends).
    metrics: JoinHandle<Result<(), RunError>>,
}

impl Tasks {
    /// Stops every task: the inbound one cleanly if it still runs (an
    /// offline status and a DISCONNECT to every broker, for up to two
    /// seconds), the others at once.
    async fn stop_all(&mut self) {
        self.outbound.abort();
        if !self.inbound.is_finished() {
            let _ = self.stop.try_send(());
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.inbound).await;
        }
        self.inbound.abort();
        self.control.abort();
        self.metrics.abort();
        let _ = (&mut self.control).await;
    }
}

/// The signals a node handles.
struct Signals {
    /// SIGTERM: stop.
    term: Signal,
    /// SIGINT: stop.
    int: Signal,
    /// SIGUSR1: log the counters.
    usr1: Signal,
}

impl Signals {
    /// Installs the handlers.
    fn new() -> Result<Self, RunError> {
        let signal_error = |e: std::io::Error| RunError::Runtime(format!("signal handler: {e}"));
        Ok(Self {
            term: signal(SignalKind::terminate()).map_err(signal_error)?,
            int: signal(SignalKind::interrupt()).map_err(signal_error)?,
            usr1: signal(SignalKind::user_defined1()).map_err(signal_error)?,
        })
    }

    /// Waits for SIGTERM or SIGINT (`Ok`) or the end of a task other than
    /// the control socket's (its outcome), logging the counters on SIGUSR1.
    async fn wait(&mut self, tasks: &mut Tasks, shared: &SharedCounters) -> Result<(), RunError> {
        loop {
            tokio::select! {
                _ = self.term.recv() => break Ok(()),
                _ = self.int.recv() => break Ok(()),
                _ = self.usr1.recv() => tracing::info!("counters: {}", shared.summary()),
                r = &mut tasks.outbound => break task_result(r),
                r = &mut tasks.inbound => break task_result(r),
                r = &mut tasks.metrics => break task_result(r),
            }
        }
    }
}

/// The MQTT session settings of every broker link: client id, login,
/// keepalive (the buffer sizes come from [`link_buffers`]).
fn session_options(config: &NodeConfig) -> Options {
    let mut options = Options::new(&config.client_id).with_keepalive(config.keepalive);
    if let Some((user, password)) = &config.credentials {
        options = options.with_login(user, password.expose().as_bytes());
    }
    options
}

/// Status messages (presence) are small JSON objects; this much room is
/// kept for sending and receiving them.
const STATUS_ROOM: usize = 2048;

/// Buffer sizes of a Linux broker link: packets go out in the shared
/// batches, not through the session, so its transmit buffer holds control
/// packets and status messages; it receives packets of the MTU sealed under
/// the longest topic, and status messages; longer messages are skipped.
fn link_buffers(config: &NodeConfig) -> Buffers {
    // A batch's PUBLISH: topic, payload and a little room.
    let batch = config.batch_receive() + crate::wire2::OVERHEAD + crate::topic::MAX_TOPIC_LEN + 16;
    Buffers {
        mtu: usize::from(config.mtu),
        max_topic_len: crate::topic::MAX_TOPIC_LEN,
        packets_through_session: false,
        extra_tx: 2 * STATUS_ROOM,
        min_incoming: STATUS_ROOM.max(batch),
    }
}

/// The outcome of a task that ended: its own, or a runtime error if it
/// panicked or was cancelled.
fn task_result(r: Result<Result<(), RunError>, tokio::task::JoinError>) -> Result<(), RunError> {
    r.map_err(|e| RunError::Runtime(format!("task died: {e}")))?
}

/// Installs the log subscriber: info, or debug with `-d`; `RUST_LOG` overrides.
pub fn init_logging(debug: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
