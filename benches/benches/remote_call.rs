//! B12 remote calls: a method of an object exposed on node A (`#[tern::remote]`), called
//! through a `tern::Remote` from node B, with B8's ping-pong round trip measured on the same
//! two nodes in the same run as the unit.
//!
//! Two listening nodes of one worker each (`tern_tests::cluster`), QUIC on loopback with
//! mutual TLS from the per-process dev CA, one 2-worker tokio runtime that runs their cluster
//! drivers and QUIC; the bench thread drives with `block_on`. A `Calc` object is exposed on A;
//! its reference is sent to B through a channel, and B calls it through the copy it received.
//!
//! Rows of `b12_remote_call` (time per call; every result is checked):
//!
//! - `b8-round-trip/tern`: B8 on the same two nodes (a `Pinger` task on A, an `Echo` task on
//!   B, each channel homed at its receiver) — the unit, as in `cluster_move.rs`.
//! - `call/u64`: `add(n) -> u64` from plain async code on B (the bench thread's `block_on`).
//! - `call/1KiB-arg`: `len(bytes) -> u64` with a `Vec<u8>` of 1,000 bytes in.
//! - `call/1KiB-result`: `bytes(n) -> Vec<u8>` with 1,000 bytes out.
//! - `call-in-task/u64`: `add` awaited by a `#[tern::migratable]` task on B, in a loop of as many
//!   calls as criterion asks for, returning the sum (spawn and join included, amortized).
//! - `call-local/u64`: `add` called on A, the owner, through A's own reference: no network, but
//!   the copy rules still encode the arguments and the result.
//!
//! After criterion, a plain loop measures every row again in batches of 50 calls, interleaved
//! with batches of 50 B8 round trips, and prints each row's median per call in B8 round trips
//! of the same phase (`B12 call/u64: 150.2 µs = 1.08 B8 rt`).
//!
//! Every batch has a 30 s deadline; on a hang the panic names the call that was in flight.
//! `TERN_BENCH_QUICK=1` shortens the warm-up, the measurement and the plain loop.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use tern::{Node, Remote};
use tern_benches::cluster::{b8_round_trips, b8_unit, block, join, p50_p99, us, Summary};
use tern_benches::{per_element_group, quick, quick_or, tokio_runtime};
use tern_tests::cluster::{cluster, shutdown};
use tokio::runtime::Runtime;

/// What `add` adds to its argument (so that a result that merely echoes is caught).
const BASE: u64 = 1_000_000;

/// Bytes of the 1 KiB argument and result.
const KIB: usize = 1000;

/// Calls per batch of the plain loop.
const BATCH: u64 = 50;

/// The bench's remote interface.
#[tern::remote]
trait Calc {
    /// `n + BASE`.
    async fn add(&self, n: u64) -> u64;
    /// The length of `bytes`.
    async fn len(&self, bytes: Vec<u8>) -> u64;
    /// `n` bytes of [`pad`].
    async fn bytes(&self, n: u64) -> Vec<u8>;
}

/// The object exposed on A: stateless answers, and a count of the calls it served.
#[derive(Default)]
struct Calculator {
    calls: AtomicU64,
}

#[tern::remote]
impl Calc for Calculator {
    async fn add(&self, n: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        n + BASE
    }

    async fn len(&self, bytes: Vec<u8>) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        bytes.len() as u64
    }

    async fn bytes(&self, n: u64) -> Vec<u8> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        pad(n as usize)
    }
}

/// A deterministic pad of `len` bytes.
fn pad(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Calls `add(0..n)` on `calc` one after the other from inside a task, checking each result;
/// returns their sum.
#[tern::migratable]
async fn caller(calc: Remote<dyn Calc>, n: u64) -> u64 {
    let mut sum: u64 = 0;
    for i in 0..n {
        match calc.add(i).await {
            Ok(v) if v == i + BASE => sum += v,
            Ok(v) => panic!("add({i}) from a task answered {v}"),
            Err(e) => panic!("add({i}) from a task failed: {e}"),
        }
    }
    sum
}

/// The sum `caller(_, n)` returns.
fn caller_sum(n: u64) -> u64 {
    n * BASE + n * n.saturating_sub(1) / 2
}

/// What a row calls.
#[derive(Clone, Copy, Debug)]
enum Row {
    /// `add` from B.
    Add,
    /// `len` of 1,000 bytes from B.
    KibArg,
    /// `bytes(1000)` from B.
    KibResult,
    /// `add` from a task on B.
    InTask,
    /// `add` from A, the owner.
    Local,
}

impl Row {
    const ALL: [Row; 5] = [
        Row::Add,
        Row::KibArg,
        Row::KibResult,
        Row::InTask,
        Row::Local,
    ];

    fn id(self) -> &'static str {
        match self {
            Row::Add => "call/u64",
            Row::KibArg => "call/1KiB-arg",
            Row::KibResult => "call/1KiB-result",
            Row::InTask => "call-in-task/u64",
            Row::Local => "call-local/u64",
        }
    }
}

/// The two nodes and the references to the object on A.
struct Bench {
    nodes: Vec<Node>,
    /// The reference B received.
    on_b: Remote<dyn Calc>,
    /// A's own reference.
    on_a: Remote<dyn Calc>,
    /// The 1 KiB argument.
    arg: Vec<u8>,
    /// The expected 1 KiB result.
    result: Vec<u8>,
}

