//! Byte streams to a broker: TCP, TLS over TCP, WebSocket and WebSocket
//! over TLS, all as one [`BrokerStream`] that the MQTT session reads and
//! writes. The session itself is the core's [`crate::mqtt::session::Session`];
//! this module only opens connections.

use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use ws_stream_tungstenite::WsStream;

use super::RunError;
use super::config::{BrokerUrl, TlsSettings, Transport};

/// Longest a TCP connect, TLS handshake or WebSocket upgrade may take: the
/// core link's limit, so the error says what happened before the link gives
/// the attempt up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(crate::link::CONNECT_TIMEOUT_MS - 500);

/// A connected byte stream to a broker.
pub trait BrokerStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> BrokerStream for T {}

/// Why a connection to a broker could not be opened. Every case is worth
/// retrying: the broker may come back, the network may heal.
#[derive(Debug, Error)]
pub enum ConnectError {
    /// Name resolution or the TCP connect failed.
    #[error("cannot connect: {0}")]
    Tcp(#[source] std::io::Error),
    /// The TLS handshake failed (certificate errors are named here).
    #[error("TLS handshake: {0}")]
    Tls(#[source] std::io::Error),
    /// The WebSocket upgrade failed.
    #[error("WebSocket upgrade: {0}")]
    WebSocket(#[source] Box<tungstenite::Error>),
    /// The broker did not answer within [`CONNECT_TIMEOUT`].
    #[error("no answer within {}s", CONNECT_TIMEOUT.as_secs())]
    Timeout,
}

/// Largest WebSocket message taken from a broker: a PUBLISH of a packet at
/// the largest MTU, sealed, with the longest topic, and room to spare.
pub const MAX_WS_MESSAGE: usize = super::config::MAX_MTU as usize + 4096;

/// Opens connections to one broker.
#[derive(Clone)]
pub struct Connector {
    url: BrokerUrl,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("url", &self.url).finish()
    }
}

impl Connector {
    /// A connector for `url`, loading the TLS trust once if the URL needs it.
    pub fn new(url: &BrokerUrl, tls: &TlsSettings) -> Result<Self, RunError> {
        let tls = match url.transport {
            Transport::Tls | Transport::Wss => {
                let config: Arc<ClientConfig> = super::tls::client_config(tls)?;
                let name = ServerName::try_from(url.host.clone()).map_err(|e| {
                    RunError::Tls(format!(
                        "broker host '{}' is not a valid name: {e}",
                        url.host
                    ))
                })?;
                Some((TlsConnector::from(config), name))
            }
            Transport::Tcp | Transport::Ws => None,
        };
        Ok(Self {
            url: url.clone(),
            tls,
        })
    }

    /// The broker this connector reaches.
    pub fn url(&self) -> &BrokerUrl {
        &self.url
    }

    /// Opens a stream, ready for the MQTT CONNECT.
    pub async fn connect(&self) -> Result<Box<dyn BrokerStream>, ConnectError> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.open())
            .await
            .map_err(|_| ConnectError::Timeout)?
    }

    async fn open(&self) -> Result<Box<dyn BrokerStream>, ConnectError> {
        let tcp = TcpStream::connect((self.url.host.as_str(), self.url.port))
            .await
            .map_err(ConnectError::Tcp)?;
        // Small writes (pings, single packets) must not wait for Nagle.
        tcp.set_nodelay(true).map_err(ConnectError::Tcp)?;
        match (&self.tls, self.url.transport) {
            (None, Transport::Tcp) => Ok(Box::new(tcp)),
            (None, _) => self.websocket(tcp).await,
            (Some((connector, name)), transport) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(ConnectError::Tls)?;
                if transport == Transport::Wss {
                    self.websocket(tls).await
                } else {
                    Ok(Box::new(tls))
                }
            }
        }
    }

    async fn websocket<S>(&self, stream: S) -> Result<Box<dyn BrokerStream>, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let ws_error = |e: tungstenite::Error| ConnectError::WebSocket(Box::new(e));
        let mut request = self
            .url
            .websocket_url()
            .into_client_request()
            .map_err(ws_error)?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            tungstenite::http::HeaderValue::from_static("mqtt"),
        );
        // A broker sends one MQTT packet per message; nothing a node accepts
        // is longer than a sealed packet at the largest MTU with its topic
        // (the library's default would buffer up to 64 MiB).
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_WS_MESSAGE))
            .max_frame_size(Some(MAX_WS_MESSAGE));
        let (ws, _response) =
            async_tungstenite::tokio::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(ws_error)?;
        Ok(Box::new(WsStream::new(ws)))
    }
}
