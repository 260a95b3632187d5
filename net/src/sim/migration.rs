//! Moving parties with the real migration protocol ([`Migrations`]): offers, held installs,
//! commits, refusals, and crashes at each phase of a move.
//!
//! Every node owns a [`Migrations`]. A party whose pending operation is settled (withdrawn,
//! or answered while it was being withdrawn) is frozen; its node encodes its state into a
//! snapshot and [`offer`](Migrations::offer)s it to another node. The snapshot is the only
//! way the party's state travels: the target builds its copy from the bytes alone. `Migrate`
//! messages travel as [`Message::Migrate`] frames on a stream chosen by the task (as the
//! mesh's `lane_of` does), so every message about one task between two nodes stays in order.
//!
//! The node acts on [`MoveEvent`]s as the runtime does: `Offered` → decode, check (refusals:
//! a type "not registered" at random, over capacity, a bad snapshot) and hold the copy,
//! not running, answering [`installed`](Migrations::installed) or
//! [`refuse`](Migrations::refuse); `Run` → the held copy starts running; `Drop` → it goes;
//! `Moved` → the frozen copy on the source goes; `Failed` → the frozen copy resumes.

use std::time::Duration;

use super::history::Event;
use super::net::{NodeIx, StreamId};
use super::party::{Party, Pending, Role, State, What};
use super::world::{payload, Fault, Sabotage, World};
use crate::proto::migrate::{Migrate, MoveEvent, MoveRefusal};
use crate::proto::{fnv1a, Message, NodeId, PartyId, Payload, TypeKey};

/// A point in a move at which a crash fault may strike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The source sent the `Offer` (the target may not have it yet).
    OfferSent,
    /// The target received the `Offer`, before it answered.
    Offered,
    /// The target installed the copy (held) and sent `Installed`.
    InstalledSent,
    /// The source learnt `Moved` and dropped its copy, before its `Commit` left.
    Moved,
    /// The target received the `Commit` and runs the party.
    Committed,
}

impl Phase {
    /// Every phase, in protocol order.
    pub const ALL: [Phase; 5] = [
        Phase::OfferSent,
        Phase::Offered,
        Phase::InstalledSent,
        Phase::Moved,
        Phase::Committed,
    ];
}

/// Which side of a move a [`PhaseFault`] crashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Victim {
    /// The node the party leaves.
    Source,
    /// The node the party goes to.
    Target,
}

/// Crash the source or the target of the `nth` move (counting from 0 over the run) that
/// reaches `phase`, there and then; restart it `restart_after` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseFault {
    /// When.
    pub phase: Phase,
    /// Which side.
    pub victim: Victim,
    /// Which move reaching the phase (0: the first).
    pub nth: u32,
    /// How long the victim stays down.
    pub restart_after: Duration,
}

/// The stream of a task's migration messages (all messages about one task share it).
fn stream_of_task(task: PartyId) -> StreamId {
    let h = fnv1a(&[task.origin.to_le_bytes(), task.seq.to_le_bytes()].concat());
    StreamId((h ^ (h >> 29) ^ (h >> 47)).max(1))
}

/// The snapshot of a frozen party: everything it needs to resume exactly (its key, its
/// role's progress, the operation it has to issue again). Nothing else of it travels.
pub(super) fn encode_snapshot(p: &Party) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend_from_slice(&p.key.to_le_bytes());
    let put = |b: &mut Vec<u8>, v: u64| b.extend_from_slice(&v.to_le_bytes());
    match &p.role {
        Role::Sender { chans, next } => {
            b.push(0);
            put(&mut b, chans.len() as u64);
            for c in chans {
                put(&mut b, *c as u64);
            }
            put(&mut b, *next as u64);
        }
        Role::Receiver { chan } => {
            b.push(1);
            put(&mut b, *chan as u64);
        }
        Role::Impostor { chan, count, next } => {
            b.push(2);
            put(&mut b, *chan as u64);
            put(&mut b, u64::from(*count));
            put(&mut b, u64::from(*next));
        }
    }
    match &p.pending {
        None => b.push(0),
        Some(d) => {
            b.push(1);
            put(&mut b, d.index as u64);
            match d.what {
                What::Send { seq, .. } => {
                    b.push(0);
                    put(&mut b, u64::from(seq));
                }
                What::Recv => b.push(1),
            }
        }
    }
    b
}

