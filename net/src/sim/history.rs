//! The history of a run and the checker of the invariants of RELIABILITY.md. See [`check`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// How a send ended, as its sender saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendResult {
    /// The home took the value (a receiver or the buffer did): it must be delivered once.
    Sent,
    /// The value came back to the sender (refused, withdrawn for good, channel closed): it
    /// must never be delivered.
    Returned,
    /// The home's node restarted before the sender learnt the outcome: delivered at most once.
    NodeDown,
}

/// One thing that happened. Parties are named by keys that the workload makes unique (a
/// receiver respawned after a crash gets a new key); channels by their index in the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `sender` starts sending its message `seq` on `chan` (once per value, however often
    /// the protocol resends it).
    Send {
        /// The sender.
        sender: u64,
        /// The channel.
        chan: usize,
        /// The sender's message number: increases with every message it sends.
        seq: u32,
    },
    /// The send of (`sender`, `seq`) ended.
    SendDone {
        /// The sender.
        sender: u64,
        /// The message number.
        seq: u32,
        /// How.
        result: SendResult,
    },
    /// `receiver` received (`sender`, `seq`) from `chan`, in its incarnation `epoch` on
    /// `node`.
    Deliver {
        /// The receiver.
        receiver: u64,
        /// The channel it received from.
        chan: usize,
        /// The value's sender.
        sender: u64,
        /// The value's message number.
        seq: u32,
        /// The node of the receiving incarnation.
        node: usize,
        /// Its epoch.
        epoch: u64,
    },
    /// A party starts running on `node` with `epoch`: spawned (epoch 0), resumed on the
    /// source after a failed move, or run on the target after the commit.
    Run {
        /// The party.
        party: u64,
        /// Where.
        node: usize,
        /// Its epoch there.
        epoch: u64,
    },
    /// A running party stops at its suspension point to move (its pending operation is
    /// being withdrawn); it runs nowhere until a `Run`.
    Freeze {
        /// The party.
        party: u64,
        /// Where.
        node: usize,
        /// Its epoch.
        epoch: u64,
    },
    /// Migrate start: `from` offers the frozen party to `to`, where it would have `epoch`.
    MoveStart {
        /// The party.
        party: u64,
        /// The source.
        from: usize,
        /// The target.
        to: usize,
        /// The epoch offered.
        epoch: u64,
    },
    /// Migrate commit: the target holds the party and the source dropped its copy (`Moved`).
    MoveCommit {
        /// The party.
        party: u64,
        /// The source.
        from: usize,
        /// The target.
        to: usize,
        /// The new epoch.
        epoch: u64,
    },
    /// Migrate abort: the move failed (`Failed`, refused or target down); the source resumes
    /// the party (a `Run` follows at once).
    MoveAbort {
        /// The party.
        party: u64,
        /// The source.
        node: usize,
        /// The epoch that was offered.
        epoch: u64,
    },
    /// The target installed the offered party and holds it, not running.
    Held {
        /// The party.
        party: u64,
        /// The target.
        node: usize,
        /// Its epoch there.
        epoch: u64,
    },
    /// The target dropped a held copy (`Drop`: its source went down before the commit).
    HeldDrop {
        /// The party.
        party: u64,
        /// The target.
        node: usize,
        /// Its epoch there.
        epoch: u64,
    },
    /// A party was lost: its last copy went with a crashed node, or with a move that a
    /// crash broke.
    Died {
        /// The party's key.
        party: u64,
    },
    /// A move of `party` from `source` to `target` reached `phase`, and a phase fault
    /// crashes `node` (one of the two) there and then (the `Crash` follows).
    PhaseCrash {
        /// The phase.
        phase: super::migration::Phase,
        /// The moving party.
        party: u64,
        /// The move's source.
        source: usize,
        /// The move's target.
        target: usize,
        /// The node that crashes.
        node: usize,
    },
    /// A node crashed: it lost everything it held.
    Crash {
        /// The node.
        node: usize,
    },
    /// A crashed node started again, with a new incarnation.
    Restart {
        /// The node.
        node: usize,
    },
    /// `node` learnt that `peer` restarted (it connected with a new incarnation). Until the
    /// last node learns it, homes may still hand values to the dead incarnation's parties.
    Detect {
        /// The node that learnt it.
        node: usize,
        /// The restarted node.
        peer: usize,
    },
    /// The network stopped carrying datagrams from `from` to `to`.
    Cut {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
    },
    /// A cut healed.
    Mend {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
    },
    /// Something the protocol must never do happened (a stale refusal, an undecodable frame,
    /// an answer of the wrong kind); the text says what.
    Unexpected {
        /// What.
        what: String,
    },
    /// The run ended; `complete` when every surviving sender finished its messages.
    End {
        /// Whether the workload finished.
        complete: bool,
    },
}

