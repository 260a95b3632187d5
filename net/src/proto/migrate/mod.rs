//! The migration protocol: moving a suspended task from one node to another without losing or
//! duplicating it, and finding it afterwards.
//!
//! Sans-IO like the rest of [`proto`](super): [`Migrations`] is one node's bookkeeping. The
//! runtime (or the simulation) feeds it what arrives ([`Migrations::handle`]) and what its
//! tasks do ([`Migrations::offer`], [`Migrations::installed`], [`Migrations::ended`], …), and
//! takes out messages to send ([`Migrations::poll_transmit`]) and events to act on
//! ([`Migrations::poll_event`]). Snapshots are opaque bytes here; checking them (type,
//! code fingerprint, size) is the runtime's.
//!
//! # Names
//!
//! - A task is a [`PartyId`] (the id it keeps across moves). Its **home** is the node that
//!   spawned it: the node that holds its join handle and its **ownership record**
//!   `(task, epoch, node)`.
//! - Its **epoch** counts its moves. Every offer carries the epoch the task will have on the
//!   target (`epoch + 1`); channel operations carry the epoch too, so a channel's home
//!   refuses an operation of an older incarnation
//!   ([`Rejection::Stale`](super::Rejection::Stale)).
//!
//! # A move
//!
//! ```text
//! source S                                      target T
//!  freeze the task at its suspension point;
//!  withdraw its pending channel request at the
//!  channel's home (withdrawn, or the outcome
//!  rides in the snapshot); flush credit streams
//!  |-- Offer { task, epoch, home, snapshot } -->|  decode and check the snapshot: type
//!  |                                            |  registered, code fingerprint, size, room
//!  |<-- Refused { task, epoch, reason } --------|  … and say no: S resumes the task
//!  |<-- Installed { task, epoch } --------------|  … or hold it, installed but not running
//!  drop the copy; forwarding pointer T@epoch
//!  |-- Commit { task, epoch } ----------------->|  run it
//!  |<-- Committed { task, epoch } --------------|
//!  |-- Owner { task, epoch, node: T } ------------------------------> home (unless S is it)
//! ```
//!
//! **One live incarnation.** The target never runs a task before `Commit`, and the source
//! sends `Commit` only after it dropped its copy, which it does only on `Installed`. Between
//! the two, the task exists twice but runs nowhere. So at every moment at most one node runs
//! it, whatever is lost, delayed or repeated.
//!
//! **A failed move loses nothing.** `Refused` — type not registered, fingerprint mismatch
//! (version skew), snapshot too large or malformed, target at capacity, shutting down, an
//! epoch older than one the target knows — resumes the task on the source. So does the
//! target being declared down (its connection idle past the failure detector's timeout and
//! the grace period, or a restart) before `Installed`: the failure detector is the move's
//! timeout. The held copy on the target is dropped when the source is declared down before
//! `Commit`.
//!
//! **Repeats.** A connection that drops and comes back to the same incarnation (within the
//! grace period) may have lost messages in flight: on [`Migrations::reconnected`] the source
//! resends `Offer` and `Commit` of its unfinished moves, and every node resends `Owner` and
//! `Ended` not yet acknowledged. The target answers a repeated `Offer` of a task it holds or
//! runs at that epoch with `Installed` again and a repeated `Commit` with `Committed`; the
//! home keeps the newest `Owner` and the first `Ended`.
//!
//! **Crashes.** A crash is at most once, as for channel values: a source that crashes after
//! `Installed` and before `Commit` leaves the held copy to be dropped (the task is lost); a
//! target that crashes after `Installed` loses the task the source has let go. The task is
//! never run twice.
//!
//! # Finding a task afterwards
//!
//! ```text
//! node X (runs task, epoch e)                     home H (join handle, ownership record)
//!  |-- Ended { task, epoch, outcome } ---------->|  complete the join (first one wins)
//!  |<-- EndedAck { task } -----------------------|
//! any node A                                     believed location L
//!  |-- Control { task, req, from: A, hops, cmd } ->|  here: act, answer A
//!  |                                               |  gone: follow the forwarding pointer
//!  |<-- ControlReply { task, req, reply } ----------|  (hops + 1, at most HOP_LIMIT)
//! ```
//!
//! - Each node that lets a task go keeps a **forwarding pointer** `(task → node, epoch)`.
//!   A control message (move it, where is it) sent to a stale location follows the pointers;
//!   after [`HOP_LIMIT`] hops, or at a node that knows nothing of the task, it is answered
//!   [`ControlReply::NotFound`] and the asker may retry at the home. A control message that
//!   reaches a node while the task is leaving it waits for the move to end, then follows or
//!   is handled there. Pointers are bounded ([`MigrateConfig::max_pointers`], oldest first
//!   out) and a task's pointer goes when it comes back.
//! - The home learns every new location from `Owner`; an `Owner` older than the record is
//!   ignored.
//!
//! # Bounds
//!
//! A node holds at most [`MigrateConfig::max_incoming`] offers at once (more are refused
//! with [`MoveRefusal::Busy`]); the snapshot inside an `Offer` is bounded by the frame limit
//! and then by the runtime's snapshot limit; pointers are bounded; `Ended` messages waiting
//! for their acknowledgement are bounded by the number of tasks that left their home.

