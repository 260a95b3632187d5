//! How a certificate names a node.
//!
//! A node certificate names its node with exactly one DNS subject alternative name of the form
//! `<id>.node.tern` ([`NODE_NAME_SUFFIX`]). A DNS name was chosen over a URI because every CA
//! tool (openssl, cfssl, step, rcgen) writes DNS SANs, and webpki checks them natively. Other
//! SANs (a host name for operators, an IP address) are allowed and ignored. A certificate with
//! no `*.node.tern` name, or with two, names no node and is refused.
//!
//! The id itself is the wire's [`NodeId`]: one lower-case DNS label, so that the id ↔ name
//! mapping is one to one.

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

use super::TlsError;
use crate::proto::NodeId;

/// The DNS suffix under which node certificates name their node: `<id>.node.tern`.
pub const NODE_NAME_SUFFIX: &str = "node.tern";

/// The DNS name a certificate for node `id` carries: `<id>.node.tern`.
///
/// # Examples
///
/// ```
/// use tern_net::tls::{dns_name, NodeId};
///
/// assert_eq!(dns_name(&NodeId::new("alpha")?), "alpha.node.tern");
/// # Ok::<(), tern_net::tls::TlsError>(())
/// ```
pub fn dns_name(id: &NodeId) -> String {
    format!("{id}.{NODE_NAME_SUFFIX}")
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
pub fn node_id_from_certificate(cert: &CertificateDer<'_>) -> Result<NodeId, TlsError> {
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
    Ok(NodeId::new(first)?)
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

#[cfg(test)]
mod tests {
    use super::*;

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
