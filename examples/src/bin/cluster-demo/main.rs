//! The cluster demo: three node processes run a pipeline of stateful `#[migratable]` workers
//! over named channels, on QUIC with mutual TLS, and **move the workers between the processes
//! while the messages flow** — by handle, by the worker itself, and by draining a node.
//!
//! Run without arguments, this program is the **coordinator**. It:
//!
//! 1. makes a cluster CA in a fresh temporary directory and writes the CA certificate and a
//!    certificate and key for each of the nodes `alpha`, `beta` and `gamma` (the CA's own key
//!    is never written: it lives and dies in this process);
//! 2. starts the three nodes as processes of its own binary (`cluster-demo node <id> <dir>
//!    <jobs>`), reads the address each listens on, and tells each node the addresses of the
//!    nodes started before it to dial, so that every pair of nodes is connected before any
//!    channel is used. The processes run the same binary, so every worker type is registered
//!    in every process: a worker's snapshot can resume in any of them;
//! 3. lets the pipeline run: on `alpha`, two producer tasks send numbered jobs on the buffered
//!    channel `"jobs"`; six `#[migratable]` stage workers, spawned on `alpha` (their home,
//!    where their handles and joins live) and at once moved out to `beta` and `gamma`, square
//!    the jobs and keep a running state (how many jobs they did, the sum of their squares),
//!    stamping each answer on `"results"` with it; `alpha` collects and checks the answers.
//!    Meanwhile:
//!    - `alpha` moves a worker by its handle every few hundred answers, wherever it runs
//!      (`TaskHandle::move_to`, over the network, the handle following the worker);
//!    - one worker, the *wanderer*, moves itself from `beta` to `alpha` and back from inside
//!      its loop (`tern::move_to`);
//!    - at 40 % of the answers, `alpha` asks for `gamma` to be drained: `Node::drain` moves
//!      every worker on `gamma` to the two other nodes, and `gamma` refuses arrivals from
//!      then on;
//!
//!    and every worker says where it resumed, with the state it carried there;
//! 4. cross-checks what the nodes report — every job answered exactly once, the sum of the
//!    squares, each worker's own tally (joined at home, on `alpha`, wherever the worker ended)
//!    against the answers it sent, the moves the demo made against the moves the nodes count
//!    (`cluster_stats().moves_out`, summed over the nodes) — has `alpha` close `"results"`
//!    and find it empty, and lets the nodes exit.
//!
//! The nodes' progress lines are forwarded with the node's name. Any failed check or move, a
//! node that exits early, or a run longer than 60 seconds ends the demo with a non-zero status
//! (and the node processes killed).
//!
//! Run: `cargo run --release -p tern-examples --bin cluster-demo [-- --jobs N]` (default
//! 12 000 jobs; the producers pace themselves at about 2 400 jobs a second, so that the moves
//! happen while the messages flow).
//!
//! # The coordinator's line protocol
//!
//! A node writes one line per event on its stdout: `listening <addr>`, `ready <jobs home>
//! <results home>`, `drain` (`alpha`: drain `gamma` now), `drained <key=value>...` (`gamma`),
//! `done <key=value>...`, `finished <key=value>...`, and `say <area> <message>` for a progress
//! line. The coordinator writes one line per step on the node's stdin: `peers <id>=<addr>...`,
//! `go`, `drain` (to `gamma`), `drained <key=value>...` (to `alpha`), `finish`; then it closes
//! the node's stdin, and the node shuts down and exits. A node whose stdin closes early (the
//! coordinator went away) exits with a failure.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tern::net::{ClusterCa, TlsConfig};
use tern::{migratable, Channel, ChannelError, MoveError, Node, NodeId, TaskHandle};

type Error = Box<dyn std::error::Error>;

mod coordinator;
mod node;

use coordinator::*;
use node::*;

/// The nodes, in the order the coordinator starts them. `alpha` produces, collects, and is the
/// home of every task; `gamma` is drained halfway through.
const NODES: [&str; 3] = ["alpha", "beta", "gamma"];
/// The node that produces, collects and spawns (the workers' home).
const ALPHA: &str = NODES[0];
/// The node drained while the jobs flow.
const DRAINED: &str = NODES[2];
/// Jobs sent when `--jobs` is not given.
const DEFAULT_JOBS: u64 = 12_000;
/// The fewest jobs `--jobs` accepts (so that there is time for the moves and the drain).
const MIN_JOBS: u64 = 100;
/// The most jobs `--jobs` accepts (so that the paced run fits the time limit).
const MAX_JOBS: u64 = 100_000;
/// Producer tasks on `alpha`.
const PRODUCERS: u64 = 2;
/// A producer pauses [`PAUSE`] after every `BATCH` jobs: about 2 400 jobs a second in all.
const BATCH: u64 = 12;
const PAUSE: Duration = Duration::from_millis(10);
/// Stage workers (all spawned on `alpha`).
const WORKERS: u64 = 6;
/// The worker that moves itself; the others are moved by their handles and by the drain.
const WANDERER: u64 = WORKERS - 1;
/// The self-moves the wanderer makes, between beta and alpha (its home).
const SELF_MOVES: u64 = 4;
/// Where each worker is moved right after it is spawned.
const PLACEMENT: [&str; WORKERS as usize] = ["beta", "beta", "gamma", "gamma", "alpha", "beta"];
/// Receivers of `"results"` on `alpha`.
const COLLECTORS: usize = 4;
/// Room in each of `"jobs"` and `"results"`.
const CAPACITY: usize = 64;
/// The longest the whole run may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a node waits for its connections to be counted as members.
const MESH_TIMEOUT: Duration = Duration::from_secs(10);

