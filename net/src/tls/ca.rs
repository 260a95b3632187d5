//! A cluster certificate authority that issues node certificates (rcgen).
//!
//! Real deployments may use any CA tool; this one exists so that tests, examples and the
//! per-process dev CA need no setup, and so that an operator can make a small cluster's CA and
//! node files from Rust. Certificates it issues follow [`super::id`]: one DNS name
//! `<id>.node.tern`, both TLS server and client usage (a node dials and accepts), ECDSA P-256.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{dns_name, ClusterTrust, NodeId, NodeIdentity, TlsError};

/// How long a node certificate issued by [`ClusterCa::issue`] is valid: one year.
pub const DEFAULT_NODE_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How far in the past an issued certificate's validity starts, to tolerate clock skew
/// between nodes: one hour.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// A cluster's certificate authority: the trust anchor of every node and the issuer of node
/// certificates.
///
/// # Examples
///
/// ```
/// use tern_net::tls::{ClusterCa, NodeId, TlsConfig};
///
/// let ca = ClusterCa::generate("example cluster")?;
/// let alpha = ca.issue(&NodeId::new("alpha")?)?;
/// assert_eq!(alpha.id().as_str(), "alpha");
/// let config = TlsConfig::new(ca.trust(), alpha);
/// assert_eq!(config.node_id().as_str(), "alpha");
/// # Ok::<(), tern_net::tls::TlsError>(())
/// ```
pub struct ClusterCa {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    cert_pem: String,
}

/// A node certificate and its key in PEM, as [`ClusterCa::issue_pem`] makes them: what an
/// operator writes to a node's files, and what [`NodeIdentity::from_pem`] reads.
#[derive(Clone)]
pub struct NodePem {
    /// The certificate chain (here: the node certificate alone), PEM.
    pub cert_chain: String,
    /// The node's private key, PKCS#8 PEM. Secret.
    pub key: String,
}

impl fmt::Debug for NodePem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodePem")
            .field("cert_chain", &self.cert_chain)
            .field("key", &"[secret]")
            .finish()
    }
}

impl ClusterCa {
    /// Makes a new self-signed CA whose subject common name is `name`.
    ///
    /// # Errors
    /// [`TlsError::Generate`] when key generation or signing fails.
    pub fn generate(name: &str) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from its certificate and private key in PEM, to issue more node certificates.
    ///
    /// # Errors
    /// [`TlsError::Generate`] when either cannot be parsed.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        let cert = ClusterTrust::from_pem(cert_pem.as_bytes())?
            .certificates()
            .first()
            .cloned()
            .ok_or(TlsError::BadCertificate)?;
        Ok(ClusterCa {
            issuer,
            cert,
            cert_pem: cert_pem.to_owned(),
        })
    }

    /// The process-wide dev CA: made on first use, never written anywhere, gone when the
    /// process exits. Only nodes of this process hold certificates from it, so only they can
    /// join each other.
    ///
    /// # Errors
    /// [`TlsError::Generate`] when it cannot be made (the first call only; later calls retry).
    pub fn dev() -> Result<&'static ClusterCa, TlsError> {
        static DEV: OnceLock<ClusterCa> = OnceLock::new();
        if let Some(ca) = DEV.get() {
            return Ok(ca);
        }
        let ca = ClusterCa::generate("tern dev CA (this process only)")?;
        Ok(DEV.get_or_init(|| ca))
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate, PEM: the file every node of the cluster trusts.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PKCS#8 PEM. Secret: keep it off the nodes.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The trust anchor made of this CA alone.
    pub fn trust(&self) -> ClusterTrust {
        ClusterTrust::from_der(self.cert.clone())
    }

    /// Issues a node certificate and key for `id`, valid from an hour ago for
    /// [`DEFAULT_NODE_VALIDITY`].
    ///
    /// # Errors
    /// [`TlsError::Generate`] when generation fails.
    pub fn issue(&self, id: &NodeId) -> Result<NodeIdentity, TlsError> {
        let now = SystemTime::now();
        self.issue_valid(
            id,
            now.checked_sub(BACKDATE).unwrap_or(now),
            now + DEFAULT_NODE_VALIDITY,
        )
    }

    /// Issues a node certificate and key for `id`, valid from `not_before` to `not_after`
    /// (which may lie in the past: tests make expired certificates with it).
    ///
    /// # Errors
    /// [`TlsError::Validity`] when a time is before 1970 or too far ahead;
    /// [`TlsError::Generate`] when generation fails.
    pub fn issue_valid(
        &self,
        id: &NodeId,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<NodeIdentity, TlsError> {
        let (cert, key) = self.sign(id, not_before, not_after)?;
        Ok(NodeIdentity::from_parts(
            id.clone(),
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    }

    /// Like [`issue`](Self::issue), in PEM: for writing a node's certificate and key files.
    ///
    /// # Errors
    /// [`TlsError::Generate`] when generation fails.
    pub fn issue_pem(&self, id: &NodeId) -> Result<NodePem, TlsError> {
        let now = SystemTime::now();
        let (cert, key) = self.sign(
            id,
            now.checked_sub(BACKDATE).unwrap_or(now),
            now + DEFAULT_NODE_VALIDITY,
        )?;
        Ok(NodePem {
            cert_chain: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    fn sign(
        &self,
        id: &NodeId,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(rcgen::Certificate, KeyPair), TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, id.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::DnsName(dns_name(id).try_into()?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = to_offset(not_before)?;
        params.not_after = to_offset(not_after)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert, key))
    }
}

fn to_offset(t: SystemTime) -> Result<time::OffsetDateTime, TlsError> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| TlsError::Validity)?
        .as_secs();
    let secs = i64::try_from(secs).map_err(|_| TlsError::Validity)?;
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| TlsError::Validity)
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("cert_pem", &self.cert_pem)
            .field("key", &"[secret]")
            .finish()
    }
}
