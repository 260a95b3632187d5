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
//!                                                            withdraw + move, ack, NodeDown
//!   node       proto::Connection per connection   node.rs    handshake, keep-alive, failure
//!              proto::Home per channel homed here            detector; home_of; routing;
//!              frames via proto::encode/Decoder              one connection per pair
//!   transport  Network                            net.rs     QUIC's service model over
//!                                                            lossy datagram links
//!   checker    History + check                    history.rs I1 I2 I4 I6 (RELIABILITY.md)
//! ```
//!
//! The protocol code under test is the real one — [`Connection`](crate::proto::Connection),
//! [`Home`](crate::proto::Home) (with its [`OpLog`](crate::proto::OpLog)), the frame codec
//! and [`home_of`](crate::proto::home_of); the simulation writes only what the runtime's
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
//!   and its own parties' operations at that peer's homes fail with `NodeDown` (a send's
//!   value may or may not have been delivered: at most once across a crash).
//!
//! # Workload and faults
//!
//! Senders send numbered values one at a time on rendezvous or buffered channels;
//! receivers receive for ever (and come back as new parties when their node restarts);
//! impostors use a channel's name with another type and must be refused. Any operation may
//! be withdrawn, as a task freezing to move is: the party then moves to a random node with
//! a new epoch and issues the operation again there (or, if the home answered that it had
//! already matched, completes it and then moves). Faults — cuts, their heals, crashes and
//! restarts — are scheduled by time ([`Fault`]). [`SimConfig::from_seed`] draws all of this
//! from a seed; tests may also write a [`SimConfig`] by hand.
//!
//! # The check
//!
//! The run records a [`History`] — send, send outcome, delivery, party death, crash,
//! restart, cut, heal, and anything the protocol must never do (a stale refusal, an
//! undecodable frame, an answer of the wrong kind) — and [`check`] tests it for I1 (FIFO
//! per sender and channel, as each receiver sees it), I2 (no duplicate, no phantom, nothing
//! handed back and delivered), I4 (every value the home took is delivered, unless a crash
//! after its send explains the loss) and I6 (every send of a surviving sender ends, the
//! workload finishes, and work outstanding when the last fault healed progresses within a
//! bound). A run ends when the workload is done and every value taken is delivered (or, in
//! a run with a crash, 20 s after the last fault), or at [`SimConfig::limit`].
//!
//! Not modelled (yet): membership changes (homes are fixed by the initial membership), the
//! ownership record and snapshot transfer of a real migration (a move here is atomic once
//! the withdrawal is answered), `Close` and `Balance` in the workload (they are unit-tested
//! on [`Home`](crate::proto::Home)), simultaneous dials (see
//! [`surviving_dialer`](crate::proto::surviving_dialer)), and giving up on a peer that never
//! comes back.
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
