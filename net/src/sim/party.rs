//! The workload's parties: senders, receivers and impostors, as a node's runtime would run
//! them — one operation in flight, identified by `(party, epoch, seq)`, resent after a
//! reconnect, withdrawn before a move, acknowledged when answered.
//!
//! A party that moves exists as several **copies** for a while: the frozen one on its source
//! and the held one on its target (built from the snapshot alone, see `migration.rs`). Each
//! copy is an entry of `World::parties` with the party's key; at most one runs.

use std::time::Duration;

use super::history::{Event, SendResult};
use super::net::NodeIx;
use super::world::{payload, unpayload, Sabotage, World};
use crate::proto::{
    fnv1a, ChannelId, Message, OpId, Outcome, PartyId, Payload, Rejection, ToHome, TypeKey,
};

/// What a party does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// Sends message `i` on channel `chans[i]`, in order.
    Sender { chans: Vec<usize>, next: usize },
    /// Receives from a channel for ever.
    Receiver { chan: usize },
    /// Sends `count` values on a channel's name with the wrong type.
    Impostor { chan: usize, count: u32, next: u32 },
}

#[derive(Debug)]
pub(super) enum What {
    Send { seq: u32, value: Payload },
    Recv,
}

/// The operation a party has in flight.
#[derive(Debug)]
pub(super) struct Pending {
    /// The channel as the party names it (an impostor's differs from the home's).
    pub(super) chan: ChannelId,
    /// Index of the channel in the run.
    pub(super) index: usize,
    pub(super) home: NodeIx,
    pub(super) what: What,
    /// The operation, once issued; `None` while it waits to be (re)issued.
    pub(super) op: Option<OpId>,
    pub(super) withdraw_at: Option<Duration>,
    pub(super) withdrawing: bool,
}

/// What a copy of a party is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// It runs (issues operations, thinks).
    Running,
    /// Stopped to move: its pending operation is being withdrawn, or it is offered.
    Frozen,
    /// Installed on a move's target, not running until the commit; `from` is the source.
    Held { from: NodeIx },
}

/// A party (a task, as far as the channel protocol can tell).
#[derive(Debug)]
pub(super) struct Party {
    /// The key naming it in the history.
    pub(super) key: u64,
    pub(super) id: PartyId,
    pub(super) role: Role,
    /// Where this copy is.
    pub(super) node: NodeIx,
    /// The node that spawned it: the home of its join handle and ownership record.
    pub(super) home: NodeIx,
    pub(super) epoch: u64,
    pub(super) seq: u64,
    /// Whether this copy still exists (a crash of its node, a commit of its move away or a
    /// dropped install ends it).
    pub(super) alive: bool,
    pub(super) state: State,
    /// When it next does something.
    pub(super) wake: Option<Duration>,
    pub(super) pending: Option<Pending>,
}

impl Party {
    /// Whether a sender or impostor has finished (receivers never do).
    fn done(&self) -> bool {
        let rest = match &self.role {
            Role::Sender { chans, next } => *next < chans.len(),
            Role::Impostor { count, next, .. } => next < count,
            Role::Receiver { .. } => return true,
        };
        !self.alive || (!rest && self.pending.is_none())
    }
}

impl World {
    pub(super) fn spawn_workload(&mut self) {
        for s in self.cfg.senders.clone() {
            let role = Role::Sender {
                chans: s.chans,
                next: 0,
            };
            self.spawn(s.node, role);
        }
        for r in self.cfg.receivers.clone() {
            self.spawn(r.node, Role::Receiver { chan: r.chan });
        }
        for m in self.cfg.impostors.clone() {
            let role = Role::Impostor {
                chan: m.chan,
                count: m.count,
                next: 0,
            };
            self.spawn(m.node, role);
        }
    }