use std::collections::{HashMap, VecDeque};

use super::ids::{NodeId, PartyId, Payload};

mod messages;

pub use messages::{Command, ControlReply, Migrate, MoveRefusal, HOP_LIMIT};

/// Limits of a node's migration bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateConfig {
    /// Offers held at once (installed, waiting for their commit). Default 1024.
    pub max_incoming: usize,
    /// Forwarding pointers kept (oldest dropped first). Default 65,536.
    pub max_pointers: usize,
}

impl Default for MigrateConfig {
    fn default() -> Self {
        MigrateConfig {
            max_incoming: 1024,
            max_pointers: 1 << 16,
        }
    }
}

/// What the node must do about the migration protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoveEvent {
    /// Target: check `snapshot` and answer with [`Migrations::installed`] (holding the task,
    /// not running it) or [`Migrations::refuse`].
    Offered {
        /// The task.
        task: PartyId,
        /// Its epoch here.
        epoch: u64,
        /// Its home.
        home: NodeId,
        /// Who offers it.
        from: NodeId,
        /// The snapshot.
        snapshot: Payload,
    },
    /// Target: the source let go: run the held task.
    Run {
        /// The task.
        task: PartyId,
        /// Its epoch.
        epoch: u64,
    },
    /// Target: the source went down before it let go: drop the held task (the source ran it
    /// again, or crashed with it).
    Drop {
        /// The task.
        task: PartyId,
        /// Its epoch.
        epoch: u64,
    },
    /// Source: the target holds the task: the move succeeded (drop the frozen copy).
    Moved {
        /// The task.
        task: PartyId,
        /// Its new epoch.
        epoch: u64,
        /// Where it went.
        to: NodeId,
    },
    /// Source: the move failed: resume the task here.
    Failed {
        /// The task.
        task: PartyId,
        /// The epoch that was offered.
        epoch: u64,
        /// Why.
        reason: MoveRefusal,
    },
    /// Home: the task now runs on `node`.
    Located {
        /// The task.
        task: PartyId,
        /// Its epoch there.
        epoch: u64,
        /// Where.
        node: NodeId,
    },
    /// Home: the task ended elsewhere with this outcome (delivered once).
    Ended {
        /// The task.
        task: PartyId,
        /// The outcome, as the runtime encoded it.
        outcome: Payload,
    },
    /// A command for a task this node has no pointer for: act if it runs here and answer
    /// with [`Migrations::reply`] (or [`ControlReply::NotFound`]).
    Control {
        /// The task.
        task: PartyId,
        /// The asker's number.
        req: u64,
        /// The asker.
        from: NodeId,
        /// What to do.
        cmd: Command,
    },
    /// The answer to a control message this node sent ([`Migrations::control`]).
    Reply {
        /// The task.
        task: PartyId,
        /// This node's number for it.
        req: u64,
        /// The answer.
        reply: ControlReply,
    },
}

