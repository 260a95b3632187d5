//! The cluster: a listening node's QUIC mesh, and named channels across nodes on top of it.
//!
//! A node started with [`listen`](crate::NodeBuilder::listen) runs a [`Mesh`] (mutual TLS,
//! one connection per pair of nodes, lanes, batching, backpressure: see `tern_net::quic`) and
//! this module drives the channel protocol of `tern_net::proto` over it. A node that never
//! listens has no cluster, and its channels take exactly the paths they took before: one
//! `Option` test per operation.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() -> Result<(), tern::Error> {
//! use tern::Node;
//! let alpha = Node::builder("alpha").listen("127.0.0.1:0".parse()?).start().await?;
//! let beta = Node::builder("beta").listen("127.0.0.1:0".parse()?).start().await?;
//! // Nodes of one process trust each other through the dev CA; across processes, give each
//! // node `.tls(TlsConfig::from_pem_files(…)?)` from one cluster CA.
//! assert_eq!(alpha.connect(beta.local_addr().unwrap()).await?.as_str(), "beta");
//!
//! let jobs = alpha.buffered_channel::<String>("jobs", 16);
//! jobs.send("compile".to_string()).await?;             // same name on beta: same channel
//! assert_eq!(beta.buffered_channel::<String>("jobs", 16).recv().await?, "compile");
//! assert_eq!(alpha.home_of("jobs"), beta.home_of("jobs")); // agreed without talking
//! alpha.shutdown().await;
//! beta.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Homes
//!
//! Every channel name has a **home**: the member that [`home_of`] picks by rendezvous hashing
//! over the membership this node knows (itself and every peer it has a connection to, or had
//! one to and has not yet declared down). Nodes that know the same members agree on every
//! home without talking, so the first use of a name on two nodes at once still makes one
//! channel: both uses meet at the home. The home holds the channel's buffer and its queues of
//! waiting parties in its ordinary channel core: a remote party
//! there is one more kind of waiter (`Waiter::Remote`), queued in the same FIFO order as local
//! tasks and futures. So the channel's semantics — rendezvous, buffered FIFO, close,
//! `Mismatch` — are the local ones, by construction, and parties on the home node itself
//! never serialize anything.
//!
//! On every other node the channel's core is a **proxy**: an operation of a local party
//! becomes an [`OpId`] sent to the home (`ToHome::Send`/`Recv`); the party parks in the
//! proxy's list of operations in flight until the home's `Done` arrives, then the node
//! acknowledges it (`Ack`). A value from the home stays postcard bytes until the receiver,
//! who knows its type, takes it (`Value::Encoded`).
//!
//! # Exactly once
//!
//! The home keeps an [`OpLog`](tern_net::proto::OpLog) per channel: a repeated operation is
//! answered from the log, never performed twice. The mesh may lose what was queued on a
//! connection that fails; when the peer comes back with the same incarnation (`PeerEvent::Up`),
//! this node sends every operation still in flight to it again, with the same op id, and the
//! home deduplicates. A peer that comes back with a new incarnation restarted: what was in
//! flight there fails with [`ChannelError::NodeDown`](crate::ChannelError::NodeDown) (at most
//! once across a crash). A peer that stays away for the grace period ([`NodeBuilder::grace`](crate::NodeBuilder::grace))
//! after its connection went down is declared down the same way, and leaves the membership.
//!
//! # Credit: streaming sends on buffered channels
//!
//! A send on a buffered channel completes when the buffer takes the value, so a node can
//! complete it itself if the home has set room aside for it. When the home completes a
//! node's send and its buffer has room that no one waits for, it grants the node **credit**
//! (`FromHome::Credit`): up to half the capacity, out of the room not already granted. The
//! node then completes that many sends at once and streams their values to the home
//! (`ToHome::Stream`), numbered in order, without waiting; the home takes each into the
//! buffer (or hands it to a waiting receiver), tops the credit up when half of it is used,
//! and acknowledges the stream cumulatively in the same message. A node keeps what it
//! streamed until acknowledged and sends it again after a reconnect; the home drops a number
//! it has already taken, so a value is taken once. So:
//!
//! - **FIFO per sender** holds: a node's stream and its other messages about the channel
//!   travel on one lane, streamed values are sent under the channel's lock in the order
//!   their numbers were drawn, and a task that moves first waits until its node's streams
//!   reached their homes.
//! - **Capacity**: other senders still see the buffer's capacity (granted room is extra), so
//!   the buffer may briefly hold up to the capacity plus the credit outstanding — at most
//!   twice the capacity. Values are never refused for lack of room once credited.
//! - **Completion**: a send completed against credit has its room reserved at the home, and
//!   the home will take its value, in order, exactly once; until the value arrives, the
//!   home's `len` does not count it.
//! - **Close**: values already credited are taken even after a close (their sends completed
//!   before the sender learnt of it); a node stops streaming once it learns of the close.
//! - **Crash**: values streamed to a home that restarts before taking them are lost with it
//!   (at most once across a crash); a home that is only unreachable gets them again.
//!
//! # Threads and buffers
//!
//! One tokio task reads the mesh's inbox and applies each message under the channel's lock
//! (it never waits on the network). A channel queues what it must send while its lock is
//! held and hands it to the mesh just before leaving the lock — so messages about one
//! channel leave in the order of its lock, whichever threads made them (an operation is
//! never overtaken by its withdrawal) — straight into the mesh's buffer for the
//! message's lane when there is room and nothing of that lane waits before it, else behind
//! the lane's writer task, which waits for room — so a peer or lane that is slow never holds
//! up another, and each lane keeps its order. What waits there is at most one message per
//! operation in flight plus its acknowledgement — operations are bounded by the parties that
//! wait, each of which has one — so it grows with the program's parties, not with the
//! network.
//!
//! # Moving tasks
//!
//! [`TaskHandle::move_to`](crate::TaskHandle::move_to) and [`crate::move_to`] (a task moving
//! itself) move a task to another member over the network; the protocol is
//! [`tern_net::proto::migrate`]'s, the runtime around it is `cluster::moves`:
//!
//! 1. The source freezes the task at its suspension point and withdraws its pending channel
//!    request at the channel's home (withdrawn, or the outcome it already had rides in the
//!    snapshot); it waits until the values its node streamed against credit reached their
//!    homes, so the task's next sends from the target cannot overtake them.
//! 2. It offers the snapshot with the task's next epoch. The target checks it as a restore
//!    would — type registered, code fingerprint (version skew), size, depth — and its room
//!    ([`NodeBuilder::max_tasks`](crate::NodeBuilder::max_tasks), draining), *before* it
//!    answers: `Refused` (the task resumes on the source, nothing lost) or `Installed` (held,
//!    not running).
//! 3. Only then does the source drop its copy and leave a forwarding pointer; its `Commit`
//!    starts the task on the target. One node at most runs the task at any moment.
//! 4. The task's home (the node that spawned it, where its handle is) keeps an ownership
//!    record; `TaskHandle::location` reads it, a handle's `move_to` of a task that left is
//!    sent where the record says and follows the pointers, and the node where the task ends
//!    sends the outcome home for `join`.
//!
//! A target that goes down before it answers fails the move with
//! [`MoveError::Unreachable`](crate::MoveError::Unreachable) (the failure detector is the
//! move's timeout); a node that goes down while running a task that left its home fails the
//! join with [`JoinError::NodeDown`](crate::JoinError::NodeDown): at most once across a
//! crash. [`Node::drain`](crate::Node::drain) moves every task off a node before it stops.
//!
//! # Limits (not done yet)
//!
//! - A `TaskHandle` works from the node that spawned the task; one deserialized on another
//!   node can neither join nor move a task that left.
//! - An offer accepted by a restarted peer just before its restart is noticed stays held
//!   there (never run): the protocol has no message to cancel an offer.
//!
//! - A channel that holds values or waiting parties when its home moves (a node joins or is
//!   declared down) is not handed over: connect nodes before sharing names between them.
//! - On a node that is not the channel's home, `balance`, `len` count this node's parties and
//!   buffered values only.
//! - Membership is what this node is connected to: connect every pair of nodes that share
//!   channels (there is no gossip of members yet).
//! - Receives and rendezvous sends from a node that is not the home are a round trip each
//!   plus an acknowledgement (figures: `benches/README.md`, B8/B9); only buffered sends
//!   stream.
//! - A channel that other nodes have used keeps its bookkeeping (operation log, credit) and
//!   so is never forgotten by this node.

