//! Moving tasks between the nodes of a cluster: the runtime around the sans-IO migration core
//! ([`tern_net::proto::migrate`], whose docs give the protocol).
//!
//! What the runtime adds to the core:
//!
//! - **Source.** [`move_task`] freezes the task (its pending channel request withdrawn at the
//!   channel's home, the outcome riding in the snapshot if it had matched), waits until the
//!   node's credit streams reached their homes (FIFO per sender), encodes the snapshot and
//!   offers it. On `Moved` the frozen copy is dropped; on `Failed` it is resubmitted where it
//!   stood, so a failed move loses nothing. A task that moves itself (`tern::move_to`) takes
//!   the same path from the executor, with `Ok(())` as the response it resumes with on the
//!   target, or the error on the source.
//! - **Target.** An offer is decoded and checked (task type registered, code fingerprint,
//!   size, depth, capacity, not draining) *before* it is answered; a task that passes is held
//!   decoded, not running, until the commit, then installed with the epoch of the offer.
//! - **Joins.** A task's home is the node that spawned it: its [`TaskHandle`] is there. When
//!   the task leaves its home, the handle's join cell stays behind (`away`); the node where
//!   the task ends sends the outcome home (`Ended`), which completes the join. A task that
//!   comes home again is installed under the same cell. When the node running a task that
//!   left goes down, its join fails with [`JoinError::NodeDown`](crate::JoinError::NodeDown).
//! - **Handles.** [`TaskHandle::location`] reads the home's ownership record;
//!   [`TaskHandle::move_to`] of a task that left sends a `Control` to where the record says,
//!   which follows forwarding pointers to the task and moves it from there.
//!
//! [`TaskHandle`]: crate::TaskHandle
//! [`TaskHandle::location`]: crate::TaskHandle::location
//! [`TaskHandle::move_to`]: crate::TaskHandle::move_to

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, Weak};

use tern_net::proto::migrate::{
    Command, ControlReply, MigrateConfig, MigrateStats, Migrations, MoveEvent, MoveRefusal,
};
use tern_net::proto::{Message, NodeId, PartyId, Payload};
use tokio::sync::oneshot;

use super::Cluster;
use crate::error::{refusal_of, MoveError, SnapshotError};
use crate::node::{Node, NodeInner};
use crate::snapshot;
use crate::task::{JoinOutcome, Response, ResponseKind, Task, TaskId, TaskShared};

/// A task living on this node, as far as moving it is concerned.
struct Live {
    shared: Weak<TaskShared>,
    /// Its home, when that is another node.
    home: Option<NodeId>,
}

/// A move from this node, waiting for the target's answer.
struct Waiting {
    tx: oneshot::Sender<Result<NodeId, MoveRefusal>>,
    shared: Arc<TaskShared>,
    /// The task was frozen through its cell (a move by handle): the freeze ends with the move.
    frozen: bool,
    /// The task is homed here: its cell stays for the join.
    home_here: bool,
}

/// A task offered to this node, checked and held until its commit.
struct Held {
    decoded: snapshot::Decoded,
    home: NodeId,
}

/// The node's side of migration.
pub(crate) struct Moves {
    core: parking_lot::Mutex<Migrations>,
    live: parking_lot::Mutex<HashMap<TaskId, Live>>,
    held: parking_lot::Mutex<HashMap<PartyId, Held>>,
    /// Join cells of tasks homed here that run elsewhere.
    away: parking_lot::Mutex<HashMap<PartyId, Arc<TaskShared>>>,
    /// Moves from this node waiting for the target's answer.
    waiting: parking_lot::Mutex<HashMap<PartyId, Waiting>>,
    /// Control messages waiting for their reply, by request number.
    controls: parking_lot::Mutex<HashMap<u64, oneshot::Sender<ControlReply>>>,
    /// The most tasks this node runs (offers beyond are refused).
    max_tasks: Option<u64>,
    draining: std::sync::atomic::AtomicBool,
    /// A thread is acting on the core's events (see [`pump`]).
    pumping: std::sync::atomic::AtomicBool,
}

