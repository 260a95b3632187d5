//! Snapshots: a frozen task as bytes, and the checks that guard restoring one.
//!
//! # Format (version 3)
//!
//! ```text
//! "TERN" magic (4 bytes) | format version (u16, little endian) | header | body
//! header = postcard { task_type: str, fingerprint: u64, output_type: u64, task: TaskId,
//!                     epoch: u64, origin: str }
//! body   = postcard { root: bytes (the root frame's state; its type is the header's),
//!                     nested: [ { key: str, fingerprint: u64, state: bytes } ],
//!                     pending: Option<Pending>, response: Option<Reply>,
//!                     location: NotSuspended | Machine | Written(SourceLocation) }
//! ```
//!
//! `pending` is the withdrawn request (a receive, a send with its value, a sleep with the time
//! left); `response` is a result that had already arrived (e.g. a value matched to a receive
//! just before the freeze) and travels so that it is not lost. At most one of them is set.
//!
//! A receive or send names its channel in one of two forms, told apart by `Pending`'s tag:
//! `RecvHeld(i)` / `SendHeld(i, value)` when the frames hold a handle on that channel — `i` is
//! the index (a varint: one byte below 128) of the first such handle among all the channel
//! handles the frames' states serialize, in order (root frame first) — and `Recv` / `Send`
//! with the channel's full identity (name, type hash, capacity) when they hold none. On
//! restore, the handles deserialized from the states are counted in the same order
//! (`snapshot/chans.rs`), and `i` binds to the channel the `i`-th of them bound to on the
//! restoring node; an index past them is [`SnapshotError::Malformed`].
//!
//! `location` is the task's last suspension point, for [`TaskReport`]s. When the innermost
//! frame's [`Machine::suspension_point`](crate::Machine::suspension_point) names that very
//! location (every `#[migratable]` machine parked at an `.await`), the snapshot holds the
//! one-byte `Machine` and the restoring node asks the restored frame: it runs the same code,
//! as the fingerprints say. Otherwise (a hand-written machine that cannot tell, or a frame
//! resumed with the output of a nested one that has returned) the location is written out.
//! Version 1 wrote it out always (`Option<SourceLocation>`); version 2 always wrote a pending
//! request's channel in full. This build refuses both with [`SnapshotError::Version`], as it
//! does every version but its own.
//!
//! # Decoding is fallible, never panicking
//!
//! In order: empty → [`SnapshotError::Empty`]; over the node's size limit →
//! [`Oversize`](SnapshotError::Oversize) (checked before anything is allocated); bad magic,
//! unsupported version; truncated or malformed fields → [`Malformed`](SnapshotError::Malformed);
//! bytes after the body → [`TrailingBytes`](SnapshotError::TrailingBytes); too many frames →
//! [`TooDeep`](SnapshotError::TooDeep); a frame type not registered here →
//! [`UnknownType`](SnapshotError::UnknownType); a registered type whose code differs →
//! [`FingerprintMismatch`](SnapshotError::FingerprintMismatch); a state that does not decode →
//! [`State`](SnapshotError::State); a pending request that names a channel the states do not
//! hold, or a sleep deadline out of range → [`Malformed`](SnapshotError::Malformed). Every
//! check runs before the task is installed.

pub(crate) mod chans;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use self::chans::{DecodeScope, EncodeScope, HeldChannels};
use crate::channel::{type_fingerprint, ChanCore, ChannelId};
use crate::error::{ChannelError, MismatchError, MoveError, SnapshotError};
use crate::node::NodeInner;
use crate::sync::Arc;
use crate::task::{
    Frame, MachineType, RequestKind, Response, ResponseKind, SourceLocation, Task, TaskId,
};
use crate::task::{JoinOutcome, TaskReport, Wait};
use crate::value::Value;

/// The magic bytes every snapshot starts with.
pub const MAGIC: [u8; 4] = *b"TERN";
/// The snapshot format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 3;