mod driver;
pub(crate) mod moves;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tern_net::proto::{home_of, Incarnation, Message, NodeId, OpId, PartyId};
use tern_net::quic::{mesh::lane_of, Mesh, SendError, LANES};
use tokio::sync::mpsc;

use crate::node::NodeInner;

pub(crate) use driver::spawn_driver;

/// Counters of a node's cluster traffic, since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Channel messages refused because they named a channel with another element type or
    /// capacity than the one this node holds under that name.
    pub mismatches: u64,
    /// Channel messages for a channel this node is not the home of (under its membership).
    pub not_home: u64,
    /// Operations answered from the log: resends after a lost connection.
    pub repeats: u64,
    /// Operations of this node's parties sent again after a reconnect.
    pub resent: u64,
    /// Operations withdrawn here, at their home, before they matched (tasks frozen to
    /// move, dropped futures).
    pub withdrawn: u64,
    /// Operations of this node's parties failed with `NodeDown`.
    pub node_down: u64,
    /// Channel messages received from peers.
    pub received: u64,
    /// Channel messages handed to the mesh.
    pub sent: u64,
    /// Messages the mesh could not send (the peer was down); resent on its return.
    pub dropped: u64,
    /// Values taken here, at their home, from other nodes' credited sends (streamed, not
    /// answered one by one).
    pub streamed: u64,
    /// Credited sends refused because the sending node held no credit (a peer breaking
    /// the protocol).
    pub uncredited: u64,
    /// Tasks this node moved to another node.
    pub moves_out: u64,
    /// Moves from this node that failed (refused, or the target unreachable); the tasks
    /// kept running here.
    pub moves_failed: u64,
    /// Tasks that moved to this node and run here.
    pub moves_in: u64,
    /// Tasks offered to this node and dropped because their source went down before it let
    /// them go.
    pub moves_dropped: u64,
    /// Control messages (move it, where is it) forwarded along a forwarding pointer.
    pub forwarded: u64,
}

