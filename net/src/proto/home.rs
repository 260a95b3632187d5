//! A channel's home, sans-IO: the bookkeeping of operations ([`OpLog`]) and the channel
//! state machine that owns the queues ([`Home`]).

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::ids::{ChannelId, NodeId, OpId, PartyId, Payload};
use super::message::{FromHome, Outcome, Rejection, ToHome};

/// What a home does with an incoming `Send` or `Recv` (see [`OpLog`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A new operation: perform it (and [`OpLog::complete`] it when it has an outcome).
    New,
    /// A repeat of an operation still waiting in the channel's queues: ignore it.
    Waiting,
    /// A repeat of a completed operation: send this outcome again.
    Repeat(Outcome),
    /// An operation of an older epoch than the party's newest: refuse it.
    Stale {
        /// The party's newest epoch.
        current: u64,
    },
    /// An older operation of the same epoch, already acknowledged: ignore it.
    Obsolete,
}

#[derive(Debug)]
struct Record {
    /// The newest operation seen for the party.
    op: OpId,
    /// Its outcome, once it has one (kept until acknowledged).
    outcome: Option<Outcome>,
}

/// One channel's operations, as its home sees them: exactly-once answers and stale-epoch
/// refusals.
///
/// A home keeps one [`OpLog`] per channel. For every party it remembers the newest operation
/// it has seen and, once that operation has an outcome, the outcome itself until the party's
/// node acknowledges it. That is all exactly-once needs:
///
/// - an operation seen for the first time is [`Admission::New`]: queue it;
/// - the same operation again while it waits is [`Admission::Waiting`]: drop the repeat (the
///   queued copy holds the value);
/// - the same operation again after it completed is [`Admission::Repeat`]: send the stored
///   outcome again, do nothing else — so a resend after a lost connection never delivers a
///   value twice;
/// - an operation older than the newest one of its party is [`Admission::Stale`] when it is
///   from an older epoch (a frozen incarnation: refuse it with `Rejection::Stale`), and
///   [`Admission::Obsolete`] when it is from the same epoch (a leftover of an acknowledged
///   operation: drop it).
///
/// A record is dropped when its outcome is acknowledged, so memory follows the operations in
/// flight. The authoritative guard against stale incarnations is the ownership record
/// `(task, epoch, node)` of the migration protocol; this log refuses stale operations it can
/// still see.
///
/// # Examples
///
/// ```
/// use tern_net::proto::{Admission, OpId, OpLog, Outcome, PartyId};
/// let mut log = OpLog::default();
/// let op = OpId { party: PartyId { origin: 1, seq: 1 }, epoch: 0, seq: 1 };
/// assert_eq!(log.admit(op), Admission::New);
/// log.complete(op, Outcome::Sent);
/// // The connection dropped before the answer arrived; the node sends the op again.
/// assert_eq!(log.admit(op), Admission::Repeat(Outcome::Sent));
/// assert!(log.ack(op));
/// assert!(log.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct OpLog {
    parties: HashMap<PartyId, Record>,
}

impl OpLog {
    /// Classifies `op` and, if it is new, records it as waiting.
    ///
    /// A new operation of a party whose previous operation is still waiting replaces it in
    /// the log: the caller must have withdrawn the previous one (a party has at most one
    /// operation in flight, and the migration protocol withdraws before it moves).
    pub fn admit(&mut self, op: OpId) -> Admission {
        match self.parties.get_mut(&op.party) {
            None => {
                self.parties.insert(op.party, Record { op, outcome: None });
                Admission::New
            }
            Some(r) if op.order() == r.op.order() => match &r.outcome {
                None => Admission::Waiting,
                Some(o) => Admission::Repeat(o.clone()),
            },
            Some(r) if op.order() < r.op.order() => {
                if op.epoch < r.op.epoch {
                    Admission::Stale {
                        current: r.op.epoch,
                    }
                } else {
                    Admission::Obsolete
                }
            }
            Some(r) => {
                *r = Record { op, outcome: None };
                Admission::New
            }
        }
    }

    /// Records the outcome of `op`, to be repeated until [`ack`](Self::ack)ed. Ignored if
    /// `op` is not the party's newest operation or already has an outcome (the first one
    /// stands).
    pub fn complete(&mut self, op: OpId, outcome: Outcome) {
        if let Some(r) = self.parties.get_mut(&op.party) {
            if r.op == op && r.outcome.is_none() {
                r.outcome = Some(outcome);
            }
        }
    }