/// A frozen task: the bytes of its snapshot.
///
/// Produced by [`TaskHandle::snapshot`](crate::TaskHandle::snapshot); restored with
/// [`Node::restore`](crate::Node::restore). The bytes are only trusted after a restore has
/// checked them.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.header() {
            Ok(h) => write!(
                f,
                "Snapshot({} bytes, {} {} epoch {})",
                self.bytes.len(),
                h.task_type,
                h.task,
                h.epoch
            ),
            Err(e) => write!(f, "Snapshot({} bytes, invalid: {e})", self.bytes.len()),
        }
    }
}

impl Snapshot {
    /// Wraps bytes received from elsewhere; they are checked when restored.
    pub fn from_bytes(bytes: Vec<u8>) -> Snapshot {
        Snapshot { bytes }
    }

    /// The encoded snapshot.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded snapshot, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the snapshot has no bytes (never true for one produced by tern).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Reads and checks the header only.
    ///
    /// # Errors
    /// Any of the framing errors: empty, bad magic, version, malformed.
    pub fn header(&self) -> Result<SnapshotHeader, SnapshotError> {
        let (header, _) = split(&self.bytes)?;
        Ok(header)
    }
}

/// What a snapshot's header says about the task inside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SnapshotHeader {
    /// The root frame's task type key.
    pub task_type: String,
    /// The root frame's code fingerprint.
    pub fingerprint: u64,
    /// Fingerprint of the task's output type.
    pub output_type: u64,
    /// The task's id.
    pub task: TaskId,
    /// The task's epoch: how many times it has moved.
    pub epoch: u64,
    /// The node that took the snapshot.
    pub origin: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(with = "serde_bytes")]
    root: Vec<u8>,
    nested: Vec<FrameSnap>,
    pending: Option<Pending>,
    response: Option<Reply>,
    location: Where,
}

/// Where the task last suspended (see the module docs).
#[derive(Serialize, Deserialize)]
enum Where {
    /// The task has not suspended yet.
    NotSuspended,
    /// What the innermost frame's `Machine::suspension_point` says.
    Machine,
    /// Written out: the machine cannot tell, or would tell another location.
    Written(SourceLocation),
}

#[derive(Serialize, Deserialize)]
struct FrameSnap {
    key: String,
    fingerprint: u64,
    #[serde(with = "serde_bytes")]
    state: Vec<u8>,
}

/// A frame as found in a snapshot, before its type is resolved.
struct FrameRef<'a> {
    key: &'a str,
    fingerprint: u64,
    state: &'a [u8],
}

#[derive(Serialize, Deserialize)]
struct ChanSnap {
    name: String,
    ty: u64,
    cap: usize,
}

