//! The message set: one [`Message`] per frame.
//!
//! Wire compatibility: postcard encodes an enum variant as its index, so new variants and new
//! messages are added at the end, and a change that old peers cannot read bumps the minor
//! version (readable by old peers) or the major version (not readable; ALPN keeps such peers
//! apart). No type here contains itself (see the [module docs](super), "No recursion").

use serde::{Deserialize, Serialize};

use super::error::ProtoError;
use super::ids::{ChannelId, Incarnation, NodeId, OpId, Payload, TypeKey};
use super::Limits;

/// A wire protocol version: peers with different majors do not talk; the minor is the newest
/// feature level both understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WireVersion {
    /// Incompatible changes.
    pub major: u16,
    /// Compatible additions.
    pub minor: u16,
}

/// The wire version this build speaks.
pub const WIRE_VERSION: WireVersion = WireVersion { major: 1, minor: 0 };

/// The TLS ALPN protocol id: carries the wire major version, so peers of another major fail
/// the TLS handshake (alert 120) instead of misreading frames.
pub const ALPN: &[u8] = b"tern/1";

/// Everything that travels in a frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Dialer → listener: the first message on a connection.
    Hello(Hello),
    /// Listener → dialer: the handshake succeeded.
    HelloAck(HelloAck),
    /// Listener → dialer: the handshake failed; the connection closes.
    Refuse(RefuseReason),
    /// A keep-alive probe; answered by a `Pong` with the same nonce.
    Ping(u64),
    /// The answer to a `Ping`.
    Pong(u64),
    /// The sender closes the connection gracefully.
    Goodbye(GoodbyeReason),
    /// A party's node → a channel's home.
    ToHome(ToHome),
    /// A channel's home → a party's node.
    FromHome(FromHome),
    /// Moving tasks between nodes, and finding them (see [`super::migrate`]).
    Migrate(super::migrate::Migrate),
    /// Calls on remote objects, and the accounting of references to them (see
    /// [`super::remote`]).
    Remote(super::remote::Remote),
}

/// The dialer's greeting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The newest wire version the dialer speaks.
    pub version: WireVersion,
    /// The dialer's node id (must be the one its certificate names).
    pub node: NodeId,
    /// The dialer's incarnation.
    pub incarnation: Incarnation,
    /// The largest frame body the dialer accepts.
    pub max_frame: u32,
}

/// The listener's acceptance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloAck {
    /// The version both will use: the dialer's major, the smaller minor.
    pub version: WireVersion,
    /// The listener's node id.
    pub node: NodeId,
    /// The listener's incarnation.
    pub incarnation: Incarnation,
    /// The largest frame body the listener accepts.
    pub max_frame: u32,
}

/// Why a handshake was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RefuseReason {
    /// The major versions differ.
    Version {
        /// The version the listener speaks.
        supported: WireVersion,
    },
    /// The node id in the `Hello` is not the one the certificate names.
    IdMismatch {
        /// The id the `Hello` claimed.
        claimed: NodeId,
        /// The id the certificate names.
        certified: NodeId,
    },
    /// The dialer is the listener itself.
    SelfConnect,
    /// The listener is shutting down.
    ShuttingDown,
    /// The dialer's receive limit is too small to carry the protocol's messages.
    FrameLimitTooSmall {
        /// The smallest acceptable limit.
        min: u32,
    },
}

/// Why a connection is closed gracefully.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GoodbyeReason {
    /// The node is shutting down.
    Shutdown,
    /// Another connection to the same peer survives (see `surviving_dialer`).
    Superseded,
    /// The peer broke the protocol (a message out of place, a malformed frame).
    ProtocolViolation,
}