/// What happened in a run, in order, with the virtual time of each event.
#[derive(Clone, Debug, Default)]
pub struct History {
    events: Vec<(Duration, Event)>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Appends `event` at virtual time `at` (times never decrease).
    pub fn push(&mut self, at: Duration, event: Event) {
        self.events.push((at, event));
    }

    /// The events, in order.
    pub fn events(&self) -> &[(Duration, Event)] {
        &self.events
    }

    /// Deliveries recorded.
    pub fn deliveries(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Deliver { .. }))
            .count()
    }
}

/// A broken invariant, found by [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// I1: a receiver got a sender's values on a channel out of order.
    Fifo {
        /// The receiver.
        receiver: u64,
        /// The sender.
        sender: u64,
        /// The channel.
        chan: usize,
        /// The value received.
        seq: u32,
        /// The later value received before it.
        after: u32,
    },
    /// I2: a value was delivered more than once.
    Duplicate {
        /// The sender.
        sender: u64,
        /// The value.
        seq: u32,
        /// How often it was delivered.
        times: usize,
    },
    /// I2: a delivery matches no send (never sent, sent later, or on another channel).
    Phantom {
        /// The receiver.
        receiver: u64,
        /// The claimed sender.
        sender: u64,
        /// The claimed value.
        seq: u32,
    },
    /// I2: a value handed back to its sender was delivered too.
    ReturnedDelivered {
        /// The sender.
        sender: u64,
        /// The value.
        seq: u32,
    },
    /// I4: a value the home took was never delivered, and no crash explains it.
    Lost {
        /// The sender.
        sender: u64,
        /// The value.
        seq: u32,
    },
    /// I4: a send failed with `NodeDown` although no node crashed.
    SpuriousNodeDown {
        /// The sender.
        sender: u64,
        /// The value.
        seq: u32,
    },
    /// I6: a send never ended although its sender survived.
    Unfinished {
        /// The sender.
        sender: u64,
        /// The value.
        seq: u32,
    },
    /// I6: work was outstanding when the last fault healed, and nothing progressed within
    /// the bound.
    NoResume {
        /// When the last fault healed.
        healed: Duration,
        /// When the first outstanding operation progressed (`None`: never).
        first: Option<Duration>,
    },
    /// I6: the run reached its time limit before the workload finished.
    Incomplete,
    /// I3: a party started running on one node while it ran on another.
    TwoIncarnations {
        /// The party.
        party: u64,
        /// Where it started, and its epoch there.
        started: (usize, u64),
        /// Where it was running, and its epoch there.
        running: (usize, u64),
    },
    /// I3: an incarnation older than one that already ran started running or delivered.
    Stale {
        /// The party.
        party: u64,
        /// The stale incarnation (node, epoch).
        at: (usize, u64),
        /// The newest epoch that had run.
        newest: u64,
        /// What it did (`"run"` or `"deliver"`).
        did: &'static str,
    },
    /// I3: a value was delivered to an incarnation while another one was running.
    DeliveredElsewhere {
        /// The receiver.
        receiver: u64,
        /// The incarnation that took the value (node, epoch).
        at: (usize, u64),
        /// The incarnation running at that moment (node, epoch).
        running: (usize, u64),
    },
    /// I3: a move's target ran the party before its source let it go (`MoveCommit`): the
    /// source's copy could still resume.
    RunBeforeCommit {
        /// The party.
        party: u64,
        /// The target.
        node: usize,
        /// The epoch offered.
        epoch: u64,
    },
    /// I3: a move started and the party ran neither on its source again nor on its target,
    /// although neither crashed.
    LostInMove {
        /// The party.
        party: u64,
        /// The source.
        from: usize,
        /// The target.
        to: usize,
        /// The epoch offered.
        epoch: u64,
    },
    /// The protocol did something it must never do.
    Unexpected {
        /// When.
        at: Duration,
        /// What.
        what: String,
    },
}

