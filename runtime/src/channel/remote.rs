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
        let cluster = self.core.cluster.as_deref()?;
        let epoch = cluster.epoch();
        let name = std::sync::Arc::clone(&self.core.id.name);
        let net = self.net();
        if net.epoch != epoch {
            net.epoch = epoch;
            net.home = cluster.home_of(&name);
        }
        net.home.clone()
    }

    /// Queues `message` for `to`; it is sent once the channel's lock is left (see
    /// `StateGuard`'s `Drop`), so no worker waits on this lock behind the network.
    fn transmit(&mut self, to: &NodeId, message: Message) {
        if self.core.cluster.is_some() {
            self.net().outbox.push((to.clone(), message));
        }
    }

    // ---- home side ---------------------------------------------------------------------------

    /// Logs and sends the outcome of a remote party's operation.
    fn answer(&mut self, node: &NodeId, op: OpId, outcome: Outcome) {
        self.net().log.complete(op, outcome.clone());
        // Counts first: whoever learns of the outcome sees them.
        self.publish();
        let sent = matches!(outcome, Outcome::Sent);
        let chan = wire_id(self.core);
        self.transmit(
            node,
            Message::FromHome(FromHome::Done { chan, op, outcome }),
        );
        if sent {
            self.maybe_grant(node);
        }
    }

    /// Grants `node` credit on a buffered channel when the buffer has room no one waits
    /// for, and acknowledges its stream so far.
    fn maybe_grant(&mut self, node: &NodeId) {
        let cap = self.core.id.cap;
        if cap == 0 {
            return;
        }
        let len = self.buffer.len();
        let others_wait = !self.senders.is_empty() || self.closed;
        let g = grant_size(cap);
        let net = self.net();
        let free = cap.saturating_sub(len + net.reserved);
        let i = match net.grants.iter().position(|x| x.node == *node) {
            Some(i) => i,
            None => {
                net.grants.push(Grant {
                    node: node.clone(),
                    reserved: 0,
                    last_seq: 0,
                    acked_sent: 0,
                });
                net.grants.len() - 1
            }
        };
        let grant = &mut net.grants[i];
        let add = if others_wait || grant.reserved * 2 > g {
            0
        } else {
            free.min(g - grant.reserved)
        };
        if add == 0 && grant.acked_sent == grant.last_seq {
            return;
        }
        grant.reserved += add;
        grant.acked_sent = grant.last_seq;
        let acked = grant.last_seq;
        net.reserved += add;
        let msg = FromHome::Credit {
            chan: wire_id(self.core),
            stream: stream_party(node),
            acked,
            credit: add as u64,
        };
        self.transmit(node, Message::FromHome(msg));
    }

    /// A value `from` sent against credit: take it (room was reserved for it).
    fn take_stream(&mut self, from: &NodeId, op: OpId, value: Payload) {
        let g = grant_size(self.core.id.cap);
        let net = self.net();
        let Some(grant) = net.grants.iter_mut().find(|x| x.node == *from) else {
            return self.uncredited(from);
        };
        if op.seq <= grant.last_seq {
            if let Some(c) = &self.core.cluster {
                c.count_repeat();
            }
            return;
        }
        if grant.reserved == 0 || op.party != stream_party(from) {
            return self.uncredited(from);
        }
        grant.last_seq = op.seq;
        grant.reserved -= 1;
        let top_up = grant.reserved * 2 <= g;
        net.reserved -= 1;
        if let Some(c) = &self.core.cluster {
            c.count_streamed();
        }
        if let Err(v) = self.deliver(Value::Encoded(value.0)) {
            self.buffer.push_back(v);
        }
        self.publish();
        if top_up {
            self.maybe_grant(from);
        }
    }

    /// A stream value with no credit behind it: a peer breaking the protocol. Refused and
    /// counted; nothing else changes.
    fn uncredited(&self, from: &NodeId) {
        tracing::warn!(channel = ?self.core.id, %from, "stream value without credit refused");
        if let Some(c) = &self.core.cluster {
            c.count_uncredited();
        }
    }

    /// Hands `v` to a remote receiver, or gives it back when it does not encode (the
    /// receiver is then told to ask again later).
    pub(super) fn deliver_remote(&mut self, party: RemoteParty, v: Value) -> Result<(), Value> {
        match into_bytes(v) {
            Ok(bytes) => {
                self.publish();
                self.answer(&party.node, party.op, Outcome::Received(Payload(bytes)));
                Ok(())
            }
            Err(v) => {
                self.net().log.forget(party.op);
                let outcome = Outcome::Rejected {
                    reason: Rejection::Overloaded,
                    value: None,
                };
                let chan = wire_id(self.core);
                self.transmit(
                    &party.node,
                    Message::FromHome(FromHome::Done {
                        chan,
                        op: party.op,
                        outcome,
                    }),
                );
                Err(v)
            }
        }
    }

    /// Takes a remote sender's value and completes its send.
    pub(super) fn take_remote(&mut self, mut party: RemoteParty) -> Option<Value> {
        let value = party.value.take();
        self.publish();
        self.answer(&party.node, party.op, Outcome::Sent);
        value
    }

    /// Answers a remote party of a closing channel: `Closed`, with a sender's value.
    pub(super) fn answer_closed(&mut self, party: RemoteParty) {
        let value = party.value.and_then(|v| into_bytes(v).ok()).map(Payload);
        self.answer(&party.node, party.op, Outcome::Closed { value });
    }

    /// Performs a `Send`/`Recv`/`Withdraw`/`Ack`/`Close`/`Balance` from `from` at this home.
    fn at_home(&mut self, from: &NodeId, msg: ToHome) {
        match msg {
            ToHome::Send { op, value, .. } => {
                if !self.admit(from, op) {
                    return;
                }
                if self.closed {
                    let outcome = Outcome::Closed { value: Some(value) };
                    return self.answer(from, op, outcome);
                }
                let cap = self.core.id.cap;
                match self.offer(Value::Encoded(value.0), cap) {
                    Ok(()) => self.answer(from, op, Outcome::Sent),
                    Err(v) => {
                        self.senders.push_back(Waiter::Remote(Box::new(RemoteParty {
                            node: from.clone(),
                            op,
                            value: Some(v),
                        })));
                        self.publish();
                    }
                }
            }
            ToHome::Recv { op, .. } => {
                if !self.admit(from, op) {
                    return;
                }
                let cap = self.core.id.cap;
                if let Some(v) = self.take_value(cap) {
                    match into_bytes(v) {
                        Ok(bytes) => self.answer(from, op, Outcome::Received(Payload(bytes))),
                        Err(v) => {
                            self.buffer.push_front(v);
                            self.net().log.forget(op);
                            self.reply(from, op, Rejection::Overloaded, None);
                        }
                    }
                } else if self.closed {
                    self.answer(from, op, Outcome::Closed { value: None });
                } else {
                    self.receivers
                        .push_back(Waiter::Remote(Box::new(RemoteParty {
                            node: from.clone(),
                            op,
                            value: None,
                        })));
                    self.publish();
                }
            }
            ToHome::Withdraw { op, .. } => {
                let waiting = self.net().log.is_waiting(op);
                let logged = self.net().log.outcome(op).cloned();
                if waiting {
                    let mut value = None;
                    let mine = |w: &Waiter| matches!(w, Waiter::Remote(p) if p.op == op);
                    let st: &mut ChanState = self;
                    for queue in [&mut st.senders, &mut st.receivers] {
                        if let Some(i) = queue.iter().position(mine) {
                            if let Some(Waiter::Remote(p)) = queue.remove(i) {
                                value = p.value.and_then(|v| into_bytes(v).ok()).map(Payload);
                            }
                        }
                    }
                    if let Some(c) = &self.core.cluster {
                        c.count_withdrawn();
                    }
                    self.answer(from, op, Outcome::Withdrawn { value });
                } else if let Some(outcome) = logged {
                    let chan = wire_id(self.core);
                    self.transmit(
                        from,
                        Message::FromHome(FromHome::Done { chan, op, outcome }),
                    );
                } else {
                    self.reply(from, op, Rejection::UnknownOp, None);
                }
            }
            ToHome::Ack { op, .. } => {
                self.net().log.ack(op);
            }
            ToHome::Close { .. } => {
                // Closing takes the lock again; done by the caller.
            }
            ToHome::Balance { query, .. } => {
                let seen_balance = self.core.balance() as i64;
                let chan = wire_id(self.core);
                let msg = FromHome::BalanceIs {
                    chan,
                    query,
                    balance: seen_balance,
                    len: self.buffer.len() as u64,
                    closed: self.closed,
                };
                self.transmit(from, Message::FromHome(msg));
            }
            ToHome::Open { .. } => {
                let chan = wire_id(self.core);
                let closed = self.closed;
                self.transmit(from, Message::FromHome(FromHome::Opened { chan, closed }));
            }
            ToHome::Release { .. } => {}
            ToHome::Stream { op, value, .. } => self.take_stream(from, op, value),
        }
    }

    /// Whether `op` is new (to be performed); repeats are answered or dropped here.
    fn admit(&mut self, from: &NodeId, op: OpId) -> bool {
        match self.net().log.admit(op) {
            proto::Admission::New => true,
            proto::Admission::Waiting | proto::Admission::Obsolete => {
                if let Some(c) = &self.core.cluster {
                    c.count_repeat();
                }
                false
            }
            proto::Admission::Repeat(outcome) => {
                if let Some(c) = &self.core.cluster {
                    c.count_repeat();
                }
                let chan = wire_id(self.core);
                self.transmit(
                    from,
                    Message::FromHome(FromHome::Done { chan, op, outcome }),
                );
                false
            }
            proto::Admission::Stale { current } => {
                self.reply(from, op, Rejection::Stale { current }, None);
                false
            }
        }
    }

    /// Sends a refusal of `op` that is not logged (the party may ask again).
    fn reply(&mut self, to: &NodeId, op: OpId, reason: Rejection, value: Option<Payload>) {
        let chan = wire_id(self.core);
        let outcome = Outcome::Rejected { reason, value };
        self.transmit(to, Message::FromHome(FromHome::Done { chan, op, outcome }));
    }

    /// Drops the waiting operations of `node`'s parties (it restarted: at most once).
    fn forget_node(&mut self, node: &NodeId, restarted: bool) {
        let keep = |w: &Waiter| !matches!(w, Waiter::Remote(p) if p.node == *node);
        self.senders.retain(keep);
        self.receivers.retain(keep);
        if restarted {
            // Its stream died with it: release the room its credit held.
            if let Some(net) = self.net.as_mut() {
                if let Some(i) = net.grants.iter().position(|x| x.node == *node) {
                    let grant = net.grants.swap_remove(i);
                    net.reserved -= grant.reserved;
                }
            }
        }
        self.publish();
    }

    // ---- credit, proxy side ------------------------------------------------------------------

    /// Completes a send against this node's credit, if it has any: the value goes to the
    /// home as the next of this node's stream. Gives the bytes back without credit.
    fn try_stream(&mut self, home: &NodeId, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        let me = match &self.core.cluster {
            Some(c) if self.core.id.cap > 0 => c.me.clone(),
            _ => return Err(bytes),
        };
        let chan = wire_id(self.core);
        let net = self.net();
        if net.credit == 0 {
            return Err(bytes);
        }
        net.credit -= 1;
        net.stream_seq += 1;
        let seq = net.stream_seq;
        let msg = ToHome::Stream {
            chan,
            op: OpId {
                party: stream_party(&me),
                epoch: 0,
                seq,
            },
            value: Payload(bytes),
        };
        net.unacked.push_back((seq, msg.clone()));
        // Sent under the lock, not after it like other messages: the stream's numbers must
        // leave in order (the home drops a number not above the last it took).
        if let Some(cluster) = &self.core.cluster {
            cluster.transmit(home, Message::ToHome(msg));
        }
        Ok(())
    }

    // ---- proxy side --------------------------------------------------------------------------

    /// Starts an operation at the home.
    fn issue(&mut self, home: NodeId, op: OpId, msg: ToHome, party: Party, is_send: bool) {
        self.transmit(&home, Message::ToHome(msg.clone()));
        self.net().in_flight.push(InFlight {
            op,
            home,
            msg,
            party,
            is_send,
            adopted: false,
        });
        self.publish();
    }

    fn new_op(&self, party: proto::PartyId, epoch: u64) -> Option<OpId> {
        self.core.cluster.as_ref().map(|c| c.op(party, epoch))
    }

    /// A task's send on a channel whose home is `home`.
    pub(super) fn proxy_task_send(
        &mut self,
        home: NodeId,
        chan: Arc<ChanCore>,
        mut task: Box<Task>,
        value: Value,
    ) -> Option<Box<Task>> {
        let bytes = match value.to_bytes() {
            Ok(bytes) => bytes,
            Err(_) => {
                task.chans.put(chan);
                let e = ChannelError::Undecodable {
                    type_name: "a value that does not encode",
                };
                task.respond(crate::task::Response(ResponseKind::Channel(e, Some(value))));
                return Some(task);
            }
        };
        let bytes = match self.try_stream(&home, bytes) {
            Ok(()) => {
                task.chans.put(chan);
                task.respond(crate::task::Response(ResponseKind::Unit));
                return Some(task);
            }
            Err(bytes) => bytes,
        };
        let op = self.new_op(task.shared.id.party(), task.epoch)?;
        let msg = ToHome::Send {
            chan: wire_id(self.core),
            op,
            value: Payload(bytes),
        };
        task.set_pending(crate::task::RequestKind::Send {
            chan,
            value: Some(value),
        });
        self.issue(home, op, msg, Party::Task(Parked::park(task)), true);
        None
    }

    /// A task's receive on a channel whose home is `home`.
    pub(super) fn proxy_task_recv(
        &mut self,
        home: NodeId,
        chan: Arc<ChanCore>,
        mut task: Box<Task>,
    ) -> Option<Box<Task>> {
        if let Some(v) = self.net().returned.pop_front() {
            task.chans.put(chan);
            task.respond(crate::task::Response(ResponseKind::Value(v)));
            return Some(task);
        }
        let op = self.new_op(task.shared.id.party(), task.epoch)?;
        task.set_pending(crate::task::RequestKind::Recv { chan });
        let party = match self.adopt(Party::Task(Parked::park(task))) {
            Ok(()) => return None,
            Err(party) => party,
        };
        let msg = ToHome::Recv {
            chan: wire_id(self.core),
            op,
        };
        self.issue(home, op, msg, party, false);
        None
    }

    /// Gives `party` the oldest receive in flight whose future was dropped, if there is one:
    /// a value the home handed to it is older than any a new receive would get, so taking
    /// it over keeps the order this node's receivers see (what a value handed back to the
    /// front of a local channel does).
    fn adopt(&mut self, party: Party) -> Result<(), Party> {
        let home = self.net().home.clone();
        let home = home.as_ref();
        let net = self.net();
        match net
            .in_flight
            .iter_mut()
            .find(|f| !f.is_send && matches!(f.party, Party::Gone) && Some(&f.home) == home)
        {
            Some(f) => {
                f.party = party;
                f.adopted = true;
                self.publish();
                Ok(())
            }
            None => Err(party),
        }
    }

    fn ext_party(&self) -> proto::PartyId {
        let origin = self
            .core
            .cluster
            .as_ref()
            .map_or(0, |c| crate::channel::fnv1a(c.me.as_str().as_bytes()));
        crate::task::TaskId::next(origin).party()
    }

    /// An external future's send on a channel whose home is `home`.
    pub(super) fn proxy_ext_send(
        &mut self,
        home: NodeId,
        reg: &mut ExtReg,
        v: Value,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), (ChannelError, Option<Value>)>> {
        let bytes = match v.to_bytes() {
            Ok(bytes) => bytes,
            Err(_) => {
                let e = ChannelError::Undecodable {
                    type_name: "a value that does not encode",
                };
                return Poll::Ready(Err((e, Some(v))));
            }
        };
        let bytes = match self.try_stream(&home, bytes) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(bytes) => bytes,
        };
        let party = self.ext_party();
        let Some(op) = self.new_op(party, 0) else {
            return Poll::Ready(Err((ChannelError::Closed, Some(v))));
        };
        let slot = Arc::new(ExtSlot::default());
        {
            let mut s = slot.state.lock();
            s.value = Some(v);
            s.waker = Some(cx.waker().clone());
        }
        let msg = ToHome::Send {
            chan: wire_id(self.core),
            op,
            value: Payload(bytes),
        };
        self.issue(home, op, msg, Party::Ext(Arc::clone(&slot)), true);
        reg.slot = Some(slot);
        Poll::Pending
    }

    /// An external future's receive on a channel whose home is `home`.
    pub(super) fn proxy_ext_recv(
        &mut self,
        home: NodeId,
        reg: &mut ExtReg,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Value, ChannelError>> {
        if let Some(v) = self.net().returned.pop_front() {
            return Poll::Ready(Ok(v));
        }
        let party = self.ext_party();
        let Some(op) = self.new_op(party, 0) else {
            return Poll::Ready(Err(ChannelError::Closed));
        };
        let slot = Arc::new(ExtSlot::default());
        slot.state.lock().waker = Some(cx.waker().clone());
        reg.slot = Some(Arc::clone(&slot));
        if let Err(party) = self.adopt(Party::Ext(slot)) {
            let msg = ToHome::Recv {
                chan: wire_id(self.core),
                op,
            };
            self.issue(home, op, msg, party, false);
        }
        Poll::Pending
    }

    /// Closes a channel whose home is `home`: there, for everyone.
    pub(super) fn proxy_close(&mut self, home: NodeId) {
        self.closed = true;
        self.net().credit = 0;
        self.publish();
        let chan = wire_id(self.core);
        self.transmit(&home, Message::ToHome(ToHome::Close { chan }));
    }

    /// A freezer takes `shared`'s task: if its operation is in flight at the home, ask the
    /// home to withdraw it.
    pub(super) fn withdraw_in_flight(&mut self, shared: &TaskShared) -> Option<Withdrawal> {
        let chan = wire_id(self.core);
        let net = self.net.as_mut()?;
        let i = net.in_flight.iter().position(|f| match &f.party {
            Party::Task(p) => p.is(shared),
            Party::Decided(p, _) => std::ptr::eq(*p, shared),
            _ => false,
        })?;
        let (tx, rx) = oneshot::channel();
        if matches!(net.in_flight[i].party, Party::Decided(..)) {
            if let Party::Decided(_, outcome) = net.in_flight.remove(i).party {
                tx.send(outcome).ok();
            }
            self.publish();
            return Some(rx);
        }
        let f = &mut net.in_flight[i];
        f.party = Party::Freezer(tx);
        let home = f.home.clone();
        let msg = ToHome::Withdraw { chan, op: f.op };
        self.publish();
        self.transmit(&home, Message::ToHome(msg));
        Some(rx)
    }

    /// A future with `slot` was dropped. Returns whether the slot was this proxy's (its
    /// operation is then withdrawn at the home, or its value kept for the next receiver).
    pub(super) fn cancel_in_flight(&mut self, slot: &Arc<ExtSlot>) -> bool {
        let chan = wire_id(self.core);
        let Some(net) = self.net.as_mut() else {
            return false;
        };
        let Some(f) = net
            .in_flight
            .iter_mut()
            .find(|f| matches!(&f.party, Party::Ext(s) if Arc::ptr_eq(s, slot)))
        else {
            if net.home.is_some() {
                // Completed: a receiver that never read its value gives it back here.
                let mut s = slot.state.lock();
                if matches!(s.done, Some(Ok(()))) {
                    if let Some(v) = s.value.take() {
                        net.returned.push_front(v);
                    }
                }
                return true;
            }
            return false;
        };
        slot.state.lock().cancelled = true;
        f.party = Party::Gone;
        let home = f.home.clone();
        let msg = ToHome::Withdraw { chan, op: f.op };
        self.publish();
        self.transmit(&home, Message::ToHome(msg));
        true
    }

    /// The home answered `op` with `outcome`.
    fn settle(&mut self, from: &NodeId, op: OpId, outcome: Outcome) -> Settled {
        let Some(net) = self.net.as_mut() else {
            return Settled::Unknown;
        };
        let Some(i) = net.in_flight.iter().position(|f| f.op == op) else {
            return Settled::Unknown;
        };
        if let Outcome::Rejected {
            reason: Rejection::NotHome { .. } | Rejection::Overloaded | Rejection::UnknownOp,
            ..
        } = outcome
        {
            if !matches!(net.in_flight[i].party, Party::Freezer(_) | Party::Gone) {
                return Settled::Retry;
            }
        }
        let f = net.in_flight.remove(i);
        if f.home != *from {
            // An answer from a node that is no longer the one asked: ignore it, keep waiting.
            net.in_flight.insert(i, f);
            return Settled::Unknown;
        }
        if f.adopted && matches!(outcome, Outcome::Withdrawn { .. }) {
            // The dropped receive was withdrawn before it matched: its new party receives
            // with an operation of its own.
            let op = self.new_op(self.ext_party(), 0);
            if let Some(op) = op {
                let msg = ToHome::Recv {
                    chan: wire_id(self.core),
                    op,
                };
                self.issue(f.home, op, msg, f.party, false);
            }
            return Settled::Done;
        }
        let core = self.core;
        match f.party {
            Party::Task(parked) => {
                let address = parked.0.as_ptr() as *const TaskShared;
                let Some(mut task) = parked.unpark() else {
                    // A freezer has the task and will withdraw under this lock: keep the
                    // answer for it.
                    let net = self.net();
                    net.in_flight.push(InFlight {
                        party: Party::Decided(address, outcome),
                        ..f
                    });
                    return Settled::Done;
                };
                {
                    let kind = match outcome {
                        Outcome::Sent => ResponseKind::Unit,
                        Outcome::Received(p) => ResponseKind::Value(Value::Encoded(p.0)),
                        Outcome::Closed { .. } => {
                            self.closed = true;
                            self.net().credit = 0;
                            ResponseKind::Channel(ChannelError::Closed, task.take_send_value())
                        }
                        Outcome::Rejected {
                            reason:
                                Rejection::Mismatch {
                                    found_ty,
                                    found_cap,
                                },
                            ..
                        } => ResponseKind::Channel(
                            mismatch(core, found_ty, found_cap),
                            task.take_send_value(),
                        ),
                        Outcome::Withdrawn { .. } | Outcome::Rejected { .. } => {
                            ResponseKind::Channel(node_down(&f.home), task.take_send_value())
                        }
                    };
                    self.publish();
                    respond(task, kind);
                }
            }
            Party::Ext(slot) => {
                let mut s = slot.state.lock();
                let result = match outcome {
                    Outcome::Sent => {
                        s.value = None;
                        Ok(())
                    }
                    Outcome::Received(p) => {
                        s.value = Some(Value::Encoded(p.0));
                        Ok(())
                    }
                    Outcome::Closed { .. } => {
                        self.closed = true;
                        self.net().credit = 0;
                        Err(ChannelError::Closed)
                    }
                    Outcome::Rejected {
                        reason:
                            Rejection::Mismatch {
                                found_ty,
                                found_cap,
                            },
                        ..
                    } => Err(mismatch(core, found_ty, found_cap)),
                    Outcome::Withdrawn { .. } | Outcome::Rejected { .. } => Err(node_down(&f.home)),
                };
                self.publish();
                s.complete(result);
            }
            Party::Freezer(tx) => {
                self.publish();
                // The freezer may have given up (its future dropped): then nobody waits.
                tx.send(outcome).ok();
            }
            Party::Gone => {
                if let Outcome::Received(p) = outcome {
                    self.net().returned.push_back(Value::Encoded(p.0));
                }
                self.publish();
            }
            // A repeated answer: the first one is kept.
            decided @ Party::Decided(..) => {
                self.net().in_flight.push(InFlight {
                    party: decided,
                    ..f
                });
            }
        }
        Settled::Done
    }

    /// Sends every operation in flight at `peer` again (its connection came back).
    fn resend_to(&mut self, peer: &NodeId) -> usize {
        let Some(net) = self.net.as_mut() else {
            return 0;
        };
        let mut again: Vec<(NodeId, Message)> = Vec::new();
        if net.home.as_ref() == Some(peer) {
            for (_, msg) in &net.unacked {
                again.push((peer.clone(), Message::ToHome(msg.clone())));
            }
        }
        for f in net
            .in_flight
            .iter()
            .filter(|f| f.home == *peer && !matches!(f.party, Party::Decided(..)))
        {
            let msg = match &f.party {
                Party::Freezer(_) | Party::Gone => ToHome::Withdraw {
                    chan: f.msg.chan().clone(),
                    op: f.op,
                },
                _ => f.msg.clone(),
            };
            again.push((peer.clone(), Message::ToHome(msg)));
        }
        let n = again.len();
        // Under the lock, so that a stream value sent meanwhile cannot overtake these.
        if let Some(cluster) = &self.core.cluster {
            for (to, message) in again {
                cluster.transmit(&to, message);
            }
        }
        n
    }

    /// Fails every operation in flight at `peer` with `NodeDown`. When the peer restarted,
    /// it lost them: they are forgotten. When it was only unreachable for too long, they may
    /// still wait there: they stay in flight without a party (a value the home hands one
    /// later goes to the next receiver here; they are withdrawn when the peer is back).
    fn fail_home(&mut self, peer: &NodeId, restarted: bool) -> usize {
        let Some(net) = self.net.as_mut() else {
            return 0;
        };
        if net.home.as_ref() == Some(peer) {
            net.credit = 0;
            if restarted {
                // Completed here, lost there: at most once across a crash.
                net.unacked.clear();
            }
        }
        let mut failed = Vec::new();
        let mut kept = Vec::new();
        for mut f in std::mem::take(&mut net.in_flight) {
            if f.home != *peer
                || matches!(f.party, Party::Decided(..))
                || (!restarted && matches!(f.party, Party::Gone))
            {
                kept.push(f);
                continue;
            }
            failed.push(std::mem::replace(&mut f.party, Party::Gone));
            if !restarted {
                f.adopted = false;
                kept.push(f);
            }
        }
        net.in_flight = kept;
        self.publish();
        let mut n = 0;
        for party in failed {
            match party {
                Party::Task(parked) => {
                    if let Some(mut task) = parked.unpark() {
                        let value = task.take_send_value();
                        respond(task, ResponseKind::Channel(node_down(peer), value));
                        n += 1;
                    }
                }
                Party::Ext(slot) => {
                    let mut s = slot.state.lock();
                    if s.is_live() {
                        s.complete(Err(node_down(peer)));
                        n += 1;
                    }
                }
                // Dropping the sender tells the freezer the home is gone.
                Party::Freezer(_) | Party::Gone | Party::Decided(..) => {}
            }
        }
        n
    }

    /// The home refused `op` for now (not home, overloaded, unknown): ask again, at the home
    /// as this node now computes it. When that is this node, the party starts over here.
    fn retry(&mut self, op: OpId) -> Option<Box<Task>> {
        let net = self.net.as_mut()?;
        let i = net.in_flight.iter().position(|f| f.op == op)?;
        net.epoch = 0;
        match self.remote_home() {
            Some(home) => {
                let net = self.net();
                let f = &mut net.in_flight[i];
                f.home = home.clone();
                let msg = f.msg.clone();
                self.transmit(&home, Message::ToHome(msg));
                None
            }
            None => {
                let f = self.net().in_flight.remove(i);
                self.publish();
                match f.party {
                    // Performed again from its pending request, once the lock is left.
                    Party::Task(parked) => parked.unpark(),
                    Party::Ext(slot) => {
                        let mut s = slot.state.lock();
                        s.restart = true;
                        if let Some(w) = s.waker.take() {
                            w.wake();
                        }
                        None
                    }
                    Party::Freezer(_) | Party::Gone | Party::Decided(..) => None,
                }
            }
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
        Some(Outcome::Withdrawn { .. }) => return,
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
        let net = st.net();
        net.credit += credit;
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