    /// After a crash, the receivers that were lost with the node start again there (as new
    /// parties), so every channel keeps its receivers.
    pub(super) fn respawn_receivers(&mut self, node: NodeIx) {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.respawn)
            .into_iter()
            .partition(|(n, _)| *n == node);
        self.respawn = later;
        for (_, chan) in now {
            self.spawn(node, Role::Receiver { chan });
        }
    }

    /// Copy `i` is gone (its node crashed, its move committed, its install was dropped). If
    /// no other copy of the party exists, the party is lost: recorded, and a receiver comes
    /// back (as a new party) on that node, now or when it restarts.
    pub(super) fn copy_gone(&mut self, i: usize) {
        self.parties[i].alive = false;
        self.parties[i].wake = None;
        let key = self.parties[i].key;
        if self.parties.iter().any(|p| p.alive && p.key == key) {
            return;
        }
        self.record(Event::Died { party: key });
        let node = self.parties[i].node;
        self.log(format_args!("party {key} lost (last copy on n{node})"));
        if let Role::Receiver { chan } = self.parties[i].role {
            if self.nodes[node].up {
                self.spawn(node, Role::Receiver { chan });
            } else {
                self.respawn.push((node, chan));
            }
        }
    }

    fn spawn(&mut self, node: NodeIx, role: Role) {
        let key = self.next_key;
        self.next_key += 1;
        let id = PartyId {
            origin: fnv1a(self.members[node].as_str().as_bytes()),
            seq: key,
        };
        let wake = Some(self.now + self.think());
        self.log(format_args!("party {key} spawned on n{node}: {role:?}"));
        self.parties.push(Party {
            key,
            id,
            role,
            node,
            home: node,
            epoch: 0,
            seq: 0,
            alive: true,
            state: State::Running,
            wake,
            pending: None,
        });
        self.record(Event::Run {
            party: key,
            node,
            epoch: 0,
        });
    }

    fn think(&mut self) -> Duration {
        self.rng.duration(Duration::ZERO, self.cfg.think)
    }

    pub(super) fn workload_done(&self) -> bool {
        self.parties.iter().all(Party::done)
    }

    pub(super) fn party_wake(&mut self, i: usize) {
        let now = self.now;
        let p = &self.parties[i];
        if p.state != State::Running {
            return;
        }
        if let Some(pend) = &p.pending {
            if pend.op.is_none() {
                self.issue(i);
            } else if !pend.withdrawing
                && pend.withdraw_at.is_some_and(|t| t <= now)
                && !self.workload_done()
            {
                // The task freezes at its suspension point to move; its pending request is
                // withdrawn at the channel's home before the snapshot is taken.
                let (key, op, node, epoch) = (p.key, pend.op, p.node, p.epoch);
                let p = &mut self.parties[i];
                p.state = State::Frozen;
                p.wake = None;
                if let Some(pend) = &mut p.pending {
                    pend.withdrawing = true;
                }
                self.record(Event::Freeze {
                    party: key,
                    node,
                    epoch,
                });
                self.stats.withdrawals += 1;
                self.log(format_args!("party {key} freezes, withdraws {op:?}"));
                self.transmit_op(i);
            }
            return;
        }
        let key = p.key;
        let impostor = matches!(p.role, Role::Impostor { .. });
        let (chan, seq) = match &p.role {
            Role::Sender { chans, next } => match chans.get(*next) {
                Some(&chan) => (chan, Some(*next as u32)),
                None => return,
            },
            Role::Receiver { chan } => (*chan, None),
            Role::Impostor { chan, count, next } if next < count => (*chan, Some(*next)),
            Role::Impostor { .. } => return,
        };
        let (mut id, home) = self.chans[chan].clone();
        if impostor {
            id.ty = TypeKey(id.ty.0 ^ 1);
        }
        let what = match seq {
            Some(seq) => {
                self.record(Event::Send {
                    sender: key,
                    chan,
                    seq,
                });
                What::Send {
                    seq,
                    value: Payload(payload(key, seq)),
                }
            }
            None => What::Recv,
        };
        self.parties[i].pending = Some(Pending {
            chan: id,
            index: chan,
            home,
            what,
            op: None,
            withdraw_at: None,
            withdrawing: false,
        });
        self.issue(i);
    }

    /// Gives the pending operation a new op id and sends it.
    fn issue(&mut self, i: usize) {
        let withdraw = self.rng.chance(self.cfg.withdraw).then(|| {
            self.now
                + self
                    .rng
                    .duration(Duration::from_millis(1), self.cfg.withdraw_within)
        });
        let p = &mut self.parties[i];
        let Some(pend) = &mut p.pending else { return };
        p.seq += 1;
        pend.op = Some(OpId {
            party: p.id,
            epoch: p.epoch,
            seq: p.seq,
        });
        pend.withdraw_at = withdraw;
        pend.withdrawing = false;
        p.wake = withdraw;
        self.transmit_op(i);
    }

    /// Sends the pending operation (or its withdrawal) to its home.
    fn transmit_op(&mut self, i: usize) {
        let p = &self.parties[i];
        let Some(pend) = &p.pending else { return };
        let Some(op) = pend.op else { return };
        let chan = pend.chan.clone();
        let msg = if pend.withdrawing {
            ToHome::Withdraw { chan, op }
        } else {
            match &pend.what {
                What::Send { value, .. } => ToHome::Send {
                    chan,
                    op,
                    value: value.clone(),
                },
                What::Recv => ToHome::Recv { chan, op },
            }
        };
        let (node, home) = (p.node, pend.home);
        let what = match &pend.what {
            What::Send { seq, .. } => format!("value {seq}"),
            What::Recv => "recv".to_owned(),
        };
        let line = format!(
            "party {} on n{node}: {} ({}, {}) {what} ch{} at n{home}",
            p.key,
            match &msg {
                ToHome::Withdraw { .. } => "withdraw",
                _ => "op",
            },
            op.epoch,
            op.seq,
            pend.index
        );
        self.log(format_args!("{line}"));
        self.send_to_home(node, home, msg);
    }

    fn send_to_home(&mut self, node: NodeIx, home: NodeIx, msg: ToHome) {
        if node == home {
            let me = self.members[node].clone();
            self.home_handle(node, &me, msg);
        } else {
            self.send_app(node, home, Message::ToHome(msg));
        }
    }

    /// A connection from `node` to `peer` was (re)established: resend every operation in
    /// flight there. The home answers repeats from its log.
    pub(super) fn resend(&mut self, node: NodeIx, peer: NodeIx) {
        if self.cfg.sabotage == Sabotage::NoResend {
            return;
        }
        for i in 0..self.parties.len() {
            let p = &self.parties[i];
            let due = p.alive
                && p.node == node
                && p.pending
                    .as_ref()
                    .is_some_and(|d| d.home == peer && d.op.is_some());
            if due {
                self.stats.resends += 1;
                self.transmit_op(i);
            }
        }
    }

    /// `peer` restarted: the operations in flight there fail with `NodeDown`.
    pub(super) fn node_down(&mut self, node: NodeIx, peer: NodeIx) {
        for i in 0..self.parties.len() {
            let p = &self.parties[i];
            let hit = p.alive
                && p.node == node
                && p.pending
                    .as_ref()
                    .is_some_and(|d| d.home == peer && d.op.is_some());
            if !hit {
                continue;
            }
            self.stats.node_down += 1;
            let key = p.key;
            if let Some(Pending {
                what: What::Send { seq, .. },
                ..
            }) = &p.pending
            {
                let seq = *seq;
                self.record(Event::SendDone {
                    sender: key,
                    seq,
                    result: SendResult::NodeDown,
                });
            }
            self.log(format_args!("party {key}: NodeDown"));
            self.complete(i, false);
        }
    }

    /// An answer from a home reached `node`.
    pub(super) fn party_done(&mut self, node: NodeIx, op: OpId, outcome: Outcome) {
        let Some(i) = self.parties.iter().position(|p| {
            p.alive
                && p.node == node
                && p.id == op.party
                && p.pending.as_ref().is_some_and(|d| d.op == Some(op))
        }) else {
            self.stats.repeats += 1;
            if self.cfg.sabotage == Sabotage::TakeRepeats {
                self.take_repeat(node, op, outcome);
            }
            return;
        };
        let p = &self.parties[i];
        let Some(pend) = &p.pending else { return };
        let (key, home, chan, index, withdrawing) = (
            p.key,
            pend.home,
            pend.chan.clone(),
            pend.index,
            pend.withdrawing,
        );
        let impostor = matches!(p.role, Role::Impostor { .. });
        let sending = match pend.what {
            What::Send { seq, .. } => Some(seq),
            What::Recv => None,
        };
        let shown = match &outcome {
            Outcome::Received(v) => format!("Received({:?})", unpayload(&v.0)),
            o => format!("{o:?}"),
        };
        self.log(format_args!(
            "party {key} on n{node}: ({}, {}) -> {shown}",
            op.epoch, op.seq
        ));
        self.send_to_home(node, home, ToHome::Ack { chan, op });
        match (sending, outcome) {
            (Some(seq), Outcome::Sent) if !impostor => {
                self.record(Event::SendDone {
                    sender: key,
                    seq,
                    result: SendResult::Sent,
                });
                if !self.early.remove(&(key, seq)) {
                    self.awaiting.insert((key, seq));
                }
                self.complete(i, withdrawing);
            }
            (None, Outcome::Received(v)) => {
                match unpayload(&v.0) {
                    Some((sender, seq)) => {
                        self.stats.deliveries += 1;
                        self.last_delivery = self.now;
                        let epoch = self.parties[i].epoch;
                        self.record(Event::Deliver {
                            receiver: key,
                            chan: index,
                            sender,
                            seq,
                            node,
                            epoch,
                        });
                        if !self.awaiting.remove(&(sender, seq)) {
                            self.early.insert((sender, seq));
                        }
                    }
                    None => self.unexpected(format!("party {key} received garbage {v:?}")),
                }
                self.complete(i, withdrawing);
            }
            (
                _,
                Outcome::Withdrawn { .. }
                | Outcome::Rejected {
                    reason: Rejection::UnknownOp | Rejection::Overloaded,
                    ..
                },
            ) if withdrawing => {
                // Nothing pending at the home any more: issued again wherever the party
                // runs next.
                if let Some(pend) = &mut self.parties[i].pending {
                    pend.op = None;
                }
                self.relocate(i);
            }
            (
                _,
                Outcome::Rejected {
                    reason: Rejection::Overloaded,
                    ..
                },
            ) => {
                self.stats.overloaded += 1;
                let retry = self.now
                    + self
                        .rng
                        .duration(Duration::from_millis(20), Duration::from_millis(200));
                let p = &mut self.parties[i];
                if let Some(pend) = &mut p.pending {
                    pend.op = None;
                }
                p.wake = Some(retry);
            }
            (
                Some(seq),
                Outcome::Rejected {
                    reason: Rejection::Mismatch { .. },
                    ..
                },
            ) if impostor => {
                self.stats.mismatches += 1;
                self.record(Event::SendDone {
                    sender: key,
                    seq,
                    result: SendResult::Returned,
                });
                self.complete(i, false);
            }
            (sending, outcome) => {
                self.unexpected(format!("party {key}: {op:?} ended with {outcome:?}"));
                if let Some(seq) = sending {
                    self.record(Event::SendDone {
                        sender: key,
                        seq,
                        result: SendResult::Returned,
                    });
                }
                self.complete(i, false);
            }
        }
    }

    /// [`Sabotage::TakeRepeats`]: a repeated answer to a receive delivers its value again.
    fn take_repeat(&mut self, node: NodeIx, op: OpId, outcome: Outcome) {
        let Some(p) = self
            .parties
            .iter()
            .find(|p| p.alive && p.node == node && p.id == op.party)
        else {
            return;
        };
        let (Role::Receiver { chan }, Outcome::Received(v)) = (&p.role, outcome) else {
            return;
        };
        if let Some((sender, seq)) = unpayload(&v.0) {
            let (receiver, chan, epoch) = (p.key, *chan, p.epoch);
            self.record(Event::Deliver {
                receiver,
                chan,
                sender,
                seq,
                node,
                epoch,
            });
        }
    }

    /// The pending operation is over: move on (and move away, if it was being withdrawn: the
    /// party is frozen, its outcome rides in the snapshot).
    fn complete(&mut self, i: usize, then_move: bool) {
        let p = &mut self.parties[i];
        let then_move = then_move || p.pending.as_ref().is_some_and(|d| d.withdrawing);
        p.pending = None;
        match &mut p.role {
            Role::Sender { next, .. } => *next += 1,
            Role::Impostor { next, .. } => *next += 1,
            Role::Receiver { .. } => {}
        }
        if then_move {
            self.relocate(i);
        } else {
            let wake = self.now + self.think();
            self.parties[i].wake = Some(wake);
        }
    }

    /// The frozen party's pending operation is settled (withdrawn, or answered): offer it to
    /// another node (see `migration.rs`).
    fn relocate(&mut self, i: usize) {
        if let Some(pend) = &mut self.parties[i].pending {
            pend.op = None;
            pend.withdrawing = false;
            pend.withdraw_at = None;
        }
        self.start_move(i);
    }
}