/// A party's node → a channel's home. Every variant names the full channel identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToHome {
    /// Declares that the sender holds handles on `chan`: creates it at the home if it does not
    /// exist, else checks type and capacity. Answered by `Opened` or `Rejected`.
    Open {
        /// The channel.
        chan: ChannelId,
    },
    /// The sender holds no handle on `chan` any more (the home may forget an idle channel).
    Release {
        /// The channel.
        chan: ChannelId,
    },
    /// A party sends `value`. Answered by one `Done`.
    Send {
        /// The channel.
        chan: ChannelId,
        /// The operation.
        op: OpId,
        /// The value, encoded.
        value: Payload,
    },
    /// A party waits for a value. Answered by one `Done`.
    Recv {
        /// The channel.
        chan: ChannelId,
        /// The operation.
        op: OpId,
    },
    /// The party is freezing (to move): take `op` back if it has not matched. Answered by the
    /// operation's `Done`: `Withdrawn`, or the outcome it already had.
    Withdraw {
        /// The channel.
        chan: ChannelId,
        /// The operation to withdraw.
        op: OpId,
    },
    /// The outcome of `op` arrived; the home may forget it.
    Ack {
        /// The channel.
        chan: ChannelId,
        /// The operation.
        op: OpId,
    },
    /// Closes the channel for everyone.
    Close {
        /// The channel.
        chan: ChannelId,
    },
    /// Asks for the channel's balance. Answered by `BalanceIs` with the same `query`.
    Balance {
        /// The channel.
        chan: ChannelId,
        /// The asker's correlation number.
        query: u64,
    },
    /// A send the sender's node already completed against credit the home granted it
    /// (`FromHome::Credit`): the home must take `value` into the buffer (room was reserved
    /// for it), even if the channel was closed since. Not answered one by one: the home
    /// acknowledges a node's stream cumulatively in its next `Credit`. `op` numbers the
    /// node's stream on this channel (`op.seq` grows by one per value); a repeat is dropped.
    Stream {
        /// The channel.
        chan: ChannelId,
        /// The value's place in the node's stream.
        op: OpId,
        /// The value, encoded.
        value: Payload,
    },
}

impl ToHome {
    /// The channel the message is about.
    pub fn chan(&self) -> &ChannelId {
        match self {
            ToHome::Open { chan }
            | ToHome::Release { chan }
            | ToHome::Send { chan, .. }
            | ToHome::Recv { chan, .. }
            | ToHome::Withdraw { chan, .. }
            | ToHome::Ack { chan, .. }
            | ToHome::Close { chan }
            | ToHome::Balance { chan, .. }
            | ToHome::Stream { chan, .. } => chan,
        }
    }
}

/// A channel's home → a party's node. Every variant names the full channel identity, as the
/// asker gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromHome {
    /// `Open` succeeded.
    Opened {
        /// The channel.
        chan: ChannelId,
        /// Whether it is already closed.
        closed: bool,
    },
    /// A message that carries no operation (`Open`, `Close`, `Balance`, `Release`) was
    /// refused.
    Rejected {
        /// The channel, as the refused message named it.
        chan: ChannelId,
        /// Why.
        reason: Rejection,
    },
    /// The outcome of an operation: exactly one per operation, repeated identically if the
    /// operation or a `Withdraw` of it arrives again before the `Ack`.
    Done {
        /// The channel.
        chan: ChannelId,
        /// The operation.
        op: OpId,
        /// What happened.
        outcome: Outcome,
    },
    /// The channel was closed (sent to every node that opened it).
    ChannelClosed {
        /// The channel.
        chan: ChannelId,
    },
    /// The answer to `Balance`.
    BalanceIs {
        /// The channel.
        chan: ChannelId,
        /// The asker's correlation number.
        query: u64,
        /// Senders waiting (> 0) or minus receivers waiting (< 0), over the whole cluster.
        balance: i64,
        /// Values buffered.
        len: u64,
        /// Whether the channel is closed.
        closed: bool,
    },
    /// Grants the node `credit` more sends it may complete itself (room reserved in the
    /// buffer for its `Stream`), and acknowledges its stream up to `acked` (the highest
    /// `op.seq` of `stream` taken).
    Credit {
        /// The channel.
        chan: ChannelId,
        /// The node's stream party on this channel.
        stream: super::ids::PartyId,
        /// The highest stream sequence number taken so far.
        acked: u64,
        /// Additional sends granted.
        credit: u64,
    },
}

impl FromHome {
    /// The channel the message is about.
    pub fn chan(&self) -> &ChannelId {
        match self {
            FromHome::Opened { chan, .. }
            | FromHome::Rejected { chan, .. }
            | FromHome::Done { chan, .. }
            | FromHome::ChannelClosed { chan }
            | FromHome::BalanceIs { chan, .. }
            | FromHome::Credit { chan, .. } => chan,
        }
    }
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A send completed: a receiver took the value, or the buffer did.
    Sent,
    /// A receive completed with this value.
    Received(Payload),
    /// The channel is closed: a send gets its value back; a receive found it closed and empty.
    Closed {
        /// A send's value, handed back.
        value: Option<Payload>,
    },
    /// Withdrawn before it matched: a send gets its value back.
    Withdrawn {
        /// A send's value, handed back.
        value: Option<Payload>,
    },
    /// The home refused the operation; a send gets its value back.
    Rejected {
        /// Why.
        reason: Rejection,
        /// A send's value, handed back.
        value: Option<Payload>,
    },
}