impl Moves {
    pub(crate) fn new(me: NodeId, max_tasks: Option<u64>) -> Moves {
        Moves {
            core: parking_lot::Mutex::new(Migrations::new(me, MigrateConfig::default())),
            live: parking_lot::Mutex::new(HashMap::new()),
            held: parking_lot::Mutex::new(HashMap::new()),
            away: parking_lot::Mutex::new(HashMap::new()),
            waiting: parking_lot::Mutex::new(HashMap::new()),
            controls: parking_lot::Mutex::new(HashMap::new()),
            max_tasks,
            draining: std::sync::atomic::AtomicBool::new(false),
            pumping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn stats(&self) -> MigrateStats {
        self.core.lock().stats()
    }

    /// Registers a task spawned or installed here.
    pub(crate) fn track(&self, shared: &Arc<TaskShared>, home: Option<NodeId>) {
        let mut live = self.live.lock();
        if live.len() >= 1024 && live.len().is_power_of_two() {
            live.retain(|_, l| l.shared.upgrade().is_some_and(|s| !s.is_finished()));
        }
        live.insert(
            shared.id,
            Live {
                shared: Arc::downgrade(shared),
                home,
            },
        );
    }

    /// The tasks running on this node (for `drain`).
    pub(crate) fn running(&self) -> Vec<Arc<TaskShared>> {
        let mut live = self.live.lock();
        live.retain(|_, l| l.shared.upgrade().is_some_and(|s| !s.is_finished()));
        live.values().filter_map(|l| l.shared.upgrade()).collect()
    }

    fn count(&self) -> u64 {
        let mut live = self.live.lock();
        live.retain(|_, l| l.shared.upgrade().is_some_and(|s| !s.is_finished()));
        live.len() as u64
    }

    /// Where the task homed here runs, if it left.
    pub(crate) fn location(&self, id: TaskId) -> Option<NodeId> {
        self.core.lock().owner(id.party()).map(|(n, _)| n.clone())
    }

    pub(crate) fn is_away(&self, id: TaskId) -> bool {
        self.away.lock().contains_key(&id.party())
    }

    pub(crate) fn set_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Sends what the core queued and acts on its events, in the core's order: one thread at
/// a time acts on events (another thread's call returns at once, leaving its events to the
/// thread at work), so that, say, a task is installed before a command for it is looked at.
pub(crate) fn pump(cluster: &Arc<Cluster>) {
    let moves = &cluster.moves;
    loop {
        if moves
            .pumping
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        pump_events(cluster);
        moves
            .pumping
            .store(false, std::sync::atomic::Ordering::Release);
        // Events queued by a thread that found this one at work, after it looked last.
        if moves.core.lock().is_quiet() {
            return;
        }
    }
}

fn pump_events(cluster: &Arc<Cluster>) {
    let Some(node) = cluster.node() else { return };
    loop {
        let events: Vec<_> = {
            let mut core = cluster.moves.core.lock();
            // Handed to the mesh under the lock, so they leave in the core's order whichever
            // thread pumps (`transmit` never waits).
            while let Some((to, msg)) = core.poll_transmit() {
                cluster.transmit(&to, Message::Migrate(msg));
            }
            std::iter::from_fn(|| core.poll_event()).collect()
        };
        if events.is_empty() {
            return;
        }
        for event in events {
            on_event(cluster, &node, event);
        }
    }
}

fn on_event(cluster: &Arc<Cluster>, node: &Arc<NodeInner>, event: MoveEvent) {
    let moves = &cluster.moves;
    match event {
        MoveEvent::Offered {
            task,
            epoch,
            home,
            from,
            snapshot,
        } => {
            let checked = check_offer(cluster, node, &snapshot.0);
            let mut core = moves.core.lock();
            match checked {
                Ok(decoded) => {
                    tracing::debug!(node = %cluster.me, %from, task = ?task, epoch, "task offered: held");
                    moves.held.lock().insert(task, Held { decoded, home });
                    core.installed(task, epoch);
                }
                Err(reason) => {
                    tracing::info!(node = %cluster.me, %from, task = ?task, ?reason, "task offer refused");
                    core.refuse(task, epoch, reason);
                }
            }
        }
        MoveEvent::Run { task, epoch } => {
            let Some(held) = moves.held.lock().remove(&task) else {
                return;
            };
            run_arrived(cluster, node, task, epoch, held);
        }
        MoveEvent::Drop { task, .. } => {
            moves.held.lock().remove(&task);
        }
        MoveEvent::Moved { task, to, .. } => {
            let Some(w) = moves.waiting.lock().remove(&task) else {
                return;
            };
            // Done here, in the core's order, not when the mover's future next runs: the task
            // may be back (and frozen again) by then.
            let id = w.shared.id;
            {
                let mut live = moves.live.lock();
                if live
                    .get(&id)
                    .is_some_and(|l| std::ptr::eq(l.shared.as_ptr(), Arc::as_ptr(&w.shared)))
                {
                    live.remove(&id);
                }
            }
            if w.frozen {
                w.shared.clear_freeze();
            }
            if w.home_here {
                moves.away.lock().insert(task, Arc::clone(&w.shared));
            } else {
                w.shared.finish(JoinOutcome::Frozen);
            }
            w.tx.send(Ok(to)).ok();
        }
        MoveEvent::Failed { task, reason, .. } => {
            if let Some(w) = moves.waiting.lock().remove(&task) {
                w.tx.send(Err(reason)).ok();
            }
        }
        MoveEvent::Located { .. } => {}
        MoveEvent::Ended { task, outcome } => {
            let Some(shared) = moves.away.lock().remove(&task) else {
                return;
            };
            let outcome = snapshot::decode_outcome(&outcome.0).unwrap_or_else(|| {
                tracing::warn!(node = %cluster.me, task = %shared.id, "undecodable task outcome");
                JoinOutcome::Cancelled
            });
            shared.finish(outcome);
        }
        MoveEvent::Control {
            task,
            req,
            from,
            cmd,
        } => on_control(cluster, node, task, req, from, cmd),
        MoveEvent::Reply { req, reply, .. } => {
            if let Some(tx) = moves.controls.lock().remove(&req) {
                tx.send(reply).ok();
            }
        }
    }
}

/// Checks an offered snapshot as a restore would, and the node's room for it.
fn check_offer(
    cluster: &Arc<Cluster>,
    node: &Arc<NodeInner>,
    bytes: &[u8],
) -> Result<snapshot::Decoded, MoveRefusal> {
    let moves = &cluster.moves;
    if moves.draining.load(std::sync::atomic::Ordering::SeqCst) || node.is_stopped() {
        return Err(MoveRefusal::ShuttingDown);
    }
    if let Some(limit) = moves.max_tasks {
        if moves.count() + moves.held.lock().len() as u64 >= limit {
            return Err(MoveRefusal::OverCapacity { limit });
        }
    }
    snapshot::decode(bytes, node, node.limits).map_err(|e| refusal_of(&e))
}

/// Installs a committed arrival and starts it.
fn run_arrived(
    cluster: &Arc<Cluster>,
    node: &Arc<NodeInner>,
    task: PartyId,
    epoch: u64,
    held: Held,
) {
    let moves = &cluster.moves;
    let id = held.decoded.header.task;
    let home_here = held.home == cluster.me;
    // Back home: the handle's join cell is waiting for it.
    let shared = home_here
        .then(|| moves.away.lock().remove(&task))
        .flatten()
        .unwrap_or_else(|| TaskShared::new(id));
    let home = (!home_here).then(|| held.home.clone());
    moves.track(&shared, home.clone());
    if let Some(home) = home {
        let cluster = Arc::clone(cluster);
        let watched = Arc::clone(&shared);
        cluster.rt.clone().spawn(async move {
            report_end(&cluster, watched, task, epoch, home).await;
        });
    }
    tracing::debug!(node = %cluster.me, task = %id, epoch, "task arrived");
    Node::from_inner(Arc::clone(node)).install_at(shared, held.decoded, epoch);
}

/// Waits for a task that arrived from elsewhere to end here, and sends its outcome home.
async fn report_end(
    cluster: &Arc<Cluster>,
    shared: Arc<TaskShared>,
    task: PartyId,
    epoch: u64,
    home: NodeId,
) {
    let outcome = poll_fn(|cx| shared.poll_join(cx)).await;
    if matches!(outcome, JoinOutcome::Frozen) {
        // It moved on (or was frozen into a snapshot): its next node reports.
        return;
    }
    let bytes = match snapshot::encode_outcome(&outcome) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(node = %cluster.me, task = %shared.id, error = %e, "task output does not encode: reported as a failure");
            snapshot::encode_outcome(&JoinOutcome::Cancelled).unwrap_or_default()
        }
    };
    cluster
        .moves
        .core
        .lock()
        .ended(task, epoch, home, Payload(bytes));
    pump(cluster);
}

/// A control message for a task that may run here.
fn on_control(
    cluster: &Arc<Cluster>,
    node: &Arc<NodeInner>,
    task: PartyId,
    req: u64,
    from: NodeId,
    cmd: Command,
) {
    let found = cluster
        .moves
        .live
        .lock()
        .get(&TaskId::from_party(task))
        .and_then(|l| l.shared.upgrade())
        .filter(|s| !s.is_finished());
    let reply_to = move |cluster: &Arc<Cluster>, reply| {
        cluster
            .moves
            .core
            .lock()
            .reply(task, req, from.clone(), reply);
        pump(cluster);
    };
    let Some(shared) = found else {
        return reply_to(cluster, ControlReply::NotFound);
    };
    match cmd {
        Command::Locate => reply_to(
            cluster,
            ControlReply::At {
                node: cluster.me.clone(),
            },
        ),
        Command::MoveTo(target) => {
            let cluster = Arc::clone(cluster);
            let node = Node::from_inner(Arc::clone(node));
            cluster.rt.clone().spawn(async move {
                let reply = match move_task(&cluster, &node, &shared, &target).await {
                    Ok(()) => ControlReply::At { node: target },
                    Err(MoveError::Refused(SnapshotError::Finished)) => ControlReply::NotFound,
                    Err(e) => ControlReply::Refused {
                        node: cluster.me.clone(),
                        reason: e.to_wire().1,
                    },
                };
                reply_to(&cluster, reply);
            });
        }
    }
}

/// Moves the task of `shared`, which runs on this node, to `target`.
pub(crate) async fn move_task(
    cluster: &Arc<Cluster>,
    node: &Node,
    shared: &Arc<TaskShared>,
    target: &NodeId,
) -> Result<(), MoveError> {
    if target == &cluster.me {
        return Ok(());
    }
    if !cluster.members().contains(target) {
        return Err(MoveError::UnknownNode(target.to_string()));
    }
    let task = crate::handle::freeze(shared).await?;
    cluster.flush_streams().await;
    let output = task.output_type();
    match depart(cluster, task, target, output, true).await {
        Ok(()) => Ok(()),
        Err((task, e)) => {
            shared.reopen();
            node.resubmit(task);
            Err(e)
        }
    }
}

/// A task asked to move itself (`tern::move_to`): called by the executor with the task out
/// of every queue. It resumes with `Ok(())` on the target, or with the error here.
pub(crate) fn move_self(cluster: &Arc<Cluster>, mut task: Box<Task>, target: NodeId) {
    let cluster = Arc::clone(cluster);
    let rt = cluster.rt.clone();
    rt.spawn(async move {
        let Some(inner) = cluster.node() else { return };
        let node = Node::from_inner(inner);
        let output = task.output_type();
        let failed = if !cluster.members().contains(&target) {
            Some((task, MoveError::UnknownNode(target.to_string())))
        } else {
            cluster.flush_streams().await;
            task.respond(Response(ResponseKind::Unit));
            depart(&cluster, task, &target, output, false).await.err()
        };
        if let Some((mut task, e)) = failed {
            task.respond(Response(ResponseKind::MoveFailed(Box::new(e))));
            node.resubmit(task);
        }
    });
}

/// Offers the frozen `task` to `target` and waits for the answer. On success the frozen copy
/// is dropped; on failure it is handed back.
async fn depart(
    cluster: &Arc<Cluster>,
    task: Box<Task>,
    target: &NodeId,
    output: u64,
    frozen: bool,
) -> Result<(), (Box<Task>, MoveError)> {
    let moves = &cluster.moves;
    let snap = match snapshot::encode(&task, cluster.me.as_str(), output) {
        Ok(s) => s,
        Err(e) => return Err((task, MoveError::Refused(e))),
    };
    let id = task.shared.id;
    let party = id.party();
    let home = moves
        .live
        .lock()
        .get(&id)
        .and_then(|l| l.home.clone())
        .unwrap_or_else(|| cluster.me.clone());
    let (tx, rx) = oneshot::channel();
    moves.waiting.lock().insert(
        party,
        Waiting {
            tx,
            shared: Arc::clone(&task.shared),
            frozen,
            home_here: home == cluster.me,
        },
    );
    let offered = moves.core.lock().offer(
        party,
        task.epoch + 1,
        home.clone(),
        target.clone(),
        Payload(snap.into_bytes()),
    );
    if let Err(reason) = offered {
        moves.waiting.lock().remove(&party);
        return Err((task, MoveError::from_wire(cluster.me.to_string(), reason)));
    }
    pump(cluster);
    let answer = rx.await.unwrap_or(Err(MoveRefusal::Unreachable));
    match answer {
        Ok(to) => {
            // The bookkeeping was done when the answer came (`MoveEvent::Moved`).
            tracing::debug!(node = %cluster.me, task = %id, %to, "task moved");
            task.discard();
            Ok(())
        }
        Err(reason) => Err((task, MoveError::from_wire(target.to_string(), reason))),
    }
}

/// `handle.move_to(target)` for a task homed here that runs elsewhere: asks the node the
/// ownership record names to move it.
pub(crate) async fn move_remote(
    cluster: &Arc<Cluster>,
    id: TaskId,
    target: &NodeId,
) -> Result<(), MoveError> {
    let party = id.party();
    let Some(at) = cluster.moves.location(id) else {
        return Err(MoveError::NotFound);
    };
    if &at == target {
        return Ok(());
    }
    let (tx, rx) = oneshot::channel();
    {
        let mut core = cluster.moves.core.lock();
        let req = core.control(party, at, Command::MoveTo(target.clone()));
        cluster.moves.controls.lock().insert(req, tx);
    }
    pump(cluster);
    match rx.await {
        Ok(ControlReply::At { .. }) => Ok(()),
        Ok(ControlReply::Refused { node, reason }) => {
            Err(MoveError::from_wire(node.to_string(), reason))
        }
        Ok(ControlReply::NotFound) => Err(MoveError::NotFound),
        Err(_) => Err(MoveError::Unreachable {
            node: target.to_string(),
        }),
    }
}

/// The connection to `peer` is back to the same incarnation.
pub(crate) fn reconnected(cluster: &Arc<Cluster>, peer: &NodeId) {
    cluster.moves.core.lock().reconnected(peer);
    pump(cluster);
}

/// `peer` is down: moves to it fail, tasks it offered are dropped, and joins of tasks homed
/// here that ran on it fail.
pub(crate) fn peer_down(cluster: &Arc<Cluster>, peer: &NodeId) {
    let lost: Vec<PartyId> = {
        let mut core = cluster.moves.core.lock();
        core.peer_down(peer);
        cluster
            .moves
            .away
            .lock()
            .keys()
            .filter(|t| core.owner(**t).is_some_and(|(n, _)| n == peer))
            .copied()
            .collect()
    };
    for task in lost {
        if let Some(shared) = cluster.moves.away.lock().remove(&task) {
            shared.finish(JoinOutcome::NodeDown(peer.clone()));
        }
    }
    pump(cluster);
}

/// A `Migrate` message from `from`.
pub(crate) fn on_message(
    cluster: &Arc<Cluster>,
    from: &NodeId,
    msg: tern_net::proto::migrate::Migrate,
) {
    if let Err(e) = cluster.moves.core.lock().handle(from, msg) {
        tracing::debug!(node = %cluster.me, %from, kind = e.kind, "migration message out of place");
    }
    pump(cluster);
}
