//! # tern — migratable green tasks
//!
//! tern runs tasks that are explicit, serializable state machines. They talk over **named
//! channels** (the same name is the same channel), and a running task can be **frozen** at any
//! suspension point, turned into bytes, and **resumed on another node** with its channel
//! bindings intact, losing and duplicating nothing.
//!
//! ```
//! use tern::{migratable, Channel, Node};
//!
//! /// Doubles every number it receives until its input closes; returns how many it doubled.
//! #[migratable]
//! async fn doubler(input: Channel<u64>, output: Channel<u64>) -> u64 {
//!     let mut count: u64 = 0;
//!     while let Ok(v) = input.recv().await {
//!         count += 1;
//!         if output.send(2 * v).await.is_err() {
//!             break;
//!         }
//!     }
//!     count
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), tern::Error> {
//!     let alpha = Node::builder("doc-alpha").workers(1).start().await?;
//!     let beta = Node::builder("doc-beta").workers(1).start().await?;
//!     let task = alpha.spawn(doubler(alpha.channel("numbers"), alpha.channel("doubled")));
//!     alpha.channel::<u64>("numbers").send(21).await?;
//!     assert_eq!(alpha.channel::<u64>("doubled").recv().await?, 42);
//!
//!     task.move_to("doc-beta").await?;            // frozen on alpha, resumed on beta
//!     beta.channel::<u64>("numbers").send(5).await?; // its channels are now beta's
//!     assert_eq!(beta.channel::<u64>("doubled").recv().await?, 10);
//!     beta.channel::<u64>("numbers").close();
//!     assert_eq!(task.join().await?, 2);
//!     Ok(())
//! }
//! ```
//!
//! ## Map of the crate
//!
//! - [`migratable`]: write tasks as `async fn`s.
//! - [`task`]: the [`Machine`] trait — the task model, and the hand-written escape hatch — and
//!   effects ([`Effect`]).
//! - [`channel`](mod@channel): [`Channel`] and its operations.
//! - [`snapshot`]: the snapshot format and its checks.
//! - The executor (worker threads, run queues, parking, timers) is internal.
//! - [`Node`] ties them together; [`TaskHandle`] joins, snapshots and moves a task.
//!
//! ## Guarantees (tested)
//!
//! - Rendezvous channels: a send completes only when a receiver has taken the value.
//! - FIFO among waiting senders and among waiting receivers; FIFO per sender.
//! - A value is delivered exactly once, including when the receiver is frozen concurrently: it
//!   is either delivered before the freeze (and travels in the snapshot) or stays in the channel.
//! - A failed move leaves the task running where it was.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod asym;
mod bias;
pub mod channel;
pub mod cluster;
mod error;
mod executor;
mod handle;
mod node;
pub mod remote;
pub mod snapshot;
mod spin;
mod sync;
pub mod task;
mod value;

#[cfg(all(test, tern_loom))]
mod tests;

pub use channel::{Channel, Message, Recv, RecvFuture, SendEffect, SendFuture};
pub use cluster::ClusterStats;
pub use error::{
    ChannelError, Error, JoinError, MismatchError, MoveError, NodeError, SendError, SnapshotError,
};
pub use handle::{JoinFuture, TaskHandle};
pub use node::{DrainReport, Node, NodeBuilder, NodeId};
pub use remote::{Remote, RemoteError, RemoteErrorKind, RemoteMap, RemoteVec};

/// The network configuration types a listening node takes (re-exported from `tern-net`).
pub mod net {
    pub use tern_net::quic::QuicConfig;
    pub use tern_net::tls::{ClusterCa, ClusterTrust, NodeIdentity, NodePem, TlsConfig, TlsError};
}
pub use snapshot::{Snapshot, SnapshotHeader};
pub use task::{
    move_to, sleep, yield_now, Cx, Effect, Machine, MachineType, Request, Response, Step, TaskId,
    TaskReport,
};

/// The node this code runs on: inside a task, the node running it.
pub fn current_node() -> Option<Node> {
    node::current()
}

fn node_or_panic(what: &str) -> Node {
    match node::current() {
        Some(n) => n,
        None => panic!("tern::{what} called outside a node (use it inside a task)"),
    }
}

/// Spawns a task on the current node.
///
/// # Panics
/// Outside a task (there is no current node); use [`Node::spawn`] there.
pub fn spawn<M: Machine>(machine: M) -> TaskHandle<M::Output> {
    node_or_panic("spawn").spawn(machine)
}

/// The rendezvous channel `name` of the current node.
///
/// # Panics
/// Outside a task (there is no current node); use [`Node::channel`] there.
pub fn channel<T: Message>(name: &str) -> Channel<T> {
    node_or_panic("channel").channel(name)
}

/// The buffered channel `name` of the current node.
///
/// # Panics
/// Outside a task (there is no current node); use [`Node::buffered_channel`] there.
pub fn buffered_channel<T: Message>(name: &str, capacity: usize) -> Channel<T> {
    node_or_panic("buffered_channel").buffered_channel(name, capacity)
}

#[doc(hidden)]
pub mod __private {
    pub use crate::task::support::*;
    pub use inventory;
    pub use serde;
}

/// Turns an `async fn` into a migratable task: a serializable state machine that can be frozen
/// at any `.await`, moved to another node, and resumed there.
///
/// Calling the function runs nothing: it returns the task (an `impl Machine<Output = O>`), to
/// be started with [`Node::spawn`] or awaited inside another `#[migratable]` function (a
/// nested frame).
///
/// ```
/// use tern::{migratable, Channel};
///
/// /// Sends `n - 1` down to `0`, then returns how many values the receiver took.
/// #[migratable]
/// pub async fn countdown(n: u64, out: Channel<u64>) -> u64 {
///     let mut sent: u64 = 0;
///     for i in 0..n {
///         if out.send(n - 1 - i).await.is_err() {
///             return sent; // the receiver closed the channel
///         }
///         sent += 1;
///     }
///     tern::sleep(std::time::Duration::from_millis(1)).await;
///     sent
/// }
///
/// /// A nested call: awaiting another migratable function pushes a frame.
/// #[migratable]
/// async fn twice(out: Channel<u64>) -> u64 {
///     let first: u64 = countdown(2, out.clone()).await;
///     first + countdown(3, out).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tern::Error> {
/// let node = tern::Node::builder("doc-twice").workers(1).start().await?;
/// let out = node.buffered_channel::<u64>("out", 16);
/// let task = node.spawn(twice(out.clone()));
/// assert_eq!(task.join().await?, 5);
/// let mut got = Vec::new();
/// while !out.is_empty() {
///     got.push(out.recv().await?);
/// }
/// assert_eq!(got, [1, 0, 2, 1, 0]);
/// # Ok(()) }
/// ```
///
/// # What the body may contain
///
/// - `let` with and without a type, assignment and compound assignment, `if`/`else`,
///   `if let`, `match` (with guards), `loop`, `while`, `while let`, `for`, labeled
///   `break`/`continue`, `return`, `?` (on `Result` and `Option`), nested blocks, closures —
///   with `.await` at any depth inside all of them (not inside closures).
/// - Awaitable: [`Channel::send`]/[`recv`](Channel::recv), [`sleep`], [`yield_now`],
///   [`TaskHandle::join`], other `#[migratable]` functions — anything implementing [`Effect`].
///   Anything else is a compile error saying so.
///
/// # What the state holds
///
/// Each `.await` stores exactly the locals that are live across it. A stored local must be a
/// parameter or have a written type (`let total: u64 = 0;`) and may not be a borrow; a
/// `match`/`if let` binding that crosses an `.await` is re-bound with a type
/// (`let v: u64 = v;`). The macro points at the variable and says what to write. A `for` loop
/// whose body awaits stores its iterator: iterate over a range with a known element type
/// (`0..n` with `n: u64`, `1..=3u32`), a `Vec<T>` local, or a local whose written type is a
/// serializable iterator. Locals that do not cross an `.await` need no type.
///
/// An `.await` inside a larger expression runs before the operands around it that have none
/// (`a() + ch.recv().await?` receives first); `&&` and `||` keep their short-circuit.
///
/// # Identity
///
/// - Task type key: `module_path::name`, or `#[migratable(name = "stable::name")]` so that a
///   rename keeps old snapshots loadable.
/// - Code fingerprint: a hash of the function's tokens, written into every snapshot and checked
///   on restore (a changed function refuses old snapshots instead of misreading them).
/// - Generic functions work (with `Serialize`/`Deserialize` bounds); they are not registered
///   for restore automatically — register an instantiation with [`register_machine!`].
/// - `#[migratable(crate = "path::to::tern")]` when `tern` is renamed or re-exported.
/// - Methods: put `#[migratable]` on an inherent `impl` block; its `async fn`s take `self` by
///   value (the task owns the value) and become methods returning the task; other items pass
///   through. Their type key is `module_path::Type::method`.
pub use tern_macros::migratable;

/// Makes a trait an interface whose objects stay on their node and are called from any node
/// through a [`Remote<dyn Trait>`](Remote).
///
/// On a trait whose methods are `async fn(&self, …)`: adds `Send + Sync + 'static` to its
/// supertraits, makes each method return a boxed future (so `dyn Trait` exists), and generates
/// `{Trait}Proxy`, what `Remote<dyn Trait>` dereferences to: one method per trait method,
/// taking the same arguments and returning a [`Call`](remote::Call). On each `impl` of the
/// trait: boxes its `async fn`s the same way.
///
/// ```
/// /// A greeter that lives on one node.
/// #[tern::remote]
/// pub trait Greeter {
///     /// Says hello to `name`.
///     async fn greet(&self, name: String) -> String;
/// }
///
/// struct English;
///
/// #[tern::remote]
/// impl Greeter for English {
///     async fn greet(&self, name: String) -> String {
///         format!("hello, {name}")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = tern::Node::builder("doc-greeter").workers(1).start().await?;
/// let greeter: tern::Remote<dyn Greeter> = node.expose(English);
/// assert_eq!(greeter.greet("ada".to_owned()).await?, "hello, ada");
/// # node.shutdown().await;
/// # Ok(()) }
/// ```
///
/// Rejected, each with an error at the offending code: methods that are not `async fn`, that
/// take `&mut self`, `self` or no receiver (the object is shared by every caller: use
/// interior mutability), generic traits and methods, borrowed or `impl Trait` arguments and
/// results (they are copied: take `String`, not `&str`), associated types and constants.
///
/// The interface's name is `module_path::Trait`; its fingerprint hashes the method names, their
/// argument and result types, and their order, so that a call from a build whose trait
/// differs is refused. See the [module documentation](mod@remote) for the copy rules and
/// the lifetime of exposed objects.
pub use tern_macros::remote;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
