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
    /// The task ran on another node, which went down before the task ended (at most once
    /// across a crash: the task is lost with it).
    #[error("task lost: node {node} went down while running it")]
    NodeDown {
        /// The node.
        node: crate::NodeId,
    },
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
    /// The task runs on another node of the cluster: snapshot it there (or move it back).
    #[error("the task runs on another node")]
    Away,
}

/// Why a move failed. In every case the task keeps running on its source node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoveError {
    /// No node with this id is known.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// The snapshot could not be taken or was refused by the target (its task type is not
    /// registered there, its code fingerprint differs — version skew —, it is too large).
    #[error("move refused: {0}")]
    Refused(#[from] SnapshotError),
    /// The target runs as many tasks as it accepts
    /// ([`NodeBuilder::max_tasks`](crate::NodeBuilder::max_tasks)).
    #[error("node {node} is at its capacity of {limit} tasks")]
    OverCapacity {
        /// The target.
        node: String,
        /// Its limit.
        limit: u64,
    },
    /// The target is shutting down or draining.
    #[error("node {node} is shutting down")]
    ShuttingDown {
        /// The target.
        node: String,
    },
    /// The task is already moving, or the target has too many moves in progress.
    #[error("node {node} is busy: the task is already moving, or too many moves are in flight")]
    Busy {
        /// The node that said so.
        node: String,
    },
    /// The target went down (or was unreachable past the grace period) before it answered.
    #[error("node {node} is unreachable")]
    Unreachable {
        /// The target.
        node: String,
    },
    /// The target knows the task at a newer epoch: the request came from an old incarnation.
    #[error("node {node} knows the task at a newer epoch ({current})")]
    Stale {
        /// The node that said so.
        node: String,
        /// The epoch it knows.
        current: u64,
    },
    /// The task has ended, or no node on its trail knows it.
    #[error("task not found: it ended, or its trail is lost")]
    NotFound,
}

impl MoveError {
    /// The error of a refusal by `node`.
    pub(crate) fn from_wire(node: String, refusal: tern_net::proto::migrate::MoveRefusal) -> Self {
        use tern_net::proto::migrate::MoveRefusal as R;
        match refusal {
            R::UnknownType { key } => MoveError::Refused(SnapshotError::UnknownType(key)),
            R::Fingerprint {
                key,
                snapshot,
                local,
            } => MoveError::Refused(SnapshotError::FingerprintMismatch {
                key,
                snapshot,
                local,
            }),
            R::Oversize { size, limit } => MoveError::Refused(SnapshotError::Oversize {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            }),
            R::Snapshot { detail } => MoveError::Refused(SnapshotError::Malformed(detail)),
            R::OverCapacity { limit } => MoveError::OverCapacity { node, limit },
            R::ShuttingDown => MoveError::ShuttingDown { node },
            R::Busy => MoveError::Busy { node },
            R::Stale { current } => MoveError::Stale { node, current },
            R::Unreachable => MoveError::Unreachable { node },
            _ => MoveError::Refused(SnapshotError::Malformed(format!("{refusal:?}"))),
        }
    }

    /// The refusal to send for this error, and the node it names.
    pub(crate) fn to_wire(&self) -> (String, tern_net::proto::migrate::MoveRefusal) {
        use tern_net::proto::migrate::MoveRefusal as R;
        match self {
            MoveError::UnknownNode(n) | MoveError::Unreachable { node: n } => {
                (n.clone(), R::Unreachable)
            }
            MoveError::Refused(e) => (String::new(), refusal_of(e)),
            MoveError::OverCapacity { node, limit } => {
                (node.clone(), R::OverCapacity { limit: *limit })
            }
            MoveError::ShuttingDown { node } => (node.clone(), R::ShuttingDown),
            MoveError::Busy { node } => (node.clone(), R::Busy),
            MoveError::Stale { node, current } => (node.clone(), R::Stale { current: *current }),
            MoveError::NotFound => (String::new(), R::Unreachable),
        }
    }
}

/// What a target answers when the snapshot it was offered does not restore there.
pub(crate) fn refusal_of(e: &SnapshotError) -> tern_net::proto::migrate::MoveRefusal {
    use tern_net::proto::migrate::MoveRefusal as R;
    match e {
        SnapshotError::UnknownType(key) => R::UnknownType { key: key.clone() },
        SnapshotError::FingerprintMismatch {
            key,
            snapshot,
            local,
        } => R::Fingerprint {
            key: key.clone(),
            snapshot: *snapshot,
            local: *local,
        },
        SnapshotError::Oversize { size, limit } => R::Oversize {
            size: *size as u64,
            limit: *limit as u64,
        },
        other => R::Snapshot {
            detail: other.to_string(),
        },
    }
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