impl Violation {
    /// The invariant it breaks: `"I1"`, `"I2"`, `"I3"`, `"I4"`, `"I6"`, or `"protocol"`.
    pub fn invariant(&self) -> &'static str {
        match self {
            Violation::Fifo { .. } => "I1",
            Violation::Duplicate { .. }
            | Violation::Phantom { .. }
            | Violation::ReturnedDelivered { .. } => "I2",
            Violation::Lost { .. } | Violation::SpuriousNodeDown { .. } => "I4",
            Violation::Unfinished { .. } | Violation::NoResume { .. } | Violation::Incomplete => {
                "I6"
            }
            Violation::TwoIncarnations { .. }
            | Violation::Stale { .. }
            | Violation::DeliveredElsewhere { .. }
            | Violation::RunBeforeCommit { .. }
            | Violation::LostInMove { .. } => "I3",
            Violation::Unexpected { .. } => "protocol",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.invariant())?;
        match self {
            Violation::Fifo {
                receiver,
                sender,
                chan,
                seq,
                after,
            } => write!(
                f,
                "receiver {receiver} got value {seq} of sender {sender} on channel {chan} after value {after}"
            ),
            Violation::Duplicate { sender, seq, times } => {
                write!(f, "value {seq} of sender {sender} delivered {times} times")
            }
            Violation::Phantom {
                receiver,
                sender,
                seq,
            } => write!(
                f,
                "receiver {receiver} got value {seq} of sender {sender}, which was not sent on that channel before"
            ),
            Violation::ReturnedDelivered { sender, seq } => write!(
                f,
                "value {seq} of sender {sender} was handed back and delivered"
            ),
            Violation::Lost { sender, seq } => write!(
                f,
                "value {seq} of sender {sender} was taken by the home and never delivered, with no crash"
            ),
            Violation::SpuriousNodeDown { sender, seq } => write!(
                f,
                "send {seq} of sender {sender} failed with NodeDown, with no crash"
            ),
            Violation::Unfinished { sender, seq } => {
                write!(f, "send {seq} of sender {sender} never ended")
            }
            Violation::NoResume { healed, first } => write!(
                f,
                "faults healed at {healed:?}, outstanding work first progressed at {first:?}"
            ),
            Violation::Incomplete => write!(f, "the workload did not finish in time"),
            Violation::TwoIncarnations {
                party,
                started,
                running,
            } => write!(
                f,
                "party {party} started on n{} at epoch {} while it ran on n{} at epoch {}",
                started.0, started.1, running.0, running.1
            ),
            Violation::Stale {
                party,
                at,
                newest,
                did,
            } => write!(
                f,
                "party {party}: incarnation n{}@{} did {did} after epoch {newest} had run",
                at.0, at.1
            ),
            Violation::DeliveredElsewhere {
                receiver,
                at,
                running,
            } => write!(
                f,
                "receiver {receiver}: a value went to n{}@{} while n{}@{} ran",
                at.0, at.1, running.0, running.1
            ),
            Violation::RunBeforeCommit { party, node, epoch } => write!(
                f,
                "party {party} ran on n{node} at epoch {epoch} before its source let it go"
            ),
            Violation::LostInMove {
                party,
                from,
                to,
                epoch,
            } => write!(
                f,
                "party {party} was lost moving n{from} -> n{to} (epoch {epoch}) with no crash of either"
            ),
            Violation::Unexpected { at, what } => write!(f, "at {at:?}: {what}"),
        }
    }
}

/// What a check needs beyond the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckConfig {
    /// I6: once the last fault healed, outstanding work must progress within this.
    pub resume_within: Duration,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            resume_within: Duration::from_secs(10),
        }
    }
}

struct MoveInfo {
    party: u64,
    from: usize,
    to: usize,
    epoch: u64,
    at: Duration,
    committed: bool,
    resolved: bool,
}

#[derive(Default)]
struct SendInfo {
    at: Duration,
    chan: usize,
    done: Option<(Duration, SendResult)>,
    delivered: Vec<Duration>,
}

