//! B7 snapshots: size over the live state, and the time to take and restore one.
//!
//! Four tasks, each frozen at a suspension point:
//!
//! - `empty`: a machine with no fields, asleep (a pending sleep of an hour);
//! - `scalars10`: ten `u64` locals, asleep;
//! - `buf1k`: a 1 KiB `Vec<u8>`, asleep;
//! - `relay2ch`: the `Relay` of `tern-tests` after one value (total 5), waiting in `recv` and
//!   holding its two channels (`relay/in`, `relay/out`).
//!
//! Before timing, the bench prints a table: the snapshot's bytes, the postcard bytes of the
//! machine's live state (`postcard::to_allocvec(&machine)`, what the snapshot's frame holds),
//! the difference (magic, version, header, frame framing, pending request, suspension
//! location), and the postcard bytes of an equivalent plain struct (channel handles as their
//! names). It also checks that a restored task resumes with its state intact.
//!
//! Timed, per case: `take` = `TaskHandle::snapshot().await` (freeze the parked task, withdraw
//! its request, encode); `restore` = `Node::restore` (check and decode the bytes, install
//! the task, resubmit its request); both run in every iteration (snapshot → restore → …), each
//! counting only its half. The peer `postcard` = `to_allocvec` + `from_bytes` of the plain
//! struct. The node has one worker, driven from the bench thread.

use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use serde::{Deserialize, Serialize};
use tern::{Cx, Machine, Node, Snapshot, Step, TaskHandle};

const NAP: Duration = Duration::from_secs(3600);

/// No state at all: asleep until resumed once, then returns 0.
#[derive(Debug, Serialize, Deserialize)]
struct EmptyTask;

impl Machine for EmptyTask {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_benches::EmptyTask";
    const FINGERPRINT: u64 = 0xbe7c_0101;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if cx.has_response() {
            cx.resumed(|| tern::sleep(NAP));
            return Step::Done(0);
        }
        cx.suspend(tern::sleep(NAP))
    }
}
tern::register_machine!(EmptyTask);

/// Ten scalar locals, asleep; returns their sum when woken.
#[derive(Debug, Serialize, Deserialize)]
struct ScalarTask {
    locals: [u64; 10],
}

impl Machine for ScalarTask {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_benches::ScalarTask";
    const FINGERPRINT: u64 = 0xbe7c_0102;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if cx.has_response() {
            cx.resumed(|| tern::sleep(NAP));
            return Step::Done(self.locals.iter().fold(0, |a, b| a.wrapping_add(*b)));
        }
        cx.suspend(tern::sleep(NAP))
    }
}
tern::register_machine!(ScalarTask);

/// A 1 KiB buffer, asleep; returns the sum of its bytes when woken.
#[derive(Debug, Serialize, Deserialize)]
struct BufferTask {
    buf: Vec<u8>,
}

impl Machine for BufferTask {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_benches::BufferTask";
    const FINGERPRINT: u64 = 0xbe7c_0103;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if cx.has_response() {
            cx.resumed(|| tern::sleep(NAP));
            return Step::Done(self.buf.iter().map(|b| u64::from(*b)).sum());
        }
        cx.suspend(tern::sleep(NAP))
    }
}
tern::register_machine!(BufferTask);

/// The plain-struct peers: the same data, no runtime.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PlainEmpty;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PlainScalars {
    locals: [u64; 10],
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PlainBuffer {
    buf: Vec<u8>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PlainRelay {
    input: String,
    output: String,
    total: u64,
    at: u8,
}

fn scalars() -> [u64; 10] {
    // Values of every width, as real locals would be (postcard writes varints).
    std::array::from_fn(|i| 0x9e37_79b9_7f4a_7c15_u64 >> (6 * i))
}

fn buffer() -> Vec<u8> {
    (0..1024u32).map(|i| (i * 31 % 251) as u8).collect()
}

fn postcard_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    match postcard::to_allocvec(v) {
        Ok(b) => b,
        Err(e) => panic!("postcard encode failed: {e}"),
    }
}

fn take(driver: &tokio::runtime::Runtime, h: &TaskHandle<u64>) -> Snapshot {
    match driver.block_on(h.snapshot()) {
        Ok(s) => s,
        Err(e) => panic!("snapshot failed: {e}"),
    }
}

fn restore(node: &Node, snap: &Snapshot) -> TaskHandle<u64> {
    match node.restore::<u64>(snap) {
        Ok(h) => h,
        Err(e) => panic!("restore failed: {e}"),
    }
}

/// One case: a live task, the postcard bytes of its machine state, and the plain peer.
struct Case<P> {
    name: &'static str,
    handle: TaskHandle<u64>,
    live: Vec<u8>,
    plain: P,
}