    /// The outcome recorded for `op`, if it has one.
    pub fn outcome(&self, op: OpId) -> Option<&Outcome> {
        self.parties
            .get(&op.party)
            .filter(|r| r.op == op)
            .and_then(|r| r.outcome.as_ref())
    }

    /// Whether `op` is recorded and still waiting for an outcome (so a `Withdraw` must take
    /// it out of the channel's queues).
    pub fn is_waiting(&self, op: OpId) -> bool {
        self.parties
            .get(&op.party)
            .is_some_and(|r| r.op == op && r.outcome.is_none())
    }

    /// The party's node has the outcome of `op`: forget it. Returns whether anything was
    /// forgotten (an ack of a waiting or unknown operation changes nothing).
    pub fn ack(&mut self, op: OpId) -> bool {
        let done = self
            .parties
            .get(&op.party)
            .is_some_and(|r| r.op == op && r.outcome.is_some());
        if done {
            self.parties.remove(&op.party);
        }
        done
    }

    /// Forgets `op` whatever its state (a home that refuses a new operation after admitting
    /// it, or drops the operations of a restarted node). Returns whether it was recorded.
    pub fn forget(&mut self, op: OpId) -> bool {
        let known = self.parties.get(&op.party).is_some_and(|r| r.op == op);
        if known {
            self.parties.remove(&op.party);
        }
        known
    }

    /// The newest operation recorded for `party`, if any.
    pub fn newest(&self, party: PartyId) -> Option<OpId> {
        self.parties.get(&party).map(|r| r.op)
    }

    /// Parties with a record (an operation waiting or an outcome not yet acknowledged).
    pub fn len(&self) -> usize {
        self.parties.len()
    }

    /// Whether no party has a record.
    pub fn is_empty(&self) -> bool {
        self.parties.is_empty()
    }
}

/// Limits of a [`Home`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HomeConfig {
    /// The most operations one peer node may have parked on the channel (waiting senders and
    /// receivers together). Beyond it a `Send` or `Recv` that would park is answered with
    /// [`Rejection::Overloaded`] (a send gets its value back) and not recorded, so the party's
    /// node retries it later with the same op id. Default: 1024.
    pub max_parked_per_peer: usize,
}

impl Default for HomeConfig {
    fn default() -> Self {
        HomeConfig {
            max_parked_per_peer: 1024,
        }
    }
}

/// Counters of a [`Home`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HomeStats {
    /// Messages refused because they named the channel with another type key or capacity.
    pub mismatches: u64,
    /// Operations refused because their epoch was stale.
    pub stale: u64,
    /// Operations refused because their node had too many parked.
    pub overloaded: u64,
    /// Repeated operations (resends) answered from the log or ignored.
    pub repeats: u64,
    /// Operations and outcomes dropped because their node restarted.
    pub purged: u64,
}

/// A parked operation: who to answer and, for a send, the value.
#[derive(Debug)]
struct Waiter {
    node: NodeId,
    op: OpId,
    value: Option<Payload>,
}