/// Checks a history against the invariants and returns every violation (none: the run is
/// correct).
///
/// - **I1 FIFO per (sender, channel):** each receiver gets each sender's values on a channel
///   in increasing order. (The home hands values out in order; with several receivers, each
///   one sees an increasing subsequence, which is what a receiver can observe.)
/// - **I2 no duplicate:** every value is delivered at most once, only after it was sent, only
///   on its channel, and never when it was handed back to its sender.
/// - **I3 single incarnation:** a party runs on one node at a time (it runs from its `Run`
///   until its `Freeze` or its node's crash); no incarnation older than one that already
///   ran runs again or takes a value; a value goes only to the running incarnation (or to
///   a frozen one, when no other runs: the outcome rides in the snapshot); a move's target
///   runs the party only after its source let it go (`MoveCommit`); and every move
///   ends with the party running again on its source (failed) or its target (committed),
///   unless the source or the target crashed after the move began.
/// - **I4 no loss without a crash:** a value the home took (`Sent`) is delivered, unless its
///   send began while a crash could still take it: before a node crashed, or before the
///   last node learnt of that crash ([`Event::Detect`]; never learnt: the run's end).
///   `NodeDown` happens only when a node crashed.
/// - **I6 delivery resumes after the faults heal:** every send of a surviving sender ends;
///   the workload finishes; and work outstanding when the last fault healed (a cut mended or
///   a crashed node restarted) progresses within [`CheckConfig::resume_within`].
/// - Any [`Event::Unexpected`] is a violation.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tern_net::sim::{check, CheckConfig, Event, History, SendResult};
/// let t = Duration::from_millis;
/// let mut h = History::new();
/// h.push(t(0), Event::Send { sender: 1, chan: 0, seq: 0 });
/// h.push(t(5), Event::SendDone { sender: 1, seq: 0, result: SendResult::Sent });
/// h.push(t(6), Event::End { complete: true });
/// // Taken by the home and never delivered: lost.
/// let v = check(&h, &CheckConfig::default());
/// assert_eq!(v.len(), 1);
/// assert_eq!(v[0].invariant(), "I4");
/// ```
pub fn check(history: &History, config: &CheckConfig) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut sends: BTreeMap<(u64, u32), SendInfo> = BTreeMap::new();
    let mut last: BTreeMap<(u64, u64, usize), u32> = BTreeMap::new();
    let mut died: BTreeMap<u64, Duration> = BTreeMap::new();
    // Per crash: the node and the end of the window in which it may take values.
    let mut crashes: Vec<(usize, Duration)> = Vec::new();
    let mut healed: Option<Duration> = None;
    let mut ended = false;
    // I3: the incarnation each party runs now, the newest epoch that ran, the moves.
    let mut running: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
    let mut newest: BTreeMap<u64, u64> = BTreeMap::new();
    let mut moves: Vec<MoveInfo> = Vec::new();
    let mut open_move: BTreeMap<u64, usize> = BTreeMap::new();
    let mut crash_times: Vec<(usize, Duration)> = Vec::new();
    for (at, e) in &history.events {
        let at = *at;
        match e {
            Event::Send { sender, chan, seq } => {
                sends.entry((*sender, *seq)).or_insert(SendInfo {
                    at,
                    chan: *chan,
                    ..SendInfo::default()
                });
            }
            Event::SendDone {
                sender,
                seq,
                result,
            } => match sends.get_mut(&(*sender, *seq)) {
                Some(s) if s.done.is_none() => s.done = Some((at, *result)),
                _ => out.push(Violation::Unexpected {
                    at,
                    what: format!("send {seq} of sender {sender} ended twice or never began"),
                }),
            },
            Event::Deliver {
                receiver,
                chan,
                sender,
                seq,
                node,
                epoch,
            } => {
                let inc = (*node, *epoch);
                if let Some(r) = running.get(receiver).filter(|r| **r != inc) {
                    out.push(Violation::DeliveredElsewhere {
                        receiver: *receiver,
                        at: inc,
                        running: *r,
                    });
                }
                if let Some(n) = newest.get(receiver).filter(|n| **n > *epoch) {
                    out.push(Violation::Stale {
                        party: *receiver,
                        at: inc,
                        newest: *n,
                        did: "deliver",
                    });
                }
                match sends.get_mut(&(*sender, *seq)) {
                    Some(s) if s.chan == *chan => s.delivered.push(at),
                    _ => out.push(Violation::Phantom {
                        receiver: *receiver,
                        sender: *sender,
                        seq: *seq,
                    }),
                }
                let key = (*receiver, *sender, *chan);
                if let Some(&after) = last.get(&key) {
                    if *seq <= after {
                        out.push(Violation::Fifo {
                            receiver: *receiver,
                            sender: *sender,
                            chan: *chan,
                            seq: *seq,
                            after,
                        });
                    }
                }
                let best = last.entry(key).or_insert(*seq);
                *best = (*best).max(*seq);
            }
            Event::Died { party } => {
                died.entry(*party).or_insert(at);
            }
            Event::Crash { node } => {
                crashes.push((*node, Duration::MAX));
                crash_times.push((*node, at));
                running.retain(|_, r| r.0 != *node);
            }
            Event::Run { party, node, epoch } => {
                let inc = (*node, *epoch);
                if let Some(r) = running.get(party).filter(|r| **r != inc) {
                    out.push(Violation::TwoIncarnations {
                        party: *party,
                        started: inc,
                        running: *r,
                    });
                }
                if let Some(n) = newest.get(party).filter(|n| **n > *epoch) {
                    out.push(Violation::Stale {
                        party: *party,
                        at: inc,
                        newest: *n,
                        did: "run",
                    });
                }
                running.insert(*party, inc);
                let n = newest.entry(*party).or_insert(*epoch);
                *n = (*n).max(*epoch);
                if let Some(&m) = open_move.get(party) {
                    let mv = &mut moves[m];
                    if *node == mv.to && *epoch == mv.epoch && !mv.committed {
                        out.push(Violation::RunBeforeCommit {
                            party: *party,
                            node: *node,
                            epoch: *epoch,
                        });
                    }
                    if *node == mv.from || (*node == mv.to && *epoch == mv.epoch) {
                        mv.resolved = true;
                        open_move.remove(party);
                    }
                }
            }
            Event::Freeze { party, node, epoch } => {
                if running.get(party) == Some(&(*node, *epoch)) {
                    running.remove(party);
                }
            }
            Event::MoveStart {
                party,
                from,
                to,
                epoch,
            } => {
                open_move.insert(*party, moves.len());
                moves.push(MoveInfo {
                    party: *party,
                    from: *from,
                    to: *to,
                    epoch: *epoch,
                    at,
                    committed: false,
                    resolved: false,
                });
            }
            Event::MoveCommit { party, epoch, .. } => {
                if let Some(&m) = open_move.get(party) {
                    if moves[m].epoch == *epoch {
                        moves[m].committed = true;
                    }
                }
            }
            Event::MoveAbort { .. }
            | Event::Held { .. }
            | Event::HeldDrop { .. }
            | Event::PhaseCrash { .. } => {}
            Event::Detect { peer, .. } => {
                if let Some(c) = crashes.iter_mut().rev().find(|c| c.0 == *peer) {
                    c.1 = if c.1 == Duration::MAX {
                        at
                    } else {
                        c.1.max(at)
                    };
                }
            }
            Event::Restart { .. } | Event::Mend { .. } => healed = Some(at),
            Event::Cut { .. } => {}
            Event::Unexpected { what } => out.push(Violation::Unexpected {
                at,
                what: what.clone(),
            }),
            Event::End { complete } => {
                ended = true;
                if !complete {
                    out.push(Violation::Incomplete);
                }
            }
        }
    }
    if !ended {
        out.push(Violation::Incomplete);
    }
    let crash_after = |t: Duration| crashes.iter().any(|c| c.1 >= t);
    for mv in moves.iter().filter(|m| !m.resolved) {
        let explained = crash_times
            .iter()
            .any(|(n, t)| (*n == mv.from || *n == mv.to) && *t >= mv.at);
        if !explained {
            out.push(Violation::LostInMove {
                party: mv.party,
                from: mv.from,
                to: mv.to,
                epoch: mv.epoch,
            });
        }
    }
    for (&(sender, seq), s) in &sends {
        if s.delivered.len() > 1 {
            out.push(Violation::Duplicate {
                sender,
                seq,
                times: s.delivered.len(),
            });
        }
        match s.done {
            Some((_, SendResult::Returned)) if !s.delivered.is_empty() => {
                out.push(Violation::ReturnedDelivered { sender, seq });
            }
            Some((_, SendResult::Sent)) if s.delivered.is_empty() && !crash_after(s.at) => {
                out.push(Violation::Lost { sender, seq });
            }
            Some((_, SendResult::NodeDown)) if crashes.is_empty() => {
                out.push(Violation::SpuriousNodeDown { sender, seq });
            }
            None if died.get(&sender).is_none_or(|d| *d < s.at) => {
                out.push(Violation::Unfinished { sender, seq });
            }
            _ => {}
        }
    }
    if let Some(healed) = healed {
        // Progress after the heal by work that was outstanding at the heal.
        let first = sends
            .values()
            .filter(|s| s.at <= healed)
            .flat_map(|s| {
                let done = s.done.map(|(t, _)| t).into_iter();
                done.chain(s.delivered.iter().copied())
            })
            .filter(|t| *t > healed)
            .min();
        if let Some(first) = first {
            if first - healed > config.resume_within {
                out.push(Violation::NoResume {
                    healed,
                    first: Some(first),
                });
            }
        }
    }
    dedup_unfinished(&mut out);
    out
}

/// Keeps one `Unfinished` per sender: a stuck sender never starts its later values, so only
/// its first stuck value says anything.
fn dedup_unfinished(out: &mut Vec<Violation>) {
    let mut seen = BTreeSet::new();
    out.retain(|v| match v {
        Violation::Unfinished { sender, .. } => seen.insert(*sender),
        _ => true,
    });
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
