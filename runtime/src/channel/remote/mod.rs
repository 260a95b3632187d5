//! A channel across nodes: the home's side (remote parties in the ordinary queues, an
//! exactly-once log) and the proxy's side (operations in flight at the home).
//!
//! See [`crate::cluster`] for the protocol as a whole. This module is what a channel core
//! does with it, always under the channel's lock:
//!
//! - **At the home**, an operation from another node is admitted through the channel's
//!   [`OpLog`] (a repeat is answered from the log, never performed again), then performed
//!   exactly as a local one: its value (postcard bytes, [`Value::Encoded`]) goes into the
//!   buffer or to the oldest waiting receiver, or the party waits in the same queue as local
//!   tasks and futures as a [`Waiter::Remote`]. Whenever a remote party is matched, its
//!   outcome is logged and sent (`FromHome::Done`).
//! - **On a proxy** (a node that is not the home), an operation of a local task or future is
//!   sent to the home with a fresh [`OpId`] and kept in `in_flight` with its party until the
//!   home answers; then the party is completed and the answer acknowledged. Values received
//!   for a party that went away (a dropped receive future) wait in `returned` for the next
//!   receiver on this node, so nothing received is lost.
//!
//! `home.rs` holds the home's side, `proxy.rs` the proxy's (both as methods of the channel's
//! lock guard); this file, the shared types and the entry points of the cluster driver.

mod home;
mod proxy;

use std::collections::VecDeque;
use std::task::{Context, Poll};

use tern_net::proto::{
    self, FromHome, Message, NodeId, OpId, OpLog, Outcome, Payload, Rejection, ToHome, TypeKey,
};
use tokio::sync::oneshot;

use super::core::{respond, ChanCore, ChanState, ExtReg, ExtSlot, Parked, StateGuard, Waiter};
use crate::error::{ChannelError, MismatchError};
use crate::sync::Arc;
use crate::task::{ResponseKind, Task, TaskShared};
use crate::value::Value;

/// A party of another node waiting at this channel's home.
pub(crate) struct RemoteParty {
    pub(super) node: NodeId,
    pub(super) op: OpId,
    /// A sender's value (postcard bytes).
    pub(super) value: Option<Value>,
}

/// Where a freezer learns how the home settled a withdrawn operation: `None` when the home
/// went down first.
pub(crate) type Withdrawal = oneshot::Receiver<Outcome>;

/// Who waits for an operation in flight at the home.
enum Party {
    Task(Parked),
    Ext(Arc<ExtSlot>),
    /// A freezer withdrawing a task's operation.
    Freezer(oneshot::Sender<Outcome>),
    /// A future dropped while its operation was in flight.
    Gone,
    /// A task a freezer took out of its cell just as the home's answer arrived: the answer,
    /// kept for the freezer's withdrawal (which finds it by the task's address).
    Decided(*const TaskShared, Outcome),
}

// SAFETY: the pointer in `Party::Decided` is only compared, never dereferenced.
unsafe impl Send for Party {}

impl Party {
    /// Whether a task or future waits for the operation (what `balance` counts).
    fn is_live(&self) -> bool {
        matches!(self, Party::Task(_) | Party::Ext(_))
    }
}

/// An operation of this node's party at the channel's home.
struct InFlight {
    op: OpId,
    home: NodeId,
    /// The message, kept to send again after a reconnect.
    msg: ToHome,
    party: Party,
    /// A send (true) or a receive.
    is_send: bool,
    /// A receive whose first party dropped it and that another party took over
    /// ([`StateGuard::adopt`]): its withdrawal may still come back as `Withdrawn`.
    adopted: bool,
}

/// A channel's cluster bookkeeping (see the module docs).
#[derive(Default)]
pub(crate) struct NetState {
    /// The membership epoch `home` was computed for (0: never).
    epoch: u64,
    /// The home, when it is another node.
    home: Option<NodeId>,
    /// Home side: the operations of remote parties.
    log: OpLog,
    /// Proxy side: operations of this node's parties at the home, oldest first.
    in_flight: Vec<InFlight>,
    /// Proxy side: values received for parties that went away.
    returned: VecDeque<Value>,
    /// Messages to send once the lock is left.
    outbox: Vec<(NodeId, Message)>,
    /// Home side: credit granted to other nodes' streams, by node.
    grants: Vec<Grant>,
    /// Home side: the room the grants hold in the buffer, in all.
    reserved: usize,
    /// Proxy side: sends this node may still complete itself (see "Credit" in the module
    /// docs).
    credit: u64,
    /// Proxy side: the last sequence number of this node's stream.
    stream_seq: u64,
    /// Proxy side: stream values the home has not acknowledged, kept to send again.
    unacked: VecDeque<(u64, ToHome)>,
    /// The loom models' network: what a channel with no cluster sent ([`ChanCore::take_sent`]).
    #[cfg(all(test, tern_loom))]
    sent: Vec<(NodeId, Message)>,
}

