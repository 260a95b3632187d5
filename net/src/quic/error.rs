//! Connection errors, and how quinn's and rustls' failures map onto them.
//!
//! A TLS failure reaches us as a QUIC error code `0x100 + alert` (RFC 9001 §4.8): as
//! [`quinn::ConnectionError::TransportError`] on the side that refused (it detected the
//! problem), and as [`quinn::ConnectionError::ConnectionClosed`] on the side that was refused
//! (it received the peer's CONNECTION_CLOSE). The alert tells which check failed
//! ([`Refusal::from_alert`]).
//!
//! Refusals decided after the handshake (a claimed id that is not the certificate's, a missing
//! ALPN) close the connection with an application error code in
//! `REFUSAL_CODE_BASE..REFUSAL_CODE_BASE + 0x200`: `+ alert` for the TLS-shaped ones,
//! `+ 0x100` for an id mismatch. The refused side maps it back to the same [`Refusal`].

use quinn::{ConnectionError, VarInt};

use crate::tls::{NodeId, TlsError};

/// The first application close code that carries a [`Refusal`].
pub const REFUSAL_CODE_BASE: u32 = 0x7465_0000;

const ID_MISMATCH_OFFSET: u32 = 0x100;

/// TLS alert numbers (RFC 8446 §6) that name a refusal.
mod alert {
    pub(super) const BAD_CERTIFICATE: u8 = 42;
    pub(super) const UNSUPPORTED_CERTIFICATE: u8 = 43;
    pub(super) const CERTIFICATE_REVOKED: u8 = 44;
    pub(super) const CERTIFICATE_EXPIRED: u8 = 45;
    pub(super) const CERTIFICATE_UNKNOWN: u8 = 46;
    pub(super) const UNKNOWN_CA: u8 = 48;
    pub(super) const ACCESS_DENIED: u8 = 49;
    pub(super) const DECRYPT_ERROR: u8 = 51;
    pub(super) const CERTIFICATE_REQUIRED: u8 = 116;
    pub(super) const NO_APPLICATION_PROTOCOL: u8 = 120;
}

/// Why a handshake between two nodes was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The dialling side presented no certificate (TLS alert 116, `certificate_required`).
    #[error("no client certificate (certificate_required)")]
    NoCertificate,
    /// The certificate does not chain to the cluster CA (alert 48, `unknown_ca`).
    #[error("certificate not issued by the cluster CA (unknown_ca)")]
    UnknownCa,
    /// The certificate has expired or is not yet valid (alert 45, `certificate_expired`).
    #[error("certificate expired or not yet valid (certificate_expired)")]
    Expired,
    /// No common wire version: the ALPN protocols differ (alert 120,
    /// `no_application_protocol`).
    #[error("no common wire version (no_application_protocol)")]
    WrongProtocol,
    /// The certificate chains to the CA but names no node, or several (alert 49,
    /// `access_denied`).
    #[error("the certificate names no node (access_denied)")]
    NoNodeId,
    /// The id the peer claimed is not the one its certificate names.
    #[error("the claimed node id is not the certificate's")]
    IdMismatch,
    /// Another certificate problem: bad encoding, wrong key usage, revoked, bad signature
    /// (alerts 42, 43, 44, 46, 51). Holds the alert.
    #[error("certificate refused (TLS alert {0})")]
    BadCertificate(u8),
    /// Another TLS failure. Holds the alert.
    #[error("TLS handshake failed (alert {0})")]
    Handshake(u8),
}

impl Refusal {
    /// The refusal a TLS alert stands for.
    pub fn from_alert(code: u8) -> Self {
        match code {
            alert::CERTIFICATE_REQUIRED => Refusal::NoCertificate,
            alert::UNKNOWN_CA => Refusal::UnknownCa,
            alert::CERTIFICATE_EXPIRED => Refusal::Expired,
            alert::NO_APPLICATION_PROTOCOL => Refusal::WrongProtocol,
            alert::ACCESS_DENIED => Refusal::NoNodeId,
            alert::BAD_CERTIFICATE
            | alert::UNSUPPORTED_CERTIFICATE
            | alert::CERTIFICATE_REVOKED
            | alert::CERTIFICATE_UNKNOWN
            | alert::DECRYPT_ERROR => Refusal::BadCertificate(code),
            other => Refusal::Handshake(other),
        }
    }

    /// The application close code that tells the peer about this refusal.
    pub(crate) fn close_code(self) -> VarInt {
        let offset = match self {
            Refusal::NoCertificate => alert::CERTIFICATE_REQUIRED.into(),
            Refusal::UnknownCa => alert::UNKNOWN_CA.into(),
            Refusal::Expired => alert::CERTIFICATE_EXPIRED.into(),
            Refusal::WrongProtocol => alert::NO_APPLICATION_PROTOCOL.into(),
            Refusal::NoNodeId => alert::ACCESS_DENIED.into(),
            Refusal::IdMismatch => ID_MISMATCH_OFFSET,
            Refusal::BadCertificate(code) | Refusal::Handshake(code) => code.into(),
        };
        VarInt::from_u32(REFUSAL_CODE_BASE + offset)
    }

    /// The refusal an application close code carries, if it carries one.
    fn from_close_code(code: VarInt) -> Option<Self> {
        let offset = code.into_inner().checked_sub(REFUSAL_CODE_BASE.into())?;
        if offset == u64::from(ID_MISMATCH_OFFSET) {
            return Some(Refusal::IdMismatch);
        }
        u8::try_from(offset).ok().map(Refusal::from_alert)
    }
}

