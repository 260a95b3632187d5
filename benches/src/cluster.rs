//! Helpers for the benches that run listening nodes of this process (`cluster_move.rs`,
//! `remote_call.rs`): deadlines that name what hung, joins, B8's round trip measured on the
//! bench's own nodes (the unit those benches report in), percentiles and the summary printed
//! at the end.

use std::future::Future;
use std::time::{Duration, Instant};

use tern::{Node, TaskHandle};
use tern_tests::cluster::name_homed_at;
use tokio::runtime::Runtime;

use crate::{Echo, Pinger};

/// How long a move, an echo, a call or a pass may take before the bench calls it a hang.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `fut` on `rt`, panicking with `what` when it takes longer than [`DEADLINE`].
///
/// # Panics
/// On the deadline.
pub fn block<T>(rt: &Runtime, what: impl FnOnce() -> String, fut: impl Future<Output = T>) -> T {
    match rt.block_on(async { tokio::time::timeout(DEADLINE, fut).await }) {
        Ok(v) => v,
        Err(_) => panic!("hang: {} did not finish within {DEADLINE:?}", what()),
    }
}

/// Awaits a tern task's output (with [`block`]).
///
/// # Panics
/// When the task fails or hangs.
pub fn join<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static>(
    rt: &Runtime,
    task: TaskHandle<T>,
    what: &str,
) -> T {
    match block(rt, || format!("join of {what}"), task.join()) {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

/// `rounds` round trips between a `Pinger` on `nodes[0]` and an `Echo` on `nodes[1]` over
/// fresh rendezvous channels homed at their receivers (B8's `tern/homes-at-receivers`); the
/// time from spawning both to the pinger's end.
///
/// # Panics
/// When a task fails, hangs or counts wrong.
pub fn b8_round_trips(rt: &Runtime, nodes: &[Node], rounds: u64) -> Duration {
    let (a, b) = (&nodes[0], &nodes[1]);
    let ping = name_homed_at(nodes, &tern_tests::unique("b8-ping"), b);
    let pong = name_homed_at(nodes, &tern_tests::unique("b8-pong"), a);
    let start = Instant::now();
    let echo = b.spawn(Echo::new(b.channel(&ping), b.channel(&pong)));
    let pinger = a.spawn(Pinger::new(a.channel(&ping), a.channel(&pong), rounds));
    assert_eq!(join(rt, pinger, "B8 pinger"), rounds);
    let elapsed = start.elapsed();
    assert_eq!(join(rt, echo, "B8 echo"), rounds);
    elapsed
}

/// The median over `batches` batches of 50 B8 round trips ([`b8_round_trips`]) of the time
/// per round trip.
pub fn b8_unit(rt: &Runtime, nodes: &[Node], batches: usize) -> Duration {
    let mut per: Vec<Duration> = (0..batches)
        .map(|_| b8_round_trips(rt, nodes, 50) / 50)
        .collect();
    p50_p99(&mut per).0
}

/// The median and the 99th percentile of `samples` (sorted in place).
///
/// # Panics
/// When `samples` is empty.
pub fn p50_p99(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// `d` in microseconds.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Lines measured by a bench's plain loops, printed as they come and again at the end (after
/// criterion's output).
#[derive(Default)]
pub struct Summary {
    /// The lines, in order.
    pub lines: Vec<String>,
}

impl Summary {
    /// Prints `line` and keeps it for [`Summary::print`].
    pub fn add(&mut self, line: String) {
        eprintln!("{line}");
        self.lines.push(line);
    }

    /// Prints every line under a heading.
    pub fn print(&self) {
        eprintln!("\n---- summary (plain loops) ----");
        for line in &self.lines {
            eprintln!("{line}");
        }
    }
}