/// Credit a home granted a node on a buffered channel.
struct Grant {
    node: NodeId,
    /// Room reserved for the node's stream and not yet used.
    reserved: usize,
    /// The highest stream sequence number taken from the node.
    last_seq: u64,
    /// The highest one acknowledged to it.
    acked_sent: u64,
}

/// The party that numbers `node`'s stream of credited sends on a channel.
fn stream_party(node: &NodeId) -> proto::PartyId {
    proto::PartyId {
        origin: !crate::channel::fnv1a(node.as_str().as_bytes()),
        seq: 0,
    }
}

/// The credit a home grants a node at once on a channel of capacity `cap`.
fn grant_size(cap: usize) -> usize {
    (cap / 2).max(1)
}

impl NetState {
    /// Whether the channel holds bookkeeping that must outlive its handles.
    pub(super) fn is_pinned(&self) -> bool {
        !(self.in_flight.is_empty()
            && self.log.is_empty()
            && self.grants.is_empty()
            && self.unacked.is_empty()
            && self.returned.is_empty())
    }

    /// The messages queued while the lock was held, if any.
    #[inline]
    pub(super) fn take_outbox(&mut self) -> Option<Vec<(NodeId, Message)>> {
        if self.outbox.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.outbox))
        }
    }

    /// Senders and receivers of this node in flight at the home.
    pub(super) fn in_flight_counts(&self) -> (usize, usize) {
        let sends = self
            .in_flight
            .iter()
            .filter(|f| f.is_send && f.party.is_live())
            .count();
        let live = self.in_flight.iter().filter(|f| f.party.is_live()).count();
        (sends, live - sends)
    }
}

/// The wire identity of a channel.
fn wire_id(core: &ChanCore) -> proto::ChannelId {
    proto::ChannelId::new(&*core.id.name, TypeKey(core.id.ty), core.id.cap as u64)
}

fn mismatch(core: &ChanCore, found_ty: TypeKey, found_cap: u64) -> ChannelError {
    ChannelError::Mismatch(Box::new(MismatchError {
        name: core.id.name.to_string(),
        expected_type: core.ty_name.get().copied().unwrap_or("(this node's type)"),
        expected_capacity: core.id.cap,
        found_capacity: usize::try_from(found_cap).unwrap_or(usize::MAX),
        same_type: found_ty.0 == core.id.ty,
    }))
}

fn node_down(home: &NodeId) -> ChannelError {
    ChannelError::NodeDown {
        node: home.to_string(),
    }
}

/// The postcard bytes of a value, or the value back when it does not encode.
fn into_bytes(v: Value) -> Result<Vec<u8>, Value> {
    match v {
        Value::Encoded(bytes) => Ok(bytes),
        other => other.to_bytes().map_err(|e| {
            tracing::warn!(error = %e, "a channel value does not encode for another node");
            other
        }),
    }
}

impl StateGuard<'_> {
    fn net(&mut self) -> &mut NetState {
        self.net.get_or_insert_with(Box::default)
    }

    /// The channel's home when it is another node. Call only on a node with a cluster.
    #[inline]
    pub(super) fn remote_home(&mut self) -> Option<NodeId> {
        let core = self.core;
        let cluster = core.cluster.as_deref()?;
        let epoch = cluster.epoch();
        let net = self.net();
        if net.epoch != epoch {
            net.epoch = epoch;
            net.home = cluster.home_of(&core.id.name);
        }
        net.home.clone()
    }

    /// Queues `message` for `to`; it is handed to the mesh when the channel's lock is about
    /// to be left (see `StateGuard`'s `Drop`), in lock order; the mesh never makes it wait.
    fn transmit(&mut self, to: &NodeId, message: Message) {
        #[cfg(all(test, tern_loom))]
        if self.core.cluster.is_none() {
            return self.net().sent.push((to.clone(), message));
        }
        if self.core.cluster.is_some() {
            self.net().outbox.push((to.clone(), message));
        }
    }
}

/// What became of an answer from a home.
enum Settled {
    /// The party is completed (or its answer kept): acknowledge.
    Done,
    /// The home refused for now: ask again later.
    Retry,
    /// No such operation in flight (a repeated answer): acknowledge and drop.
    Unknown,
}