/// The alert inside a QUIC crypto error code (`0x100..=0x1ff`).
fn crypto_alert(code: quinn::TransportErrorCode) -> Option<u8> {
    let code = u64::from(code);
    if (0x100..=0x1ff).contains(&code) {
        u8::try_from(code - 0x100).ok()
    } else {
        None
    }
}

/// Why a connection between two nodes could not be made or was lost.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// This node refused the peer.
    #[error("refused the peer: {0}")]
    Refused(Refusal),
    /// The peer refused this node.
    #[error("refused by the peer: {0}")]
    RefusedByPeer(Refusal),
    /// The peer claimed an id other than the one its certificate names; this node closed the
    /// connection (the peer sees [`Refusal::IdMismatch`]).
    #[error("the peer claims to be {claimed:?} but its certificate names {certified}")]
    IdMismatch {
        /// The id the peer claimed.
        claimed: String,
        /// The id its certificate names.
        certified: NodeId,
    },
    /// Nothing was heard from the peer within the idle timeout: the failure detector's verdict.
    #[error("the peer is unreachable (no packet within the idle timeout)")]
    TimedOut,
    /// This side closed the connection or the endpoint.
    #[error("closed locally")]
    Closed,
    /// The connection could not be started (bad address, endpoint stopping).
    #[error("cannot dial: {0}")]
    Dial(#[from] quinn::ConnectError),
    /// Any other connection failure (reset, protocol violation, peer closed it).
    #[error("connection lost: {0}")]
    Lost(ConnectionError),
    /// TLS succeeded but the hello exchange on the control stream did not: the peer refused
    /// it (another wire major version, a self-connect, …), answered out of protocol, or kept
    /// an older connection to this node that it believes alive
    /// (`PeerGoodbye(Superseded)`: it redials once it sees that connection die).
    #[error("hello failed: {0:?}")]
    Hello(crate::proto::CloseReason),
}

impl From<ConnectionError> for ConnectError {
    fn from(err: ConnectionError) -> Self {
        match &err {
            ConnectionError::TransportError(e) => match crypto_alert(e.code) {
                Some(code) => ConnectError::Refused(Refusal::from_alert(code)),
                None => ConnectError::Lost(err),
            },
            ConnectionError::ConnectionClosed(close) => match crypto_alert(close.error_code) {
                Some(code) => ConnectError::RefusedByPeer(Refusal::from_alert(code)),
                None => ConnectError::Lost(err),
            },
            ConnectionError::ApplicationClosed(close) => {
                match Refusal::from_close_code(close.error_code) {
                    Some(refusal) => ConnectError::RefusedByPeer(refusal),
                    None => ConnectError::Lost(err),
                }
            }
            ConnectionError::TimedOut => ConnectError::TimedOut,
            ConnectionError::LocallyClosed => ConnectError::Closed,
            _ => ConnectError::Lost(err),
        }
    }
}

impl From<TlsError> for ConnectError {
    fn from(err: TlsError) -> Self {
        match err {
            TlsError::IdMismatch { claimed, certified } => {
                ConnectError::IdMismatch { claimed, certified }
            }
            TlsError::NoNodeId | TlsError::AmbiguousNodeId(_) | TlsError::InvalidNodeId(_) => {
                ConnectError::Refused(Refusal::NoNodeId)
            }
            _ => ConnectError::Refused(Refusal::BadCertificate(alert::BAD_CERTIFICATE)),
        }
    }
}

/// Why a node's QUIC endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The crypto provider lacks the cipher suite QUIC's initial packets need.
    #[error("QUIC crypto: {0}")]
    Crypto(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// The idle timeout cannot be represented.
    #[error("idle timeout out of range: {0}")]
    IdleTimeout(#[from] quinn::VarIntBoundsExceeded),
    /// The keep-alive interval is not shorter than the idle timeout, so an idle but healthy
    /// connection would time out.
    #[error(
        "keep-alive interval {keep_alive:?} must be shorter than the idle timeout {idle_timeout:?}"
    )]
    KeepAliveTooLong {
        /// The keep-alive interval.
        keep_alive: std::time::Duration,
        /// The idle timeout.
        idle_timeout: std::time::Duration,
    },
    /// The UDP socket could not be bound, or no tokio runtime is running.
    #[error("binding the UDP socket: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_round_trip() {
        for refusal in [
            Refusal::NoCertificate,
            Refusal::UnknownCa,
            Refusal::Expired,
            Refusal::WrongProtocol,
            Refusal::NoNodeId,
            Refusal::IdMismatch,
            Refusal::BadCertificate(42),
            Refusal::Handshake(40),
        ] {
            assert_eq!(
                Refusal::from_close_code(refusal.close_code()),
                Some(refusal)
            );
        }
        assert_eq!(Refusal::from_close_code(VarInt::from_u32(0)), None);
        assert_eq!(
            Refusal::from_close_code(VarInt::from_u32(REFUSAL_CODE_BASE + 0x200)),
            None
        );
    }

    #[test]
    fn alerts_name_refusals() {
        assert_eq!(Refusal::from_alert(116), Refusal::NoCertificate);
        assert_eq!(Refusal::from_alert(48), Refusal::UnknownCa);
        assert_eq!(Refusal::from_alert(45), Refusal::Expired);
        assert_eq!(Refusal::from_alert(120), Refusal::WrongProtocol);
        assert_eq!(Refusal::from_alert(49), Refusal::NoNodeId);
        assert_eq!(Refusal::from_alert(42), Refusal::BadCertificate(42));
        assert_eq!(Refusal::from_alert(80), Refusal::Handshake(80));
        assert_eq!(
            crypto_alert(quinn::TransportErrorCode::crypto(48)),
            Some(48)
        );
    }
}
