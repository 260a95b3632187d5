//! The node: one member of a cluster (DStackless' "interpreter").
//!
//! A node owns an executor, a registry of named channels, and the limits it applies to
//! snapshots.
//!
//! The channel registry forgets unused names as described in [`crate::channel`] ("Lifetime"). A node that never listens is the embedded default: everything works in one
//! process with no network. Nodes of one process find each other by id (for
//! [`TaskHandle::move_to`]); the cluster (QUIC between processes) builds on the same ids.

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, Weak};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::channel::{fnv1a, type_fingerprint, ChanCore, Channel, ChannelId, Message};
use crate::error::{NodeError, SnapshotError};
use crate::executor::{Executor, Schedule};
use crate::handle::TaskHandle;
use crate::snapshot::{self, Limits, Snapshot};
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::task::{FrameStack, Machine, Task, TaskId, TaskShared};

/// A node's id: unique in a cluster.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.into())
    }
}

impl PartialEq<str> for NodeId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for NodeId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// Configures and starts a [`Node`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tern::Error> {
/// let node = tern::Node::builder("alpha").workers(2).start().await?;
/// assert_eq!(node.id().as_str(), "alpha");
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct NodeBuilder {
    id: NodeId,
    workers: Option<usize>,
    limits: Limits,
}

impl NodeBuilder {
    /// The number of worker threads (default: the number of available cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n.max(1));
        self
    }

    /// The largest snapshot this node restores (default 16 MiB).
    pub fn max_snapshot_bytes(mut self, n: usize) -> Self {
        self.limits.max_bytes = n;
        self
    }

    /// The deepest frame stack this node restores (default 256).
    pub fn max_snapshot_frames(mut self, n: usize) -> Self {
        self.limits.max_frames = n;
        self
    }

    /// Starts the node: its worker threads and timer.
    ///
    /// # Errors
    /// [`NodeError::DuplicateId`] when a live node of this process has the same id;
    /// [`NodeError::Spawn`] when threads cannot be started.
    pub async fn start(self) -> Result<Node, crate::Error> {
        crate::task::install_panic_hook();
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let mut dir = directory().lock();
        if dir
            .get(self.id.as_str())
            .is_some_and(|w| w.strong_count() > 0)
        {
            return Err(NodeError::DuplicateId(self.id.to_string()).into());
        }
        let cell: Arc<OnceLock<Weak<NodeInner>>> = Arc::new(OnceLock::new());
        let on_start = {
            let cell = Arc::clone(&cell);
            Arc::new(move || CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(&cell))))
        };
        let exec = Executor::start(Arc::clone(&self.id.0), workers, on_start)
            .map_err(|e| NodeError::Spawn(e.to_string()))?;
        let inner = Arc::new(NodeInner {
            id_hash: fnv1a(self.id.as_str().as_bytes()),
            id: self.id.clone(),
            exec,
            channels: parking_lot::Mutex::new(Registry::default()),
            limits: self.limits,
            stopped: AtomicBool::new(false),
        });
        // The cell is set exactly once, here; `set` can only fail if it was already set.
        cell.set(Arc::downgrade(&inner)).ok();
        dir.insert(self.id.to_string(), Arc::downgrade(&inner));
        drop(dir);
        tracing::debug!(node = %self.id, workers, "node started");
        Ok(Node { inner })
    }
}

/// One member of a cluster: runs tasks, owns named channels, restores snapshots.
///
/// `Node` is a cheap handle (`Clone`). See the crate docs for an overview.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.id)
            .field("workers", &self.inner.exec.workers())
            .finish_non_exhaustive()
    }
}

pub(crate) struct NodeInner {
    pub(crate) id: NodeId,
    id_hash: u64,
    pub(crate) exec: Arc<Executor>,
    channels: parking_lot::Mutex<Registry>,
    pub(crate) limits: Limits,
    stopped: AtomicBool,
}

fn directory() -> &'static parking_lot::Mutex<HashMap<String, Weak<NodeInner>>> {
    static DIR: OnceLock<parking_lot::Mutex<HashMap<String, Weak<NodeInner>>>> = OnceLock::new();
    DIR.get_or_init(Default::default)
}

/// The live node of this process with id `id`.
pub(crate) fn lookup(id: &str) -> Option<Node> {
    directory()
        .lock()
        .get(id)
        .and_then(Weak::upgrade)
        .map(|inner| Node { inner })
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<Arc<OnceLock<Weak<NodeInner>>>>> =
        const { std::cell::RefCell::new(None) };
    static OVERRIDE: std::cell::RefCell<Vec<Weak<NodeInner>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The node whose worker this thread is, or the node a restore is decoding for.
pub(crate) fn current() -> Option<Node> {
    let over = OVERRIDE.with(|o| o.borrow().last().and_then(Weak::upgrade));
    over.or_else(|| {
        CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .and_then(|cell| cell.get())
                .and_then(Weak::upgrade)
        })
    })
    .map(|inner| Node { inner })
}

/// Runs `f` with `node` as the current node of this thread.
pub(crate) fn with_current<R>(node: &Arc<NodeInner>, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.borrow_mut().pop());
        }
    }
    OVERRIDE.with(|o| o.borrow_mut().push(Arc::downgrade(node)));
    let _pop = Pop;
    f()
}

/// The named channels of a node.
struct Registry {
    map: HashMap<Arc<str>, Arc<ChanCore>>,
    /// Forget unused channels when the map reaches this size.
    collect_at: usize,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            map: HashMap::new(),
            collect_at: 64,
        }
    }
}