#[derive(Default)]
struct Counters {
    mismatches: AtomicU64,
    not_home: AtomicU64,
    repeats: AtomicU64,
    resent: AtomicU64,
    withdrawn: AtomicU64,
    node_down: AtomicU64,
    received: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    uncredited: AtomicU64,
    streamed: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What this node knows of the other members.
#[derive(Default)]
struct Members {
    /// Peers with a connection up, with their incarnation.
    up: HashMap<NodeId, Incarnation>,
    /// Peers whose connection went down, with the incarnation they had and a number that
    /// tells this down apart from a later one.
    down: HashMap<NodeId, (Incarnation, u64)>,
    /// Every member: this node, the peers up and the peers down but not yet declared dead.
    list: Vec<NodeId>,
}

/// A lane's writer task: where messages wait when the lane's buffer is full.
struct Writer {
    tx: mpsc::UnboundedSender<Message>,
    /// Messages queued for the task and not yet in the lane's buffer.
    backlog: Arc<AtomicUsize>,
}

/// A listening node's cluster state.
pub(crate) struct Cluster {
    pub(crate) me: NodeId,
    mesh: Mesh,
    node: Weak<NodeInner>,
    members: parking_lot::Mutex<Members>,
    /// Grows whenever the membership changes (channels cache their home per epoch).
    epoch: AtomicU64,
    /// Per peer, the writer of each lane (made on first use).
    writers: parking_lot::Mutex<HashMap<NodeId, Box<[Option<Writer>; LANES]>>>,
    rt: tokio::runtime::Handle,
    next_op: AtomicU64,
    downs: AtomicU64,
    /// Balance queries waiting for their answer, by query number.
    queries: parking_lot::Mutex<HashMap<u64, tokio::sync::oneshot::Sender<()>>>,
    next_query: AtomicU64,
    grace: Duration,
    stats: Counters,
    /// Moving tasks in and out.
    pub(crate) moves: moves::Moves,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    pub(crate) fn new(
        me: NodeId,
        mesh: Mesh,
        node: Weak<NodeInner>,
        grace: Duration,
        max_tasks: Option<u64>,
        rt: tokio::runtime::Handle,
    ) -> Arc<Cluster> {
        Arc::new(Cluster {
            moves: moves::Moves::new(me.clone(), max_tasks),
            members: parking_lot::Mutex::new(Members {
                list: vec![me.clone()],
                ..Members::default()
            }),
            me,
            mesh,
            node,
            epoch: AtomicU64::new(1),
            writers: parking_lot::Mutex::new(HashMap::new()),
            rt,
            next_op: AtomicU64::new(1),
            downs: AtomicU64::new(0),
            queries: parking_lot::Mutex::new(HashMap::new()),
            next_query: AtomicU64::new(1),
            grace,
            stats: Counters::default(),
        })
    }