/// Why a home refused a channel message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rejection {
    /// The channel exists with another element type or capacity.
    Mismatch {
        /// The existing channel's type key.
        found_ty: TypeKey,
        /// The existing channel's capacity.
        found_cap: u64,
    },
    /// The operation's epoch is older than one the home has seen for its party.
    Stale {
        /// The newest epoch the home has seen for the party.
        current: u64,
    },
    /// This node is not the channel's home under its membership.
    NotHome {
        /// The home it computes, if any.
        home: Option<NodeId>,
    },
    /// The home parks no more parties from this peer on this channel; retry later.
    Overloaded,
    /// The channel has no operation with this id (a `Withdraw` or `Ack` of an unknown op).
    UnknownOp,
}

// ---- validation ------------------------------------------------------------------------------

impl Message {
    /// The message's kind, for logs and errors: `"Hello"`, `"ToHome::Send"`, ….
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "Hello",
            Message::HelloAck(_) => "HelloAck",
            Message::Refuse(_) => "Refuse",
            Message::Ping(_) => "Ping",
            Message::Pong(_) => "Pong",
            Message::Goodbye(_) => "Goodbye",
            Message::ToHome(m) => match m {
                ToHome::Open { .. } => "ToHome::Open",
                ToHome::Release { .. } => "ToHome::Release",
                ToHome::Send { .. } => "ToHome::Send",
                ToHome::Recv { .. } => "ToHome::Recv",
                ToHome::Withdraw { .. } => "ToHome::Withdraw",
                ToHome::Ack { .. } => "ToHome::Ack",
                ToHome::Close { .. } => "ToHome::Close",
                ToHome::Balance { .. } => "ToHome::Balance",
                ToHome::Stream { .. } => "ToHome::Stream",
            },
            Message::FromHome(m) => match m {
                FromHome::Opened { .. } => "FromHome::Opened",
                FromHome::Rejected { .. } => "FromHome::Rejected",
                FromHome::Done { .. } => "FromHome::Done",
                FromHome::ChannelClosed { .. } => "FromHome::ChannelClosed",
                FromHome::BalanceIs { .. } => "FromHome::BalanceIs",
                FromHome::Credit { .. } => "FromHome::Credit",
            },
            Message::Migrate(m) => m.kind(),
            Message::Remote(m) => match m {
                super::remote::Remote::Call { .. } => "Remote::Call",
                super::remote::Remote::Reply { .. } => "Remote::Reply",
                super::remote::Remote::Done { .. } => "Remote::Done",
                super::remote::Remote::Ref { .. } => "Remote::Ref",
                super::remote::Remote::RefAck { .. } => "Remote::RefAck",
            },
        }
    }

    /// Whether the message is for the application (channels, moves, remote objects) rather
    /// than the connection (handshake, liveness, goodbye): what lanes carry and the mesh
    /// delivers.
    pub fn is_application(&self) -> bool {
        match self {
            Message::ToHome(_)
            | Message::FromHome(_)
            | Message::Migrate(_)
            | Message::Remote(_) => true,
            Message::Hello(_)
            | Message::HelloAck(_)
            | Message::Refuse(_)
            | Message::Ping(_)
            | Message::Pong(_)
            | Message::Goodbye(_) => false,
        }
    }

    /// Checks every bounded field (channel names) against `limits`. (Node ids need no check:
    /// a [`NodeId`] is valid by construction, decoding included.)
    ///
    /// Done by [`encode`](super::encode) and by the [`Decoder`](super::Decoder) on every
    /// message, so callers rarely need it.
    ///
    /// # Errors
    /// [`ProtoError::Invalid`] naming the first field out of bounds.
    pub fn validate(&self, limits: &Limits) -> Result<(), ProtoError> {
        match self {
            Message::Hello(_)
            | Message::HelloAck(_)
            | Message::Refuse(_)
            | Message::Ping(_)
            | Message::Pong(_)
            | Message::Goodbye(_)
            | Message::Migrate(_)
            | Message::Remote(_) => Ok(()),
            Message::ToHome(m) => m.chan().name.check(limits),
            Message::FromHome(m) => m.chan().name.check(limits),
        }
    }
}
