//! # tern — migratable green tasks
//!
//! tern runs tasks that are explicit, serializable state machines. They talk over **named
//! channels** (the same name is the same channel), and a running task can be **frozen** at any
//! suspension point, turned into bytes, and **resumed on another node** with its channel
//! bindings intact, losing and duplicating nothing.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tern::{Channel, Cx, Machine, Node, Step};
//!
//! /// Doubles every number it receives until its input closes; returns how many it doubled.
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Doubler { input: Channel<u64>, output: Channel<u64>, count: u64, waiting_send: bool }
//!
//! impl Machine for Doubler {
//!     type Output = u64;
//!     const TYPE_KEY: &'static str = "doc::Doubler";
//!     const FINGERPRINT: u64 = 1;
//!     fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
//!         if self.waiting_send {
//!             self.waiting_send = false;
//!             if cx.resumed(|| self.output.send(0)).is_err() {
//!                 return Step::Done(self.count);
//!             }
//!         } else if cx.has_response() {
//!             match cx.resumed(|| self.input.recv()) {
//!                 Ok(v) => {
//!                     self.count += 1;
//!                     self.waiting_send = true;
//!                     return cx.suspend(self.output.send(2 * v));
//!                 }
//!                 Err(_closed) => return Step::Done(self.count),
//!             }
//!         }
//!         cx.suspend(self.input.recv())
//!     }
//! }
//! tern::register_machine!(Doubler);
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), tern::Error> {
//!     let alpha = Node::builder("doc-alpha").workers(1).start().await?;
//!     let beta = Node::builder("doc-beta").workers(1).start().await?;
//!     let task = alpha.spawn(Doubler {
//!         input: alpha.channel("numbers"),
//!         output: alpha.channel("doubled"),
//!         count: 0,
//!         waiting_send: false,
//!     });
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
//! - [`task`]: the [`Machine`] trait — the task model — and effects ([`Effect`]).
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

pub mod channel;
mod error;
mod executor;
mod handle;
mod node;
pub mod snapshot;
mod spin;
mod sync;
pub mod task;
mod value;

#[cfg(all(test, tern_loom))]
mod tests;

pub use channel::{Channel, Message, Recv, RecvFuture, SendEffect, SendFuture};
pub use error::{
    ChannelError, Error, JoinError, MismatchError, MoveError, NodeError, SendError, SnapshotError,
};
pub use handle::{JoinFuture, TaskHandle};
pub use node::{Node, NodeBuilder, NodeId};
pub use snapshot::{Snapshot, SnapshotHeader};
pub use task::{
    sleep, yield_now, Cx, Effect, Machine, MachineType, Request, Response, Step, TaskId, TaskReport,
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

pub use tern_macros::migratable;