impl Registry {
    /// Forgets every channel that nothing else refers to and that holds nothing (see
    /// `crate::channel`, "Lifetime"). Nobody can obtain a new reference to a channel without this registry's
    /// lock, which the caller holds, so a count of one cannot grow during the pass.
    fn forget_unused(&mut self) {
        self.map
            .retain(|_, core| Arc::strong_count(core) > 1 || !core.is_idle());
        self.collect_at = (2 * self.map.len()).max(64);
    }
}

impl NodeInner {
    /// The channel core with this identity's name, created with this identity if new.
    pub(crate) fn core_for(this: &Arc<NodeInner>, id: ChannelId) -> Arc<ChanCore> {
        let mut reg = this.channels.lock();
        if let Some(core) = reg.map.get(&id.name) {
            return Arc::clone(core);
        }
        if reg.map.len() >= reg.collect_at {
            reg.forget_unused();
        }
        let name = Arc::clone(&id.name);
        let core = ChanCore::new(id);
        reg.map.insert(name, Arc::clone(&core));
        core
    }

    fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        drop(self.exec.stop());
        let cores: Vec<_> = self.channels.lock().map.values().cloned().collect();
        for core in cores {
            drop(core.drain_tasks());
        }
        let mut dir = directory().lock();
        if dir
            .get(self.id.as_str())
            .is_some_and(|w| w.strong_count() == 0 || std::ptr::eq(w.as_ptr(), self))
        {
            dir.remove(self.id.as_str());
        }
        tracing::debug!(node = %self.id, "node stopped");
    }
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Node {
    /// Starts configuring a node with this id.
    pub fn builder(id: impl Into<String>) -> NodeBuilder {
        let id: String = id.into();
        NodeBuilder {
            id: NodeId(id.into()),
            workers: None,
            limits: Limits::default(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.inner.id
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.inner.exec.workers()
    }

    /// The number of named channels this node currently remembers (see
    /// [`channel`](mod@crate::channel), "Lifetime", for when a name is forgotten).
    pub fn channel_count(&self) -> usize {
        self.inner.channels.lock().map.len()
    }

    /// Spawns a migratable task and returns its handle.
    ///
    /// Spawning on a node that has shut down returns a handle whose `join` reports
    /// [`JoinError::Cancelled`](crate::JoinError::Cancelled).
    pub fn spawn<M: Machine>(&self, machine: M) -> TaskHandle<M::Output> {
        let shared = TaskShared::new(TaskId::next(self.inner.id_hash));
        let sched: Arc<dyn Schedule> = self.inner.exec.clone();
        let task = Task::new(
            Arc::clone(&shared),
            sched,
            FrameStack::new(Box::new(machine)),
        );
        self.inner.exec.schedule(task);
        TaskHandle::new(shared, self.clone())
    }

    /// The rendezvous channel named `name`: a send completes only when a receiver has taken
    /// the value. The same name on this node is the same channel.
    pub fn channel<T: Message>(&self, name: &str) -> Channel<T> {
        self.channel_with_capacity(name, 0)
    }

    /// The buffered (FIFO) channel named `name` with room for `capacity` values
    /// (`capacity == 0` is a rendezvous channel).
    pub fn buffered_channel<T: Message>(&self, name: &str, capacity: usize) -> Channel<T> {
        self.channel_with_capacity(name, capacity)
    }

    pub(crate) fn channel_with_capacity<T: Message>(&self, name: &str, cap: usize) -> Channel<T> {
        let id = ChannelId {
            name: name.into(),
            ty: type_fingerprint::<T>(),
            cap,
        };
        Channel::bind(NodeInner::core_for(&self.inner, id), cap)
    }

    /// Restores a task from a snapshot on this node and starts it where it was suspended.
    ///
    /// Channel handles in the task's state and its pending request bind to this node's
    /// channels of the same names.
    ///
    /// # Errors
    /// Every [`SnapshotError`] of the decoding checks (see [`crate::snapshot`]), and
    /// [`SnapshotError::OutputType`] when `O` is not the task's output type.
    pub fn restore<O: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        snapshot: &Snapshot,
    ) -> Result<TaskHandle<O>, SnapshotError> {
        let decoded = snapshot::decode(snapshot.as_bytes(), &self.inner, self.inner.limits)?;
        if decoded.header.output_type != snapshot::output_fingerprint::<O>() {
            return Err(SnapshotError::OutputType(decoded.header.task_type));
        }
        let shared = TaskShared::new(decoded.header.task);
        self.install(Arc::clone(&shared), decoded, 0);
        Ok(TaskHandle::new(shared, self.clone()))
    }

    /// Installs a decoded task under `shared` and resubmits its pending request.
    pub(crate) fn install(&self, shared: Arc<TaskShared>, d: snapshot::Decoded, epoch_bump: u64) {
        let sched: Arc<dyn Schedule> = self.inner.exec.clone();
        let mut task = Task::new(shared, sched, FrameStack::from_vec(d.frames));
        task.set_wait(d.wait);
        task.epoch = d.header.epoch + epoch_bump;
        task.restored_location = d.location.map(Box::new);
        self.resubmit(task);
    }

    /// Makes a task runnable again from where it stands (see `Executor::resubmit`).
    pub(crate) fn resubmit(&self, task: Box<Task>) {
        self.inner.exec.resubmit(task);
    }

    /// Stops the node: its workers finish the step they are in, then every task still on the
    /// node is dropped (joiners see [`JoinError::Cancelled`](crate::JoinError::Cancelled)) and
    /// waiting external futures see [`ChannelError::Closed`](crate::ChannelError::Closed).
    pub async fn shutdown(&self) {
        self.inner.stop();
    }
}