/// A protocol rule a peer broke (a message out of place). Counted; the message is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unexpected {
    /// The message's kind.
    pub kind: &'static str,
    /// Who sent it.
    pub from: NodeId,
}

/// A move this node started, as the source.
#[derive(Debug)]
struct Outgoing {
    target: NodeId,
    epoch: u64,
    home: NodeId,
    snapshot: Payload,
    /// Control messages that arrived while the task was leaving.
    parked: Vec<ParkedControl>,
}

#[derive(Debug)]
struct ParkedControl {
    req: u64,
    from: NodeId,
    hops: u8,
    cmd: Command,
}

/// An offer this node holds, as the target.
#[derive(Debug)]
struct Incoming {
    source: NodeId,
    epoch: u64,
    /// The runtime installed it and `Installed` was sent (a repeated offer repeats it).
    answered: bool,
}

/// Counters, for stats and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MigrateStats {
    /// Moves this node started.
    pub offered: u64,
    /// Moves from this node that succeeded.
    pub moved: u64,
    /// Moves from this node that failed (refused or unreachable).
    pub failed: u64,
    /// Tasks that arrived and ran here.
    pub arrived: u64,
    /// Held tasks dropped because their source went down.
    pub dropped: u64,
    /// Control messages forwarded along a pointer.
    pub forwarded: u64,
    /// Messages out of place (ignored).
    pub unexpected: u64,
}

/// One node's migration bookkeeping. See the [module docs](self).
#[derive(Debug)]
pub struct Migrations {
    me: NodeId,
    config: MigrateConfig,
    /// Moves started here, by task.
    outgoing: HashMap<PartyId, Outgoing>,
    /// Moves that succeeded whose `Commit` is not yet acknowledged: task → (target, epoch).
    committing: HashMap<PartyId, (NodeId, u64)>,
    /// Offers held here, by task.
    incoming: HashMap<PartyId, Incoming>,
    /// The newest epoch at which a task was installed here (answers repeated offers and
    /// commits, refuses stale ones). Bounded with the pointers.
    arrived: HashMap<PartyId, u64>,
    /// Forwarding pointers: task → (node, epoch), and their age order.
    pointers: HashMap<PartyId, (NodeId, u64)>,
    pointer_age: VecDeque<(PartyId, u64)>,
    /// Ownership records of tasks homed here that left: task → (node, epoch).
    owners: HashMap<PartyId, (NodeId, u64)>,
    /// `Owner` messages not known to have arrived: task → (home, epoch, node). Only the
    /// newest per task matters.
    owner_out: HashMap<PartyId, (NodeId, u64, NodeId)>,
    /// Tasks homed here whose `Ended` arrived (bounded like the pointers), so that a repeat
    /// or a late `Owner` is recognised.
    ended: HashMap<PartyId, u64>,
    ended_age: VecDeque<PartyId>,
    /// `Ended` messages waiting for their `EndedAck`: task → (home, epoch, outcome).
    ended_out: HashMap<PartyId, (NodeId, u64, Payload)>,
    /// Control messages this node sent and awaits answers to: req → task.
    next_req: u64,
    transmit: VecDeque<(NodeId, Migrate)>,
    events: VecDeque<MoveEvent>,
    stats: MigrateStats,
}

