//! What a [`Mesh`](super::Mesh) hands to its user: deliveries, peer events, send errors and
//! counters.

use std::fmt;
use std::net::SocketAddr;

use crate::proto::{Incarnation, Message, NodeId, ProtoError};

use super::ConnectError;

/// One item from the [`Inbox`](super::Inbox): a message from a peer, or a change of a peer's
/// connection.
///
/// Per peer, items come in connection order: `Up` of a connection, then the messages read
/// from it, then its `Down` (if it went down rather than being replaced), then the next `Up`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// An application message (`ToHome` or `FromHome`) from `from`.
    Message {
        /// The sender, as its certificate names it.
        from: NodeId,
        /// The message.
        message: Message,
    },
    /// A peer's connection came up or went down.
    Event(PeerEvent),
}

/// A change in the connection to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// A connection to `node` is established and is now the one this node uses.
    ///
    /// Every `Up` is a new connection. Anything [`Mesh::send`](super::Mesh::send) accepted on
    /// an earlier connection to `node` and that the layer above has not seen answered may have
    /// been lost with it: resend it (the home deduplicates by op id). Compare `incarnation`
    /// with the one seen before to tell a reconnect (equal: resend) from a restart (different:
    /// fail what was pending with `NodeDown`).
    Up {
        /// The peer.
        node: NodeId,
        /// The peer's incarnation, from its hello.
        incarnation: Incarnation,
        /// A number that grows with every connection this mesh establishes (to any peer).
        generation: u64,
        /// The peer's address as this connection sees it.
        addr: SocketAddr,
    },
    /// The connection to `node` is gone and no other replaced it. Every send to `node`
    /// waiting for buffer space has failed with [`SendError::NodeDown`], and every later send
    /// fails the same way until the next `Up`.
    Down {
        /// The peer.
        node: NodeId,
        /// The generation of the connection that went down.
        generation: u64,
        /// Why.
        reason: DownReason,
    },
}

/// The connection to a peer, as [`Mesh::peer_info`](super::Mesh::peer_info) reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStatus {
    /// The peer's incarnation.
    pub incarnation: Incarnation,
    /// The connection's generation (as in [`PeerEvent::Up`]).
    pub generation: u64,
    /// Which node dialled the connection.
    pub dialer: NodeId,
    /// The peer's address.
    pub addr: SocketAddr,
}

/// Why a connection went down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// Nothing was heard from the peer within the idle timeout: the failure detector's
    /// verdict (the peer crashed, or the network between the two is cut).
    TimedOut,
    /// The peer shut down and said goodbye. It is not redialled.
    Shutdown,
    /// The peer restarted: a connection from a new incarnation replaced this one.
    Restarted,
    /// The peer closed the connection because another one to this node survives
    /// (simultaneous dials), but that one never completed here.
    Superseded,
    /// This node shut down ([`Mesh::shutdown`](super::Mesh::shutdown)).
    Closed,
    /// The connection failed otherwise: reset, protocol violation, dropped by
    /// [`Mesh::disconnect`](super::Mesh::disconnect) on either side, closed by the peer for
    /// another reason.
    Lost(String),
}

impl DownReason {
    /// Whether the mesh redials after this (when it is the side that dials: see
    /// [`surviving_dialer`](crate::proto::surviving_dialer)).
    pub(crate) fn redial(&self) -> bool {
        matches!(
            self,
            DownReason::TimedOut | DownReason::Superseded | DownReason::Lost(_)
        )
    }
}

impl From<ConnectError> for DownReason {
    fn from(error: ConnectError) -> Self {
        match error {
            ConnectError::TimedOut => DownReason::TimedOut,
            ConnectError::Closed => DownReason::Closed,
            other => DownReason::Lost(other.to_string()),
        }
    }
}

/// Why [`Mesh::send`](super::Mesh::send) or [`Mesh::try_send`](super::Mesh::try_send) did
/// not queue a message. Every variant hands the message back.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No connection to the peer is up, or it went down while the send waited for buffer
    /// space.
    #[error("node {peer} is down")]
    NodeDown {
        /// The peer.
        peer: NodeId,
        /// The message, not sent.
        message: Message,
    },
    /// The message does not encode for this peer: a field out of bounds, or larger than the
    /// peer's announced frame limit.
    #[error("message does not encode for the peer: {error}")]
    Encode {
        /// Why.
        error: ProtoError,
        /// The message, not sent.
        message: Message,
    },
    /// The message is one of the driver's own (handshake, ping, goodbye); only `ToHome` and
    /// `FromHome` are sent through the mesh.
    #[error("{} is the driver's own message", message.kind())]
    Reserved {
        /// The message, not sent.
        message: Message,
    },
    /// [`try_send`](super::Mesh::try_send) only: the lane's buffer is full.
    #[error("the lane's send buffer is full")]
    Full {
        /// The message, not sent.
        message: Message,
    },
    /// The mesh is shutting down.
    #[error("the mesh is shut down")]
    Shutdown {
        /// The message, not sent.
        message: Message,
    },
}

impl SendError {
    /// The message that was not sent.
    pub fn into_message(self) -> Message {
        match self {
            SendError::NodeDown { message, .. }
            | SendError::Encode { message, .. }
            | SendError::Reserved { message }
            | SendError::Full { message }
            | SendError::Shutdown { message } => message,
        }
    }
}

impl fmt::Debug for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message's kind, not its payload.
        let (variant, message) = match self {
            SendError::NodeDown { message, .. } => ("NodeDown", message),
            SendError::Encode { message, .. } => ("Encode", message),
            SendError::Reserved { message } => ("Reserved", message),
            SendError::Full { message } => ("Full", message),
            SendError::Shutdown { message } => ("Shutdown", message),
        };
        write!(f, "SendError::{variant}({}: {self})", message.kind())
    }
}

/// Counters of a mesh, since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MeshStats {
    /// Connections that completed the hello and became a peer's connection.
    pub connections: u64,
    /// Connection attempts refused: TLS refusals, a claimed id that is not the
    /// certificate's, a failed or timed-out hello.
    pub refused: u64,
    /// Connections closed because another one to the same peer survives.
    pub superseded: u64,
    /// Frames on an authenticated stream that did not decode (or were not application
    /// messages) and were skipped.
    pub bad_frames: u64,
    /// Streams whose framing broke (an oversize length prefix): reading stopped, the
    /// connection kept.
    pub streams_reset: u64,
    /// Frames written.
    pub frames_written: u64,
    /// Stream writes: `frames_written / batches_written` is the batching factor.
    pub batches_written: u64,
    /// Application messages put into the inbox.
    pub messages_received: u64,
}
