//! Error types. Every enum is `#[non_exhaustive]`; messages are lower case.

use std::fmt;

use crate::task::TaskReport;

/// Any error of the tern API, for `?` in applications.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A channel operation failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// Joining a task failed.
    #[error(transparent)]
    Join(#[from] JoinError),
    /// Taking or restoring a snapshot failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Moving a task failed (it keeps running where it was).
    #[error(transparent)]
    Move(#[from] MoveError),
    /// Starting a node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// An address did not parse.
    #[error("invalid socket address: {0}")]
    Addr(#[from] std::net::AddrParseError),
}

/// Why a channel operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The channel is closed (and, for a receive, empty).
    #[error("channel closed")]
    Closed,
    /// A channel of this name exists with another element type or capacity.
    #[error(transparent)]
    Mismatch(Box<MismatchError>),
    /// A value did not decode as the channel's element type (a corrupt snapshot).
    #[error("channel value does not decode as `{type_name}`")]
    Undecodable {
        /// The expected type.
        type_name: &'static str,
    },
    /// The channel's home node (or the node an operation was in flight at) went down: it
    /// restarted, or stayed unreachable past the grace period. Whether a send's value arrived
    /// is unknown (at most once across a crash); the value comes back with the error.
    #[error("node {node:?} is down")]
    NodeDown {
        /// The node.
        node: String,
    },
}

/// The details of [`ChannelError::Mismatch`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "channel {name:?} exists with {}capacity {found_capacity}; asked for `{expected_type}` with capacity {expected_capacity}",
    if *same_type { "" } else { "another element type and " }
)]
pub struct MismatchError {
    /// The channel's name.
    pub name: String,
    /// The element type the handle was asked for.
    pub expected_type: &'static str,
    /// The capacity the handle was asked for.
    pub expected_capacity: usize,
    /// The capacity of the existing channel.
    pub found_capacity: usize,
    /// Whether the element types agree (only the capacity differs).
    pub same_type: bool,
}

/// A failed send: the reason, and the value that was not sent.
///
/// `Debug` does not require `T: Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T> {
    /// The value that was not sent.
    pub value: T,
    /// Why.
    pub kind: ChannelError,
}

impl<T> SendError<T> {
    /// Takes the unsent value back.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send failed: {}", self.kind)
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> From<SendError<T>> for ChannelError {
    fn from(e: SendError<T>) -> Self {
        e.kind
    }
}

impl<T> From<SendError<T>> for Error {
    fn from(e: SendError<T>) -> Self {
        Error::Channel(e.kind)
    }
}

/// Why [`TaskHandle::join`](crate::TaskHandle::join) did not return the task's output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The task panicked or failed; the report is its post-mortem.
    #[error("task failed:\n{0}")]
    Failed(Box<TaskReport>),
    /// The task was dropped before finishing (its node shut down).
    #[error("task cancelled: its node shut down before it finished")]
    Cancelled,
    /// The task was frozen into a snapshot; join the handle returned by the restore instead.
    #[error("task was frozen into a snapshot")]
    Frozen,
    /// The output did not decode as the expected type.
    #[error("task output does not decode as `{0}`")]
    Output(&'static str),
}

/// Why a snapshot could not be taken or restored. The task stays where it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// No bytes at all.
    #[error("empty snapshot")]
    Empty,
    /// The bytes do not start with the snapshot magic.
    #[error("not a tern snapshot (bad magic)")]
    BadMagic,
    /// A snapshot format this build does not read.
    #[error("unsupported snapshot format version {found} (this build reads {supported})")]
    Version {
        /// The version in the snapshot.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The snapshot ends early or its fields do not decode.
    #[error("truncated or malformed snapshot: {0}")]
    Malformed(String),
    /// Bytes follow the end of the snapshot.
    #[error("{0} trailing bytes after the snapshot")]
    TrailingBytes(usize),
    /// The snapshot is larger than the node accepts.
    #[error("snapshot of {size} bytes exceeds the limit of {limit}")]
    Oversize {
        /// The snapshot's size.
        size: usize,
        /// The node's limit.
        limit: usize,
    },
    /// The task has more frames than the node accepts.
    #[error("snapshot has {depth} frames, over the limit of {limit}")]
    TooDeep {
        /// The number of frames.
        depth: usize,
        /// The node's limit.
        limit: usize,
    },
    /// No machine type with this key is registered here.
    #[error("unknown task type {0:?} (not registered in this build)")]
    UnknownType(String),
    /// The machine type exists but its code differs from the code that took the snapshot.
    #[error("task type {key:?} has code fingerprint {local:016x} here but {snapshot:016x} in the snapshot")]
    FingerprintMismatch {
        /// The task type key.
        key: String,
        /// The fingerprint in the snapshot.
        snapshot: u64,
        /// The fingerprint of the local code.
        local: u64,
    },
    /// The output type asked for differs from the task's output type.
    #[error("task type {0:?} has another output type")]
    OutputType(String),
    /// A frame's state (or a pending value) failed to decode or encode.
    #[error("task state of {key:?} does not {op}: {reason}")]
    State {
        /// The frame's type key.
        key: String,
        /// "decode" or "encode".
        op: &'static str,
        /// The codec's message.
        reason: String,
    },
    /// The task waits to join a task that does not exist in this process.
    #[error("snapshot joins task {0}, which is not in this process")]
    UnknownTask(crate::TaskId),
    /// The task finished before it could be frozen.
    #[error("task already finished")]
    Finished,
}

/// Why a move failed. In every case the task keeps running on its source node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoveError {
    /// No node with this id is known.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// The snapshot could not be taken or was refused by the target.
    #[error("move refused: {0}")]
    Refused(#[from] SnapshotError),
}

/// Why a node could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// Another live node in this process has the same id.
    #[error("a node with id {0:?} is already running in this process")]
    DuplicateId(String),
    /// Worker threads could not be started.
    #[error("cannot start worker threads: {0}")]
    Spawn(String),
    /// The node id is not a lower-case DNS label.
    #[error("invalid node id {id:?}: {reason}")]
    InvalidId {
        /// The id asked for.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS configuration is unusable, or its certificate names another node.
    #[error("tls: {0}")]
    Tls(String),
    /// The listening address cannot be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        reason: String,
    },
    /// A cluster operation on a node that does not listen.
    #[error("the node does not listen: start it with `.listen(addr)` to join a cluster")]
    NotListening,
    /// A connection to a peer failed or was refused.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The peer's address.
        addr: std::net::SocketAddr,
        /// Why (the transport's or the TLS layer's error).
        reason: String,
    },
}