/// What a snapshot decodes to: the key, the role, and the pending operation as
/// (channel index, `Some(seq)` for a send).
type Decoded = (u64, Role, Option<(usize, Option<u32>)>);

/// Reads a snapshot.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let (b, rest) = self.0.split_first().ok_or("truncated")?;
        self.0 = rest;
        Ok(*b)
    }

    fn word(&mut self) -> Result<u64, String> {
        let (w, rest) = self.0.split_at_checked(8).ok_or("truncated")?;
        self.0 = rest;
        let w: [u8; 8] = w.try_into().map_err(|_| "truncated")?;
        Ok(u64::from_le_bytes(w))
    }

    fn small(&mut self) -> Result<u32, String> {
        let v = self.word()?;
        u32::try_from(v).map_err(|_| format!("{v} out of range"))
    }

    fn chan(&mut self, channels: usize) -> Result<usize, String> {
        let c = self.word()?;
        usize::try_from(c)
            .ok()
            .filter(|c| *c < channels)
            .ok_or_else(|| format!("no channel {c}"))
    }
}

fn decode_snapshot(bytes: &[u8], channels: usize) -> Result<Decoded, String> {
    let mut r = Reader(bytes);
    if r.byte()? != 1 {
        return Err("unknown snapshot version".into());
    }
    let key = r.word()?;
    let role = match r.byte()? {
        0 => {
            let n = r.word()?;
            if n > 1 << 16 {
                return Err(format!("{n} messages"));
            }
            let chans = (0..n)
                .map(|_| r.chan(channels))
                .collect::<Result<Vec<_>, _>>()?;
            let next = r.small()? as usize;
            Role::Sender { chans, next }
        }
        1 => Role::Receiver {
            chan: r.chan(channels)?,
        },
        2 => Role::Impostor {
            chan: r.chan(channels)?,
            count: r.small()?,
            next: r.small()?,
        },
        t => return Err(format!("unknown role {t}")),
    };
    let pending = match r.byte()? {
        0 => None,
        1 => {
            let index = r.chan(channels)?;
            match r.byte()? {
                0 => Some((index, Some(r.small()?))),
                1 => Some((index, None)),
                t => return Err(format!("unknown operation {t}")),
            }
        }
        t => return Err(format!("unknown pending tag {t}")),
    };
    if !r.0.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok((key, role, pending))
}

impl World {
    /// The frozen party `i` offers itself to another node.
    pub(super) fn start_move(&mut self, i: usize) {
        let n = self.nodes.len();
        let from = self.parties[i].node;
        if n < 2 {
            self.resume(i);
            return;
        }
        let to = (from + 1 + self.rng.index(n - 1)) % n;
        let p = &mut self.parties[i];
        p.state = State::Frozen;
        p.wake = None;
        let (key, task, epoch, home) = (p.key, p.id, p.epoch + 1, p.home);
        let snapshot = Payload(encode_snapshot(p));
        let (home, target) = (self.members[home].clone(), self.members[to].clone());
        if let Err(e) = self.nodes[from]
            .migr
            .offer(task, epoch, home, target, snapshot)
        {
            self.unexpected(format!("party {key} on n{from}: offer refused: {e:?}"));
            self.resume(i);
            return;
        }
        self.stats.moves_started += 1;
        self.record(Event::MoveStart {
            party: key,
            from,
            to,
            epoch,
        });
        self.log(format_args!(
            "party {key} offered n{from} -> n{to} (epoch {epoch})"
        ));
        self.pump_migrations(from);
        self.phase(Phase::OfferSent, task, from, to);
    }