impl Migrations {
    /// Empty bookkeeping for node `me`.
    pub fn new(me: NodeId, config: MigrateConfig) -> Migrations {
        Migrations {
            me,
            config,
            outgoing: HashMap::new(),
            committing: HashMap::new(),
            incoming: HashMap::new(),
            arrived: HashMap::new(),
            pointers: HashMap::new(),
            pointer_age: VecDeque::new(),
            owners: HashMap::new(),
            owner_out: HashMap::new(),
            ended: HashMap::new(),
            ended_age: VecDeque::new(),
            ended_out: HashMap::new(),
            next_req: 1,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            stats: MigrateStats::default(),
        }
    }

    /// This node.
    pub fn me(&self) -> &NodeId {
        &self.me
    }

    /// The counters.
    pub fn stats(&self) -> MigrateStats {
        self.stats
    }

    /// The next message to send, and to whom.
    pub fn poll_transmit(&mut self) -> Option<(NodeId, Migrate)> {
        self.transmit.pop_front()
    }

    /// The next event to act on.
    pub fn poll_event(&mut self) -> Option<MoveEvent> {
        self.events.pop_front()
    }

    /// Whether nothing waits to be sent or acted on.
    pub fn is_quiet(&self) -> bool {
        self.transmit.is_empty() && self.events.is_empty()
    }

    /// Whether `task` is leaving this node (offered, not yet answered).
    pub fn is_leaving(&self, task: PartyId) -> bool {
        self.outgoing.contains_key(&task)
    }

    /// The ownership record of a task homed here that left: where it runs and at which epoch.
    pub fn owner(&self, task: PartyId) -> Option<(&NodeId, u64)> {
        self.owners
            .get(&task)
            .filter(|(n, _)| n != &self.me)
            .map(|(n, e)| (n, *e))
    }

    /// Where this node last sent `task`, if it has a pointer.
    pub fn pointer(&self, task: PartyId) -> Option<(&NodeId, u64)> {
        self.pointers.get(&task).map(|(n, e)| (n, *e))
    }

    // ---- source ------------------------------------------------------------------------------

    /// Starts moving the frozen `task` to `target`, where it will have `epoch`.
    ///
    /// # Errors
    /// [`MoveRefusal::Busy`] if the task is already leaving.
    pub fn offer(
        &mut self,
        task: PartyId,
        epoch: u64,
        home: NodeId,
        target: NodeId,
        snapshot: Payload,
    ) -> Result<(), MoveRefusal> {
        if self.outgoing.contains_key(&task) {
            return Err(MoveRefusal::Busy);
        }
        self.stats.offered += 1;
        self.transmit.push_back((
            target.clone(),
            Migrate::Offer {
                task,
                epoch,
                home: home.clone(),
                snapshot: snapshot.clone(),
            },
        ));
        self.outgoing.insert(
            task,
            Outgoing {
                target,
                epoch,
                home,
                snapshot,
                parked: Vec::new(),
            },
        );
        Ok(())
    }

    fn on_answer(
        &mut self,
        from: &NodeId,
        task: PartyId,
        epoch: u64,
        refusal: Option<MoveRefusal>,
    ) {
        let matches = self
            .outgoing
            .get(&task)
            .is_some_and(|o| &o.target == from && o.epoch == epoch);
        if !matches {
            // A repeated answer to a move already decided: `Installed` again means the
            // commit may have been lost with a connection; resend it.
            if refusal.is_none() && self.committing.get(&task) == Some(&(from.clone(), epoch)) {
                self.transmit
                    .push_back((from.clone(), Migrate::Commit { task, epoch }));
            }
            return;
        }
        let Some(out) = self.outgoing.remove(&task) else {
            return;
        };
        match refusal {
            Some(reason) => {
                self.stats.failed += 1;
                self.events.push_back(MoveEvent::Failed {
                    task,
                    epoch,
                    reason,
                });
                self.replay_parked(task, out.parked, None);
            }
            None => {
                self.stats.moved += 1;
                self.arrived.remove(&task);
                self.set_pointer(task, out.target.clone(), epoch);
                self.committing.insert(task, (out.target.clone(), epoch));
                self.transmit
                    .push_back((out.target.clone(), Migrate::Commit { task, epoch }));
                self.record_owner(task, &out.home, epoch, out.target.clone());
                self.events.push_back(MoveEvent::Moved {
                    task,
                    epoch,
                    to: out.target.clone(),
                });
                self.replay_parked(task, out.parked, Some(out.target));
            }
        }
    }

