//! The simulated cluster: configuration, the event loop, faults and the report.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use super::history::{check, CheckConfig, Event, History, Violation};
use super::migration::{Phase, PhaseFault};
use super::net::{ConnId, LinkConfig, NetStats, Network, NodeIx};
use super::node::Node;
use super::party::Party;
use super::rng::Rng;
use crate::proto::{ChannelId, ConnConfig, HomeConfig, Incarnation, NodeId, ToHome, TypeKey};

/// A fault, applied at a virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Cut the link `from → to` (one direction; a partition is two cuts).
    Cut {
        /// Sending node.
        from: NodeIx,
        /// Receiving node.
        to: NodeIx,
    },
    /// Heal one cut of `from → to`.
    Mend {
        /// Sending node.
        from: NodeIx,
        /// Receiving node.
        to: NodeIx,
    },
    /// Crash a node: it loses its connections, channels and parties.
    Crash {
        /// The node.
        node: NodeIx,
    },
    /// Start a crashed node again, with a new incarnation.
    Restart {
        /// The node.
        node: NodeIx,
    },
}

/// A named channel of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Its name (its home follows from it).
    pub name: String,
    /// Its capacity: 0 for a rendezvous channel.
    pub cap: u64,
}

/// A sender: it sends its messages one after the other, message `i` on channel `chans[i]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderSpec {
    /// Where it starts.
    pub node: NodeIx,
    /// The channel of each message.
    pub chans: Vec<usize>,
}

/// A receiver: it receives from its channel for ever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverSpec {
    /// Where it starts (and where it is respawned after a crash).
    pub node: NodeIx,
    /// The channel.
    pub chan: usize,
}

/// A party that sends on a channel's name with another element type: every send must be
/// refused with `Mismatch` and its value handed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImpostorSpec {
    /// Where it runs.
    pub node: NodeIx,
    /// The channel whose name it uses.
    pub chan: usize,
    /// How many values it tries to send.
    pub count: u32,
}

/// Everything a run does: the cluster, the links, the workload and the faults. Built from a
/// seed by [`SimConfig::from_seed`], or by hand for a targeted test.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of every random choice the run makes.
    pub seed: u64,
    /// Nodes in the cluster, `n0`, `n1`, ….
    pub nodes: usize,
    /// The links.
    pub link: LinkConfig,
    /// Connections: handshake timeout, keep-alive, idle timeout (the failure detector).
    pub conn: ConnConfig,
    /// The homes' limits.
    pub home: HomeConfig,
    /// The channels.
    pub channels: Vec<ChannelSpec>,
    /// The senders.
    pub senders: Vec<SenderSpec>,
    /// The receivers.
    pub receivers: Vec<ReceiverSpec>,
    /// Parties using a channel's name with the wrong type.
    pub impostors: Vec<ImpostorSpec>,
    /// Faults, by time.
    pub faults: Vec<(Duration, Fault)>,
    /// Probability that a party withdraws an operation it started (as a task freezing to
    /// move does) and then moves to another node with a new epoch.
    pub withdraw: f64,
    /// The longest time a party waits before it withdraws an operation it chose to
    /// withdraw (the shorter, the more often the operation is still pending then).
    pub withdraw_within: Duration,
    /// Probability that a target refuses an offer as if the task's type were not
    /// registered there (the move fails, the party resumes on its source).
    pub refuse: f64,
    /// The most parties (running, frozen or held) a node accepts before it refuses offers
    /// as over capacity.
    pub capacity: usize,
    /// Crashes of the source or the target of a move when it reaches a phase.
    pub phase_faults: Vec<PhaseFault>,
    /// The test that reruns a seed of this kind (for the failure report).
    pub rerun: &'static str,
    /// The longest pause of a party between two operations.
    pub think: Duration,
    /// The longest pause before a node redials a lost connection.
    pub redial: Duration,
    /// Virtual time after which the run stops, finished or not.
    pub limit: Duration,
    /// The checker's bounds.
    pub check: CheckConfig,
    /// Deliberately broken node behaviour, to show that the checker catches bugs.
    pub sabotage: Sabotage,
}

/// A deliberate bug in the simulated nodes (never in the protocol core), for tests that
/// show a broken node fails the check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sabotage {
    /// No bug.
    #[default]
    None,
    /// Operations in flight are not resent after a reconnect (they wait for ever).
    NoResend,
    /// A repeated answer to a receive is taken as a new value (delivered twice).
    TakeRepeats,
    /// A move's target runs the party as soon as it installs it, before the commit.
    RunBeforeCommit,
}