/// A withdrawn request (see the module docs for the two forms of a channel).
#[derive(Serialize, Deserialize)]
enum Pending {
    /// A receive on a channel the frames hold no handle on.
    Recv(ChanSnap),
    /// A send on a channel the frames hold no handle on.
    Send(ChanSnap, #[serde(with = "serde_bytes")] Vec<u8>),
    Sleep {
        remaining_nanos: u64,
    },
    Join(TaskId),
    /// A receive on the channel of the frames' `i`-th channel handle.
    RecvHeld(u32),
    /// A send on the channel of the frames' `i`-th channel handle.
    SendHeld(u32, #[serde(with = "serde_bytes")] Vec<u8>),
}

#[derive(Serialize, Deserialize)]
enum Reply {
    Unit,
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    Closed(#[serde(with = "serde_bytes")] Option<Vec<u8>>),
    Mismatch {
        name: String,
        expected_capacity: usize,
        found_capacity: usize,
        same_type: bool,
        #[serde(with = "serde_bytes")]
        value: Option<Vec<u8>>,
    },
    Undecodable(#[serde(with = "serde_bytes")] Option<Vec<u8>>),
    Joined(JoinReply),
    NodeDown {
        node: String,
        #[serde(with = "serde_bytes")]
        value: Option<Vec<u8>>,
    },
    /// A move the task asked for (`tern::move_to`) failed; it resumes where it is.
    MoveFailed {
        node: String,
        refusal: tern_net::proto::migrate::MoveRefusal,
    },
    /// The reply to a remote call, arrived before the freeze.
    Remote(Result<serde_bytes::ByteBuf, crate::RemoteError>),
}

#[derive(Serialize, Deserialize)]
enum JoinReply {
    Output(#[serde(with = "serde_bytes")] Vec<u8>),
    Failed(Box<TaskReport>),
    Cancelled,
    Frozen,
    NodeDown(String),
}

/// Limits a node applies when restoring.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_bytes: usize,
    pub(crate) max_frames: usize,
    /// FNV-1a of a task type key whose code this node pretends differs (a test hook for
    /// version skew; 0: none).
    pub(crate) skewed: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 16 << 20,
            max_frames: 256,
            skewed: 0,
        }
    }
}

fn malformed(e: postcard::Error) -> SnapshotError {
    SnapshotError::Malformed(e.to_string())
}

fn state_err(key: &str, op: &'static str, e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::State {
        key: key.to_owned(),
        op,
        reason: e.to_string(),
    }
}

/// Checks magic and version and decodes the header; returns it and the rest.
fn split(bytes: &[u8]) -> Result<(SnapshotHeader, &[u8]), SnapshotError> {
    if bytes.is_empty() {
        return Err(SnapshotError::Empty);
    }
    let Some(rest) = bytes.strip_prefix(&MAGIC) else {
        return Err(if MAGIC.starts_with(bytes) {
            SnapshotError::Malformed("ends inside the magic".into())
        } else {
            SnapshotError::BadMagic
        });
    };
    let [lo, hi, rest @ ..] = rest else {
        return Err(SnapshotError::Malformed("ends inside the version".into()));
    };
    let version = u16::from_le_bytes([*lo, *hi]);
    if version != FORMAT_VERSION {
        return Err(SnapshotError::Version {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    postcard::take_from_bytes::<SnapshotHeader>(rest).map_err(malformed)
}

// ---- encode ----------------------------------------------------------------------------------

fn chan_snap(id: &ChannelId) -> ChanSnap {
    ChanSnap {
        name: id.name.to_string(),
        ty: id.ty,
        cap: id.cap,
    }
}

fn value_bytes(v: &Value, key: &str) -> Result<Vec<u8>, SnapshotError> {
    v.to_bytes().map_err(|e| state_err(key, "encode", e))
}

/// The snapshot form of a request a frozen task waits in (`None` for a send whose value has
/// already been taken: it has completed). `held` are the channel handles the frames hold.
fn pending_snap(
    request: &RequestKind,
    held: &HeldChannels,
    key: &str,
) -> Result<Option<Pending>, SnapshotError> {
    Ok(Some(match request {
        RequestKind::Recv { chan } => match held.index_of(chan) {
            Some(i) => Pending::RecvHeld(i),
            None => Pending::Recv(chan_snap(chan.id())),
        },
        RequestKind::Send {
            chan,
            value: Some(v),
        } => {
            let value = value_bytes(v, key)?;
            match held.index_of(chan) {
                Some(i) => Pending::SendHeld(i, value),
                None => Pending::Send(chan_snap(chan.id()), value),
            }
        }
        RequestKind::Send { value: None, .. } => return Ok(None),
        RequestKind::Join { task: joined } => {
            crate::handle::publish(joined);
            Pending::Join(joined.id)
        }
        RequestKind::Sleep { until } => Pending::Sleep {
            remaining_nanos: until
                .saturating_duration_since(Instant::now())
                .as_nanos()
                .min(u128::from(u64::MAX)) as u64,
        },
        // These complete without waiting, so a frozen task never holds them.
        other @ (RequestKind::Yield
        | RequestKind::Call { .. }
        | RequestKind::Immediate(_)
        | RequestKind::Move { .. }
        // A freezer waits for a remote call's reply (`TaskShared::poll_freeze`).
        | RequestKind::Remote { .. }) => {
            return Err(state_err(
                key,
                "encode",
                format_args!("unexpected pending request {other:?}"),
            ));
        }
    }))
}

/// The snapshot form of a response that arrived before the freeze.
fn reply_snap(response: &Response, key: &str) -> Result<Reply, SnapshotError> {
    let bytes_of = |v: &Option<Value>| v.as_ref().map(|v| value_bytes(v, key)).transpose();
    Ok(match &response.0 {
        ResponseKind::Unit => Reply::Unit,
        ResponseKind::Value(v) => Reply::Value(value_bytes(v, key)?),
        ResponseKind::Channel(ChannelError::Closed, v) => Reply::Closed(bytes_of(v)?),
        ResponseKind::Channel(ChannelError::Mismatch(m), v) => Reply::Mismatch {
            name: m.name.clone(),
            expected_capacity: m.expected_capacity,
            found_capacity: m.found_capacity,
            same_type: m.same_type,
            value: bytes_of(v)?,
        },
        ResponseKind::Channel(ChannelError::Undecodable { .. }, v) => {
            Reply::Undecodable(bytes_of(v)?)
        }
        ResponseKind::Channel(ChannelError::NodeDown { node }, v) => Reply::NodeDown {
            node: node.clone(),
            value: bytes_of(v)?,
        },
        ResponseKind::Joined(outcome) => Reply::Joined(join_reply(outcome, key)?),
        ResponseKind::MoveFailed(e) => {
            let (node, refusal) = e.to_wire();
            Reply::MoveFailed { node, refusal }
        }
        ResponseKind::Remote(reply) => Reply::Remote(match &**reply {
            Ok(bytes) => Ok(serde_bytes::ByteBuf::from(bytes.clone())),
            Err(e) => Err(e.clone()),
        }),
    })
}

fn join_reply(outcome: &JoinOutcome, key: &str) -> Result<JoinReply, SnapshotError> {
    Ok(match outcome {
        JoinOutcome::Output(v) => JoinReply::Output(value_bytes(v, key)?),
        JoinOutcome::Failed(r) => JoinReply::Failed(r.clone()),
        JoinOutcome::Cancelled => JoinReply::Cancelled,
        JoinOutcome::Frozen => JoinReply::Frozen,
        JoinOutcome::NodeDown(n) => JoinReply::NodeDown(n.to_string()),
    })
}

fn join_outcome(j: JoinReply) -> JoinOutcome {
    match j {
        JoinReply::Output(v) => JoinOutcome::Output(Value::Encoded(v)),
        JoinReply::Failed(r) => JoinOutcome::Failed(r),
        JoinReply::Cancelled => JoinOutcome::Cancelled,
        JoinReply::Frozen => JoinOutcome::Frozen,
        JoinReply::NodeDown(n) => match crate::NodeId::new(&n) {
            Ok(node) => JoinOutcome::NodeDown(node),
            Err(_) => JoinOutcome::Cancelled,
        },
    }
}

/// A task's outcome as bytes, for its home on another node (the same encoding as a join
/// result inside a snapshot).
pub(crate) fn encode_outcome(outcome: &JoinOutcome) -> Result<Vec<u8>, SnapshotError> {
    let reply = join_reply(outcome, "task output")?;
    postcard::to_allocvec(&reply).map_err(|e| SnapshotError::State {
        key: "task output".into(),
        op: "encode",
        reason: e.to_string(),
    })
}

/// The outcome [`encode_outcome`] encoded, or `None` if the bytes do not decode as one.
pub(crate) fn decode_outcome(bytes: &[u8]) -> Option<JoinOutcome> {
    match postcard::take_from_bytes::<JoinReply>(bytes) {
        Ok((reply, [])) => Some(join_outcome(reply)),
        _ => None,
    }
}

/// Encodes a frozen task. The task is not consumed: on error it can be resumed where it is.
pub(crate) fn encode(
    task: &Task,
    origin: &str,
    output_type: u64,
) -> Result<Snapshot, SnapshotError> {
    let root = task.frames.first().ok_or(SnapshotError::Finished)?;
    let key = root.type_key();
    let state_of = |f: &dyn Frame| {
        let mut state = Vec::new();
        f.encode_state(&mut state)
            .map(|()| state)
            .map_err(|e| state_err(f.type_key(), "encode", e))
    };
    // Only the frames' states are encoded inside the scope: a value being sent may hold
    // channel handles too, but it is decoded later, by its receiver, outside any scope.
    let scope = EncodeScope::enter();
    let root_state = state_of(root)?;
    let nested = task
        .frames
        .iter()
        .skip(1)
        .map(|f| {
            Ok(FrameSnap {
                key: f.type_key().to_owned(),
                fingerprint: f.fingerprint(),
                state: state_of(f)?,
            })
        })
        .collect::<Result<Vec<_>, SnapshotError>>()?;
    let held = scope.finish();
    let pending = match task.pending() {
        Some(request) => pending_snap(request, &held, key)?,
        None => None,
    };
    let response = task.response().map(|r| reply_snap(r, key)).transpose()?;
    let header = SnapshotHeader {
        task_type: key.to_owned(),
        fingerprint: root.fingerprint(),
        output_type,
        task: task.shared.id,
        epoch: task.epoch,
        origin: origin.to_owned(),
    };
    let location = match task.suspension_point() {
        None => Where::NotSuspended,
        Some(at) => {
            let innermost = task.frames.iter().last();
            let machine = innermost.and_then(|f| f.suspension_point());
            if machine.is_some_and(|l| SourceLocation::from(l) == at) {
                Where::Machine
            } else {
                Where::Written(at)
            }
        }
    };
    let body = Body {
        root: root_state,
        nested,
        pending,
        response,
        location,
    };
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    postcard::to_io(&header, &mut bytes).map_err(|e| state_err(key, "encode", e))?;
    postcard::to_io(&body, &mut bytes).map_err(|e| state_err(key, "encode", e))?;
    Ok(Snapshot { bytes })
}

// ---- decode ----------------------------------------------------------------------------------

/// A decoded snapshot, ready to be installed as a task.
pub(crate) struct Decoded {
    pub(crate) header: SnapshotHeader,
    pub(crate) frames: Vec<Box<dyn Frame>>,
    pub(crate) wait: Wait,
    pub(crate) location: Option<SourceLocation>,
}

/// Checks and decodes `bytes` for installation on `node`. Channel handles inside frame states
/// and the pending request bind to `node`'s channels.
pub(crate) fn decode(
    bytes: &[u8],
    node: &Arc<NodeInner>,
    limits: Limits,
) -> Result<Decoded, SnapshotError> {
    if bytes.is_empty() {
        return Err(SnapshotError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(SnapshotError::Oversize {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let (header, rest) = split(bytes)?;
    let (body, trailing) = postcard::take_from_bytes::<Body>(rest).map_err(malformed)?;
    if !trailing.is_empty() {
        return Err(SnapshotError::TrailingBytes(trailing.len()));
    }
    let depth = body.nested.len() + 1;
    if depth > limits.max_frames {
        return Err(SnapshotError::TooDeep {
            depth,
            limit: limits.max_frames,
        });
    }
    let root = FrameRef {
        key: &header.task_type,
        fingerprint: header.fingerprint,
        state: &body.root,
    };
    let frame_refs: Vec<FrameRef<'_>> = std::iter::once(root)
        .chain(body.nested.iter().map(|f| FrameRef {
            key: &f.key,
            fingerprint: f.fingerprint,
            state: &f.state,
        }))
        .collect();
    // Resolve every type before decoding any state.
    let mut types = Vec::with_capacity(frame_refs.len());
    for f in &frame_refs {
        let ty =
            MachineType::find(f.key).ok_or_else(|| SnapshotError::UnknownType(f.key.to_owned()))?;
        let local =
            if limits.skewed != 0 && limits.skewed == crate::channel::fnv1a(f.key.as_bytes()) {
                ty.fingerprint ^ 0x5eed
            } else {
                ty.fingerprint
            };
        if local != f.fingerprint {
            return Err(SnapshotError::FingerprintMismatch {
                key: f.key.to_owned(),
                snapshot: f.fingerprint,
                local,
            });
        }
        types.push(ty);
    }
    if types[0].output_type() != header.output_type {
        return Err(SnapshotError::OutputType(header.task_type.clone()));
    }
    if body.pending.is_some() && body.response.is_some() {
        return Err(SnapshotError::Malformed(
            "both a pending request and a response".into(),
        ));
    }
    let (frames, held) = crate::node::with_current(node, || {
        let scope = DecodeScope::enter();
        let frames = frame_refs
            .iter()
            .zip(&types)
            .map(|(f, ty)| (ty.decode)(f.state).map_err(|e| state_err(f.key, "decode", e)))
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        Ok::<_, SnapshotError>((frames, scope.finish()))
    })?;
    let wait = match (body.pending, body.response) {
        (Some(p), _) => Wait::Pending(request(p, &held, node)?),
        (None, Some(r)) => Wait::Ready(response(r)),
        (None, None) => Wait::Start,
    };
    let location = match body.location {
        Where::NotSuspended => None,
        Where::Written(at) => Some(at),
        Where::Machine => match frames.last().and_then(|f| f.suspension_point()) {
            Some(at) => Some(at.into()),
            None => {
                return Err(SnapshotError::Malformed(format!(
                    "the suspension point is left to the machine, but `{}` names none",
                    frames.last().map_or("?", |f| f.type_key())
                )));
            }
        },
    };
    Ok(Decoded {
        header,
        frames,
        wait,
        location,
    })
}

/// Rebuilds a withdrawn request, binding its channel on `node`: by identity, or to the
/// channel the `i`-th handle decoded from the frames (`held`) bound to.
fn request(
    pending: Pending,
    held: &[Arc<ChanCore>],
    node: &Arc<NodeInner>,
) -> Result<RequestKind, SnapshotError> {
    let held_chan = |i: u32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| held.get(i))
            .map(Arc::clone)
            .ok_or_else(|| {
                SnapshotError::Malformed(format!(
                    "the pending request names channel #{i}, but the frames hold {} channel \
                     handle(s)",
                    held.len()
                ))
            })
    };
    let chan = |c: ChanSnap| {
        NodeInner::core_for(
            node,
            ChannelId {
                name: c.name.into(),
                ty: c.ty,
                cap: c.cap,
            },
        )
    };
    Ok(match pending {
        Pending::Recv(c) => RequestKind::Recv { chan: chan(c) },
        Pending::Send(c, v) => RequestKind::Send {
            chan: chan(c),
            value: Some(Value::Encoded(v)),
        },
        Pending::RecvHeld(i) => RequestKind::Recv {
            chan: held_chan(i)?,
        },
        Pending::SendHeld(i, v) => RequestKind::Send {
            chan: held_chan(i)?,
            value: Some(Value::Encoded(v)),
        },
        Pending::Sleep { remaining_nanos } => RequestKind::Sleep {
            until: Instant::now()
                .checked_add(Duration::from_nanos(remaining_nanos))
                .ok_or_else(|| SnapshotError::Malformed("sleep deadline out of range".into()))?,
        },
        Pending::Join(id) => RequestKind::Join {
            task: crate::handle::find(id).ok_or(SnapshotError::UnknownTask(id))?,
        },
    })
}

/// Rebuilds a response that had arrived before the freeze; values stay encoded until taken.
fn response(reply: Reply) -> Response {
    let value = |v: Option<Vec<u8>>| v.map(Value::Encoded);
    let restored = "(restored)";
    Response(match reply {
        Reply::Unit => ResponseKind::Unit,
        Reply::Value(v) => ResponseKind::Value(Value::Encoded(v)),
        Reply::Closed(v) => ResponseKind::Channel(ChannelError::Closed, value(v)),
        Reply::Mismatch {
            name,
            expected_capacity,
            found_capacity,
            same_type,
            value: v,
        } => {
            let m = MismatchError {
                name,
                expected_type: restored,
                expected_capacity,
                found_capacity,
                same_type,
            };
            ResponseKind::Channel(ChannelError::Mismatch(Box::new(m)), value(v))
        }
        Reply::Undecodable(v) => ResponseKind::Channel(
            ChannelError::Undecodable {
                type_name: restored,
            },
            value(v),
        ),
        Reply::NodeDown { node, value: v } => {
            ResponseKind::Channel(ChannelError::NodeDown { node }, value(v))
        }
        Reply::Joined(j) => ResponseKind::Joined(join_outcome(j)),
        Reply::MoveFailed { node, refusal } => {
            ResponseKind::MoveFailed(Box::new(MoveError::from_wire(node, refusal)))
        }
        Reply::Remote(reply) => ResponseKind::Remote(Box::new(reply.map(|b| b.into_vec()))),
    })
}

/// The output-type fingerprint recorded for machines with output `O`.
pub(crate) fn output_fingerprint<O: 'static>() -> u64 {
    type_fingerprint::<O>()
}