    /// Control messages parked while the task was leaving: forward them to where it went, or
    /// hand them to the runtime if it stayed.
    fn replay_parked(&mut self, task: PartyId, parked: Vec<ParkedControl>, to: Option<NodeId>) {
        for p in parked {
            match &to {
                Some(node) => self.forward(node.clone(), task, p.req, p.from, p.hops, p.cmd),
                None => self.events.push_back(MoveEvent::Control {
                    task,
                    req: p.req,
                    from: p.from,
                    cmd: p.cmd,
                }),
            }
        }
    }

    /// Records that `task` (homed at `home`) now runs on `node` at `epoch`: in this node's
    /// own records if it is the home, else in an `Owner` message to the home.
    fn record_owner(&mut self, task: PartyId, home: &NodeId, epoch: u64, node: NodeId) {
        if home == &self.me {
            // The runtime learns it from `Moved`.
            self.owners.insert(task, (node, epoch));
        } else {
            self.owner_out
                .insert(task, (home.clone(), epoch, node.clone()));
            self.transmit
                .push_back((home.clone(), Migrate::Owner { task, epoch, node }));
        }
    }

    fn on_owner(&mut self, task: PartyId, epoch: u64, node: NodeId) {
        if self.ended.contains_key(&task) {
            // The task ended; this record of an earlier move came late.
            return;
        }
        let newer = self.owners.get(&task).is_none_or(|(_, e)| *e < epoch);
        if !newer {
            return;
        }
        // A record saying "here" is kept (with its epoch) so that a late `Owner` of an
        // earlier move cannot overwrite it.
        self.owners.insert(task, (node.clone(), epoch));
        self.events
            .push_back(MoveEvent::Located { task, epoch, node });
    }

    // ---- target ------------------------------------------------------------------------------

    /// The runtime checked and installed the offered task, held (not running).
    pub fn installed(&mut self, task: PartyId, epoch: u64) {
        let Some(inc) = self.incoming.get_mut(&task) else {
            return;
        };
        if inc.epoch != epoch {
            return;
        }
        inc.answered = true;
        let source = inc.source.clone();
        self.transmit
            .push_back((source, Migrate::Installed { task, epoch }));
    }

    /// The runtime refused the offered task.
    pub fn refuse(&mut self, task: PartyId, epoch: u64, reason: MoveRefusal) {
        let Some(inc) = self.incoming.get(&task) else {
            return;
        };
        if inc.epoch != epoch {
            return;
        }
        let Some(inc) = self.incoming.remove(&task) else {
            return;
        };
        self.transmit.push_back((
            inc.source,
            Migrate::Refused {
                task,
                epoch,
                reason,
            },
        ));
    }

