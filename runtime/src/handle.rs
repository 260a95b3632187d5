//! Task handles: join a task, snapshot it, move it.

use std::fmt;
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{JoinError, MoveError, SnapshotError};
use crate::node::{self, Node, NodeId};
use crate::snapshot::{self, Snapshot};
use crate::sync::Arc;
use crate::task::{
    Cx, Effect, JoinOutcome, RequestKind, RequestKindBox, Response, ResponseKind, Task, TaskId,
    TaskShared,
};

/// A handle on a spawned task: join it, snapshot it, move it.
///
/// Dropping the handle does not stop the task. Inside a task, `handle.join()` is an effect:
/// awaiting it suspends the task until the joined task ends.
///
/// A handle is `Serialize`/`Deserialize` (it can live in a task's state and travel in its
/// snapshot) as the task's id; for now it can only be deserialized in the process where the
/// task lives — across processes with the cluster.
pub struct TaskHandle<O> {
    shared: Arc<TaskShared>,
    location: parking_lot::Mutex<Node>,
    _o: PhantomData<fn() -> O>,
}

impl<O> fmt::Debug for TaskHandle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.shared.id)
            .field("location", self.location.lock().id())
            .finish()
    }
}

impl<O: Serialize + DeserializeOwned + Send + 'static> TaskHandle<O> {
    pub(crate) fn new(shared: Arc<TaskShared>, node: Node) -> Self {
        TaskHandle {
            shared,
            location: parking_lot::Mutex::new(node),
            _o: PhantomData,
        }
    }

    /// The task's id (unchanged by moves).
    pub fn id(&self) -> TaskId {
        self.shared.id
    }

    /// The node the task is on (as its home node last heard, when it runs on another node
    /// of the cluster: a move in progress shows once it is done).
    pub fn location(&self) -> NodeId {
        let node = self.current_node();
        if let Some(cluster) = &node.inner.cluster {
            if let Some(at) = cluster.moves.location(self.shared.id) {
                return at;
            }
        }
        node.id().clone()
    }

    /// The node of this process the task is on or was last on.
    fn current_node(&self) -> Node {
        let mut location = self.location.lock();
        if let Some(moved) = self_moves().lock().remove(&self.shared.id) {
            if let Some(node) = node::lookup(moved.as_str()) {
                *location = node;
            }
        }
        location.clone()
    }

    /// Whether the task has ended (returned, failed or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.shared.is_finished()
    }

    /// Waits for the task to end and returns its output.
    ///
    /// # Errors
    /// [`JoinError::Failed`] with the task's [`TaskReport`](crate::TaskReport) when it panicked;
    /// [`JoinError::Cancelled`] when its node shut down first; [`JoinError::Frozen`] when it was
    /// frozen into a snapshot.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes leaves the outcome in place for a later `join`
    /// ... of which there can be none, since `join` consumes the handle.
    pub fn join(self) -> JoinFuture<O> {
        JoinFuture {
            shared: self.shared,
            _o: PhantomData,
        }
    }

    /// Freezes the task at its current suspension point and returns its snapshot. The task
    /// leaves this node; [`Node::restore`] brings it back (there or on another node), and this
    /// handle's `join` then reports [`JoinError::Frozen`].
    ///
    /// # Errors
    /// [`SnapshotError::Finished`] when the task ended first; an encoding error leaves the task
    /// running where it was.
    pub async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        let node = self.current_node();
        if node
            .inner
            .cluster
            .as_ref()
            .is_some_and(|c| c.moves.is_away(self.shared.id))
        {
            return Err(SnapshotError::Away);
        }
        let task = freeze(&self.shared).await?;
        // Values it sent against credit must reach their homes before its next sends leave
        // from the target (FIFO per sender).
        if let Some(cluster) = &node.inner.cluster {
            cluster.flush_streams().await;
        }
        match snapshot::encode(
            &task,
            node.id().as_str(),
            snapshot::output_fingerprint::<O>(),
        ) {
            Ok(snap) => {
                task.discard();
                self.shared.finish(JoinOutcome::Frozen);
                Ok(snap)
            }
            Err(e) => {
                self.shared.reopen();
                node.resubmit(task);
                Err(e)
            }
        }
    }

    /// Moves the task to the node `target`: it is frozen at its suspension point (its
    /// pending channel request withdrawn at the channel's home), its snapshot is checked on
    /// `target` — task type registered, code fingerprint, size, room — *before* this node
    /// lets it go, and it resumes there with its channel bindings rebound by name, losing and
    /// duplicating no message. Moving to the node it is on does nothing.
    ///
    /// On a cluster member the move goes over the network (see
    /// [`tern::cluster`](crate::cluster), "Moving tasks"), wherever the task runs now: a
    /// task that left this node is asked to move from where it is. On an embedded node,
    /// `target` is another node of this process.
    ///
    /// # Errors
    /// [`MoveError::UnknownNode`] when `target` is not a member (or, embedded, no such node
    /// runs in this process); [`MoveError::Refused`] when the snapshot cannot be taken or the
    /// target refuses it (its type is not registered there, its code fingerprint differs —
    /// version skew —, it is too large); [`MoveError::OverCapacity`],
    /// [`MoveError::ShuttingDown`], [`MoveError::Busy`], [`MoveError::Unreachable`];
    /// [`MoveError::NotFound`] when the task has ended. In every error case the task keeps
    /// running where it was and nothing is lost.
    pub async fn move_to(&self, target: impl AsRef<str>) -> Result<(), MoveError> {
        let target_id = target.as_ref();
        let source = self.current_node();
        if let Some(cluster) = &source.inner.cluster {
            let target =
                NodeId::new(target_id).map_err(|_| MoveError::UnknownNode(target_id.to_owned()))?;
            if cluster.moves.is_away(self.shared.id) {
                return crate::cluster::moves::move_remote(cluster, self.shared.id, &target).await;
            }
            return crate::cluster::moves::move_task(cluster, &source, &self.shared, &target).await;
        }
        let target =
            node::lookup(target_id).ok_or_else(|| MoveError::UnknownNode(target_id.to_owned()))?;
        if Arc::ptr_eq(&source.inner, &target.inner) {
            return Ok(());
        }
        let task = freeze(&self.shared).await?;
        // Values it sent against credit must reach their homes before its next sends leave
        // from the target (FIFO per sender).
        if let Some(cluster) = &source.inner.cluster {
            cluster.flush_streams().await;
        }
        let checked = snapshot::encode(
            &task,
            source.id().as_str(),
            snapshot::output_fingerprint::<O>(),
        )
        .and_then(|snap| snapshot::decode(snap.as_bytes(), &target.inner, target.inner.limits));
        match checked {
            Ok(decoded) => {
                task.discard();
                self.shared.reopen();
                target.install(Arc::clone(&self.shared), decoded, 1);
                tracing::debug!(task = %self.shared.id, from = %source.id(), to = %target.id(), "task moved");
                self_moves().lock().remove(&self.shared.id);
                *self.location.lock() = target;
                Ok(())
            }
            Err(e) => {
                self.shared.reopen();
                source.resubmit(task);
                Err(MoveError::Refused(e))
            }
        }
    }
}

