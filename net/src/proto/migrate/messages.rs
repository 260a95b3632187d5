//! The migration protocol's messages: what travels in `Message::Migrate` frames (see the
//! [module docs](super) for the protocol).

use serde::{Deserialize, Serialize};

use crate::proto::ids::{NodeId, PartyId, Payload};

/// How many times a control message may be forwarded before it is answered `NotFound`.
pub const HOP_LIMIT: u8 = 16;

/// Migration and task-location messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Migrate {
    /// Source → target: take this task, which will have `epoch` there.
    Offer {
        /// The task.
        task: PartyId,
        /// Its epoch on the target.
        epoch: u64,
        /// The node holding its join handle and ownership record.
        home: NodeId,
        /// The snapshot (the runtime's format).
        snapshot: Payload,
    },
    /// Target → source: the task is installed and held, not running.
    Installed {
        /// The task.
        task: PartyId,
        /// The epoch offered.
        epoch: u64,
    },
    /// Target → source: the offer is refused; the task stays on the source.
    Refused {
        /// The task.
        task: PartyId,
        /// The epoch offered.
        epoch: u64,
        /// Why.
        reason: MoveRefusal,
    },
    /// Source → target: the source let the task go; run it.
    Commit {
        /// The task.
        task: PartyId,
        /// The epoch offered.
        epoch: u64,
    },
    /// Target → source: the commit arrived.
    Committed {
        /// The task.
        task: PartyId,
        /// The epoch offered.
        epoch: u64,
    },
    /// A task's node → its home: the task now lives on `node` with `epoch`.
    Owner {
        /// The task.
        task: PartyId,
        /// Its epoch there.
        epoch: u64,
        /// Where it runs.
        node: NodeId,
    },
    /// The node where a task ended → its home: the join outcome (the runtime's encoding).
    Ended {
        /// The task.
        task: PartyId,
        /// Its epoch when it ended.
        epoch: u64,
        /// The outcome.
        outcome: Payload,
    },
    /// Home → the node where the task ended: the outcome arrived.
    EndedAck {
        /// The task.
        task: PartyId,
    },
    /// Anyone → the node believed to run `task`: a command for it, answered to `from`.
    Control {
        /// The task.
        task: PartyId,
        /// The asker's correlation number.
        req: u64,
        /// The asker.
        from: NodeId,
        /// How often the message was forwarded so far.
        hops: u8,
        /// What to do.
        cmd: Command,
    },
    /// The answer to a `Control`.
    ControlReply {
        /// The task.
        task: PartyId,
        /// The asker's correlation number.
        req: u64,
        /// The answer.
        reply: ControlReply,
    },
}

impl Migrate {
    /// The task the message is about.
    pub fn task(&self) -> PartyId {
        match self {
            Migrate::Offer { task, .. }
            | Migrate::Installed { task, .. }
            | Migrate::Refused { task, .. }
            | Migrate::Commit { task, .. }
            | Migrate::Committed { task, .. }
            | Migrate::Owner { task, .. }
            | Migrate::Ended { task, .. }
            | Migrate::EndedAck { task }
            | Migrate::Control { task, .. }
            | Migrate::ControlReply { task, .. } => *task,
        }
    }

    /// The message's kind, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Migrate::Offer { .. } => "Migrate::Offer",
            Migrate::Installed { .. } => "Migrate::Installed",
            Migrate::Refused { .. } => "Migrate::Refused",
            Migrate::Commit { .. } => "Migrate::Commit",
            Migrate::Committed { .. } => "Migrate::Committed",
            Migrate::Owner { .. } => "Migrate::Owner",
            Migrate::Ended { .. } => "Migrate::Ended",
            Migrate::EndedAck { .. } => "Migrate::EndedAck",
            Migrate::Control { .. } => "Migrate::Control",
            Migrate::ControlReply { .. } => "Migrate::ControlReply",
        }
    }
}

/// A command for a task, wherever it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Move it to this node.
    MoveTo(NodeId),
    /// Say where it runs.
    Locate,
}

/// The answer to a [`Command`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlReply {
    /// Done: the task now runs on `node` (for `Locate`: runs there).
    At {
        /// Where.
        node: NodeId,
    },
    /// The move was refused; the task runs on `node`.
    Refused {
        /// Where it still runs.
        node: NodeId,
        /// Why.
        reason: MoveRefusal,
    },
    /// The task already ended, or no node on the path knows it.
    NotFound,
}

/// Why a target refused an offer. The task keeps running on the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MoveRefusal {
    /// No task type with this key is registered on the target.
    UnknownType {
        /// The type key.
        key: String,
    },
    /// The target's code for the type differs (version skew).
    Fingerprint {
        /// The type key.
        key: String,
        /// The fingerprint in the snapshot.
        snapshot: u64,
        /// The target's.
        local: u64,
    },
    /// The snapshot is larger than the target accepts.
    Oversize {
        /// Its size.
        size: u64,
        /// The target's limit.
        limit: u64,
    },
    /// The snapshot does not decode there (malformed, too deep, a bad frame state).
    Snapshot {
        /// The decoder's message.
        detail: String,
    },
    /// The target runs as many tasks as it accepts.
    OverCapacity {
        /// Its limit.
        limit: u64,
    },
    /// The target is shutting down or draining.
    ShuttingDown,
    /// The target is busy with too many incoming moves, or the task is already moving.
    Busy,
    /// The target knows the task at a newer epoch: this offer is from an old incarnation.
    Stale {
        /// The newest epoch the target knows.
        current: u64,
    },
    /// The target is unreachable (declared down before it answered).
    Unreachable,
}
