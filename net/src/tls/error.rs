//! Errors of the TLS configuration: ids, certificates, PEM files.

use std::path::PathBuf;

use super::{NodeId, NodeIdError};

/// What went wrong building or checking a node's TLS identity.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A node id (given, or read from a certificate's name) is not a lower-case DNS label.
    #[error(transparent)]
    InvalidNodeId(#[from] NodeIdError),
    /// A certificate has no `<id>.node.tern` DNS name.
    #[error("the certificate names no node (no DNS name ending in .node.tern)")]
    NoNodeId,
    /// A certificate has several `<id>.node.tern` DNS names.
    #[error("the certificate names several nodes: {0:?}")]
    AmbiguousNodeId(Vec<String>),
    /// Bytes that should be a DER X.509 certificate are not one.
    #[error("not a DER X.509 certificate")]
    BadCertificate,
    /// A peer claims an id other than the one its certificate names.
    #[error("the peer claims to be {claimed:?} but its certificate names {certified}")]
    IdMismatch {
        /// The id the peer claimed.
        claimed: String,
        /// The id its certificate names.
        certified: NodeId,
    },
    /// A PEM file could not be read or parsed.
    #[error("reading {what} from {}: {source}", path.as_ref().map_or("memory".into(), |p| p.display().to_string()))]
    Pem {
        /// What was being read: "CA certificate", "certificate chain" or "private key".
        what: &'static str,
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The parser's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate's validity period cannot be represented.
    #[error("the certificate's validity period is out of range")]
    Validity,
    /// rustls refused the configuration (for example a key that does not match the certificate,
    /// or a CA certificate that is not a usable trust anchor).
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built (for example, no trust anchor).
    #[error("client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// Generating a key or certificate failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
}