/// One channel as its home holds it, sans-IO: the buffer, the queues of waiting senders and
/// receivers, and the [`OpLog`] that makes every answer exactly-once.
///
/// The driver feeds it every [`ToHome`] message about the channel with the node it came from
/// ([`handle`](Home::handle); parties living on the home node itself use the home's own id)
/// and sends what [`poll_transmit`](Home::poll_transmit) returns to the node it names
/// (locally when that is the home's own id). When the driver learns that a peer restarted (a
/// new incarnation), it calls [`peer_restarted`](Home::peer_restarted).
///
/// Guarantees (unit tests in `home_tests.rs`, whole-cluster checks in the simulation):
///
/// - **Local semantics.** Capacity 0 is a rendezvous: a send completes only when a receiver
///   takes its value. Capacity `n` buffers up to `n` values; a send beyond that parks until a
///   receive makes room. Parked senders and receivers are served oldest first, so values
///   leave in the order their sends arrived: FIFO per (sender, channel), since a party has at
///   most one operation in flight. Closing answers parked receivers `Closed`, hands parked
///   senders their values back, tells every node that opened the channel, and leaves buffered
///   values receivable.
/// - **Exactly one outcome per operation**, answered again (never performed again) when the
///   operation or its `Withdraw` is repeated before its `Ack` ([`OpLog`]).
/// - **Withdraw** of a waiting operation takes it out of the queues and answers `Withdrawn`
///   (with a send's value); of a finished one, its outcome; of one the home never saw (it was
///   lost with a connection), `Rejected { UnknownOp }`: the party still holds what it had.
/// - **Every message is checked** against the channel's identity; a mismatch is answered,
///   counted and never touches the queues.
/// - **Bounded**: at most [`HomeConfig::max_parked_per_peer`] parked operations per peer.
/// - **At most once across a crash**: [`peer_restarted`](Home::peer_restarted) drops the
///   parked operations and unacknowledged outcomes of the restarted node's parties (a value
///   matched to a receiver that died with its node is lost with it).
///
/// # Examples
///
/// ```
/// use tern_net::proto::{ChannelId, FromHome, Home, HomeConfig, NodeId, OpId, Outcome, PartyId, Payload, ToHome};
/// let chan = ChannelId::of::<u64>("jobs", 0);
/// let mut home = Home::new(chan.clone(), HomeConfig::default());
/// let (a, b): (NodeId, NodeId) = ("a".parse()?, "b".parse()?);
/// let op = |origin| OpId { party: PartyId { origin, seq: 1 }, epoch: 0, seq: 1 };
///
/// home.handle(&a, ToHome::Recv { chan: chan.clone(), op: op(1) });
/// assert_eq!(home.poll_transmit(), None); // parked
/// home.handle(&b, ToHome::Send { chan: chan.clone(), op: op(2), value: Payload(vec![7]) });
/// let (to, msg) = home.poll_transmit().unwrap();
/// assert_eq!(to, a);
/// assert!(matches!(msg, FromHome::Done { outcome: Outcome::Received(Payload(v)), .. } if v == [7]));
/// let (to, msg) = home.poll_transmit().unwrap();
/// assert_eq!(to, b);
/// assert!(matches!(msg, FromHome::Done { outcome: Outcome::Sent, .. }));
/// # Ok::<(), tern_net::proto::NodeIdError>(())
/// ```
#[derive(Debug)]
pub struct Home {
    chan: ChannelId,
    config: HomeConfig,
    buffer: VecDeque<Payload>,
    senders: VecDeque<Waiter>,
    receivers: VecDeque<Waiter>,
    log: OpLog,
    /// The node of every party with a record in the log.
    nodes: HashMap<PartyId, NodeId>,
    /// Parked operations per node.
    parked: HashMap<NodeId, usize>,
    opened: BTreeSet<NodeId>,
    closed: bool,
    out: VecDeque<(NodeId, FromHome)>,
    stats: HomeStats,
}

impl Home {
    /// The home of `chan`, open and empty.
    pub fn new(chan: ChannelId, config: HomeConfig) -> Home {
        Home {
            chan,
            config,
            buffer: VecDeque::new(),
            senders: VecDeque::new(),
            receivers: VecDeque::new(),
            log: OpLog::default(),
            nodes: HashMap::new(),
            parked: HashMap::new(),
            opened: BTreeSet::new(),
            closed: false,
            out: VecDeque::new(),
            stats: HomeStats::default(),
        }
    }