/// A worker's answer to one job, stamped with the worker's running state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Answer {
    /// The job: a number from 1 to the number of jobs.
    job: u64,
    /// Its square.
    square: u64,
    /// The worker that answered.
    worker: u64,
    /// How many jobs that worker has answered, this one included (1, 2, 3, ...).
    count: u64,
    /// The sum of the squares that worker has answered, this one included.
    sum: u64,
    /// The node it ran on.
    node: String,
}

/// What a worker returns: its running state at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tally {
    /// Jobs answered.
    count: u64,
    /// The sum of their squares.
    sum: u64,
    /// Changes of node the worker saw.
    hops: u64,
    /// Moves it made itself (`tern::move_to`).
    self_moves: u64,
    /// The node it ended on.
    node: String,
}

/// Sends the jobs `first`, `first + step`, ... up to `last` on `jobs`, pausing after every
/// [`BATCH`]; returns how many it sent.
#[migratable]
async fn produce(jobs: Channel<u64>, first: u64, last: u64, step: u64) -> u64 {
    let mut sent: u64 = 0;
    let mut job: u64 = first;
    while job <= last {
        if jobs.send(job).await.is_err() {
            return sent;
        }
        sent += 1;
        job += step;
        if sent % BATCH == 0 {
            tern::sleep(PAUSE).await;
        }
    }
    sent
}

/// The index in [`NODES`] of the node running the calling task.
fn here() -> u64 {
    let id = tern::current_node().map(|n| n.id().to_string());
    NODES
        .iter()
        .position(|n| Some(*n) == id.as_deref())
        .map_or(u64::MAX, |i| i as u64)
}

/// The name of the node of index `i` in [`NODES`].
fn name(i: u64) -> &'static str {
    usize::try_from(i)
        .ok()
        .and_then(|i| NODES.get(i))
        .copied()
        .unwrap_or("?")
}

/// A stage worker: squares every job from `jobs` and sends the answer, stamped with its
/// running state, to `results`, until `jobs` is closed and empty. When `hop_every` is not 0
/// it moves itself between `alpha` and `beta` after every `hop_every` jobs.
#[migratable]
async fn stage(jobs: Channel<u64>, results: Channel<Answer>, worker: u64, hop_every: u64) -> Tally {
    let mut count: u64 = 0;
    let mut sum: u64 = 0;
    let mut hops: u64 = 0;
    let mut self_moves: u64 = 0;
    // The node it runs on, as an index in NODES: a change means it was moved.
    let mut at: u64 = here();
    while let Ok(job) = jobs.recv().await {
        if here() != at {
            hops += 1;
            report(
                "worker",
                format_args!(
                    "worker-{worker} resumed on {} (from {}, hop {hops}) with its state: {count} jobs, sum {sum}",
                    name(here()),
                    name(at)
                ),
            );
            at = here();
        }
        count += 1;
        sum += job * job;
        let answer = Answer {
            job,
            square: job * job,
            worker,
            count,
            sum,
            node: name(at).to_string(),
        };
        if results.send(answer).await.is_err() {
            break;
        }
        if hop_every > 0 && count % hop_every == 0 && self_moves < SELF_MOVES {
            // alpha (0) <-> beta (1)
            let to: u64 = if at == 0 { 1 } else { 0 };
            let refused: Option<String> =
                tern::move_to(name(to)).await.err().map(|e| e.to_string());
            if let Some(e) = refused {
                report(
                    "move",
                    format_args!(
                        "worker-{worker} stays on {}: its move to {} failed: {e}",
                        name(at),
                        name(to)
                    ),
                );
            } else {
                self_moves += 1;
                hops += 1;
                report(
                    "move",
                    format_args!(
                        "moved worker-{worker} {} -> {} by itself (hop {hops}, {count} jobs, sum {sum})",
                        name(at),
                        name(to)
                    ),
                );
                at = to;
            }
        }
    }
    Tally {
        count,
        sum,
        hops,
        self_moves,
        node: name(here()).to_string(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (role, result) = match args.first().map(String::as_str) {
        Some("node") => {
            let id = args.get(1).cloned().unwrap_or_default();
            (format!("cluster-demo node {id}"), node_main(&args[1..]))
        }
        _ => ("cluster-demo".to_string(), coordinate(&args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{role} failed: {e}");
            ExitCode::FAILURE
        }
    }
}
