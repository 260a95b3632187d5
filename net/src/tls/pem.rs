//! A node's credentials: the cluster's trust anchor and the node's own certificate and key,
//! loaded from PEM for real deployments.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{node_id_from_certificate, NodeId, TlsError};

/// The certificates a node trusts: its cluster's CA (one or more, for a CA rollover).
///
/// # Examples
///
/// ```
/// use tern_net::tls::{ClusterCa, ClusterTrust};
///
/// let ca = ClusterCa::generate("example")?;
/// let trust = ClusterTrust::from_pem(ca.cert_pem().as_bytes())?;
/// assert_eq!(trust.certificates().len(), 1);
/// # Ok::<(), tern_net::tls::TlsError>(())
/// ```
#[derive(Clone)]
pub struct ClusterTrust {
    certs: Vec<CertificateDer<'static>>,
}

impl ClusterTrust {
    /// A trust anchor made of one DER CA certificate.
    pub fn from_der(cert: CertificateDer<'static>) -> Self {
        ClusterTrust { certs: vec![cert] }
    }

    /// Reads every `CERTIFICATE` block of a PEM text.
    ///
    /// # Errors
    /// [`TlsError::Pem`] when the text is malformed or holds no certificate;
    /// [`TlsError::Rustls`] when a certificate is not a usable trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TlsError> {
        let certs = read_certs(CertificateDer::pem_slice_iter(pem), "CA certificate", None)?;
        ClusterTrust::checked(certs)
    }

    /// Reads every `CERTIFICATE` block of a PEM file.
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and [`TlsError::Pem`] when the file cannot be read.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let path = path.as_ref();
        let iter = CertificateDer::pem_file_iter(path).map_err(|source| TlsError::Pem {
            what: "CA certificate",
            path: Some(path.to_owned()),
            source,
        })?;
        let certs = read_certs(iter, "CA certificate", Some(path))?;
        ClusterTrust::checked(certs)
    }

    fn checked(certs: Vec<CertificateDer<'static>>) -> Result<Self, TlsError> {
        let trust = ClusterTrust { certs };
        trust.root_store()?;
        Ok(trust)
    }

    /// The CA certificates, DER.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    pub(crate) fn root_store(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in &self.certs {
            roots.add(cert.clone())?;
        }
        Ok(Arc::new(roots))
    }
}

impl fmt::Debug for ClusterTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterTrust")
            .field("certificates", &self.certs.len())
            .finish()
    }
}

/// A node's own credentials: its certificate chain (the node certificate first) and private
/// key, and the node id the certificate names.
///
/// # Examples
///
/// ```
/// use tern_net::tls::{ClusterCa, NodeId, NodeIdentity};
///
/// let ca = ClusterCa::generate("example")?;
/// let files = ca.issue_pem(&NodeId::new("beta")?)?;
/// let beta = NodeIdentity::from_pem(files.cert_chain.as_bytes(), files.key.as_bytes())?;
/// assert_eq!(beta.id().as_str(), "beta");
/// # Ok::<(), tern_net::tls::TlsError>(())
/// ```
pub struct NodeIdentity {
    id: NodeId,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl NodeIdentity {
    pub(crate) fn from_parts(
        id: NodeId,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        NodeIdentity { id, chain, key }
    }

    /// Builds an identity from DER parts, reading the node id from the first certificate.
    ///
    /// Whether the key matches the certificate is checked when a TLS configuration is built
    /// from it ([`TlsError::Rustls`] then).
    ///
    /// # Errors
    /// [`TlsError::Pem`] when `chain` is empty; the errors of [`node_id_from_certificate`].
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        let leaf = chain.first().ok_or(TlsError::Pem {
            what: "certificate chain",
            path: None,
            source: rustls_pki_types::pem::Error::NoItemsFound,
        })?;
        let id = node_id_from_certificate(leaf)?;
        Ok(NodeIdentity { id, chain, key })
    }

    /// Reads a certificate chain (node certificate first) and a private key (PKCS#8, PKCS#1 or
    /// SEC1) from PEM texts.
    ///
    /// # Errors
    /// [`TlsError::Pem`] when either is malformed or missing; the errors of
    /// [`node_id_from_certificate`].
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let chain = read_certs(
            CertificateDer::pem_slice_iter(chain_pem),
            "certificate chain",
            None,
        )?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| TlsError::Pem {
            what: "private key",
            path: None,
            source,
        })?;
        NodeIdentity::from_der(chain, key)
    }

    /// Reads a certificate chain and a private key from PEM files.
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem), and [`TlsError::Pem`] when a file cannot be read.
    pub fn from_pem_files(
        chain_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let (chain_path, key_path) = (chain_path.as_ref(), key_path.as_ref());
        let iter = CertificateDer::pem_file_iter(chain_path).map_err(|source| TlsError::Pem {
            what: "certificate chain",
            path: Some(chain_path.to_owned()),
            source,
        })?;
        let chain = read_certs(iter, "certificate chain", Some(chain_path))?;
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|source| TlsError::Pem {
            what: "private key",
            path: Some(key_path.to_owned()),
            source,
        })?;
        NodeIdentity::from_der(chain, key)
    }

    /// The node id the certificate names.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// The certificate chain, node certificate first.
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("id", &self.id)
            .field("chain", &self.chain.len())
            .field("key", &"[secret]")
            .finish()
    }
}

fn read_certs(
    iter: impl Iterator<Item = Result<CertificateDer<'static>, rustls_pki_types::pem::Error>>,
    what: &'static str,
    path: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        what,
        path: path.map(Path::to_owned),
        source,
    };
    let certs = iter.collect::<Result<Vec<_>, _>>().map_err(pem_error)?;
    if certs.is_empty() {
        return Err(pem_error(rustls_pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}
