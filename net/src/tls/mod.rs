//! Mutual TLS between nodes: the cluster CA, node certificates, and the rustls configurations
//! both ends of a QUIC connection use.
//!
//! # Guarantees
//!
//! - **Only holders of a cluster certificate connect.** Both sides present a certificate and
//!   verify the other's against the cluster CA ([`ClusterTrust`]): signature chain, validity
//!   period and key usage. The accepting side requires a client certificate.
//! - **A node's id is its certificate's.** A node certificate names its node with one DNS name
//!   `<id>.node.tern` ([`dns_name`]; see [`NodeId`] for the rules); after the handshake the peer's id is read
//!   from its certificate, never taken from what it says. An id a peer claims later (in its
//!   hello) is compared with [`check_claimed_id`].
//! - **TLS 1.3 only**, with the crypto provider chosen here (*ring*), not a process default.
//! - **The wire version is negotiated by ALPN** (`tern/<major>`, [`ALPN`]); a peer speaking
//!   another major version is refused during the handshake (`no_application_protocol`).
//! - **No 0-RTT and no resumption.** Early data is off on both sides (the server's
//!   `max_early_data_size` is 0; nothing calls quinn's `into_0rtt`), and session tickets are
//!   neither issued nor cached: every connection runs a full handshake, so every connection
//!   re-checks the certificate. Node connections are long-lived, so this costs nothing that
//!   matters.
//!
//! # Deployment
//!
//! Production nodes load three PEM files with [`TlsConfig::from_pem_files`]: the CA certificate,
//! the node's certificate chain, and its private key. Any CA tool can make them, as long as the
//! node certificate carries the DNS name `<id>.node.tern` and the TLS server and client
//! extended key usages; [`ClusterCa`] can make them too. Without files, [`TlsConfig::dev`]
//! issues a certificate from a throwaway per-process CA, so only nodes of the same process can
//! join each other.

mod ca;
mod error;
mod id;
mod pem;
mod verify;

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::NoServerSessionStorage;

pub use crate::proto::{NodeId, NodeIdError, MAX_NODE_ID_LEN};
pub use ca::{ClusterCa, NodePem, DEFAULT_NODE_VALIDITY};
pub use error::TlsError;
pub use id::{dns_name, node_id_from_certificate, NODE_NAME_SUFFIX};
pub use pem::{ClusterTrust, NodeIdentity};

use verify::{NodeClientVerifier, NodeServerVerifier};

/// The major version of the wire protocol this build speaks (the protocol core's
/// [`WIRE_VERSION`](crate::proto::WIRE_VERSION)).
pub const WIRE_MAJOR: u16 = crate::proto::WIRE_VERSION.major;

/// The ALPN protocol id of this build's wire, `tern/<WIRE_MAJOR>`: the protocol core's
/// [`proto::ALPN`](crate::proto::ALPN), so TLS and the hello cannot disagree.
pub const ALPN: &[u8] = crate::proto::ALPN;

/// The crypto provider of every node configuration: *ring*, TLS 1.3 suites only.
pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|suite| suite.version() == &rustls::version::TLS13);
    Arc::new(provider)
}

/// Checks the id a peer claims (in its hello) against the id its certificate names.
///
/// # Errors
/// [`TlsError::IdMismatch`] when they differ.
///
/// # Examples
///
/// ```
/// use tern_net::tls::{check_claimed_id, NodeId, TlsError};
///
/// let certified = NodeId::new("beta")?;
/// assert!(check_claimed_id("beta", &certified).is_ok());
/// assert!(matches!(
///     check_claimed_id("alpha", &certified),
///     Err(TlsError::IdMismatch { .. })
/// ));
/// # Ok::<(), TlsError>(())
/// ```
pub fn check_claimed_id(claimed: &str, certified: &NodeId) -> Result<(), TlsError> {
    if certified.as_str() == claimed {
        Ok(())
    } else {
        Err(TlsError::IdMismatch {
            claimed: claimed.to_owned(),
            certified: certified.clone(),
        })
    }
}

/// A node's TLS configuration: what it trusts, who it is, which wire versions it speaks.
///
/// Cheap to clone. Builds the rustls configurations of both roles
/// ([`client_config`](Self::client_config), [`server_config`](Self::server_config)); the QUIC
/// driver ([`crate::quic`]) wraps them.
///
/// # Examples
///
/// ```
/// use tern_net::tls::{NodeId, TlsConfig};
///
/// // No files: a certificate from this process's dev CA.
/// let config = TlsConfig::dev(&NodeId::new("alpha")?)?;
/// assert_eq!(config.node_id().as_str(), "alpha");
/// let client = config.client_config()?;
/// assert_eq!(client.alpn_protocols, vec![b"tern/1".to_vec()]);
/// # Ok::<(), tern_net::tls::TlsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TlsConfig {
    trust: ClusterTrust,
    identity: Arc<NodeIdentity>,
    alpn: Vec<Vec<u8>>,
}

impl TlsConfig {
    /// A configuration that trusts `trust` and presents `identity`, speaking [`ALPN`].
    pub fn new(trust: ClusterTrust, identity: NodeIdentity) -> Self {
        TlsConfig {
            trust,
            identity: Arc::new(identity),
            alpn: vec![ALPN.to_vec()],
        }
    }

    /// Loads the CA certificate, the node's certificate chain and its private key from PEM
    /// files.
    ///
    /// # Errors
    /// The errors of [`ClusterTrust::from_pem_file`] and [`NodeIdentity::from_pem_files`].
    pub fn from_pem_files(
        ca_cert: impl AsRef<Path>,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        Ok(TlsConfig::new(
            ClusterTrust::from_pem_file(ca_cert)?,
            NodeIdentity::from_pem_files(cert_chain, key)?,
        ))
    }

