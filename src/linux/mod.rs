//! The Linux node: a TUN interface whose packets travel through an MQTT
//! broker, flag-compatible with the C tool `mqtt_vpn`.
//!
//! - [`config`]: the command line and TOML settings, checked into a [`NodeConfig`].
//! - [`tun`]: the TUN device (tun-rs).
//! - [`mqtt`]: rumqttc options, TLS trust.
//! - [`node`]: the two per-direction tasks around the core [`Tunnel`](crate::tunnel::Tunnel).
//! - [`broker`]: the optional in-process broker (rumqttd).
//! - [`cli`]: the `mqtt_vpn` command and its exit statuses.
//!
//! Errors: [`config::UsageError`] for settings that cannot work (exit status
//! 2), [`RunError`] for failures while running (exit status 1). The node
//! never exits because the broker is unreachable; it retries with backoff.

pub mod broker;
pub mod cli;
pub mod config;
pub mod mqtt;
pub mod node;
#[allow(unsafe_code)]
pub mod tun;

use std::sync::Arc;

use thiserror::Error;
use tokio::signal::unix::{SignalKind, signal};

pub use config::{NodeConfig, Settings, UsageError};
use node::SharedCounters;

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
    /// The async runtime could not start or a task died.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// Runs a node until SIGINT or SIGTERM. SIGUSR1 logs the counters.
pub async fn run(config: NodeConfig) -> Result<(), RunError> {
    let tunnel = crate::tunnel::Tunnel::new(config.tunnel_config())
        .map_err(|e| RunError::Config(e.to_string()))?;
    if let Some(listen) = config.broker_listen {
        broker::spawn(listen, usize::from(config.mtu) + 4096)?;
    }
    let options = mqtt::options(&config)?;
    let tun = Arc::new(tun::open(&config)?);
    let name = tun.name().unwrap_or_else(|_| "?".into());
    tracing::info!(
        "interface {name} up: {}/{} mtu {}, {} mode, broker {}",
        config.address,
        u32::from(config.netmask).leading_ones(),
        config.mtu,
        if tunnel.is_sealed() {
            "encrypted"
        } else {
            "plain"
        },
        config.broker
    );
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 256);
    eventloop.network_options.set_tcp_nodelay(true);
    let shared = Arc::new(SharedCounters::default());
    let mut outbound = tokio::spawn(node::outbound(
        tun.clone(),
        client.clone(),
        tunnel.clone(),
        shared.clone(),
    ));
    let mut inbound = tokio::spawn(node::inbound(
        tun,
        client.clone(),
        eventloop,
        tunnel,
        shared.clone(),
        config.broker.to_string(),
    ));
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
        }
    };
    outbound.abort();
    inbound.abort();
    let _ = client.try_disconnect();
    tracing::info!("stopped; counters: {}", shared.summary());
    result
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
