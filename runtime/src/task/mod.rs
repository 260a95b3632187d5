//! Tasks as plain data: the [`Machine`] trait, effects, and the frame stack.
//!
//! # The contract
//!
//! A migratable task is a state machine that the executor *resumes* with the result of its last
//! request. Each call to [`Machine::resume`] runs the task up to its next suspension point and
//! returns either [`Step::Done`] with the output or [`Step::Suspend`] with a [`Request`]: a
//! plain-data description of what the task waits for (a channel receive or send, a sleep, a
//! yield, a nested call). The executor performs the request and resumes the machine with the
//! result. Because a suspended task holds a request and not a future, it is always serializable:
//! its snapshot is its frames' states plus the pending request (or the already-arrived result).
//!
//! Invariants the runtime relies on:
//! - `resume` is only called after a suspension, with the response to exactly the request that
//!   suspension returned (the first call has no response);
//! - after [`Step::Done`] the machine is never resumed again;
//! - between two calls the machine's serialized state is all that must survive: the runtime may
//!   encode it, drop it, decode it on another node and resume the copy.
//!
//! # Writing a machine by hand
//!
//! `#[migratable]` generates these machines from `async fn`s; writing one by hand is the
//! documented escape hatch (and what the tests and benches use). The pattern: an enum with a
//! variant per suspension point holding the live locals; suspend with [`Cx::suspend`]; on
//! resume, read the result with [`Cx::resumed`], passing a never-called closure that rebuilds
//! the awaited expression so the result type is inferred.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tern::{Channel, Cx, Machine, Step};
//!
//! /// Sums what arrives on `input` until it closes, sending each running total to `output`.
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Accumulate {
//!     input: Channel<u64>,
//!     output: Channel<u64>,
//!     total: u64,
//!     at: At,
//! }
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! enum At { Start, Received, Sent }
//!
//! impl Machine for Accumulate {
//!     type Output = u64;
//!     const TYPE_KEY: &'static str = "doc::Accumulate";
//!     const FINGERPRINT: u64 = 1;
//!
//!     fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
//!         loop {
//!             match self.at {
//!                 At::Start | At::Sent => {
//!                     if matches!(self.at, At::Sent) {
//!                         let _sent = cx.resumed(|| self.output.send(0)); // a closed output is fine
//!                     }
//!                     self.at = At::Received;
//!                     return cx.suspend(self.input.recv());
//!                 }
//!                 At::Received => match cx.resumed(|| self.input.recv()) {
//!                     Ok(v) => {
//!                         self.total += v;
//!                         self.at = At::Sent;
//!                         return cx.suspend(self.output.send(self.total));
//!                     }
//!                     Err(_closed) => return Step::Done(self.total),
//!                 },
//!             }
//!         }
//!     }
//! }
//! tern::register_machine!(Accumulate);
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tern::Error> {
//! let node = tern::Node::builder("doc-accumulate").workers(1).start().await?;
//! let input = node.buffered_channel::<u64>("in", 8);
//! let output = node.buffered_channel::<u64>("out", 8);
//! let task = node.spawn(Accumulate { input: input.clone(), output: output.clone(), total: 0, at: At::Start });
//! input.send(5).await?;
//! input.send(7).await?;
//! assert_eq!(output.recv().await?, 5);
//! assert_eq!(output.recv().await?, 12);
//! input.close();
//! assert_eq!(task.join().await?, 12);
//! node.shutdown().await;
//! # Ok(()) }
//! ```

mod cell;
mod effects;
mod frame;
mod report;
pub(crate) mod support;

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub(crate) use cell::{JoinOutcome, Task, TaskShared, Wait};
pub use effects::{move_to, sleep, yield_now, MoveTo, Sleep, YieldNow};
pub use frame::{__decode_frame, MachineType};
pub(crate) use frame::{Frame, FrameStack, FrameStep};
pub(crate) use report::{install_panic_hook, panic_message, take_panic_location};
pub use report::{FrameReport, PanicReport, SourceLocation, TaskReport};

use crate::channel::ChanCore;
use crate::sync::Arc;
use crate::value::Value;

/// A task's identity: unique within a cluster, unchanged when the task moves.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    /// A hash of the id of the node that spawned the task.
    origin: u64,
    /// A sequence number unique on that node.
    seq: u64,
}

impl TaskId {
    pub(crate) fn next(origin: u64) -> TaskId {
        static SEQ: AtomicU64 = AtomicU64::new(1);
        TaskId {
            origin,
            seq: SEQ.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The task a party of the channel protocol names.
    pub(crate) fn from_party(p: tern_net::proto::PartyId) -> TaskId {
        TaskId {
            origin: p.origin,
            seq: p.seq,
        }
    }

    /// The task as a party of the channel protocol between nodes.
    pub(crate) fn party(&self) -> tern_net::proto::PartyId {
        tern_net::proto::PartyId {
            origin: self.origin,
            seq: self.seq,
        }
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task#{}@{:08x}", self.seq, self.origin as u32)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A migratable task: a serializable state machine resumed by the executor.
///
/// See the [module documentation](self) for the contract and a hand-written example.
/// `#[migratable]` functions implement this trait for you.
pub trait Machine: Serialize + DeserializeOwned + fmt::Debug + Send + 'static {
    /// What the task returns; delivered through [`TaskHandle::join`](crate::TaskHandle::join).
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// The task type key written into snapshots and looked up in the registry on restore.
    /// Keep it stable across renames so old snapshots stay loadable.
    const TYPE_KEY: &'static str;

    /// A fingerprint of the machine's code. A snapshot is only restored by code with the same
    /// fingerprint; change it whenever the meaning of the serialized state changes.
    const FINGERPRINT: u64;

    /// Runs the task to its next suspension point (see the module docs for the contract).
    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<Self::Output>;

    /// The source location of the suspension point the machine's state stands at (where it
    /// called [`Cx::suspend`] to get there), or `None` when it cannot tell — the default, and
    /// the answer before the first resume.
    ///
    /// A machine that knows it lets snapshots leave the location out: the restoring node runs
    /// the same code (the fingerprint says so) and asks the restored machine instead. The
    /// answer must be the location [`Cx::suspend`] recorded; a snapshot carries the location
    /// itself whenever the two differ. `#[migratable]` machines implement this; a hand-written
    /// one can return the location of a `#[track_caller]` helper called at its suspend call.
    fn suspension_point(&self) -> Option<&'static Location<'static>> {
        None
    }
}

/// What one call to [`Machine::resume`] ended with.
#[derive(Debug)]
pub enum Step<O> {
    /// The task finished with this output.
    Done(O),
    /// The task waits for the runtime to perform this request.
    Suspend(Request),
}

/// A request from a suspended task to the runtime. Built from an [`Effect`] by [`Cx::suspend`].
pub struct Request {
    pub(crate) kind: RequestKind,
    pub(crate) location: &'static Location<'static>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at {}", self.kind, self.location)
    }
}

/// The requests the executor understands. `Move`, `Join` and `RemoteCall` arrive with the
/// cluster; the snapshot format reserves their tags.
pub(crate) enum RequestKind {
    /// Receive one value from a channel.
    Recv { chan: Arc<ChanCore> },
    /// Send a value on a channel. The value is `None` once a receiver has taken it.
    Send {
        chan: Arc<ChanCore>,
        value: Option<Value>,
    },
    /// Wake up at `until`.
    Sleep { until: std::time::Instant },
    /// Let other tasks run, then resume.
    Yield,
    /// Push a nested frame; resume with its output.
    Call { frame: Box<dyn Frame> },
    /// Wait for another task to end; resume with its outcome.
    Join { task: Arc<TaskShared> },
    /// No wait at all: resume at once with this response (e.g. a channel type mismatch).
    Immediate(Response),
    /// Move the task to this node (`tern::move_to`).
    Move { to: crate::NodeId },
    /// Call a method of a remote object; resume with the reply. While the call runs, the
    /// request keeps only its description (the arguments went with the call).
    Remote { call: Box<crate::remote::CallSpec> },
}

impl fmt::Debug for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestKind::Recv { chan } => write!(f, "recv({:?})", chan.id().name),
            RequestKind::Send { chan, value } => write!(f, "send({:?}, {value:?})", chan.id().name),
            RequestKind::Sleep { until } => write!(f, "sleep(until {until:?})"),
            RequestKind::Yield => f.write_str("yield"),
            RequestKind::Call { frame } => write!(f, "call({})", frame.type_key()),
            RequestKind::Join { task } => write!(f, "join({})", task.id),
            RequestKind::Immediate(r) => write!(f, "immediate({r:?})"),
            RequestKind::Move { to } => write!(f, "move_to({to})"),
            RequestKind::Remote { call } => write!(f, "call({call:?})"),
        }
    }
}

