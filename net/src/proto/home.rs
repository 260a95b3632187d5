//! The home's bookkeeping of operations, sans-IO. See [`OpLog`].

use std::collections::HashMap;

use super::ids::{ChannelId, OpId, PartyId};
use super::message::{Outcome, Rejection};

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

    /// Parties with a record (an operation waiting or an outcome not yet acknowledged).
    pub fn len(&self) -> usize {
        self.parties.len()
    }

    /// Whether no party has a record.
    pub fn is_empty(&self) -> bool {
        self.parties.is_empty()
    }
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