/// Applies the home's answer to a withdrawn request to the frozen `task`: `Withdrawn` leaves
/// the request pending (it travels in the snapshot); an outcome decided before the withdraw
/// becomes the task's response (it travels as the pending result); no answer (the home went
/// down) fails the request with `NodeDown`.
pub(crate) fn settle_withdrawn(task: &mut Box<Task>, answer: Option<Outcome>) {
    let home = match task.pending() {
        Some(
            crate::task::RequestKind::Recv { chan } | crate::task::RequestKind::Send { chan, .. },
        ) => Arc::clone(chan),
        _ => return,
    };
    let kind = match answer {
        // Withdrawn, or the home never saw the operation (it was still waiting to be sent, or
        // to be retried after an `Overloaded`): either way the task keeps its request (and a
        // send its value) and issues it again from wherever it resumes.
        Some(
            Outcome::Withdrawn { .. }
            | Outcome::Rejected {
                reason: Rejection::UnknownOp,
                ..
            },
        ) => return,
        Some(Outcome::Sent) => ResponseKind::Unit,
        Some(Outcome::Received(p)) => ResponseKind::Value(Value::Encoded(p.0)),
        Some(Outcome::Closed { .. }) => {
            ResponseKind::Channel(ChannelError::Closed, task.take_send_value())
        }
        Some(Outcome::Rejected {
            reason:
                Rejection::Mismatch {
                    found_ty,
                    found_cap,
                },
            ..
        }) => ResponseKind::Channel(mismatch(&home, found_ty, found_cap), task.take_send_value()),
        Some(Outcome::Rejected { .. }) | None => {
            let node = home.cluster.as_ref().map_or_else(String::new, |c| {
                c.home_of(&home.id.name)
                    .map_or_else(String::new, |h| h.to_string())
            });
            ResponseKind::Channel(ChannelError::NodeDown { node }, task.take_send_value())
        }
    };
    task.respond(crate::task::Response(kind));
}

#[cfg(all(test, tern_loom))]
impl ChanCore {
    /// Takes what this channel (with no cluster) has sent so far, oldest first: the loom
    /// models read a home's answers here instead of from a network.
    pub(crate) fn take_sent(&self) -> Vec<(NodeId, Message)> {
        std::mem::take(&mut self.enter().net().sent)
    }
}

// ---- entry points for the cluster driver -----------------------------------------------------

impl ChanCore {
    /// A message about this channel from `from` to its home (this node). Returns false when
    /// this node is not the home under its membership (the message was refused).
    pub(crate) fn on_to_home(&self, from: &NodeId, msg: ToHome) -> bool {
        let close = matches!(msg, ToHome::Close { .. });
        {
            let mut st = self.enter();
            if let Some(home) = st.remote_home() {
                let op = match &msg {
                    ToHome::Send { op, .. } | ToHome::Recv { op, .. } => Some(*op),
                    _ => None,
                };
                let value = match msg {
                    ToHome::Send { value, .. } => Some(value),
                    _ => None,
                };
                if let Some(op) = op {
                    let reason = Rejection::NotHome { home: Some(home) };
                    st.reply(from, op, reason, value);
                }
                return false;
            }
            if !close {
                st.at_home(from, msg);
                return true;
            }
        }
        self.close();
        true
    }

    /// A `Done` for an operation of this node's party, from `from`. Returns whether the
    /// operation should be asked again later.
    pub(crate) fn on_done(&self, from: &NodeId, op: OpId, outcome: Outcome) -> bool {
        let mut st = self.enter();
        match st.settle(from, op, outcome) {
            Settled::Retry => return true,
            Settled::Done | Settled::Unknown => {}
        }
        let chan = wire_id(self);
        st.transmit(from, Message::ToHome(ToHome::Ack { chan, op }));
        false
    }

    /// The home granted credit and acknowledged this node's stream up to `acked`.
    pub(crate) fn on_credit(&self, acked: u64, credit: u64) {
        let mut st = self.enter();
        let closed = st.closed;
        let net = st.net();
        if !closed {
            net.credit += credit;
        }
        while net.unacked.front().is_some_and(|(seq, _)| *seq <= acked) {
            net.unacked.pop_front();
        }
        st.publish();
    }

    /// The home and identity of this channel when this node's stream to it has values not
    /// yet acknowledged.
    pub(crate) fn unacked_stream(&self) -> Option<(NodeId, proto::ChannelId)> {
        let st = self.enter();
        let net = st.net.as_ref()?;
        if net.unacked.is_empty() {
            return None;
        }
        Some((net.home.clone()?, wire_id(self)))
    }

    /// Asks again for an operation the home refused for now.
    pub(crate) fn retry(&self, op: OpId) {
        let task = self.enter().retry(op);
        if let (Some(task), Some(node)) = (task, self.cluster.as_ref().and_then(|c| c.node())) {
            node.exec.resubmit(task);
        }
    }

    /// The channel was closed at its home.
    pub(crate) fn closed_at_home(&self) {
        let mut st = self.enter();
        st.closed = true;
    }

    /// Sends the operations in flight at `peer` again; how many.
    pub(crate) fn resend_to(&self, peer: &NodeId) -> usize {
        self.enter().resend_to(peer)
    }

    /// `peer` restarted or is gone: fail what is in flight there, drop what its parties
    /// wait for here. Returns how many of this node's operations failed.
    pub(crate) fn peer_gone(&self, peer: &NodeId, restarted: bool) -> usize {
        let mut st = self.enter();
        st.forget_node(peer, restarted);
        st.fail_home(peer, restarted)
    }
}
