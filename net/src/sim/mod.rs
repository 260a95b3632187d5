//! Deterministic simulation of a tern cluster: an in-memory network with virtual time, loss,
//! reordering, duplication, delay, partitions and crashes, under the real protocol core.
//!
//! No threads, no tokio, no sockets, no clock: one discrete-event loop advances a virtual
//! clock from one event to the next, and every random choice comes from one seed ([`Rng`]).
//! A seed replays the same run, event for event, on any machine. A run of a few thousand
//! events takes milliseconds, so CI runs hundreds of seeds and a laptop millions.
//!
//! # Layers
//!
//! ```text
//!   workload   senders, receivers, impostors      party.rs   ops (party, epoch, seq), resend,
//!                                                            freeze + withdraw, ack, NodeDown
//!   moves      proto::migrate::Migrations per     migration.rs snapshots, offer, held
//!              node                                          install, commit, refusals,
//!                                                            crashes at each phase
//!   node       proto::Connection per connection   node.rs    handshake, keep-alive, failure
//!              proto::Home per channel homed here            detector; home_of; routing;
//!              frames via proto::encode/Decoder              one connection per pair
//!   transport  Network                            net.rs     QUIC's service model over
//!                                                            lossy datagram links
//!   checker    History + check                    history.rs I1 I2 I3 I4 I6 (RELIABILITY.md)
//! ```
//!
//! The protocol code under test is the real one — [`Connection`](crate::proto::Connection),
//! [`Home`](crate::proto::Home) (with its [`OpLog`](crate::proto::OpLog)),
//! [`Migrations`](crate::proto::migrate::Migrations), the frame codec and
//! [`home_of`](crate::proto::home_of); the simulation writes only what the runtime's
//! node would do around them: keep connections, route messages, run parties.
//!
//! # The transport: what QUIC gives the real driver
//!
//! [`Network`] models QUIC's service, not its packets: connections of independent ordered,
//! reliable byte streams over datagram links that lose, delay, reorder and duplicate. A
//! lost datagram is retransmitted with exponential backoff, so **loss becomes delay, never
//! reordering or duplication within a stream**; streams of one connection overtake each
//! other freely. A cut link (one direction at a time, so one-way partitions exist) loses
//! everything; streams resume by themselves when it heals if their connection survived.
//! A connection survives as long as the protocol's keep-alive says so: the transport has no
//! idle timeout of its own, [`ConnConfig::idle_timeout`](crate::proto::ConnConfig) is the
//! failure detector, as over quinn. A crash makes a node's connections vanish silently and
//! its restarted self refuses connections dialled before (a QUIC server forgets them).
//! Frames are cut into datagrams of random size, so decoders see every split of a frame.
//!
//! # Nodes
//!
//! - **Connections.** Of each pair, the node with the smaller id dials, at boot and after
//!   every loss (after a random pause), so there is at most one dialler per pair; the
//!   newest established connection to a peer replaces any older one (closed with
//!   `Superseded`), so nothing sent on an old connection can arrive after what the new one
//!   carries. Streams other than the control stream are not read before the handshake
//!   completes (their bytes are held), as [`Connection`](crate::proto::Connection) requires.
//! - **Channels.** Every channel message travels on its channel's stream (one per name),
//!   so a `Withdraw` never overtakes its operation. A node opens a channel on each new
//!   connection before its first operation there. Operations of parties on the home node
//!   itself never become frames.
//! - **Reconnects.** On every established connection to a channel's home, the node resends
//!   every operation its parties have in flight there (a withdrawal in progress resends only
//!   the `Withdraw`). The home answers repeats from its log, so a resend never delivers
//!   twice; a `Withdraw` of an operation the home never saw answers `UnknownOp`, and the
//!   party keeps its value.
//! - **Restarts.** A peer that connects with a new incarnation restarted: the node's homes
//!   drop what that peer's parties had there ([`Home::peer_restarted`](crate::proto::Home)),
//!   its migrations hear [`peer_down`](crate::proto::migrate::Migrations::peer_down)
//!   (moves to it fail, copies it offered are dropped) — before its own parties' operations
//!   at that peer's homes fail with `NodeDown` (a send's value may or may not have been
//!   delivered: at most once across a crash), since a party may then move to the new
//!   incarnation. A connection to the same incarnation (or the first one) calls
//!   [`reconnected`](crate::proto::migrate::Migrations::reconnected), which resends
//!   `Offer`, `Commit`, `Owner` and `Ended` that may have been lost.
//!
//! # Moves
//!
//! A party moves as a task does, with the real protocol, and exists meanwhile as several
//! copies (one entry each): it **freezes** (stops running) and withdraws its pending
//! operation; once the home answered (withdrawn, or the outcome, which the party takes
//! before its snapshot), its node encodes the party's state into a **snapshot** — its key,
//! its role's progress, the operation it must issue again — and
//! [`offer`](crate::proto::migrate::Migrations::offer)s it to a random other node with
//! epoch + 1. The snapshot is the only way the state travels: the target builds its copy
//! from the bytes. `Migrate` frames travel on a stream per task (as the mesh's `lane_of`).
//! The target decodes and checks it, and refuses (a type "not registered" with probability
//! [`SimConfig::refuse`], over [`SimConfig::capacity`], a bad snapshot) or holds the copy,
//! not running, until `Run` (after the source's `Commit`) or `Drop`. The source drops its
//! frozen copy on `Moved` and resumes it on `Failed`. [`PhaseFault`]s crash the source or
//! the target of a move when it reaches a [`Phase`]: `Offer` sent, `Offer` received,
//! `Installed` sent, `Moved` (before the `Commit` leaves), `Commit` received.
//! The bookkeeping's own order (its maps) is made canonical after `reconnected` and
//! `peer_down`, so a seed replays.
//!
//! # Workload and faults
//!
//! Senders send numbered values one at a time on rendezvous or buffered channels;
//! receivers receive for ever (and come back as new parties when they are lost: on their
//! node when it restarts, or at once where a move lost them); impostors use a channel's
//! name with another type and must be refused. Any operation may be withdrawn, as a task
//! freezing to move is: the party then moves (see above) and issues the operation again
//! wherever it runs next (or, if the home answered that it had already matched, completes
//! it and then moves). Faults — cuts, their heals, crashes and restarts — are scheduled by
//! time ([`Fault`]) or by phase ([`PhaseFault`]). [`SimConfig::from_seed`] draws all of
//! this from a seed, [`SimConfig::storm_from_seed`] a migration storm (many more moves,
//! refusals, crashes at phases); tests may also write a [`SimConfig`] by hand.
//!
//! # The check
//!
//! The run records a [`History`] — send, send outcome, delivery (by which incarnation),
//! run and freeze of a party (which node runs it at which epoch), migrate start, commit and
//! abort, held copies and their drop, party loss, crash, restart, cut, heal, and anything
//! the protocol must never do (a stale refusal, an undecodable frame, an answer of the wrong
//! kind, a migration message out of place) — and [`check`] tests it for I1 (FIFO per sender
//! and channel, as each receiver sees it), I2 (no duplicate, no phantom, nothing handed
//! back and delivered), I3 (one running incarnation at a time, no stale epoch runs or
//! takes a value, the target runs only after the source let go, and every move ends with
//! the party running on its source or its target unless one of them crashed), I4 (every value the home took is delivered, unless a crash
//! after its send explains the loss) and I6 (every send of a surviving sender ends, the
//! workload finishes, and work outstanding when the last fault healed progresses within a
//! bound). A run ends when the workload is done and every value taken is delivered (or, in
//! a run with a crash, 20 s after the last fault), or at [`SimConfig::limit`].
//!
//! Not modelled (yet): membership changes (homes are fixed by the initial membership);
//! joins (`Ended`/`EndedAck`: parties never end) and control messages (`Control`, pointers
//! followed), though `Owner` records are sent and kept by the real bookkeeping, unchecked;
//! moves started by a command rather than by the party itself; `Close` and `Balance` in
//! the workload (they are unit-tested on [`Home`](crate::proto::Home)); simultaneous dials
//! (see [`surviving_dialer`](crate::proto::surviving_dialer)); and giving up on a peer
//! that never comes back (so `peer_down` comes only from a restart, and a move to a
//! partitioned target waits for the partition to heal).
//!
//! # Examples
//!
//! ```
//! let report = tern_net::sim::run_seed(42);
//! assert!(report.is_ok(), "{}", report.failure(40));
//! assert!(report.stats.deliveries > 0);
//! ```

mod history;
mod migration;
mod net;
mod node;
mod party;
mod rng;
mod scenario;
mod world;

pub use history::{check, CheckConfig, Event, History, SendResult, Violation};
pub use migration::{Phase, PhaseFault, Victim};
pub use net::{ConnId, LinkConfig, NetEvent, NetStats, Network, NodeIx, StreamId};
pub use rng::Rng;
pub use scenario::{run_seed, run_storm};
pub use world::{
    run, ChannelSpec, Fault, ImpostorSpec, ReceiverSpec, Sabotage, SenderSpec, SimConfig,
    SimReport, SimStats,
};
