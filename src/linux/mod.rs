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
use tokio::signal::unix::{SignalKind, signal};

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
    /// The MQTT client failed in a way a reconnect cannot fix.
    #[error("MQTT: {0}")]
    Mqtt(String),
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
    let mut tunnel_config = config.tunnel_config();
    if config.wire_v2 {
        let key = crate::wire2::Key::derive(
            config.vpn_password.expose().as_bytes(),
            config.prefix.as_bytes(),
        )
        .ok_or_else(|| RunError::Config("--wire v2 needs a VPN password".into()))?;
        let mut boot_id = [0u8; crate::wire2::BOOT_ID_LEN];
        getrandom::fill(&mut boot_id).map_err(|e| RunError::Random(e.to_string()))?;
        tunnel_config = tunnel_config.with_wire_v2(key, boot_id);
        for peer in &config.v1_peers {
            tunnel_config = tunnel_config.with_v1_peer(*peer);
        }
    }
    let tunnel =
        crate::tunnel::Tunnel::new(tunnel_config).map_err(|e| RunError::Config(e.to_string()))?;
    if let Some(listen) = config.broker_listen {
        broker::spawn(
            listen,
            usize::from(config.mtu) + 4096,
            config.broker_logins.as_deref(),
        )?;
    }
    let tun = Arc::new(tun::open(&config)?);
    let name = tun.name().unwrap_or_else(|_| "?".into());
    tun::add_routes(&name, &config.routes);
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
    let shared = Arc::new(SharedCounters::default());
    let presence = Arc::new(Mutex::new(Presence::new(
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
        },
    )));
    let mut subscriptions: Vec<String> = tunnel
        .subscriptions()
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    let mut options = session_options(&config);
    if config.presence {
        let p = lock(&presence);
        subscriptions.push(p.filter());
        options.will = Some(WillOptions {
            topic: p.topic(),
            payload: p.offline_message(None),
            retain: true,
        });
    }
    tracing::info!("subscriptions: {}", subscriptions.join(", "));
    let brokers = &config.brokers;
    let mut handles = Vec::new();
    let mut link_reports = Vec::new();
    let mut inbound_links = Vec::new();
    for (index, url) in brokers.iter().enumerate() {
        let mut link = Link::new(options.clone(), link_buffers(&config))
            .map_err(|e| RunError::Config(e.to_string()))?;
        link.set_filters(subscriptions.iter().map(String::as_str));
        let connector = transport::Connector::new(url, &config.tls)?;
        let parts = node::link(index, link, connector);
        link_reports.push(parts.shared);
        handles.push(parts.handle);
        inbound_links.push(parts.inbound);
    }
    let duplicate = tunnel.is_sealed() && brokers.len() > 1;
    // The sending half keeps the wire-v2 boot id, the receiving half the
    // replay memory.
    let (sending, receiving) = tunnel.split();
    let mut outbound = tokio::spawn(node::outbound(
        tun.clone(),
        sending,
        handles,
        duplicate,
        shared.clone(),
    ));
    let (stop, stop_rx) = mpsc::channel(1);
    let mut inbound = tokio::spawn(node::inbound(
        tun,
        inbound_links,
        receiving,
        shared.clone(),
        config.presence.then(|| presence.clone()),
        stop_rx,
    ));
    let sources = control::Sources {
        interface: name.clone(),
        counters: shared.clone(),
        links: link_reports,
        presence,
    };
    let socket = config
        .control
        .clone()
        .unwrap_or_else(|| control::default_socket(&name));
    let control_task = tokio::spawn({
        let sources = sources.clone();
        async move {
            if let Err(e) = control::serve_control(socket, sources).await {
                tracing::warn!("no control socket, `mqtt_vpn status` will not work: {e}");
            }
        }
    });
    let mut metrics_task = match config.metrics {
        Some(addr) => tokio::spawn(control::serve_metrics(addr, sources)),
        None => tokio::spawn(std::future::pending()),
    };
    let signal_error = |e: std::io::Error| RunError::Runtime(format!("signal handler: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut int = signal(SignalKind::interrupt()).map_err(signal_error)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(signal_error)?;
    let result = loop {
        tokio::select! {
            _ = term.recv() => break Ok(()),
            _ = int.recv() => break Ok(()),
            _ = usr1.recv() => tracing::info!("counters: {}", shared.summary()),
            r = &mut outbound => break task_result(r),
            r = &mut inbound => break task_result(r),
            r = &mut metrics_task => break task_result(r),
        }
    };
    outbound.abort();
    if !inbound.is_finished() {
        // A clean stop: offline status and DISCONNECT to every broker.
        let _ = stop.try_send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut inbound).await;
    }
    inbound.abort();
    control_task.abort();
    metrics_task.abort();
    let _ = control_task.await;
    tracing::info!("stopped; counters: {}", shared.summary());
    result
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
    Buffers {
        mtu: usize::from(config.mtu),
        max_topic_len: crate::topic::MAX_TOPIC_LEN,
        packets_through_session: false,
        extra_tx: 2 * STATUS_ROOM,
        min_incoming: STATUS_ROOM,
    }
}

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
