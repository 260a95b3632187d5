//! The sans-IO protocol core: frames, messages, the handshake, liveness and the channel protocol
//! between a node and a channel's home node.
//!
//! Nothing here does IO or reads a clock: callers feed bytes, decoded messages and the current
//! time in, and take messages to send, events and deadlines out. The QUIC driver, the in-memory
//! transport and the deterministic simulations all drive the same code. This module imports no
//! tokio and no quinn.
//!
//! # Frames
//!
//! ```text
//! frame = length (u32, little endian) | body (length bytes) = postcard(Message)
//! ```
//!
//! - **Size cap before allocation.** [`Decoder`] reads the 4-byte prefix and refuses a length
//!   above [`Limits::max_frame`] with [`ProtoError::Oversize`] before it stores a byte of the
//!   body; a body is then buffered only as its bytes arrive, so a peer announcing a large frame
//!   and sending nothing costs nothing. An oversize prefix is fatal for the stream (the decoder
//!   refuses everything after it): the framing cannot be trusted any more.
//! - **One message per frame, no trailing bytes.** A body must decode as exactly one
//!   [`Message`]; bytes left over give [`ProtoError::TrailingBytes`] (postcard happily decodes a
//!   prefix of a frame of one type as another type, so "consumed everything" is part of the
//!   check). Malformed and trailing-byte errors are not fatal: the length prefix still says
//!   where the next frame starts, and the decoder continues there.
//! - **No recursion.** No wire type contains itself, directly or through a collection, so
//!   decoding recurses to a small depth fixed by the types, whatever the bytes say; a frame of
//!   a million nesting-looking bytes is a malformed frame, not a stack overflow. Batching
//!   small messages is done by writing several frames back to back, never by a message that
//!   contains messages.
//! - **Checked fields.** After decoding, every message is validated ([`Message::validate`]):
//!   channel names have bounded lengths and no control characters, and node ids are
//!   lower-case DNS labels (checked as they decode: [`NodeId`]), so a home
//!   never keys its tables by something it could not print. [`encode`] applies the same checks
//!   so a node never sends what its peer would refuse.
//! - **Type keys.** Every channel message names the channel by its full identity,
//!   [`ChannelId`]: name, [`TypeKey`] of the element type and capacity. The type key is the
//!   runtime's: FNV-1a of [`std::any::type_name`] ([`TypeKey::of`]). A value is opaque bytes
//!   ([`Payload`]) to this layer; the same bytes sent on a channel of another type are refused
//!   at the home with [`Rejection::Mismatch`], never decoded as the wrong type.
//!
//! # Connection: handshake and liveness
//!
//! A connection is mutually authenticated by TLS before any frame flows; the TLS layer tells
//! [`Connection`] which node id the peer's certificate names. ALPN carries the wire major
//! version ([`ALPN`]). Then, on the first stream (the control stream):
//!
//! ```text
//! dialer                                             listener
//!   | Hello { version, node, incarnation, max_frame } -->|  checks: major version equal, node
//!   |                                                    |  == certified id, not itself
//!   |<-- HelloAck { version, node, incarnation, max_frame }   (or Refuse { reason }, then close)
//!   |   established: both sides know the peer's incarnation and receive limit
//!   |<-------------------- Ping { nonce } / Pong { nonce } ----------------->|
//!   |---------------------------- Goodbye { reason } ----------------------->|  (graceful)
//! ```
//!
//! - The **incarnation** is a random number a node draws when it starts. A peer reconnecting
//!   with the incarnation we knew lost only its connection: pending operations are resent and
//!   deduplicated (below). A new incarnation means the peer restarted: everything pending at or
//!   from the old one fails with `NodeDown` (at most once across a crash).
//! - **Failure detection.** Any frame received counts as a sign of life. After
//!   [`ConnConfig::keepalive`] without one, the connection sends a `Ping`; after
//!   [`ConnConfig::idle_timeout`] without one, it closes with [`CloseReason::IdleTimeout`],
//!   which the node turns into `NodeDown` for everything waiting on that peer.
//! - **One connection per pair.** If both nodes dial each other at once, both connections
//!   complete the handshake; the one dialled by the smaller node id survives
//!   ([`surviving_dialer`]) and the other is closed with [`GoodbyeReason::Superseded`].
//! - Anything but `Hello`/`HelloAck`/`Refuse` before the handshake completes, or a handshake
//!   message after it, is a protocol violation: the connection closes with a `Goodbye`.
//!
//! # Channels through a home node
//!
//! Every channel name has a **home**: the member chosen by rendezvous hashing over the current
//! membership ([`home_of`]). Every node computes the same home from the same membership, so
//! the first use of a name on two nodes at once still makes one channel: both requests meet
//! at the home, which serializes them. The home holds the channel's buffer and its queues of
//! waiting senders and receivers, exactly as a local channel does; operations of parties
//! that live on the home itself never become frames.
//!
//! Parties (tasks, or futures awaited outside tasks) are named by a [`PartyId`] that survives
//! migration. Each operation a party starts is an [`OpId`]: `(party, epoch, seq)`, where the
//! epoch is the task's (it grows with each move) and `seq` counts the party's operations
//! within an epoch. A party has at most one operation in flight, so FIFO per (sender,
//! channel) is the home's arrival order of operations, and the op id is the deduplication key:
//!
//! ```text
//! party's node N                                         home H
//!   |-- Open { chan } ----------------------------------->|  create, or compare type key
//!   |<-- Opened { chan, closed }                          |  and capacity
//!   |<-- Rejected { chan, Mismatch { found_ty, found_cap } }
//!   |-- Send { chan, op, value } ------------------------>|  buffer / hand to a receiver / park
//!   |<-- Done { chan, op, Sent }  (when the value was buffered or taken)
//!   |-- Recv { chan, op } ------------------------------->|  take from buffer or sender / park
//!   |<-- Done { chan, op, Received(value) }
//!   |-- Ack { chan, op } -------------------------------->|  forget the op's outcome
//!   |-- Withdraw { chan, op } --------------------------->|  (a task freezing to move)
//!   |<-- Done { chan, op, Withdrawn { value } }      not matched yet: a send gets its value back
//!   |<-- Done { chan, op, Received(value) | Sent }   already matched: the value travels in the
//!   |                                                snapshot as the pending result
//!   |-- Close { chan } ---------------------------------->|  parked receivers get Closed,
//!   |<-- Done { chan, op, Closed { value } }         parked senders get Closed with their value
//!   |<-- ChannelClosed { chan }                      (to every node that opened it)
//!   |-- Balance { chan, query } ------------------------->|
//!   |<-- BalanceIs { chan, query, balance, len, closed }
//!   |<-- Credit { chan, stream, acked, credit }      buffered channels: N may complete
//!   |-- Stream { chan, op, value } ---------------------->|  `credit` sends itself and
//!   |                                                |  stream them; acked cumulatively
//!   |-- Release { chan } -------------------------------->|  N holds no handle on it any more
//! ```
//!
//! Rules the home follows (and the simulations check):
//!
//! - **Exactly one outcome per operation.** Every `Send`/`Recv` ends in exactly one
//!   [`Outcome`]; the home keeps it until the `Ack`, and answers a repeated operation (a
//!   resend after a lost connection) or a `Withdraw` of a finished one with the same outcome
//!   again. The party's node completes an operation at most once and ignores repeats. So a
//!   value is delivered exactly once while no node crashes, however often connections drop.
//!   [`OpLog`] is this bookkeeping; [`Home`] is the whole channel as its home holds it
//!   (queues, buffer, log, limits) for whatever drives the node: the simulation does today.
//! - **Stale epochs are refused.** An operation whose epoch is older than one the home has
//!   seen for that party gets [`Rejection::Stale`]: a frozen incarnation never sends or
//!   receives.
//! - **Every message is checked against the channel's identity** ([`ChannelId::admit`]). A
//!   type key or capacity different from the channel's gets [`Rejection::Mismatch`] (a send
//!   gets its value back); the refusal is counted and the connection kept.
//! - **Bounded memory.** A home parks at most a configured number of remote parties per
//!   channel and peer; beyond that, [`Rejection::Overloaded`] hands the value back and the
//!   sending node waits locally (a slow consumer blocks its producers instead of growing
//!   memory).
//! - **Ordering on the wire.** All messages about one channel between two nodes travel on one
//!   ordered stream per direction, so a `Withdraw` never overtakes the operation it withdraws
//!   and `Done` for an operation precedes any later answer about it.
//! - **Membership changes.** A node that is not the home of a channel (its membership differs
//!   from the sender's) answers [`Rejection::NotHome`]; the sender re-resolves the home and
//!   retries with the same op id.

mod codec;
mod conn;
mod error;
mod home;
mod ids;
mod message;
pub mod migrate;
mod placement;
pub mod remote;

pub use codec::{encode, Decoder, Limits, FRAME_HEADER_LEN};
pub use conn::{
    surviving_dialer, Action, CloseReason, ConnConfig, ConnState, ConnStats, Connection, Local,
    PeerInfo, Role,
};
pub use error::{NodeIdError, ProtoError};
pub use home::{Admission, Home, HomeConfig, HomeStats, OpLog};
pub use ids::{
    fnv1a, ChannelId, ChannelName, Incarnation, NodeId, OpId, PartyId, Payload, TypeKey,
    MAX_NODE_ID_LEN,
};
pub use message::{
    FromHome, GoodbyeReason, Hello, HelloAck, Message, Outcome, RefuseReason, Rejection, ToHome,
    WireVersion, ALPN, WIRE_VERSION,
};
pub use placement::home_of;
