//! The bottom of the QUIC driver: a node's quinn endpoint, authenticated dialling and
//! accepting.
//!
//! # Guarantees
//!
//! - **One endpoint, both roles.** A [`NodeEndpoint`] listens on one UDP socket and dials from
//!   the same socket, so a peer sees one address per node.
//! - **Every connection is mutually authenticated** with the node's [`TlsConfig`]: a
//!   [`connect`](NodeEndpoint::connect) or [`Incoming::complete`] that returns `Ok` gives the
//!   peer's [`NodeId`] as its certificate names it, and the negotiated ALPN is one this node
//!   speaks. Anything else is a typed [`ConnectError`]; nothing about the endpoint changes, so
//!   it keeps serving other peers.
//! - **The failure detector is QUIC's idle timeout.** Each side sends a keep-alive every
//!   [`QuicConfig::keep_alive`]; a connection that hears nothing for
//!   [`QuicConfig::idle_timeout`] fails with [`ConnectError::TimedOut`] on every pending and
//!   later operation. Nothing waits longer than that on a dead peer.
//!
//! # Where refusals show
//!
//! In TLS 1.3 the dialling side finishes its handshake before the accepting side has checked
//! the client certificate. A dialler whose certificate is refused may therefore see
//! [`connect`](NodeEndpoint::connect) succeed and learn of the refusal only at its first stream
//! operation: map that [`quinn::ConnectionError`] with [`ConnectError::from`] to get the same
//! [`ConnectError::RefusedByPeer`].
//!
//! # The mesh
//!
//! On top of the endpoint, [`Mesh`] is the peer-to-peer message layer the runtime sits on: one
//! connection per pair of nodes, the hello (checked with [`check_claim`]), streams per lane,
//! batching, bounded buffers with backpressure, `Down` events and redialling. See the
//! [`mesh` module](mesh) for its contract.

mod error;
mod events;
mod inbox;
mod lane;
mod link;
pub mod mesh;
mod peers;
mod waiting;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use quinn::{Connection, IdleTimeout, TransportConfig};
use rustls_pki_types::CertificateDer;

use crate::tls::{check_claimed_id, node_id_from_certificate, NodeId, TlsConfig, NODE_NAME_SUFFIX};

pub use error::{ConnectError, EndpointError, Refusal, REFUSAL_CODE_BASE};
pub use events::{Delivery, DownReason, MeshStats, PeerEvent, PeerStatus, SendError};
pub use mesh::{Inbox, Mesh, MeshConfig, LANES};

/// Transport settings of a node's endpoint: the failure detector's timing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tern_net::quic::QuicConfig;
///
/// let config = QuicConfig::default()
///     .with_keep_alive(Duration::from_millis(500))
///     .with_idle_timeout(Duration::from_secs(3));
/// assert_eq!(config.idle_timeout(), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuicConfig {
    keep_alive: Duration,
    idle_timeout: Duration,
}

impl Default for QuicConfig {
    /// A keep-alive every 2 s and a 10 s idle timeout.
    fn default() -> Self {
        QuicConfig {
            keep_alive: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
        }
    }
}

impl QuicConfig {
    /// How often an idle connection sends a keep-alive (must be shorter than the idle timeout).
    pub fn with_keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = interval;
        self
    }

    /// How long a connection may hear nothing before it is declared dead. Each side proposes
    /// its own; QUIC uses the smaller of the two.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The keep-alive interval.
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// The idle timeout: the failure-detection timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    fn transport(&self) -> Result<Arc<TransportConfig>, EndpointError> {
        if self.keep_alive >= self.idle_timeout {
            return Err(EndpointError::KeepAliveTooLong {
                keep_alive: self.keep_alive,
                idle_timeout: self.idle_timeout,
            });
        }
        let mut transport = TransportConfig::default();
        transport
            .keep_alive_interval(Some(self.keep_alive))
            .max_idle_timeout(Some(IdleTimeout::try_from(self.idle_timeout)?))
            // A mesh connection uses one bidirectional stream (control) and one
            // unidirectional stream per lane and direction: a peer may open no more, so the
            // data it can park in unread streams is bounded by these counts times the stream
            // window.
            .max_concurrent_bidi_streams(MAX_BIDI_STREAMS.into())
            .max_concurrent_uni_streams(mesh::LANES_VARINT);
        Ok(Arc::new(transport))
    }
}