impl SimConfig {
    /// A quiet run to fill in by hand: `nodes` nodes, clean 1 ms links, no channel, no
    /// party, no fault; the timeouts of [`SimConfig::from_seed`].
    pub fn new(seed: u64, nodes: usize) -> SimConfig {
        SimConfig {
            seed,
            nodes,
            link: LinkConfig::default(),
            conn: ConnConfig {
                handshake_timeout: Duration::from_secs(2),
                keepalive: Duration::from_millis(500),
                idle_timeout: Duration::from_secs(3),
                ..ConnConfig::default()
            },
            home: HomeConfig::default(),
            channels: Vec::new(),
            senders: Vec::new(),
            receivers: Vec::new(),
            impostors: Vec::new(),
            faults: Vec::new(),
            withdraw: 0.0,
            withdraw_within: Duration::from_millis(300),
            refuse: 0.0,
            capacity: usize::MAX,
            phase_faults: Vec::new(),
            rerun: "sim_scenarios",
            think: Duration::from_millis(10),
            redial: Duration::from_millis(500),
            limit: Duration::from_secs(300),
            check: CheckConfig::default(),
            sabotage: Sabotage::None,
        }
    }

    /// The home of channel `chan` (an index into [`channels`](SimConfig::channels)).
    pub fn home_of(&self, chan: usize) -> NodeIx {
        let members: Vec<NodeId> = (0..self.nodes).map(node_id).collect();
        crate::proto::home_of(&self.channels[chan].name, &members)
            .and_then(|h| members.iter().position(|m| m == h))
            .unwrap_or(0)
    }
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// The network's counters.
    pub net: NetStats,
    /// Virtual time at the end.
    pub end: Duration,
    /// Values delivered.
    pub deliveries: u64,
    /// Connections that completed their handshake.
    pub connections: u64,
    /// Connections lost (closed for any reason).
    pub losses: u64,
    /// Operations resent after a reconnect.
    pub resends: u64,
    /// Answers that repeated one the party already had (ignored).
    pub repeats: u64,
    /// Withdrawals started.
    pub withdrawals: u64,
    /// Moves started (offers).
    pub moves_started: u64,
    /// Moves that succeeded (`Moved` on the source).
    pub moves: u64,
    /// Moves that failed (`Failed` on the source: refused, or the target restarted).
    pub moves_failed: u64,
    /// Offers refused by their target.
    pub refused: u64,
    /// Held copies dropped because their source went down before the commit.
    pub held_dropped: u64,
    /// Crashes triggered by a move reaching a phase ([`PhaseFault`]).
    pub phase_crashes: u64,
    /// Operations failed with `NodeDown` (their home restarted).
    pub node_down: u64,
    /// Operations refused with `Overloaded` (retried).
    pub overloaded: u64,
    /// Sends refused with `Mismatch` (impostors).
    pub mismatches: u64,
    /// Channel messages dropped because no connection to their node was up.
    pub unsent: u64,
}

/// The last lines of what a run did, for failure reports.
#[derive(Debug)]
pub(super) struct Trace {
    lines: VecDeque<String>,
    cap: usize,
}

impl Trace {
    pub(super) fn push(&mut self, now: Duration, what: fmt::Arguments<'_>) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
        }
        self.lines
            .push_back(format!("{:>9.3}s {}", now.as_secs_f64(), what));
    }
}

/// What a run produced: its history, the checker's verdict, counters and a trace.
#[derive(Debug)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// The test that reruns it.
    pub rerun: &'static str,
    /// What happened.
    pub history: History,
    /// The broken invariants (empty: the run is correct).
    pub violations: Vec<Violation>,
    /// Counters.
    pub stats: SimStats,
    /// The last lines of the trace.
    pub trace: Vec<String>,
}

impl SimReport {
    /// Whether every invariant held.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// A failure report: the seed, how to rerun it, the violations and the end of the trace.
    pub fn failure(&self, trace_lines: usize) -> String {
        let mut s = format!(
            "simulation seed {} failed (rerun: TERN_SIM_SEED={} cargo test -p tern-net --test {})\n",
            self.seed, self.seed, self.rerun
        );
        for v in self.violations.iter().take(20) {
            s += &format!("  {v}\n");
        }
        if self.violations.len() > 20 {
            s += &format!("  … {} more\n", self.violations.len() - 20);
        }
        s += &format!(
            "  stats: {:?}\n  trace (last {trace_lines} lines):\n",
            self.stats
        );
        let skip = self.trace.len().saturating_sub(trace_lines);
        for l in &self.trace[skip..] {
            s += "    ";
            s += l;
            s += "\n";
        }
        s
    }
}

/// Runs `config` to its end and checks the history.
pub fn run(config: SimConfig) -> SimReport {
    World::new(config).run()
}