    /// The tokio runtime the cluster's tasks run on.
    pub(crate) fn rt(&self) -> &tokio::runtime::Handle {
        &self.rt
    }

    pub(crate) fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    pub(crate) fn node(&self) -> Option<Arc<NodeInner>> {
        self.node.upgrade()
    }

    /// The membership epoch: a channel's cached home is good while this has not changed.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The home of channel `name`: `None` when it is this node.
    pub(crate) fn home_of(&self, name: &str) -> Option<NodeId> {
        if !wire_name_ok(name) {
            return None;
        }
        let members = self.members.lock();
        match home_of(name, &members.list) {
            Some(home) if *home != self.me => Some(home.clone()),
            _ => None,
        }
    }

    /// Waits until `peer` has answered a message sent now: its node has then seen this
    /// connection come up and counts this node as a member (a peer reads a connection's
    /// `Up` before any of its messages). False if the peer went down first.
    pub(crate) async fn sync_with(self: &Arc<Self>, peer: &NodeId) -> bool {
        let query = self.next_query.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        self.queries.lock().insert(query, tx);
        let chan = tern_net::proto::ChannelId::new("tern.members", tern_net::proto::TypeKey(0), 0);
        let ask = Message::ToHome(tern_net::proto::ToHome::Balance { chan, query });
        self.transmit(peer, ask.clone());
        let mut answered = false;
        // Ask again now and then: a message queued on a connection that failed is lost.
        for _ in 0..200 {
            match tokio::time::timeout(Duration::from_millis(50), &mut rx).await {
                Ok(r) => {
                    answered = r.is_ok();
                    break;
                }
                Err(_) if self.mesh.peer_info(peer).is_none() => break,
                Err(_) => self.transmit(peer, ask.clone()),
            }
        }
        self.queries.lock().remove(&query);
        answered
    }

    /// Waits until every value this node streamed against credit has reached its home (a
    /// balance query on the same channel, hence the same lane, answers after them). A task
    /// that moves waits for this, so its next sends from elsewhere cannot overtake them.
    /// Gives up on a home after 5 s (it is down: what it had not taken is lost with it).
    pub(crate) async fn flush_streams(self: &Arc<Self>) {
        let Some(node) = self.node() else { return };
        for core in node.cores() {
            let Some((home, chan)) = core.unacked_stream() else {
                continue;
            };
            let query = self.next_query.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.queries.lock().insert(query, tx);
            self.transmit(
                &home,
                Message::ToHome(tern_net::proto::ToHome::Balance { chan, query }),
            );
            if tokio::time::timeout(Duration::from_secs(5), rx)
                .await
                .is_err()
            {
                tracing::warn!(node = %self.me, %home, "stream not flushed within 5 s");
            }
            self.queries.lock().remove(&query);
        }
    }