    /// A frozen copy runs again where it is.
    fn resume(&mut self, i: usize) {
        let wake = self.now
            + self
                .rng
                .duration(Duration::from_millis(1), Duration::from_millis(50));
        let p = &mut self.parties[i];
        p.state = State::Running;
        p.wake = Some(wake);
        let (party, node, epoch) = (p.key, p.node, p.epoch);
        self.record(Event::Run { party, node, epoch });
    }

    /// Sends what `node`'s migration bookkeeping has to send and acts on its events, until
    /// it has nothing left (or the node crashed on the way).
    pub(super) fn pump_migrations(&mut self, node: NodeIx) {
        loop {
            if !self.nodes[node].up {
                return;
            }
            if let Some(ev) = self.nodes[node].migr.poll_event() {
                self.on_move_event(node, ev);
                continue;
            }
            if !self.flush_migrations(node) {
                return;
            }
        }
    }

    /// As [`pump_migrations`](World::pump_migrations), after calls that walk the
    /// bookkeeping's hash maps (`reconnected`, `peer_down`): what they queued is taken in a
    /// canonical order, so that a seed replays the same run.
    pub(super) fn pump_migrations_sorted(&mut self, node: NodeIx) {
        let migr = &mut self.nodes[node].migr;
        let mut tx: Vec<(NodeId, Migrate)> = std::iter::from_fn(|| migr.poll_transmit()).collect();
        let mut evs: Vec<MoveEvent> = std::iter::from_fn(|| migr.poll_event()).collect();
        tx.sort_by_key(|(to, m)| (to.clone(), m.task(), m.kind()));
        evs.sort_by_cached_key(|e| format!("{e:?}"));
        for e in evs {
            if !self.nodes[node].up {
                return;
            }
            self.on_move_event(node, e);
        }
        for (to, m) in tx {
            if !self.nodes[node].up {
                return;
            }
            self.send_migrate(node, to, m);
        }
        self.pump_migrations(node);
    }

    /// Sends every queued `Migrate` message of `node`; whether there was any.
    fn flush_migrations(&mut self, node: NodeIx) -> bool {
        let mut any = false;
        while self.nodes[node].up {
            let Some((to, msg)) = self.nodes[node].migr.poll_transmit() else {
                break;
            };
            any = true;
            self.send_migrate(node, to, msg);
        }
        any
    }

    fn send_migrate(&mut self, node: NodeIx, to: NodeId, msg: Migrate) {
        let Some(peer) = self.members.iter().position(|m| *m == to) else {
            self.unexpected(format!("n{node}: {} for unknown {to}", msg.kind()));
            return;
        };
        self.log(format_args!("n{node} -> n{peer}: {}", show(&msg)));
        if peer == node {
            let me = self.members[node].clone();
            if let Err(e) = self.nodes[node].migr.handle(&me, msg) {
                self.unexpected(format!("n{node}: {} out of place from itself", e.kind));
            }
        } else {
            let stream = stream_of_task(msg.task());
            self.send_on(node, peer, stream, Message::Migrate(msg));
        }
    }

    /// A `Migrate` frame arrived at `node` from `peer`.
    pub(super) fn migrate_in(&mut self, node: NodeIx, peer: NodeIx, msg: Migrate) {
        self.log(format_args!("n{node} <- n{peer}: {}", show(&msg)));
        let from = self.members[peer].clone();
        if let Err(e) = self.nodes[node].migr.handle(&from, msg) {
            self.unexpected(format!("n{node}: {} out of place from n{peer}", e.kind));
        }
        self.pump_migrations(node);
    }

    fn copy_of(&self, node: NodeIx, task: PartyId, held: bool) -> Option<usize> {
        self.parties.iter().position(|p| {
            p.alive
                && p.node == node
                && p.id == task
                && matches!(p.state, State::Held { .. }) == held
                && (held || p.state == State::Frozen)
        })
    }