/// The whole simulated cluster.
pub(super) struct World {
    pub(super) cfg: SimConfig,
    pub(super) now: Duration,
    base: Instant,
    pub(super) rng: Rng,
    pub(super) net: Network,
    pub(super) nodes: Vec<Node>,
    pub(super) members: Vec<NodeId>,
    /// Each channel's identity and home.
    pub(super) chans: Vec<(ChannelId, NodeIx)>,
    pub(super) parties: Vec<Party>,
    faults: VecDeque<(Duration, Fault)>,
    pub(super) history: History,
    pub(super) trace: Trace,
    pub(super) stats: SimStats,
    /// Values the home took and no receiver has had yet.
    pub(super) awaiting: BTreeSet<(u64, u32)>,
    /// Values received before their sender heard `Sent`.
    pub(super) early: BTreeSet<(u64, u32)>,
    pub(super) next_key: u64,
    /// Receivers lost with a crashed node, to respawn when it restarts: (node, channel).
    pub(super) respawn: Vec<(NodeIx, usize)>,
    /// How many moves reached each phase so far.
    pub(super) phase_hits: [u32; Phase::ALL.len()],
    /// Phase faults not yet fired.
    pub(super) phase_faults: Vec<PhaseFault>,
    crashed: bool,
    last_fault: Duration,
    /// When the last value was delivered.
    pub(super) last_delivery: Duration,
}

impl World {
    fn new(cfg: SimConfig) -> World {
        let mut rng = Rng::new(cfg.seed);
        let net = Network::new(cfg.nodes, cfg.link, rng.fork());
        let members: Vec<NodeId> = (0..cfg.nodes).map(node_id).collect();
        let nodes = members
            .iter()
            .map(|id| Node::new(id.clone(), Incarnation(rng.next_u64())))
            .collect();
        let chans = (0..cfg.channels.len())
            .map(|i| {
                let c = &cfg.channels[i];
                let id = ChannelId::new(c.name.clone(), TypeKey::of::<(u64, u32)>(), c.cap);
                (id, cfg.home_of(i))
            })
            .collect();
        let mut faults: Vec<(Duration, Fault)> = cfg.faults.clone();
        faults.sort_by_key(|(t, _)| *t);
        let last_fault = faults.last().map_or(Duration::ZERO, |(t, _)| *t);
        World {
            now: Duration::ZERO,
            base: Instant::now(),
            rng,
            net,
            nodes,
            members,
            chans,
            parties: Vec::new(),
            faults: faults.into(),
            history: History::new(),
            trace: Trace {
                lines: VecDeque::new(),
                cap: 400,
            },
            stats: SimStats::default(),
            awaiting: BTreeSet::new(),
            early: BTreeSet::new(),
            next_key: 1,
            respawn: Vec::new(),
            phase_hits: [0; Phase::ALL.len()],
            phase_faults: cfg.phase_faults.clone(),
            crashed: false,
            last_fault,
            last_delivery: Duration::ZERO,
            cfg,
        }
    }

    /// The `Instant` the protocol state machines see for virtual time `t`.
    pub(super) fn instant(&self, t: Duration) -> Instant {
        self.base + t
    }