    fn on_offer(
        &mut self,
        from: &NodeId,
        task: PartyId,
        epoch: u64,
        home: NodeId,
        snapshot: Payload,
    ) {
        let refuse = |this: &mut Self, reason| {
            this.transmit.push_back((
                from.clone(),
                Migrate::Refused {
                    task,
                    epoch,
                    reason,
                },
            ));
        };
        if let Some(inc) = self.incoming.get(&task) {
            if inc.epoch == epoch && &inc.source == from {
                // A repeat: the runtime is still checking it (it answers when done), or
                // holds it and answered `Installed`, which may have been lost.
                if inc.answered {
                    self.transmit
                        .push_back((from.clone(), Migrate::Installed { task, epoch }));
                }
                return;
            }
            return refuse(self, MoveRefusal::Busy);
        }
        let known = self
            .arrived
            .get(&task)
            .copied()
            .max(self.pointers.get(&task).map(|(_, e)| *e));
        if let Some(current) = known {
            if current == epoch && self.arrived.get(&task) == Some(&epoch) {
                // Installed and committed here already: the answer was lost.
                self.transmit
                    .push_back((from.clone(), Migrate::Installed { task, epoch }));
                return;
            }
            if current >= epoch {
                return refuse(self, MoveRefusal::Stale { current });
            }
        }
        if self.outgoing.contains_key(&task) {
            return refuse(self, MoveRefusal::Busy);
        }
        if self.incoming.len() >= self.config.max_incoming {
            return refuse(self, MoveRefusal::Busy);
        }
        self.incoming.insert(
            task,
            Incoming {
                source: from.clone(),
                epoch,
                answered: false,
            },
        );
        self.events.push_back(MoveEvent::Offered {
            task,
            epoch,
            home,
            from: from.clone(),
            snapshot,
        });
    }