    /// A fresh operation id for a party.
    pub(crate) fn op(&self, party: PartyId, epoch: u64) -> OpId {
        OpId {
            party,
            epoch,
            seq: self.next_op.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Sends `message` to `peer`: straight into the mesh's lane buffer when there is room
    /// and nothing waits before it, else behind the lane's writer task (which waits for
    /// room). Never waits; keeps each lane's messages in order.
    pub(crate) fn transmit(self: &Arc<Self>, peer: &NodeId, message: Message) {
        let Some(lane) = lane_of(&message) else {
            return;
        };
        let mut writers = self.writers.lock();
        if !writers.contains_key(peer) {
            writers.insert(peer.clone(), Box::new(std::array::from_fn(|_| None)));
        }
        let Some(lanes) = writers.get_mut(peer) else {
            return;
        };
        let writer = lanes[lane].get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let backlog = Arc::new(AtomicUsize::new(0));
            self.rt.spawn(driver::write_lane(
                Arc::clone(self),
                peer.clone(),
                rx,
                Arc::clone(&backlog),
            ));
            Writer { tx, backlog }
        });
        let message = if writer.backlog.load(Ordering::Acquire) == 0 {
            match self.mesh.try_send(peer, message) {
                Ok(()) => {
                    bump(&self.stats.sent);
                    return;
                }
                Err(SendError::Full { message }) => message,
                Err(e) => {
                    // Down or shutting down: what the message carried is sent again when
                    // the peer is back, or failed when it is declared down.
                    bump(&self.stats.dropped);
                    tracing::debug!(node = %self.me, %peer, error = %e, "message not sent");
                    return;
                }
            }
        } else {
            message
        };
        writer.backlog.fetch_add(1, Ordering::AcqRel);
        if writer.tx.send(message).is_err() {
            // The writer task ended (the runtime is shutting down).
            bump(&self.stats.dropped);
        }
    }

    pub(crate) fn stats(&self) -> ClusterStats {
        let s = &self.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let m = self.moves.stats();
        ClusterStats {
            mismatches: get(&s.mismatches),
            not_home: get(&s.not_home),
            repeats: get(&s.repeats),
            resent: get(&s.resent),
            withdrawn: get(&s.withdrawn),
            node_down: get(&s.node_down),
            received: get(&s.received),
            sent: get(&s.sent),
            dropped: get(&s.dropped),
            uncredited: get(&s.uncredited),
            streamed: get(&s.streamed),
            moves_out: m.moved,
            moves_failed: m.failed,
            moves_in: m.arrived,
            moves_dropped: m.dropped,
            forwarded: m.forwarded,
        }
    }

    pub(crate) fn count_mismatch(&self) {
        bump(&self.stats.mismatches);
    }

    pub(crate) fn count_streamed(&self) {
        bump(&self.stats.streamed);
    }

    pub(crate) fn count_uncredited(&self) {
        bump(&self.stats.uncredited);
    }

    pub(crate) fn count_withdrawn(&self) {
        bump(&self.stats.withdrawn);
    }

    pub(crate) fn count_repeat(&self) {
        bump(&self.stats.repeats);
    }

    /// Sets the membership list from `members` and moves the epoch on if it changed.
    fn relist(&self, members: &mut Members) {
        let mut list: Vec<NodeId> = std::iter::once(self.me.clone())
            .chain(members.up.keys().cloned())
            .chain(members.down.keys().cloned())
            .collect();
        list.sort();
        list.dedup();
        if list != members.list {
            members.list = list;
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The peers, sorted, with a connection up.
    pub(crate) fn peers(&self) -> Vec<NodeId> {
        let members = self.members.lock();
        let mut peers: Vec<NodeId> = members.up.keys().cloned().collect();
        peers.sort();
        peers
    }

    /// The members: this node and its peers, up or within their grace period.
    pub(crate) fn members(&self) -> Vec<NodeId> {
        self.members.lock().list.clone()
    }
}

/// Whether `name` can travel on the wire; names that cannot stay local to their node.
fn wire_name_ok(name: &str) -> bool {
    tern_net::proto::ChannelName::new(name)
        .check(&tern_net::proto::Limits::default())
        .is_ok()
}
