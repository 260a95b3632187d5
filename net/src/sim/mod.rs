//! Deterministic simulation of a tern cluster: an in-memory network with virtual time, loss,
//! reordering, duplication, delay, partitions and crashes, and the history checker.

mod history;
mod net;
mod rng;

pub use history::{check, CheckConfig, Event, History, SendResult, Violation};
pub use net::{ConnId, LinkConfig, NetEvent, NetStats, Network, NodeIx, StreamId};
pub use rng::Rng;