impl Bench {
    fn start(rt: &Runtime) -> Bench {
        let nodes = block(
            rt,
            || "start of the B12 nodes".into(),
            cluster(&["b12-a", "b12-b"]),
        );
        let on_a: Remote<dyn Calc> = nodes[0].expose(Calculator::default());
        let refs = "b12-refs";
        let on_b = block(rt, || "hand-over of the reference A → B".into(), async {
            let to = nodes[0].buffered_channel::<Remote<dyn Calc>>(refs, 1);
            if let Err(e) = to.send(on_a.clone()).await {
                panic!("the reference was not sent: {e}");
            }
            match nodes[1]
                .buffered_channel::<Remote<dyn Calc>>(refs, 1)
                .recv()
                .await
            {
                Ok(r) => r,
                Err(e) => panic!("the reference was not received on B: {e}"),
            }
        });
        assert_eq!(on_b.owner(), nodes[0].id(), "the reference on B");
        Bench {
            nodes,
            on_b,
            on_a,
            arg: pad(KIB),
            result: pad(KIB),
        }
    }

    /// `iters` calls of `row`, checked; their time.
    fn run(&self, rt: &Runtime, row: Row, iters: u64) -> Duration {
        if let Row::InTask = row {
            let start = Instant::now();
            let task = self.nodes[1].spawn(caller(self.on_b.clone(), iters));
            let what = format!("a task on B making {iters} calls of add on A");
            assert_eq!(join(rt, task, &what), caller_sum(iters));
            return start.elapsed();
        }
        // The call in flight, for the deadline's message.
        let at = Cell::new(0u64);
        let what = || {
            format!(
                "{} call #{} of {iters} ({})",
                row.id(),
                at.get(),
                match row {
                    Row::Local => "from A to its own object",
                    _ => "from plain async code on B to the object on A",
                }
            )
        };
        let calls = async {
            let start = Instant::now();
            for i in 0..iters {
                at.set(i);
                match row {
                    Row::Add | Row::Local => {
                        let calc = if let Row::Local = row {
                            &self.on_a
                        } else {
                            &self.on_b
                        };
                        match calc.add(i).await {
                            Ok(v) => assert_eq!(v, i + BASE, "{}", row.id()),
                            Err(e) => panic!("{} add({i}) failed: {e}", row.id()),
                        }
                    }
                    Row::KibArg => match self.on_b.len(self.arg.clone()).await {
                        Ok(n) => assert_eq!(n, KIB as u64, "len of the 1 KiB argument"),
                        Err(e) => panic!("len(1 KiB) #{i} failed: {e}"),
                    },
                    Row::KibResult => match self.on_b.bytes(KIB as u64).await {
                        Ok(bytes) => assert!(bytes == self.result, "the 1 KiB result differs"),
                        Err(e) => panic!("bytes(1000) #{i} failed: {e}"),
                    },
                    Row::InTask => unreachable!("handled above"),
                }
            }
            start.elapsed()
        };
        block(rt, what, calls)
    }
}

fn b12(c: &mut Criterion, rt: &Runtime, out: &mut Summary) {
    let bench = Bench::start(rt);
    let nodes = &bench.nodes;
    let mut group = per_element_group(c, "b12_remote_call");

    b8_round_trips(rt, nodes, 1000);
    group.bench_function("b8-round-trip/tern", |b| {
        b.iter_custom(|iters| b8_round_trips(rt, nodes, iters));
    });
    for row in Row::ALL {
        bench.run(rt, row, 200);
        group.bench_function(row.id(), |b| {
            b.iter_custom(|iters| bench.run(rt, row, iters));
        });
    }
    group.finish();

    // The plain loop: batches of every row interleaved with batches of B8, so that each ratio
    // is taken against the unit of the same phase.
    let batches = quick_or(10, 40);
    let mut unit = Vec::new();
    let mut rows: Vec<Vec<Duration>> = vec![Vec::new(); Row::ALL.len()];
    for _ in 0..batches {
        unit.push(b8_round_trips(rt, nodes, BATCH) / BATCH as u32);
        for (k, row) in Row::ALL.into_iter().enumerate() {
            rows[k].push(bench.run(rt, row, BATCH) / BATCH as u32);
        }
    }
    let (unit, _) = p50_p99(&mut unit);
    let check = b8_unit(rt, nodes, batches / 2);
    out.add(format!(
        "B12 unit: B8 round trip on these nodes {:.1} µs (median of {batches} batches of {BATCH}, interleaved with the rows; {:.1} µs right after)",
        us(unit),
        us(check),
    ));
    let mut local = Duration::ZERO;
    for (k, row) in Row::ALL.into_iter().enumerate() {
        let (p50, p99) = p50_p99(&mut rows[k]);
        if let Row::Local = row {
            local = p50;
        }
        out.add(format!(
            "B12 {}: {:.1} µs = {:.2} B8 rt (median of {batches} batches of {BATCH}; slowest batch {:.1} µs per call)",
            row.id(),
            us(p50),
            us(p50) / us(unit),
            us(p99),
        ));
    }
    out.add(format!(
        "B12 call-local/u64 is {:.1}% of the B8 round trip: what encoding, dispatch and decoding cost without the network",
        100.0 * us(local) / us(unit),
    ));

    let a = &nodes[0];
    let (sa, sb) = (a.remote_stats(), nodes[1].remote_stats());
    out.add(format!(
        "B12 stats: A served {} calls ({} panics), B sent {} calls out, A sent {} B of results out",
        sa.calls_in, sa.panics, sb.calls_out, sa.reply_bytes_out,
    ));
    assert_eq!(sa.panics, 0, "no method panicked");
    assert!(sb.calls_out > 0, "B's calls went over the network");
    let Bench {
        nodes, on_a, on_b, ..
    } = bench;
    drop((on_a, on_b));
    block(rt, || "shutdown of the B12 nodes".into(), shutdown(nodes));
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio_runtime(Some(2));
    let mut summary = Summary::default();
    if quick() {
        eprintln!("quick mode");
    }
    b12(&mut c, &rt, &mut summary);
    c.final_summary();
    summary.print();
}