    /// Virtual time of a protocol deadline.
    pub(super) fn virtual_time(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.base)
    }

    pub(super) fn log(&mut self, what: fmt::Arguments<'_>) {
        self.trace.push(self.now, what);
    }

    pub(super) fn record(&mut self, event: Event) {
        self.history.push(self.now, event);
    }

    fn run(mut self) -> SimReport {
        let seed = self.cfg.seed;
        let rerun = self.cfg.rerun;
        let chans: Vec<String> = self
            .chans
            .iter()
            .map(|(c, h)| format!("{}(cap {}) at n{h}", c.name.as_str(), c.cap))
            .collect();
        let nodes = self.cfg.nodes;
        self.log(format_args!(
            "seed {seed}: {nodes} nodes, channels {chans:?}"
        ));
        for n in 0..self.nodes.len() {
            self.boot(n);
        }
        self.spawn_workload();
        let limit = self.cfg.limit;
        while let Some(t) = self.next_time() {
            if t > limit {
                break;
            }
            self.now = self.now.max(t);
            self.step();
            if self.finished() {
                break;
            }
        }
        let complete = self.workload_done();
        self.log(format_args!("end, workload complete: {complete}"));
        self.record(Event::End { complete });
        self.stats.net = self.net.stats();
        self.stats.end = self.now;
        let violations = check(&self.history, &self.cfg.check);
        SimReport {
            seed,
            rerun,
            history: self.history,
            violations,
            stats: self.stats,
            trace: self.trace.lines.into(),
        }
    }

    fn next_time(&self) -> Option<Duration> {
        let mut next = self.net.next_time();
        let mut consider = |t: Option<Duration>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.faults.front().map(|(t, _)| *t));
        for n in &self.nodes {
            consider(n.redial.values().min().copied());
            for ep in n.eps.values() {
                consider(ep.conn.poll_timeout().map(|t| self.virtual_time(t)));
            }
        }
        for p in &self.parties {
            consider(p.wake.filter(|_| p.alive));
        }
        next
    }

    fn step(&mut self) {
        while self.faults.front().is_some_and(|(t, _)| *t <= self.now) {
            if let Some((_, f)) = self.faults.pop_front() {
                self.fault(f);
            }
        }
        while let Some(ev) = self.net.poll(self.now) {
            self.on_net(ev);
        }
        let now = self.instant(self.now);
        for n in 0..self.nodes.len() {
            let due: Vec<ConnId> = self.nodes[n]
                .eps
                .iter()
                .filter(|(_, ep)| ep.conn.poll_timeout().is_some_and(|t| t <= now))
                .map(|(c, _)| *c)
                .collect();
            for c in due {
                if let Some(ep) = self.nodes[n].eps.get_mut(&c) {
                    ep.conn.handle_timeout(now);
                }
                self.drain(n, c);
            }
            let redials: Vec<NodeIx> = self.nodes[n]
                .redial
                .iter()
                .filter(|(_, t)| **t <= self.now)
                .map(|(p, _)| *p)
                .collect();
            for peer in redials {
                self.nodes[n].redial.remove(&peer);
                self.dial(n, peer);
            }
        }
        for i in 0..self.parties.len() {
            let p = &self.parties[i];
            if p.alive && p.wake.is_some_and(|t| t <= self.now) {
                self.parties[i].wake = None;
                self.party_wake(i);
            }
        }
    }

    fn finished(&self) -> bool {
        if !self.faults.is_empty() || !self.workload_done() {
            return false;
        }
        // Every move settles before the end (parties stop starting new ones once the
        // workload is done).
        let moving = self
            .parties
            .iter()
            .any(|p| p.alive && p.state != super::party::State::Running);
        if moving {
            return false;
        }
        // After a crash some values may be lost for good: stop once nothing was delivered
        // for a while.
        let quiet = Duration::from_secs(20);
        self.awaiting.is_empty()
            || (self.crashed
                && self.now > self.last_fault + quiet
                && self.now > self.last_delivery + quiet)
    }

    /// Adds a fault to the schedule (a phase fault's restart).
    pub(super) fn schedule(&mut self, at: Duration, f: Fault) {
        let k = self.faults.partition_point(|(t, _)| *t <= at);
        self.faults.insert(k, (at, f));
        self.last_fault = self.last_fault.max(at);
    }

    pub(super) fn fault(&mut self, f: Fault) {
        self.log(format_args!("FAULT {f:?}"));
        match f {
            Fault::Cut { from, to } => {
                self.net.block(from, to);
                self.record(Event::Cut { from, to });
            }
            Fault::Mend { from, to } => {
                self.net.unblock(from, to);
                self.record(Event::Mend { from, to });
            }
            Fault::Crash { node } => {
                if !self.nodes[node].up {
                    return;
                }
                self.crashed = true;
                self.record(Event::Crash { node });
                self.net.crash(node);
                self.nodes[node].crash();
                let here: Vec<usize> = (0..self.parties.len())
                    .filter(|i| self.parties[*i].alive && self.parties[*i].node == node)
                    .collect();
                for &i in &here {
                    self.parties[i].alive = false;
                }
                for i in here {
                    self.copy_gone(i);
                }
            }
            Fault::Restart { node } => {
                if self.nodes[node].up {
                    return;
                }
                self.net.restart(node);
                let inc = Incarnation(self.rng.next_u64());
                self.nodes[node].restart(inc);
                self.record(Event::Restart { node });
                self.boot(node);
                self.respawn_receivers(node);
            }
        }
    }

    /// A node starts: it dials every member with a larger id (the smaller id of a pair
    /// dials; see the module docs).
    ///
    /// A home node also opens the workload's channels it holds, as a node whose own tasks
    /// use them would: the channel exists with its true type before any impostor asks.
    fn boot(&mut self, node: NodeIx) {
        for peer in node + 1..self.nodes.len() {
            self.nodes[node].redial.insert(peer, self.now);
        }
        let me = self.members[node].clone();
        for (chan, home) in self.chans.clone() {
            if home == node {
                self.home_handle(node, &me, ToHome::Open { chan });
            }
        }
    }
}

/// Encodes a workload value: the sender's key and the message number.
pub(super) fn payload(sender: u64, seq: u32) -> Vec<u8> {
    let mut v = sender.to_le_bytes().to_vec();
    v.extend_from_slice(&seq.to_le_bytes());
    v
}

/// Decodes a workload value.
pub(super) fn unpayload(bytes: &[u8]) -> Option<(u64, u32)> {
    let key = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let seq = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
    (bytes.len() == 12).then_some((key, seq))
}

/// The id of node `i` of a simulation: `n<i>`.
fn node_id(i: usize) -> NodeId {
    NodeId::new(&format!("n{i}")).expect("n<i> is a node id")
}