    fn on_move_event(&mut self, node: NodeIx, ev: MoveEvent) {
        match ev {
            MoveEvent::Offered {
                task,
                epoch,
                home,
                from,
                snapshot,
            } => {
                let from = self.members.iter().position(|m| *m == from);
                let home = self.members.iter().position(|m| *m == home);
                let (Some(from), Some(home)) = (from, home) else {
                    self.unexpected(format!("n{node}: offer of {task:?} from a stranger"));
                    return;
                };
                if self.phase(Phase::Offered, task, from, node) == Some(node) {
                    return;
                }
                self.offered(node, from, home, task, epoch, &snapshot.0);
            }
            MoveEvent::Run { task, epoch } => {
                let Some(i) = self.copy_of(node, task, true) else {
                    if self.cfg.sabotage != Sabotage::RunBeforeCommit {
                        self.unexpected(format!("n{node}: Run of {task:?}, which is not held"));
                    }
                    return;
                };
                let p = &mut self.parties[i];
                let State::Held { from } = p.state else {
                    return;
                };
                if p.epoch != epoch {
                    let key = p.key;
                    self.unexpected(format!("n{node}: Run of party {key} at epoch {epoch}"));
                    return;
                }
                self.parties[i].state = State::Running;
                self.resume(i);
                let key = self.parties[i].key;
                self.log(format_args!("party {key} runs on n{node} (epoch {epoch})"));
                self.flush_migrations(node);
                self.phase(Phase::Committed, task, from, node);
            }
            MoveEvent::Drop { task, epoch } => {
                let Some(i) = self.copy_of(node, task, true) else {
                    self.unexpected(format!("n{node}: Drop of {task:?}, which is not held"));
                    return;
                };
                let key = self.parties[i].key;
                self.stats.held_dropped += 1;
                self.record(Event::HeldDrop {
                    party: key,
                    node,
                    epoch,
                });
                self.log(format_args!("party {key}: held copy dropped on n{node}"));
                self.copy_gone(i);
            }
            MoveEvent::Moved { task, epoch, to } => {
                let Some(i) = self.copy_of(node, task, false) else {
                    self.unexpected(format!("n{node}: Moved of {task:?}, which is not frozen"));
                    return;
                };
                let to = self.members.iter().position(|m| *m == to).unwrap_or(node);
                let key = self.parties[i].key;
                self.stats.moves += 1;
                self.record(Event::MoveCommit {
                    party: key,
                    from: node,
                    to,
                    epoch,
                });
                self.log(format_args!("party {key} moved n{node} -> n{to}"));
                self.copy_gone(i);
                self.phase(Phase::Moved, task, node, to);
            }
            MoveEvent::Failed {
                task,
                epoch,
                reason,
            } => {
                let Some(i) = self.copy_of(node, task, false) else {
                    self.unexpected(format!("n{node}: Failed of {task:?}, which is not frozen"));
                    return;
                };
                let key = self.parties[i].key;
                self.stats.moves_failed += 1;
                self.record(Event::MoveAbort {
                    party: key,
                    node,
                    epoch,
                });
                self.log(format_args!(
                    "party {key}: move failed ({reason:?}), resumes on n{node}"
                ));
                self.resume(i);
            }
            MoveEvent::Located { .. } | MoveEvent::Ended { .. } | MoveEvent::Reply { .. } => {}
            MoveEvent::Control { .. } => {
                self.unexpected(format!("n{node}: a control message nobody sent"));
            }
        }
    }