/// Tasks of embedded nodes that moved themselves to another node of this process, and where
/// (read, and forgotten, by their handle: a `TaskShared` has no room for it).
fn self_moves() -> &'static parking_lot::Mutex<std::collections::HashMap<TaskId, NodeId>> {
    static MAP: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashMap<TaskId, NodeId>>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(Default::default)
}

/// `tern::move_to` (the executor's `Move` request): the task moves itself. Returns the task
/// when it resumes at once (a move to its own node, or a failure found before it left).
pub(crate) fn move_self(mut task: Box<Task>, to: NodeId) -> Option<Box<Task>> {
    let Some(node) = node::current() else {
        task.respond(Response(ResponseKind::MoveFailed(Box::new(
            MoveError::UnknownNode(to.to_string()),
        ))));
        return Some(task);
    };
    if node.id() == &to {
        task.respond(Response(ResponseKind::Unit));
        return Some(task);
    }
    if let Some(cluster) = &node.inner.cluster {
        crate::cluster::moves::move_self(cluster, task, to);
        return None;
    }
    let Some(target) = node::lookup(to.as_str()) else {
        task.respond(Response(ResponseKind::MoveFailed(Box::new(
            MoveError::UnknownNode(to.to_string()),
        ))));
        return Some(task);
    };
    // It resumes on the target with `Ok(())`.
    task.respond(Response(ResponseKind::Unit));
    let checked = snapshot::encode(&task, node.id().as_str(), task.output_type())
        .and_then(|snap| snapshot::decode(snap.as_bytes(), &target.inner, target.inner.limits));
    match checked {
        Ok(decoded) => {
            let shared = Arc::clone(&task.shared);
            task.discard();
            self_moves().lock().insert(shared.id, to);
            target.install(shared, decoded, 1);
            None
        }
        Err(e) => {
            task.respond(Response(ResponseKind::MoveFailed(Box::new(
                MoveError::Refused(e),
            ))));
            Some(task)
        }
    }
}