    /// A configuration for `id` with a fresh certificate from the per-process dev CA
    /// ([`ClusterCa::dev`]): only nodes of this process trust it.
    ///
    /// # Errors
    /// [`TlsError::Generate`] when a key or certificate cannot be made.
    pub fn dev(id: &NodeId) -> Result<Self, TlsError> {
        let ca = ClusterCa::dev()?;
        Ok(TlsConfig::new(ca.trust(), ca.issue(id)?))
    }

    /// Replaces the ALPN protocol ids offered (dialling) and accepted (accepting), most
    /// preferred first. The default is [`ALPN`] alone; a build that speaks two wire versions
    /// lists both.
    pub fn with_alpn_protocols(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// The ALPN protocol ids this configuration offers and accepts.
    pub fn alpn_protocols(&self) -> &[Vec<u8>] {
        &self.alpn
    }

    /// The id this node's certificate names.
    pub fn node_id(&self) -> &NodeId {
        self.identity.id()
    }

    /// The node's credentials.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// The trusted CA certificates.
    pub fn trust(&self) -> &ClusterTrust {
        &self.trust
    }

    /// The rustls configuration for dialling another node: TLS 1.3, presents this node's
    /// certificate, verifies the peer's against the cluster CA, no early data, no resumption.
    ///
    /// # Errors
    /// [`TlsError::Rustls`] when the key does not match the certificate or is unsupported, or
    /// a CA certificate is not a usable trust anchor.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        let provider = crypto_provider();
        let verifier = NodeServerVerifier::new(self.trust.root_store()?, provider.clone());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(self.identity.cert_chain().to_vec(), self.identity.key())?;
        config.alpn_protocols = self.alpn.clone();
        config.enable_early_data = false;
        config.resumption = Resumption::disabled();
        Ok(config)
    }

    /// The rustls configuration for accepting other nodes: TLS 1.3, requires and verifies a
    /// client certificate against the cluster CA, presents this node's certificate, no early
    /// data (`max_early_data_size = 0`), no session tickets.
    ///
    /// # Errors
    /// [`TlsError::Rustls`] or [`TlsError::Verifier`] as for
    /// [`client_config`](Self::client_config).
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = crypto_provider();
        let verifier = NodeClientVerifier::new(self.trust.root_store()?, provider.clone())?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(self.identity.cert_chain().to_vec(), self.identity.key())?;
        config.alpn_protocols = self.alpn.clone();
        config.max_early_data_size = 0;
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(NoServerSessionStorage {});
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_names_the_wire_major() {
        assert_eq!(ALPN, format!("tern/{WIRE_MAJOR}").as_bytes());
    }

    #[test]
    fn issued_certificates_name_their_node() {
        let ca = ClusterCa::generate("test").expect("ca");
        let id = NodeId::new("gamma").expect("id");
        let identity = ca.issue(&id).expect("issue");
        assert_eq!(
            node_id_from_certificate(&identity.cert_chain()[0]).expect("id"),
            id
        );
        let pem = ca.issue_pem(&id).expect("pem");
        let loaded =
            NodeIdentity::from_pem(pem.cert_chain.as_bytes(), pem.key.as_bytes()).expect("load");
        assert_eq!(loaded.id(), &id);
    }

    #[test]
    fn ca_round_trips_through_pem() {
        let ca = ClusterCa::generate("test").expect("ca");
        let again = ClusterCa::from_pem(ca.cert_pem(), &ca.key_pem()).expect("reload");
        assert_eq!(again.cert_der(), ca.cert_der());
        let identity = again
            .issue(&NodeId::new("delta").expect("id"))
            .expect("issue");
        assert_eq!(identity.id().as_str(), "delta");
    }

    #[test]
    fn configs_are_tls13_only_without_early_data() {
        let config = TlsConfig::dev(&NodeId::new("alpha").expect("id")).expect("dev");
        let server = config.server_config().expect("server");
        assert_eq!(server.max_early_data_size, 0);
        assert_eq!(server.send_tls13_tickets, 0);
        assert_eq!(server.alpn_protocols, vec![ALPN.to_vec()]);
        let client = config.client_config().expect("client");
        assert!(!client.enable_early_data);
        for suite in &client.crypto_provider().cipher_suites {
            assert_eq!(suite.version(), &rustls::version::TLS13);
        }
    }

    #[test]
    fn pem_errors_are_typed() {
        assert!(matches!(
            ClusterTrust::from_pem(b"not pem"),
            Err(TlsError::Pem { .. })
        ));
        let ca = ClusterCa::generate("test").expect("ca");
        assert!(matches!(
            NodeIdentity::from_pem(ca.cert_pem().as_bytes(), b""),
            Err(TlsError::Pem {
                what: "private key",
                ..
            })
        ));
        // The CA certificate names no node.
        assert!(matches!(
            NodeIdentity::from_pem(ca.cert_pem().as_bytes(), ca.key_pem().as_bytes()),
            Err(TlsError::NoNodeId)
        ));
        assert!(matches!(
            TlsConfig::from_pem_files("/nonexistent/ca.pem", "/x", "/y"),
            Err(TlsError::Pem { path: Some(_), .. })
        ));
    }

    #[test]
    fn mismatched_key_is_refused() {
        let ca = ClusterCa::generate("test").expect("ca");
        let a = ca.issue(&NodeId::new("a").expect("id")).expect("a");
        let b = ca.issue(&NodeId::new("b").expect("id")).expect("b");
        let franken = NodeIdentity::from_der(a.cert_chain().to_vec(), b.key()).expect("parts");
        let config = TlsConfig::new(ca.trust(), franken);
        assert!(matches!(config.server_config(), Err(TlsError::Rustls(_))));
    }
}
