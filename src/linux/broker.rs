//! The in-process broker (`--broker-listen`): rumqttd on its own threads,
//! so one machine can be hub and node at once.

use std::collections::HashMap;
use std::net::SocketAddr;

use std::path::PathBuf;

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings, TlsConfig};

use super::RunError;

/// Starts an MQTT 3.1.1 broker listening on `listen`, accepting messages up
/// to `max_payload` bytes, from clients that log in as one of `logins`
/// (`None`: no login asked), over TLS with `tls` (certificate chain and
/// key, PEM) if given. It runs until the process exits.
pub fn spawn(
    listen: SocketAddr,
    max_payload: usize,
    logins: Option<&[(String, super::config::Secret)]>,
    tls: Option<&(PathBuf, PathBuf)>,
) -> Result<(), RunError> {
    // Fail early and clearly if the address is taken; rumqttd would only log it.
    drop(std::net::TcpListener::bind(listen).map_err(|e| {
        RunError::Broker(format!(
            "cannot listen on {listen} for the in-process broker: {e}"
        ))
    })?);
    let server = ServerSettings {
        name: "mqtt-vpn".into(),
        listen,
        tls: tls.map(|(cert, key)| TlsConfig::Rustls {
            capath: None,
            certpath: cert.display().to_string(),
            keypath: key.display().to_string(),
        }),
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: max_payload,
            max_inflight_count: 100,
            auth: logins.map(|logins| {
                logins
                    .iter()
                    .map(|(user, password)| (user.clone(), password.expose().to_owned()))
                    .collect()
            }),
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        router: RouterConfig {
            // A bound on what strangers can make it hold.
            max_connections: 256,
            max_outgoing_packet_count: 1024,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Config::default()
    };
    let mut broker = Broker::new(config);
    std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!("in-process broker stopped: {e}");
            }
        })
        .map_err(|e| RunError::Broker(format!("cannot start the broker thread: {e}")))?;
    let scheme = if tls.is_some() { "TLS" } else { "plain TCP" };
    tracing::info!("in-process broker listening on {listen} ({scheme})");
    Ok(())
}