/// Bidirectional streams a peer may have open at once: the mesh's control stream, and slack
/// for tools that talk to an endpoint directly.
const MAX_BIDI_STREAMS: u32 = 4;

/// A node's QUIC endpoint: accepts and dials mutually authenticated connections.
///
/// Must be created inside a tokio runtime.
///
/// # Examples
///
/// ```
/// use tern_net::quic::{NodeEndpoint, QuicConfig};
/// use tern_net::tls::{NodeId, TlsConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let quic = QuicConfig::default();
/// let alpha_tls = TlsConfig::dev(&NodeId::new("alpha")?)?;
/// let beta_tls = TlsConfig::dev(&NodeId::new("beta")?)?;
/// let alpha = NodeEndpoint::bind("127.0.0.1:0".parse()?, &alpha_tls, &quic)?;
/// let beta = NodeEndpoint::bind("127.0.0.1:0".parse()?, &beta_tls, &quic)?;
///
/// let beta_addr = beta.local_addr()?;
/// let accepting = tokio::spawn(async move {
///     let incoming = beta.accept().await.expect("endpoint open");
///     let (connection, peer) = incoming.complete().await?;
///     let (mut send, mut recv) = connection.accept_bi().await?;
///     let hello = recv.read_to_end(64).await?;
///     send.write_all(&hello).await?;
///     send.finish()?;
///     connection.closed().await;
///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(peer)
/// });
///
/// let (connection, peer) = alpha.connect(beta_addr).await?;
/// assert_eq!(peer.as_str(), "beta");
/// let (mut send, mut recv) = connection.open_bi().await?;
/// send.write_all(b"hello").await?;
/// send.finish()?;
/// assert_eq!(recv.read_to_end(64).await?, b"hello");
/// connection.close(0u32.into(), b"done");
/// assert_eq!(accepting.await?.map_err(|e| e.to_string())?.as_str(), "alpha");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NodeEndpoint {
    endpoint: quinn::Endpoint,
    id: NodeId,
    alpn: Arc<[Vec<u8>]>,
    config: QuicConfig,
}

impl NodeEndpoint {
    /// Binds a UDP socket at `addr` and makes an endpoint that accepts and dials with `tls`.
    ///
    /// # Errors
    /// [`EndpointError::Tls`] or [`EndpointError::Crypto`] when the TLS configuration cannot
    /// be built, [`EndpointError::KeepAliveTooLong`] or [`EndpointError::IdleTimeout`] for bad
    /// timings, [`EndpointError::Io`] when the socket cannot be bound or no tokio runtime runs.
    pub fn bind(
        addr: SocketAddr,
        tls: &TlsConfig,
        quic: &QuicConfig,
    ) -> Result<Self, EndpointError> {
        let transport = quic.transport()?;
        let server_crypto = QuicServerConfig::try_from(tls.server_config()?)?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
        server.transport_config(transport.clone());
        let client_crypto = QuicClientConfig::try_from(tls.client_config()?)?;
        let mut client = quinn::ClientConfig::new(Arc::new(client_crypto));
        client.transport_config(transport);
        let mut endpoint = quinn::Endpoint::server(server, addr)?;
        endpoint.set_default_client_config(client);
        Ok(NodeEndpoint {
            endpoint,
            id: tls.node_id().clone(),
            alpn: tls.alpn_protocols().into(),
            config: *quic,
        })
    }

    /// The transport settings the endpoint was bound with.
    pub fn config(&self) -> &QuicConfig {
        &self.config
    }

    /// This node's id (its certificate's).
    pub fn node_id(&self) -> &NodeId {
        &self.id
    }

    /// The address the socket is bound to.
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Dials the node at `addr` and completes the handshake.
    ///
    /// The peer's id comes from its certificate. This node's certificate may still be refused
    /// after this returns `Ok` (see the [module docs](self)).
    ///
    /// # Errors
    /// [`ConnectError::Refused`] when this node refused the peer's certificate or protocol,
    /// [`ConnectError::RefusedByPeer`] when the peer refused this node,
    /// [`ConnectError::TimedOut`] when nothing answers within the idle timeout,
    /// [`ConnectError::Dial`] when the address is unusable or the endpoint is closing.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the connection attempt.
    pub async fn connect(&self, addr: SocketAddr) -> Result<(Connection, NodeId), ConnectError> {
        // Any name will do: the verifier ignores it and reads the id from the certificate.
        let connection = self.endpoint.connect(addr, NODE_NAME_SUFFIX)?.await?;
        let peer = authenticated_peer(&connection, &self.alpn)?;
        tracing::debug!(peer = %peer, %addr, "connected");
        Ok((connection, peer))
    }

