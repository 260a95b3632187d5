//! Node ids and how a certificate names one.
//!
//! A node certificate names its node with exactly one DNS subject alternative name of the form
//! `<id>.node.tern` ([`NODE_NAME_SUFFIX`]). A DNS name was chosen over a URI because every CA
//! tool (openssl, cfssl, step, rcgen) writes DNS SANs, and webpki checks them natively. Other
//! SANs (a host name for operators, an IP address) are allowed and ignored. A certificate with
//! no `*.node.tern` name, or with two, names no node and is refused.
//!
//! Because the id is a DNS label it is restricted: 1 to 63 characters from `a`–`z`, `0`–`9` and
//! `-`, not starting or ending with `-`. Lower case only, so that the id ↔ name mapping is one to
//! one (DNS compares names without regard to case).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

use super::TlsError;

/// The DNS suffix under which node certificates name their node: `<id>.node.tern`.
pub const NODE_NAME_SUFFIX: &str = "node.tern";

/// The longest node id: one DNS label.
pub const MAX_NODE_ID_LEN: usize = 63;

/// The id of a node, as its certificate names it.
///
/// Cheap to clone. An id is one lower-case DNS label: 1 to 63 characters from `a`–`z`, `0`–`9`
/// and `-`, not starting or ending with `-`. A node certificate names it as the DNS subject
/// alternative name `<id>.node.tern`.
///
/// # Examples
///
/// ```
/// use tern_net::tls::NodeId;
///
/// let id: NodeId = "alpha".parse()?;
/// assert_eq!(id.as_str(), "alpha");
/// assert_eq!(id.dns_name(), "alpha.node.tern");
/// assert!(NodeId::new("Not A Label").is_err());
/// # Ok::<(), tern_net::tls::TlsError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// Checks `id` and makes it a node id.
    ///
    /// # Errors
    /// [`TlsError::InvalidNodeId`] when `id` is not a lower-case DNS label.
    pub fn new(id: &str) -> Result<Self, TlsError> {
        check_label(id).map_err(|reason| TlsError::InvalidNodeId {
            id: id.to_owned(),
            reason,
        })?;
        Ok(NodeId(id.into()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The DNS name a certificate for this node carries: `<id>.node.tern`.
    pub fn dns_name(&self) -> String {
        format!("{}.{NODE_NAME_SUFFIX}", self.0)
    }

    /// Reads the node id a DER certificate names.
    ///
    /// This only reads the name: it does not check the certificate's signature, issuer or
    /// validity. Peers' certificates are checked by the TLS handshake before anything reads them.
    ///
    /// # Errors
    /// [`TlsError::BadCertificate`] when the bytes are not an X.509 certificate,
    /// [`TlsError::NoNodeId`] when it has no `*.node.tern` DNS name,
    /// [`TlsError::AmbiguousNodeId`] when it has several,
    /// [`TlsError::InvalidNodeId`] when the name's first label is not a valid id.
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Result<Self, TlsError> {
        let (rest, parsed) =
            x509_parser::parse_x509_certificate(cert).map_err(|_| TlsError::BadCertificate)?;
        if !rest.is_empty() {
            return Err(TlsError::BadCertificate);
        }
        let sans = parsed
            .subject_alternative_name()
            .map_err(|_| TlsError::BadCertificate)?;
        let mut names = sans
            .iter()
            .flat_map(|ext| ext.value.general_names.iter())
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => node_label(dns),
                _ => None,
            });
        let first = names.next().ok_or(TlsError::NoNodeId)?;
        let others: Vec<String> = names.map(str::to_owned).collect();
        if !others.is_empty() {
            let mut all = vec![first.to_owned()];
            all.extend(others);
            return Err(TlsError::AmbiguousNodeId(all));
        }
        NodeId::new(first)
    }
}

/// The part of `dns` before `.node.tern`, when `dns` is a node name (suffix compared without
/// regard to case, as DNS does).
fn node_label(dns: &str) -> Option<&str> {
    let split = dns.len().checked_sub(NODE_NAME_SUFFIX.len() + 1)?;
    let (label, suffix) = (dns.get(..split)?, dns.get(split..)?);
    let suffix = suffix.strip_prefix('.')?;
    suffix
        .eq_ignore_ascii_case(NODE_NAME_SUFFIX)
        .then_some(label)
}

fn check_label(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("empty");
    }
    if id.len() > MAX_NODE_ID_LEN {
        return Err("longer than 63 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("only a-z, 0-9 and '-' are allowed");
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err("starts or ends with '-'");
    }
    Ok(())
}

impl FromStr for NodeId {
    type Err = TlsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeId::new(s)
    }
}

impl TryFrom<&str> for NodeId {
    type Error = TlsError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        NodeId::new(s)
    }
}

impl AsRef<str> for NodeId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for NodeId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for NodeId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for good in ["a", "alpha", "node-1", "0", &"x".repeat(63)] {
            assert!(NodeId::new(good).is_ok(), "{good:?}");
        }
        for bad in ["", "Alpha", "-a", "a-", "a.b", "a b", "é", &"x".repeat(64)] {
            assert!(
                matches!(NodeId::new(bad), Err(TlsError::InvalidNodeId { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn node_names() {
        assert_eq!(node_label("alpha.node.tern"), Some("alpha"));
        assert_eq!(node_label("alpha.NODE.Tern"), Some("alpha"));
        assert_eq!(node_label("a.b.node.tern"), Some("a.b"));
        assert_eq!(node_label("node.tern"), None);
        assert_eq!(node_label(".node.tern"), Some(""));
        assert_eq!(node_label("alphaxnode.tern"), None);
        assert_eq!(node_label("alpha.node.tern.example"), None);
        assert_eq!(node_label("é.node.tern"), Some("é"));
    }
}