    /// The target checks an offered snapshot and holds the party, or refuses it.
    fn offered(
        &mut self,
        node: NodeIx,
        from: NodeIx,
        home: NodeIx,
        task: PartyId,
        epoch: u64,
        snapshot: &[u8],
    ) {
        let here = self
            .parties
            .iter()
            .filter(|p| p.alive && p.node == node)
            .count();
        let refusal = if here >= self.cfg.capacity {
            Some(MoveRefusal::OverCapacity {
                limit: self.cfg.capacity as u64,
            })
        } else if self.rng.chance(self.cfg.refuse) {
            Some(MoveRefusal::UnknownType {
                key: "sim::Party".into(),
            })
        } else {
            None
        };
        let decoded = decode_snapshot(snapshot, self.chans.len());
        let refusal = match (&decoded, refusal) {
            (Err(detail), _) => Some(MoveRefusal::Snapshot {
                detail: detail.clone(),
            }),
            (_, r) => r,
        };
        if let Some(reason) = refusal {
            self.stats.refused += 1;
            self.log(format_args!("n{node} refuses {task:?}: {reason:?}"));
            self.nodes[node].migr.refuse(task, epoch, reason);
            return;
        }
        let Ok((key, role, pending)) = decoded else {
            return;
        };
        let impostor = matches!(role, Role::Impostor { .. });
        let pending = pending.map(|(index, send)| {
            let (mut chan, home) = self.chans[index].clone();
            if impostor {
                chan.ty = TypeKey(chan.ty.0 ^ 1);
            }
            Pending {
                chan,
                index,
                home,
                what: match send {
                    Some(seq) => What::Send {
                        seq,
                        value: Payload(payload(key, seq)),
                    },
                    None => What::Recv,
                },
                op: None,
                withdraw_at: None,
                withdrawing: false,
            }
        });
        let i = self.parties.len();
        self.parties.push(Party {
            key,
            id: task,
            role,
            node,
            home,
            epoch,
            seq: 0,
            alive: true,
            state: State::Held { from },
            wake: None,
            pending,
        });
        self.record(Event::Held {
            party: key,
            node,
            epoch,
        });
        self.log(format_args!("n{node} holds party {key} (epoch {epoch})"));
        if self.cfg.sabotage == Sabotage::RunBeforeCommit {
            self.parties[i].state = State::Running;
            self.resume(i);
        }
        self.nodes[node].migr.installed(task, epoch);
        self.flush_migrations(node);
        self.phase(Phase::InstalledSent, task, from, node);
    }

    /// A move from `source` to `target` reached `phase`: fire the phase fault that waits for
    /// it, if any. Returns the node that crashed.
    fn phase(
        &mut self,
        phase: Phase,
        task: PartyId,
        source: NodeIx,
        target: NodeIx,
    ) -> Option<NodeIx> {
        let k = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
        let nth = self.phase_hits[k];
        self.phase_hits[k] += 1;
        let f = self
            .phase_faults
            .iter()
            .position(|f| f.phase == phase && f.nth == nth)?;
        let f = self.phase_faults.remove(f);
        let node = match f.victim {
            Victim::Source => source,
            Victim::Target => target,
        };
        if !self.nodes[node].up {
            return None;
        }
        self.log(format_args!(
            "phase fault: {phase:?} of move n{source} -> n{target}: crash n{node}"
        ));
        self.stats.phase_crashes += 1;
        // A party's key is the number its id was made with.
        self.record(Event::PhaseCrash {
            phase,
            party: task.seq,
            source,
            target,
            node,
        });
        self.fault(Fault::Crash { node });
        self.schedule(self.now + f.restart_after, Fault::Restart { node });
        Some(node)
    }
}

/// A `Migrate` message for the trace (without the snapshot's bytes).
fn show(m: &Migrate) -> String {
    match m {
        Migrate::Offer {
            task, epoch, home, ..
        } => format!("Offer {{ {task:?}, epoch {epoch}, home {home} }}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_round_trip_and_garbage_is_refused() {
        let roles = [
            Role::Sender {
                chans: vec![0, 1, 1],
                next: 2,
            },
            Role::Receiver { chan: 1 },
            Role::Impostor {
                chan: 0,
                count: 3,
                next: 1,
            },
        ];
        for role in roles {
            let p = Party {
                key: 9,
                id: PartyId { origin: 1, seq: 9 },
                role: role.clone(),
                node: 0,
                home: 0,
                epoch: 3,
                seq: 4,
                alive: true,
                state: State::Frozen,
                wake: None,
                pending: None,
            };
            let b = encode_snapshot(&p);
            assert_eq!(decode_snapshot(&b, 2), Ok((9, role, None)));
            for cut in 0..b.len() {
                assert!(decode_snapshot(&b[..cut], 2).is_err());
            }
            let mut long = b.clone();
            long.push(0);
            assert!(decode_snapshot(&long, 2).is_err());
            // A channel the target does not have.
            assert!(decode_snapshot(&b, 0).is_err());
        }
    }
}