/// The runtime's answer to a [`Request`], handed to the machine by [`Cx::resumed`].
pub struct Response(pub(crate) ResponseKind);

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[derive(Debug)]
pub(crate) enum ResponseKind {
    /// The request completed with no value (send, sleep, yield).
    Unit,
    /// The request completed with a value (recv, call).
    Value(Value),
    /// A channel operation failed; a send gets its value back.
    Channel(crate::ChannelError, Option<Value>),
    /// The joined task ended.
    Joined(JoinOutcome),
    /// A move the task asked for failed (a successful one resumes with `Unit`).
    MoveFailed(Box<crate::MoveError>),
    /// A remote call's reply: the encoded result, or why the call failed.
    Remote(Box<Result<Vec<u8>, crate::RemoteError>>),
}

/// Something a task can wait for: the bridge between a descriptor such as
/// [`Channel::recv`](crate::Channel::recv) and the runtime.
///
/// Every `.await` inside a `#[migratable]` function awaits an `Effect`; a new kind of request
/// needs a new implementation of this trait, not a change to the macro. Every [`Machine`] is an
/// effect too: awaiting it pushes a nested frame and resumes with its output.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be awaited inside a #[migratable] function",
    label = "not a tern effect",
    note = "a #[migratable] function can await: `Channel::send`/`recv`, `tern::sleep`, `tern::yield_now`, `TaskHandle::join`, and calls to other #[migratable] functions; run other futures outside tasks"
)]
pub trait Effect {
    /// What the task gets back when the request completes.
    type Output;