    /// The channel's identity (the one it was created with).
    pub fn chan(&self) -> &ChannelId {
        &self.chan
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Values buffered.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// Parked senders (> 0) or minus parked receivers (< 0).
    pub fn balance(&self) -> i64 {
        let count = |q: &VecDeque<Waiter>| i64::try_from(q.len()).unwrap_or(i64::MAX);
        count(&self.senders) - count(&self.receivers)
    }

    /// Whether the home holds nothing: no value, no waiter, no outcome to repeat, no node
    /// holding it open. Such a home can be forgotten.
    pub fn is_idle(&self) -> bool {
        self.buffer.is_empty()
            && self.senders.is_empty()
            && self.receivers.is_empty()
            && self.log.is_empty()
            && self.opened.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> HomeStats {
        self.stats
    }

    /// The next message to send, and the node to send it to.
    pub fn poll_transmit(&mut self) -> Option<(NodeId, FromHome)> {
        self.out.pop_front()
    }

    /// A message about this channel arrived from `from`.
    pub fn handle(&mut self, from: &NodeId, msg: ToHome) {
        if let Err(reason) = self.chan.admit(msg.chan()) {
            self.stats.mismatches += 1;
            let answer = match msg {
                ToHome::Send {
                    chan, op, value, ..
                } => FromHome::Done {
                    chan,
                    op,
                    outcome: Outcome::Rejected {
                        reason,
                        value: Some(value),
                    },
                },
                ToHome::Recv { chan, op } | ToHome::Withdraw { chan, op } => FromHome::Done {
                    chan,
                    op,
                    outcome: Outcome::Rejected {
                        reason,
                        value: None,
                    },
                },
                ToHome::Open { chan } | ToHome::Close { chan } | ToHome::Balance { chan, .. } => {
                    FromHome::Rejected { chan, reason }
                }
                ToHome::Ack { .. } | ToHome::Release { .. } | ToHome::Stream { .. } => return,
            };
            self.out.push_back((from.clone(), answer));
            return;
        }
        match msg {
            ToHome::Open { chan } => {
                self.opened.insert(from.clone());
                let closed = self.closed;
                self.out
                    .push_back((from.clone(), FromHome::Opened { chan, closed }));
            }
            ToHome::Release { .. } => {
                self.opened.remove(from);
            }
            ToHome::Send { chan, op, value } => self.on_send(from, chan, op, value),
            ToHome::Recv { chan, op } => self.on_recv(from, chan, op),
            ToHome::Withdraw { chan, op } => self.on_withdraw(from, chan, op),
            ToHome::Ack { op, .. } => {
                if self.log.ack(op) {
                    self.nodes.remove(&op.party);
                }
            }
            ToHome::Close { .. } => self.close(),
            // This home grants no credit, so a well-behaved node never streams to it.
            ToHome::Stream { .. } => {}
            ToHome::Balance { chan, query } => {
                let answer = FromHome::BalanceIs {
                    chan,
                    query,
                    balance: self.balance(),
                    len: self.buffer.len() as u64,
                    closed: self.closed,
                };
                self.out.push_back((from.clone(), answer));
            }
        }
    }

    /// `node` restarted (it came back with a new incarnation): drop what its parties had
    /// here — parked operations and outcomes it never acknowledged — and its open handles.
    /// Nothing is answered: the parties are gone.
    pub fn peer_restarted(&mut self, node: &NodeId) {
        for q in [&mut self.senders, &mut self.receivers] {
            q.retain(|w| w.node != *node);
        }
        self.parked.remove(node);
        let gone: Vec<PartyId> = self
            .nodes
            .iter()
            .filter(|(_, n)| *n == node)
            .map(|(p, _)| *p)
            .collect();
        for party in gone {
            self.nodes.remove(&party);
            if let Some(op) = self.log.newest(party) {
                self.log.forget(op);
                self.stats.purged += 1;
            }
        }
        self.opened.remove(node);
    }

    /// Classifies a `Send` or `Recv` and answers repeats; `true` if it is new.
    fn admit(
        &mut self,
        from: &NodeId,
        chan: &ChannelId,
        op: OpId,
        value: &mut Option<Payload>,
    ) -> bool {
        match self.log.admit(op) {
            Admission::New => {
                self.nodes.insert(op.party, from.clone());
                true
            }
            Admission::Waiting | Admission::Obsolete => {
                self.stats.repeats += 1;
                false
            }
            Admission::Repeat(outcome) => {
                self.stats.repeats += 1;
                self.answer(from, chan.clone(), op, outcome);
                false
            }
            Admission::Stale { current } => {
                self.stats.stale += 1;
                let outcome = Outcome::Rejected {
                    reason: Rejection::Stale { current },
                    value: value.take(),
                };
                self.answer(from, chan.clone(), op, outcome);
                false
            }
        }
    }

    fn on_send(&mut self, from: &NodeId, chan: ChannelId, op: OpId, value: Payload) {
        let mut value = Some(value);
        if !self.admit(from, &chan, op, &mut value) {
            return;
        }
        let Some(value) = value else { return };
        if self.closed {
            self.complete(from, chan, op, Outcome::Closed { value: Some(value) });
        } else if let Some(r) = self.pop(Queue::Receivers) {
            self.finish(r, Outcome::Received(value));
            self.complete(from, chan, op, Outcome::Sent);
        } else if (self.buffer.len() as u64) < self.chan.cap {
            self.buffer.push_back(value);
            self.complete(from, chan, op, Outcome::Sent);
        } else {
            self.park(from, chan, op, Some(value), Queue::Senders);
        }
    }

    fn on_recv(&mut self, from: &NodeId, chan: ChannelId, op: OpId) {
        if !self.admit(from, &chan, op, &mut None) {
            return;
        }
        if let Some(v) = self.buffer.pop_front() {
            // Room in the buffer: the oldest parked sender's value moves in.
            if let Some(mut s) = self.pop(Queue::Senders) {
                if let Some(sv) = s.value.take() {
                    self.buffer.push_back(sv);
                }
                self.finish(s, Outcome::Sent);
            }
            self.complete(from, chan, op, Outcome::Received(v));
        } else if let Some(mut s) = self.pop(Queue::Senders) {
            let v = s.value.take().unwrap_or_default();
            self.finish(s, Outcome::Sent);
            self.complete(from, chan, op, Outcome::Received(v));
        } else if self.closed {
            self.complete(from, chan, op, Outcome::Closed { value: None });
        } else {
            self.park(from, chan, op, None, Queue::Receivers);
        }
    }

    fn on_withdraw(&mut self, from: &NodeId, chan: ChannelId, op: OpId) {
        if self.log.is_waiting(op) {
            let mut value = None;
            for q in [Queue::Senders, Queue::Receivers] {
                let queue = self.queue(q);
                if let Some(i) = queue.iter().position(|w| w.op == op) {
                    if let Some(w) = queue.remove(i) {
                        value = w.value;
                        self.unparked(&w.node);
                    }
                    break;
                }
            }
            self.complete(from, chan, op, Outcome::Withdrawn { value });
        } else if let Some(outcome) = self.log.outcome(op).cloned() {
            self.stats.repeats += 1;
            self.answer(from, chan, op, outcome);
        } else {
            let outcome = Outcome::Rejected {
                reason: Rejection::UnknownOp,
                value: None,
            };
            self.answer(from, chan, op, outcome);
        }
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        while let Some(r) = self.pop(Queue::Receivers) {
            self.finish(r, Outcome::Closed { value: None });
        }
        while let Some(mut s) = self.pop(Queue::Senders) {
            let value = s.value.take();
            self.finish(s, Outcome::Closed { value });
        }
        for node in &self.opened {
            let msg = FromHome::ChannelClosed {
                chan: self.chan.clone(),
            };
            self.out.push_back((node.clone(), msg));
        }
    }

    fn park(&mut self, from: &NodeId, chan: ChannelId, op: OpId, value: Option<Payload>, q: Queue) {
        let parked = self.parked.get(from).copied().unwrap_or(0);
        if parked >= self.config.max_parked_per_peer {
            self.stats.overloaded += 1;
            self.log.forget(op);
            self.nodes.remove(&op.party);
            let outcome = Outcome::Rejected {
                reason: Rejection::Overloaded,
                value,
            };
            self.answer(from, chan, op, outcome);
            return;
        }
        *self.parked.entry(from.clone()).or_insert(0) += 1;
        self.queue(q).push_back(Waiter {
            node: from.clone(),
            op,
            value,
        });
    }

    fn queue(&mut self, q: Queue) -> &mut VecDeque<Waiter> {
        match q {
            Queue::Senders => &mut self.senders,
            Queue::Receivers => &mut self.receivers,
        }
    }

    fn pop(&mut self, q: Queue) -> Option<Waiter> {
        let w = self.queue(q).pop_front()?;
        self.unparked(&w.node);
        Some(w)
    }

    fn unparked(&mut self, node: &NodeId) {
        if let Some(n) = self.parked.get_mut(node) {
            *n -= 1;
            if *n == 0 {
                self.parked.remove(node);
            }
        }
    }

    /// Records the outcome of a parked operation and answers its node.
    fn finish(&mut self, w: Waiter, outcome: Outcome) {
        let chan = self.chan.clone();
        self.complete(&w.node, chan, w.op, outcome);
    }

    /// Records `outcome` for `op` and answers `node`.
    fn complete(&mut self, node: &NodeId, chan: ChannelId, op: OpId, outcome: Outcome) {
        self.log.complete(op, outcome.clone());
        self.answer(node, chan, op, outcome);
    }

    fn answer(&mut self, node: &NodeId, chan: ChannelId, op: OpId, outcome: Outcome) {
        self.out
            .push_back((node.clone(), FromHome::Done { chan, op, outcome }));
    }
}

#[derive(Clone, Copy)]
enum Queue {
    Senders,
    Receivers,
}

impl ChannelId {
    /// The home's check of a message naming `asked` against this, the channel it holds under
    /// that name: `Ok` when type key and capacity agree, else the `Mismatch` to answer. The
    /// message's bytes are never decoded as the channel's type when this fails.
    ///
    /// # Errors
    /// [`Rejection::Mismatch`] with this channel's type key and capacity.
    pub fn admit(&self, asked: &ChannelId) -> Result<(), Rejection> {
        if self.ty == asked.ty && self.cap == asked.cap {
            Ok(())
        } else {
            Err(Rejection::Mismatch {
                found_ty: self.ty,
                found_cap: self.cap,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Payload, TypeKey};

    fn op(party: u64, epoch: u64, seq: u64) -> OpId {
        OpId {
            party: PartyId {
                origin: 7,
                seq: party,
            },
            epoch,
            seq,
        }
    }

    fn received(b: u8) -> Outcome {
        Outcome::Received(Payload(vec![b]))
    }

    #[test]
    fn an_op_is_answered_once_and_repeated_identically_until_acked() {
        let mut log = OpLog::default();
        let a = op(1, 0, 1);
        assert_eq!(log.admit(a), Admission::New);
        assert!(log.is_waiting(a));
        assert_eq!(log.admit(a), Admission::Waiting);
        assert!(!log.ack(a), "an op without an outcome cannot be acked");
        log.complete(a, received(5));
        log.complete(a, received(6)); // the first outcome stands
        assert_eq!(log.outcome(a), Some(&received(5)));
        assert!(!log.is_waiting(a));
        assert_eq!(log.admit(a), Admission::Repeat(received(5)));
        assert_eq!(log.admit(a), Admission::Repeat(received(5)));
        assert!(log.ack(a));
        assert!(!log.ack(a));
        assert!(log.is_empty());
    }

    #[test]
    fn later_ops_replace_earlier_ones_and_earlier_ones_are_refused() {
        let mut log = OpLog::default();
        let (first, second) = (op(1, 0, 1), op(1, 0, 2));
        assert_eq!(log.admit(first), Admission::New);
        log.complete(first, Outcome::Sent);
        // The node got the outcome and moved on without an explicit ack.
        assert_eq!(log.admit(second), Admission::New);
        assert_eq!(log.len(), 1);
        assert_eq!(log.admit(first), Admission::Obsolete);
        assert_eq!(log.outcome(first), None);
        log.complete(first, Outcome::Sent); // ignored: not the newest
        assert!(log.is_waiting(second));
    }

    #[test]
    fn ops_of_an_older_epoch_are_stale() {
        let mut log = OpLog::default();
        // The task moved twice; its new incarnation (epoch 2) already talks to the home.
        assert_eq!(log.admit(op(1, 2, 1)), Admission::New);
        assert_eq!(log.admit(op(1, 1, 9)), Admission::Stale { current: 2 });
        assert_eq!(log.admit(op(1, 0, 50)), Admission::Stale { current: 2 });
        // A newer epoch is admitted, whatever its seq.
        assert_eq!(log.admit(op(1, 3, 0)), Admission::New);
    }

    #[test]
    fn parties_are_independent() {
        let mut log = OpLog::default();
        assert_eq!(log.admit(op(1, 5, 5)), Admission::New);
        assert_eq!(log.admit(op(2, 0, 1)), Admission::New);
        log.complete(op(2, 0, 1), Outcome::Sent);
        assert!(log.ack(op(2, 0, 1)));
        assert!(log.is_waiting(op(1, 5, 5)));
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn a_message_of_another_type_or_capacity_is_refused() {
        let held = ChannelId::of::<u64>("numbers", 0);
        assert_eq!(held.admit(&ChannelId::of::<u64>("numbers", 0)), Ok(()));
        assert_eq!(
            held.admit(&ChannelId::of::<String>("numbers", 0)),
            Err(Rejection::Mismatch {
                found_ty: TypeKey::of::<u64>(),
                found_cap: 0
            })
        );
        assert!(held.admit(&ChannelId::of::<u64>("numbers", 4)).is_err());
    }
}

#[cfg(test)]
#[path = "home_tests.rs"]
mod home_tests;