    /// Waits for the next incoming connection attempt; `None` once the endpoint is closed.
    ///
    /// Complete the handshake with [`Incoming::complete`], typically in a task of its own so
    /// that a slow or hostile peer does not hold up the others.
    ///
    /// # Cancel safety
    /// Cancel safe: an attempt is never lost by dropping this future.
    pub async fn accept(&self) -> Option<Incoming> {
        let inner = self.endpoint.accept().await?;
        Some(Incoming {
            inner,
            alpn: self.alpn.clone(),
        })
    }

    /// Closes every connection with `code` and `reason` and stops accepting.
    pub fn close(&self, code: u32, reason: &[u8]) {
        self.endpoint.close(code.into(), reason);
    }

    /// Waits until every connection has been closed and its close delivered (or timed out).
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }
}

/// A connection attempt that has reached the endpoint, before its handshake.
#[derive(Debug)]
pub struct Incoming {
    inner: quinn::Incoming,
    alpn: Arc<[Vec<u8>]>,
}

impl Incoming {
    /// The address the attempt comes from (not yet authenticated).
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote_address()
    }

    /// Runs the handshake and returns the connection and the peer's id from its certificate.
    ///
    /// # Errors
    /// [`ConnectError::Refused`] with the reason this node refused the peer
    /// ([`Refusal::NoCertificate`], [`Refusal::UnknownCa`], [`Refusal::Expired`],
    /// [`Refusal::WrongProtocol`], [`Refusal::NoNodeId`], …);
    /// [`ConnectError::TimedOut`] when the peer stops answering mid-handshake.
    pub async fn complete(self) -> Result<(Connection, NodeId), ConnectError> {
        let remote = self.inner.remote_address();
        let result = async {
            let connection = self.inner.await?;
            let peer = authenticated_peer(&connection, &self.alpn)?;
            Ok((connection, peer))
        }
        .await;
        match &result {
            Ok((_, peer)) => tracing::debug!(%peer, %remote, "accepted"),
            Err(error) => tracing::info!(%error, %remote, "refused an incoming connection"),
        }
        result
    }

    /// Refuses the attempt without a handshake.
    pub fn refuse(self) {
        self.inner.refuse();
    }
}

/// Checks the id a peer claims (in its hello) against `certified`, the id its certificate
/// names (as returned by [`NodeEndpoint::connect`] or [`Incoming::complete`]). On a mismatch
/// the connection is closed so that the peer sees [`Refusal::IdMismatch`].
///
/// # Errors
/// [`ConnectError::IdMismatch`] when the ids differ.
pub fn check_claim(
    connection: &Connection,
    certified: &NodeId,
    claimed: &str,
) -> Result<(), ConnectError> {
    check_claimed_id(claimed, certified).map_err(|error| {
        tracing::info!(%error, "refusing a peer that claims another node's id");
        refuse(connection, Refusal::IdMismatch);
        ConnectError::from(error)
    })
}

/// Closes `connection`, telling the peer why: it sees [`ConnectError::RefusedByPeer`] with
/// `why`.
pub fn refuse(connection: &Connection, why: Refusal) {
    connection.close(why.close_code(), why.to_string().as_bytes());
}

/// The peer's id from its certificate, once the handshake has checked the certificate; also
/// checks that an ALPN protocol this node speaks was agreed. Closes the connection on failure.
fn authenticated_peer(connection: &Connection, alpn: &[Vec<u8>]) -> Result<NodeId, ConnectError> {
    let protocol = connection
        .handshake_data()
        .and_then(|data| data.downcast::<HandshakeData>().ok())
        .and_then(|data| data.protocol);
    if !protocol.is_some_and(|p| alpn.contains(&p)) {
        refuse(connection, Refusal::WrongProtocol);
        return Err(ConnectError::Refused(Refusal::WrongProtocol));
    }
    let certs = connection
        .peer_identity()
        .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok());
    let Some(leaf) = certs.as_deref().and_then(|certs| certs.first()) else {
        refuse(connection, Refusal::NoCertificate);
        return Err(ConnectError::Refused(Refusal::NoCertificate));
    };
    node_id_from_certificate(leaf).map_err(|error| {
        refuse(connection, Refusal::NoNodeId);
        ConnectError::from(error)
    })
}