/// Takes a snapshot, checks that it carries the live state, prints the case's table row when
/// `print`, and restores the task.
fn row<P: Serialize>(
    driver: &tokio::runtime::Runtime,
    node: &Node,
    case: &mut Case<P>,
    print: bool,
) {
    let snap = take(driver, &case.handle);
    assert!(
        snap.as_bytes()
            .windows(case.live.len().max(1))
            .any(|w| w.starts_with(&case.live)),
        "{}: the snapshot does not hold the task's state",
        case.name
    );
    case.handle = restore(node, &snap);
    if !print {
        return;
    }
    let live_bytes = case.live.len();
    let header = match snap.header() {
        Ok(h) => h,
        Err(e) => panic!("{}: snapshot header unreadable: {e}", case.name),
    };
    let header_bytes = 6 + postcard_bytes(&header).len();
    let plain = postcard_bytes(&case.plain).len();
    println!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        case.name,
        snap.len(),
        live_bytes,
        snap.len() - live_bytes,
        header_bytes,
        snap.len() - header_bytes - live_bytes,
        plain
    );
}

/// Times `take` and `restore` (each its half of every round trip) and the postcard peer.
fn bench_case<P>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    driver: &tokio::runtime::Runtime,
    node: &Node,
    case: &mut Case<P>,
) where
    P: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let name = case.name;
    group.bench_function(format!("take/{name}"), |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let snap = take(driver, &case.handle);
                spent += start.elapsed();
                case.handle = restore(node, &snap);
            }
            spent
        });
    });
    group.bench_function(format!("restore/{name}"), |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let snap = take(driver, &case.handle);
                let start = Instant::now();
                case.handle = restore(node, &snap);
                spent += start.elapsed();
            }
            spent
        });
    });
    let plain = &case.plain;
    assert_eq!(
        &postcard::from_bytes::<P>(&postcard_bytes(plain))
            .ok()
            .as_ref(),
        &Some(plain)
    );
    group.bench_function(format!("postcard/{name}"), |b| {
        b.iter(|| {
            let bytes = postcard_bytes(std::hint::black_box(plain));
            match postcard::from_bytes::<P>(&bytes) {
                Ok(back) => back,
                Err(e) => panic!("postcard decode failed: {e}"),
            }
        });
    });
}

fn snapshots(c: &mut Criterion) {
    let driver = tern_benches::driver();
    let node = tern_benches::start_node(&driver, "bench-snap", 1);

    let mut empty = Case {
        name: "empty",
        live: postcard_bytes(&EmptyTask),
        handle: node.spawn(EmptyTask),
        plain: PlainEmpty,
    };
    let mut scalar = Case {
        name: "scalars10",
        live: postcard_bytes(&ScalarTask { locals: scalars() }),
        handle: node.spawn(ScalarTask { locals: scalars() }),
        plain: PlainScalars { locals: scalars() },
    };
    let mut buf = Case {
        name: "buf1k",
        live: postcard_bytes(&BufferTask { buf: buffer() }),
        handle: node.spawn(BufferTask { buf: buffer() }),
        plain: PlainBuffer { buf: buffer() },
    };
    let input = node.channel::<u64>("relay/in");
    let output = node.channel::<u64>("relay/out");
    let relay = tern_tests::Relay::new(input.clone(), output.clone());
    let relay_handle = node.spawn(relay);
    driver.block_on(async {
        if let Err(e) = input.send(5).await {
            panic!("relay input: {e}");
        }
        assert_eq!(output.recv().await.ok(), Some(5));
    });
    let mut relay_state = tern_tests::Relay::new(input.clone(), output.clone());
    relay_state.total = 5;
    relay_state.at = tern_tests::RelayAt::Receiving;
    let mut relay = Case {
        name: "relay2ch",
        live: postcard_bytes(&relay_state),
        handle: relay_handle,
        plain: PlainRelay {
            input: "relay/in".into(),
            output: "relay/out".into(),
            total: 5,
            at: 1,
        },
    };

    println!();
    println!("| task | snapshot bytes | live state (postcard of the machine) | snapshot − live | magic+version+header | rest of the framing | plain struct (postcard) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    row(&driver, &node, &mut empty, true);
    row(&driver, &node, &mut scalar, true);
    row(&driver, &node, &mut buf, true);
    row(&driver, &node, &mut relay, true);
    println!();

    let mut group = c.benchmark_group("snapshot");
    group
        .sample_size(if tern_benches::quick() { 10 } else { 30 })
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(if tern_benches::quick() {
            1
        } else {
            2
        }));
    bench_case(&mut group, &driver, &node, &mut empty);
    bench_case(&mut group, &driver, &node, &mut scalar);
    bench_case(&mut group, &driver, &node, &mut buf);
    bench_case(&mut group, &driver, &node, &mut relay);
    group.finish();

    // After thousands of round trips the tasks still hold their state.
    row(&driver, &node, &mut empty, false);
    row(&driver, &node, &mut scalar, false);
    row(&driver, &node, &mut buf, false);
    row(&driver, &node, &mut relay, false);
    // The relay resumes where it was: its total is still 5.
    driver.block_on(async {
        if let Err(e) = input.send(7).await {
            panic!("restored relay input: {e}");
        }
        assert_eq!(
            output.recv().await.ok(),
            Some(12),
            "restored relay lost its total"
        );
    });
    input.close();
    let joined = |h: TaskHandle<u64>| match driver.block_on(h.join()) {
        Ok(v) => v,
        Err(e) => panic!("restored task failed: {e}"),
    };
    assert_eq!(joined(relay.handle), 12);
    drop((empty, scalar, buf));
    driver.block_on(node.shutdown());
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    snapshots(&mut c);
    c.final_summary();
}