    fn on_commit(&mut self, from: &NodeId, task: PartyId, epoch: u64) -> Result<(), &'static str> {
        let held = self
            .incoming
            .get(&task)
            .is_some_and(|i| &i.source == from && i.epoch == epoch);
        if held {
            self.incoming.remove(&task);
            self.arrived.insert(task, epoch);
            // It is here now: a pointer from an earlier visit is stale, and if it is homed
            // here, its record says so.
            self.pointers.remove(&task);
            if let Some(record) = self.owners.get_mut(&task) {
                if record.1 < epoch {
                    *record = (self.me.clone(), epoch);
                }
            }
            self.stats.arrived += 1;
            self.events.push_back(MoveEvent::Run { task, epoch });
        } else if self.arrived.get(&task) != Some(&epoch) {
            // Neither held nor run here at that epoch. A repeat whose `Committed` was lost
            // with a connection, for a task that ran here and has moved on since (this node
            // knows it at a newer epoch: a pointer, or it came back, or is coming back), is
            // acknowledged: else the source resends it after every reconnect for ever.
            // Anything else is out of place, and acknowledged all the same (nothing runs),
            // so that it stops.
            self.transmit
                .push_back((from.clone(), Migrate::Committed { task, epoch }));
            let newer = |e: Option<u64>| e.is_some_and(|e| e > epoch);
            let moved_on = newer(self.pointers.get(&task).map(|(_, e)| *e))
                || newer(self.arrived.get(&task).copied())
                || newer(self.incoming.get(&task).map(|i| i.epoch));
            return if moved_on {
                Ok(())
            } else {
                Err("Migrate::Commit")
            };
        }
        self.transmit
            .push_back((from.clone(), Migrate::Committed { task, epoch }));
        Ok(())
    }

    // ---- join and control --------------------------------------------------------------------

    /// `task`, homed at `home`, ended here at `epoch`; `outcome` goes to the home (when the
    /// home is this node the runtime completes the join itself and does not call this).
    pub fn ended(&mut self, task: PartyId, epoch: u64, home: NodeId, outcome: Payload) {
        self.arrived.remove(&task);
        self.ended_out
            .insert(task, (home.clone(), epoch, outcome.clone()));
        self.transmit.push_back((
            home,
            Migrate::Ended {
                task,
                epoch,
                outcome,
            },
        ));
    }

    /// A task homed here ended (here): forget its record.
    pub fn forget(&mut self, task: PartyId, epoch: u64) {
        self.owners.remove(&task);
        self.arrived.remove(&task);
        self.remember_ended(task, epoch);
    }

    /// Sends `cmd` for `task` to where this node believes it runs (`to`: its own record or
    /// the handle's last known location), and returns the number the answer will carry
    /// ([`MoveEvent::Reply`]).
    pub fn control(&mut self, task: PartyId, to: NodeId, cmd: Command) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        let me = self.me.clone();
        self.forward(to, task, req, me, 0, cmd);
        req
    }

    /// Answers a control message handed over as [`MoveEvent::Control`].
    pub fn reply(&mut self, task: PartyId, req: u64, to: NodeId, reply: ControlReply) {
        if to == self.me {
            self.events.push_back(MoveEvent::Reply { task, req, reply });
        } else {
            self.transmit
                .push_back((to, Migrate::ControlReply { task, req, reply }));
        }
    }

    fn forward(
        &mut self,
        to: NodeId,
        task: PartyId,
        req: u64,
        from: NodeId,
        hops: u8,
        cmd: Command,
    ) {
        if to == self.me {
            self.route_control(task, req, from, hops, cmd);
        } else {
            self.transmit.push_back((
                to,
                Migrate::Control {
                    task,
                    req,
                    from,
                    hops,
                    cmd,
                },
            ));
        }
    }

    /// A control message for `task` reached this node.
    fn route_control(&mut self, task: PartyId, req: u64, from: NodeId, hops: u8, cmd: Command) {
        if let Some(out) = self.outgoing.get_mut(&task) {
            out.parked.push(ParkedControl {
                req,
                from,
                hops,
                cmd,
            });
            return;
        }
        let next = self
            .pointers
            .get(&task)
            .map(|(n, _)| n.clone())
            .or_else(|| self.owners.get(&task).map(|(n, _)| n.clone()));
        match next {
            Some(node) if node != self.me => {
                if hops >= HOP_LIMIT {
                    self.reply(task, req, from, ControlReply::NotFound);
                } else {
                    self.stats.forwarded += 1;
                    self.forward(node, task, req, from, hops + 1, cmd);
                }
            }
            _ => self.events.push_back(MoveEvent::Control {
                task,
                req,
                from,
                cmd,
            }),
        }
    }

    // ---- input -------------------------------------------------------------------------------

    /// A message from `from`.
    ///
    /// # Errors
    /// [`Unexpected`] for a message out of place (counted, otherwise ignored).
    pub fn handle(&mut self, from: &NodeId, msg: Migrate) -> Result<(), Unexpected> {
        match msg {
            Migrate::Offer {
                task,
                epoch,
                home,
                snapshot,
            } => self.on_offer(from, task, epoch, home, snapshot),
            Migrate::Installed { task, epoch } => self.on_answer(from, task, epoch, None),
            Migrate::Refused {
                task,
                epoch,
                reason,
            } => self.on_answer(from, task, epoch, Some(reason)),
            Migrate::Commit { task, epoch } => {
                if let Err(kind) = self.on_commit(from, task, epoch) {
                    self.stats.unexpected += 1;
                    return Err(Unexpected {
                        kind,
                        from: from.clone(),
                    });
                }
            }
            Migrate::Committed { task, epoch } => {
                if self.committing.get(&task) == Some(&(from.clone(), epoch)) {
                    self.committing.remove(&task);
                }
            }
            Migrate::Owner { task, epoch, node } => self.on_owner(task, epoch, node),
            Migrate::Ended {
                task,
                epoch,
                outcome,
            } => {
                // The first `Ended` completes the join; repeats only need the ack again.
                // (It may overtake the `Owner` of the task's last move: another node sent
                // that.)
                if self.remember_ended(task, epoch) {
                    self.owners.remove(&task);
                    self.events.push_back(MoveEvent::Ended { task, outcome });
                }
                self.transmit
                    .push_back((from.clone(), Migrate::EndedAck { task }));
            }
            Migrate::EndedAck { task } => {
                if self.ended_out.get(&task).is_some_and(|(h, _, _)| h == from) {
                    self.ended_out.remove(&task);
                }
            }
            Migrate::Control {
                task,
                req,
                from: asker,
                hops,
                cmd,
            } => self.route_control(task, req, asker, hops, cmd),
            Migrate::ControlReply { task, req, reply } => {
                self.events.push_back(MoveEvent::Reply { task, req, reply });
            }
        }
        Ok(())
    }

    /// The connection to `peer` came back to the same incarnation: resend what may have been
    /// lost with the old one.
    pub fn reconnected(&mut self, peer: &NodeId) {
        for (task, out) in &self.outgoing {
            if &out.target == peer {
                self.transmit.push_back((
                    peer.clone(),
                    Migrate::Offer {
                        task: *task,
                        epoch: out.epoch,
                        home: out.home.clone(),
                        snapshot: out.snapshot.clone(),
                    },
                ));
            }
        }
        for (task, (target, epoch)) in &self.committing {
            if target == peer {
                self.transmit.push_back((
                    peer.clone(),
                    Migrate::Commit {
                        task: *task,
                        epoch: *epoch,
                    },
                ));
            }
        }
        for (task, (home, epoch, node)) in &self.owner_out {
            if home == peer {
                self.transmit.push_back((
                    peer.clone(),
                    Migrate::Owner {
                        task: *task,
                        epoch: *epoch,
                        node: node.clone(),
                    },
                ));
            }
        }
        // An `Owner` is not acknowledged: one resend after a reconnect is its delivery.
        self.owner_out.retain(|_, (home, _, _)| home != peer);
        for (task, (home, epoch, outcome)) in &self.ended_out {
            if home == peer {
                self.transmit.push_back((
                    peer.clone(),
                    Migrate::Ended {
                        task: *task,
                        epoch: *epoch,
                        outcome: outcome.clone(),
                    },
                ));
            }
        }
    }

    /// `peer` is down (restarted, or gone past the grace period): moves to it fail, tasks it
    /// offered here are dropped, messages for it are forgotten.
    pub fn peer_down(&mut self, peer: &NodeId) {
        let failed: Vec<PartyId> = self
            .outgoing
            .iter()
            .filter(|(_, o)| &o.target == peer)
            .map(|(t, _)| *t)
            .collect();
        for task in failed {
            if let Some(out) = self.outgoing.remove(&task) {
                self.stats.failed += 1;
                self.events.push_back(MoveEvent::Failed {
                    task,
                    epoch: out.epoch,
                    reason: MoveRefusal::Unreachable,
                });
                self.replay_parked(task, out.parked, None);
            }
        }
        let dropped: Vec<(PartyId, u64)> = self
            .incoming
            .iter()
            .filter(|(_, i)| &i.source == peer)
            .map(|(t, i)| (*t, i.epoch))
            .collect();
        for (task, epoch) in dropped {
            self.incoming.remove(&task);
            self.stats.dropped += 1;
            self.events.push_back(MoveEvent::Drop { task, epoch });
        }
        self.committing.retain(|_, (t, _)| t != peer);
        self.owner_out.retain(|_, (h, _, _)| h != peer);
        self.ended_out.retain(|_, (h, _, _)| h != peer);
    }

    /// Remembers that `task` ended; false if it was known already.
    fn remember_ended(&mut self, task: PartyId, epoch: u64) -> bool {
        if self.ended.insert(task, epoch).is_some() {
            return false;
        }
        self.ended_age.push_back(task);
        while self.ended_age.len() > self.config.max_pointers {
            if let Some(old) = self.ended_age.pop_front() {
                self.ended.remove(&old);
            }
        }
        true
    }

    fn set_pointer(&mut self, task: PartyId, node: NodeId, epoch: u64) {
        self.pointers.insert(task, (node, epoch));
        self.pointer_age.push_back((task, epoch));
        while self.pointer_age.len() > self.config.max_pointers {
            if let Some((old, e)) = self.pointer_age.pop_front() {
                if self.pointers.get(&old).is_some_and(|(_, pe)| *pe == e) {
                    self.pointers.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "../migrate_tests.rs"]
mod tests;