    /// Turns the descriptor into the request the task suspends with.
    #[doc(hidden)]
    fn into_request(self, cx: &mut Cx<'_>) -> RequestKindBox;

    /// Reads the runtime's response as this effect's output.
    #[doc(hidden)]
    fn decode(response: Response) -> Self::Output;
}

/// Opaque carrier for a request under construction (keeps `RequestKind` private).
#[doc(hidden)]
pub struct RequestKindBox(pub(crate) RequestKind);

impl<M: Machine> Effect for M {
    type Output = M::Output;

    fn into_request(self, _cx: &mut Cx<'_>) -> RequestKindBox {
        RequestKindBox(RequestKind::Call {
            frame: Box::new(self),
        })
    }

    fn decode(response: Response) -> M::Output {
        match response.0 {
            ResponseKind::Value(v) => match v.take::<M::Output>() {
                Ok(out) => out,
                Err(e) => panic!("output of nested `{}` does not decode: {e}", M::TYPE_KEY),
            },
            other => panic!(
                "nested `{}` resumed with {other:?}, not its output",
                M::TYPE_KEY
            ),
        }
    }
}

/// The context a machine is resumed with: it suspends with requests and reads responses.
pub struct Cx<'a> {
    pub(crate) response: Option<Response>,
    /// The task's spare channel references, which requests built from handles reuse.
    pub(crate) chans: &'a mut ChanCache,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(response: Option<Response>, chans: &'a mut ChanCache) -> Self {
        Cx { response, chans }
    }

    /// Suspends the task until the runtime has performed `effect`.
    ///
    /// The caller's source location is recorded as the task's suspension point (it appears in
    /// [`TaskReport`]s).
    #[track_caller]
    pub fn suspend<E: Effect, O>(&mut self, effect: E) -> Step<O> {
        Step::Suspend(Request {
            kind: effect.into_request(self).0,
            location: Location::caller(),
        })
    }

    /// Reads the result of the request the task suspended with.
    ///
    /// `descriptor` is never called: it only names the awaited expression so that the result
    /// type is inferred (`cx.resumed(|| self.input.recv())` yields `Result<T, ChannelError>`).
    ///
    /// # Panics
    /// If there is no response to read: the machine resumed without having suspended, or read
    /// the same response twice. Inside a task the panic becomes a [`TaskReport`].
    pub fn resumed<E: Effect>(&mut self, descriptor: impl FnOnce() -> E) -> E::Output {
        drop(descriptor); // only its type matters
        match self.response.take() {
            Some(r) => E::decode(r),
            None => panic!("Cx::resumed called with no response pending (resumed twice?)"),
        }
    }

    /// Whether a response is waiting to be read (false on the first resume).
    pub fn has_response(&self) -> bool {
        self.response.is_some()
    }
}

/// The channel references a task keeps between two requests.
///
/// A request on a channel owns a reference to the channel's core (a parked task must keep the
/// channel alive whatever becomes of the handle it was built from). Taking a fresh count for
/// every request and dropping it when the request completes would cost two locked instructions
/// per request; instead a completed request leaves its reference here and the next request on
/// the same channel takes it back. A task that alternates between two channels, such as a
/// relay or a ring member, therefore moves no count at all. A miss costs what it did before
/// (one clone), and a reference pushed out of a full cache is dropped.
///
/// The cache keeps at most two recently used channels alive a little longer (until the task
/// uses other channels or ends); it is not part of a snapshot.
#[derive(Default)]
pub(crate) struct ChanCache {
    /// Most recently stored first.
    slots: [Option<Arc<ChanCore>>; 2],
}

impl ChanCache {
    /// A reference to `core`: the cached one if there is one, else a new count.
    #[inline]
    pub(crate) fn take_or_clone(&mut self, core: &Arc<ChanCore>) -> Arc<ChanCore> {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, core)) {
                if let Some(chan) = slot.take() {
                    return chan;
                }
            }
        }
        Arc::clone(core)
    }

    /// Keeps `chan` for a later request, dropping the least recently stored one if full.
    #[inline]
    pub(crate) fn put(&mut self, chan: Arc<ChanCore>) {
        match &mut self.slots {
            [a @ None, _] | [Some(_), a @ None] => *a = Some(chan),
            [a, b] => {
                let older = std::mem::replace(b, a.replace(chan));
                drop(older);
            }
        }
    }
}

/// Registers a hand-written [`Machine`] type so that its snapshots can be restored.
///
/// `#[migratable]` does this for the machines it generates.
///
/// ```text
/// tern::register_machine!(MyMachine);
/// ```
#[macro_export]
macro_rules! register_machine {
    ($ty:ty) => {
        $crate::__private::inventory::submit! {
            $crate::MachineType::of::<$ty>()
        }
    };
}