/// Stops the task at its suspension point and takes it out of whatever queue it waits in.
pub(crate) async fn freeze(shared: &Arc<TaskShared>) -> Result<Box<Task>, SnapshotError> {
    shared.request_freeze();
    let task = poll_fn(|cx| shared.poll_freeze(cx)).await;
    let Some(task) = task else {
        shared.clear_freeze();
        return Err(SnapshotError::Finished);
    };
    // Withdraw the request at its wait site. Taking the site's lock also waits out any matcher
    // that popped this task's entry before the freezer emptied the cell.
    let mut withdrawal = None;
    match task.pending() {
        Some(RequestKind::Recv { chan }) | Some(RequestKind::Send { chan, .. }) => {
            withdrawal = chan.withdraw(shared);
        }
        Some(RequestKind::Sleep { .. }) => task.sched_timer_withdraw(),
        Some(RequestKind::Join { task: joined }) => joined.withdraw_joiner(shared),
        _ => {}
    }
    let mut task = task;
    if let Some(answer) = withdrawal {
        // The request was in flight at the channel's home on another node: the home has
        // withdrawn it, or tells how it had already ended.
        crate::channel::remote::settle_withdrawn(&mut task, answer.await.ok());
    }
    Ok(task)
}

/// The future returned by [`TaskHandle::join`].
#[must_use = "futures do nothing unless polled"]
pub struct JoinFuture<O> {
    shared: Arc<TaskShared>,
    _o: PhantomData<fn() -> O>,
}

impl<O> fmt::Debug for JoinFuture<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinFuture")
            .field("task", &self.shared.id)
            .finish()
    }
}

fn joined<O: DeserializeOwned + 'static>(outcome: JoinOutcome) -> Result<O, JoinError> {
    match outcome {
        JoinOutcome::Output(v) => v
            .take::<O>()
            .map_err(|_| JoinError::Output(std::any::type_name::<O>())),
        JoinOutcome::Failed(report) => Err(JoinError::Failed(report)),
        JoinOutcome::Cancelled => Err(JoinError::Cancelled),
        JoinOutcome::Frozen => Err(JoinError::Frozen),
        JoinOutcome::NodeDown(node) => Err(JoinError::NodeDown { node }),
    }
}

impl<O: DeserializeOwned + 'static> Future for JoinFuture<O> {
    type Output = Result<O, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.poll_join(cx).map(joined)
    }
}

impl<O: DeserializeOwned + 'static> Effect for JoinFuture<O> {
    type Output = Result<O, JoinError>;

    fn into_request(self, _cx: &mut Cx<'_>) -> RequestKindBox {
        RequestKindBox(RequestKind::Join { task: self.shared })
    }

    fn decode(response: Response) -> Result<O, JoinError> {
        match response.0 {
            ResponseKind::Joined(outcome) => joined(outcome),
            other => panic!("join resumed with {other:?}"),
        }
    }
}

// ---- handles inside task state ---------------------------------------------------------------

type Published = parking_lot::Mutex<std::collections::HashMap<TaskId, Arc<TaskShared>>>;

fn published() -> &'static Published {
    static MAP: std::sync::OnceLock<Published> = std::sync::OnceLock::new();
    MAP.get_or_init(Default::default)
}

/// Makes `task` findable by id in this process (done when a handle or a join is serialized).
///
/// The registry keeps the task's shared part (and so its outcome) alive until a joiner takes
/// the outcome: a snapshot that joins the task can be restored after the task has finished.
pub(crate) fn publish(task: &Arc<TaskShared>) {
    if !task.mark_published() {
        published().lock().insert(task.id, Arc::clone(task));
    }
}

/// Forgets a published task whose outcome has been taken.
pub(crate) fn unpublish(id: TaskId) {
    published().lock().remove(&id);
}

/// The published task with this id.
pub(crate) fn find(id: TaskId) -> Option<Arc<TaskShared>> {
    published().lock().get(&id).cloned()
}

#[derive(Serialize, Deserialize)]
struct WireHandle {
    task: TaskId,
    location: NodeId,
}

impl<O> Serialize for TaskHandle<O> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        publish(&self.shared);
        let location = self.location.lock().id().clone();
        WireHandle {
            task: self.shared.id,
            location,
        }
        .serialize(s)
    }
}

impl<'de, O: Serialize + DeserializeOwned + Send + 'static> Deserialize<'de> for TaskHandle<O> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WireHandle::deserialize(d)?;
        let shared = find(wire.task).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "task handle {} refers to no task in this process",
                wire.task
            ))
        })?;
        let node = node::lookup(wire.location.as_str())
            .or_else(node::current)
            .ok_or_else(|| {
                serde::de::Error::custom(format_args!(
                    "task handle {}: node {} is gone",
                    wire.task, wire.location
                ))
            })?;
        Ok(TaskHandle::new(shared, node))
    }
}
