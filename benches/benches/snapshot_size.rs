//! B7 snapshots: size over the live state, and the time to take and restore one.
//!
//! Four tasks, each frozen at a suspension point, each written twice — as a hand-written
//! machine (the escape hatch: `impl Machine`) and as a `#[migratable]` function doing the same:
//!
//! - `empty`: no state at all, asleep (a pending sleep of an hour): `EmptyTask`, `empty_task`;
//! - `scalars10`: ten `u64` locals, asleep: `ScalarTask`, `scalar_task`;
//! - `buf1k`: a 1 KiB `Vec<u8>`, asleep: `BufferTask`, `buffer_task`;
//! - `relay2ch`: the `Relay` / `relay` of `tern-tests` after one value (total 5), waiting in
//!   `recv` and holding its two channels (`relay-h/in`, `relay-h/out` and `relay-m/in`,
//!   `relay-m/out`: names of the same length).
//!
//! Before timing, the bench prints a table per machine: the snapshot's bytes; its header
//! (magic, version and the postcard header); the frozen state (the root frame's bytes, read
//! out of the snapshot); the rest (the state's length prefix, the nested frames' count, the
//! pending request, the response tag and the suspension location — the location and the
//! pending request are also shown alone: a generated machine's location is the one-byte
//! marker that leaves it to the machine, a hand-written one's is spelled out; a relay's pending
//! receive names its channel by the index of the state's handle on it); the postcard bytes of a
//! plain struct holding the same live values; and how far the snapshot is from the bound of
//! issue 3 (at most header + 8 bytes over the plain struct). It checks that
//! the frozen state holds what it should (the hand-written machine's own postcard bytes, or the
//! plain values for a generated one) and that a restored task resumes with its state intact.
//!
//! Timed, per case and machine (the hand-written one first, its twin right after): `take` =
//! `TaskHandle::snapshot().await` (freeze the parked task, withdraw its request, encode);
//! `restore` = `Node::restore` (check and decode the bytes, install the task, resubmit its
//! request); both run in every iteration (snapshot → restore → …), each counting only its
//! half. The peer `postcard` = `to_allocvec` + `from_bytes` of the plain struct (channel
//! handles as their names, since a `Channel` only deserializes on a node). The node has one
//! worker, driven from the bench thread.

use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use serde::{Deserialize, Serialize};
use tern::{Channel, Cx, Machine, Node, Snapshot, Step, TaskHandle};

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

/// [`EmptyTask`] as a `#[migratable]` function.
#[tern::migratable]
async fn empty_task() -> u64 {
    tern::sleep(NAP).await;
    0
}

/// [`ScalarTask`] as a `#[migratable]` function: ten typed locals live across the sleep (the
/// parameter is not: it is dead once they are read).
#[tern::migratable]
async fn scalar_task(v: [u64; 10]) -> u64 {
    let l0: u64 = v[0];
    let l1: u64 = v[1];
    let l2: u64 = v[2];
    let l3: u64 = v[3];
    let l4: u64 = v[4];
    let l5: u64 = v[5];
    let l6: u64 = v[6];
    let l7: u64 = v[7];
    let l8: u64 = v[8];
    let l9: u64 = v[9];
    tern::sleep(NAP).await;
    [l0, l1, l2, l3, l4, l5, l6, l7, l8, l9]
        .iter()
        .fold(0, |a, b| a.wrapping_add(*b))
}

/// [`BufferTask`] as a `#[migratable]` function.
#[tern::migratable]
async fn buffer_task(buf: Vec<u8>) -> u64 {
    tern::sleep(NAP).await;
    buf.iter().map(|b| u64::from(*b)).sum()
}

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

/// The relay's plain peer for timing: channel handles as their names.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PlainRelay {
    input: String,
    output: String,
    total: u64,
}

/// The relay's live values as they are (the channel handles serialize as name, type hash and
/// capacity): the plain struct of the size bound.
#[derive(Serialize)]
struct RelayValues {
    input: Channel<u64>,
    output: Channel<u64>,
    total: u64,
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

/// Which machine a case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    HandWritten,
    Migratable,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::HandWritten => "hand-written",
            Kind::Migratable => "migratable",
        }
    }
}

/// One case: a live task and what its frozen state must hold.
struct Case {
    name: &'static str,
    kind: Kind,
    handle: TaskHandle<u64>,
    /// Bytes the frozen state must contain: the postcard of the hand-written machine (the whole
    /// state), or of the plain live values (a generated machine adds its variant index).
    expect: Vec<u8>,
    /// The postcard bytes of a plain struct holding the same live values.
    plain: usize,
    /// The source file of the task's suspension point (spelled out in a hand-written
    /// machine's snapshot; a generated machine's holds a one-byte marker instead).
    file: &'static str,
}

/// The length of `v` as a postcard varint.
fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// A snapshot split into the parts of its format (`snapshot/mod.rs`): header (with the magic
/// and version), the root frame's state, and the rest of the body.
struct Parts {
    header: usize,
    state: Vec<u8>,
    location: usize,
    pending: usize,
}

fn parts(case: &Case, snap: &Snapshot) -> Parts {
    let bytes = snap.as_bytes();
    let header = match snap.header() {
        Ok(h) => 6 + postcard_bytes(&h).len(),
        Err(e) => panic!("{}: snapshot header unreadable: {e}", case.name),
    };
    // The body starts with the root frame's state as length-prefixed bytes.
    let (len, rest) = match postcard::take_from_bytes::<u64>(&bytes[header..]) {
        Ok(v) => v,
        Err(e) => panic!("{}: no state length after the header: {e}", case.name),
    };
    let Some(state) = usize::try_from(len).ok().and_then(|l| rest.get(..l)) else {
        panic!("{}: state length {len} past the end", case.name);
    };
    // The body ends with the location: `Written`'s tag, file (length-prefixed), line and
    // column for a hand-written machine; the one-byte `Machine` marker for a generated one.
    let file = case.file.as_bytes();
    let written = bytes.windows(file.len()).rposition(|w| w == file);
    let location = match (case.kind, written) {
        (Kind::HandWritten, Some(at)) => {
            bytes.len() - at.saturating_sub(varint_len(file.len() as u64) + 1)
        }
        (Kind::Migratable, None) if bytes.last() == Some(&1) => 1,
        _ => panic!(
            "{}: the suspension location is not as expected ({:?} found at {written:?})",
            case.name, case.file
        ),
    };
    // Between the state and the location: the nested frames' count (0, one byte), the pending
    // request (with its `Some` tag) and the response (`None`, one byte).
    let framing = varint_len(len) + 1 + 1;
    let pending = bytes.len() - header - state.len() - framing - location;
    Parts {
        header,
        state: state.to_vec(),
        location,
        pending,
    }
}

/// Takes a snapshot, checks that its state holds what it should, prints the case's table row
/// when `print`, and restores the task.
fn row(driver: &tokio::runtime::Runtime, node: &Node, case: &mut Case, print: bool) {
    let snap = take(driver, &case.handle);
    let p = parts(case, &snap);
    match case.kind {
        Kind::HandWritten => assert_eq!(
            p.state, case.expect,
            "{}: the snapshot does not hold the task's state",
            case.name
        ),
        Kind::Migratable => assert!(
            p.state.len() <= case.expect.len() + 1
                && p.state
                    .windows(case.expect.len().max(1))
                    .any(|w| w.starts_with(&case.expect)),
            "{}: the generated state {:?} does not hold the live values {:?}",
            case.name,
            p.state,
            case.expect
        ),
    }
    case.handle = restore(node, &snap);
    if !print {
        return;
    }
    let rest = snap.len() - p.header - p.state.len();
    let bound = p.header + 8 + case.plain;
    let over = snap.len() as i64 - bound as i64;
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        case.name,
        case.kind.label(),
        snap.len(),
        p.header,
        p.state.len(),
        rest,
        p.location,
        p.pending,
        case.plain,
        bound,
        over
    );
}

/// Times `take` and `restore` (each its half of every round trip) of `case`.
fn bench_case(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    driver: &tokio::runtime::Runtime,
    node: &Node,
    case: &mut Case,
    what: &str,
) {
    let id = format!("{what}/{}/{}", case.name, case.kind.label());
    let take_half = what == "take";
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let snap = take(driver, &case.handle);
                if take_half {
                    spent += start.elapsed();
                }
                let start = Instant::now();
                case.handle = restore(node, &snap);
                if !take_half {
                    spent += start.elapsed();
                }
            }
            spent
        });
    });
}

/// Times the postcard peer: encode and decode of the plain struct.
fn bench_postcard<P>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    plain: &P,
) where
    P: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
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

/// A relay of `kind` on channels `{prefix}/in` and `{prefix}/out`, fed one value (5) and
/// parked in its next `recv`; returns its case and its channels.
fn relay_case(
    driver: &tokio::runtime::Runtime,
    node: &Node,
    kind: Kind,
    prefix: &str,
) -> (Case, Channel<u64>, Channel<u64>) {
    let input = node.channel::<u64>(&format!("{prefix}/in"));
    let output = node.channel::<u64>(&format!("{prefix}/out"));
    let handle = match kind {
        Kind::HandWritten => node.spawn(tern_tests::Relay::new(input.clone(), output.clone())),
        Kind::Migratable => node.spawn(tern_tests::relay(input.clone(), output.clone())),
    };
    driver.block_on(async {
        if let Err(e) = input.send(5).await {
            panic!("relay input: {e}");
        }
        assert_eq!(output.recv().await.ok(), Some(5));
    });
    // Wait until the relay is parked in its next receive (the state to freeze).
    while input.balance() >= 0 {
        std::thread::yield_now();
    }
    let values = RelayValues {
        input: input.clone(),
        output: output.clone(),
        total: 5,
    };
    let expect = match kind {
        Kind::HandWritten => {
            let mut state = tern_tests::Relay::new(input.clone(), output.clone());
            state.total = 5;
            state.at = tern_tests::RelayAt::Receiving;
            postcard_bytes(&state)
        }
        Kind::Migratable => postcard_bytes(&values),
    };
    let case = Case {
        name: "relay2ch",
        kind,
        handle,
        expect,
        plain: postcard_bytes(&values).len(),
        file: "tests/src/lib.rs",
    };
    (case, input, output)
}

/// Sends 7 to a restored relay, expects 12 (its total was 5), closes it and joins it.
fn finish_relay(
    driver: &tokio::runtime::Runtime,
    relay: Case,
    input: &Channel<u64>,
    output: &Channel<u64>,
) {
    driver.block_on(async {
        if let Err(e) = input.send(7).await {
            panic!("restored relay input: {e}");
        }
        assert_eq!(
            output.recv().await.ok(),
            Some(12),
            "restored {} relay lost its total",
            relay.kind.label()
        );
    });
    input.close();
    match driver.block_on(relay.handle.join()) {
        Ok(v) => assert_eq!(v, 12),
        Err(e) => panic!("restored {} relay failed: {e}", relay.kind.label()),
    }
}

/// The median of `v` (which it sorts).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Takes and restores the two machines of a case in alternation and prints a row: the median
/// over `rounds` of the mean `take` and `restore` times (ns) of a batch of round trips of each
/// machine, and the median of the per-round ratios migratable / hand-written. Both machines run
/// in every round (their order swapped every other round), so drift on this shared VM hits
/// both alike; criterion's per-bench figures cannot pair them this way.
fn paired(driver: &tokio::runtime::Runtime, node: &Node, pair: &mut [Case], rounds: usize) {
    const BATCH: u32 = 20;
    let mut per_round = [(); 6].map(|()| Vec::with_capacity(rounds));
    for round in 0..rounds {
        let mut times = [[0.0; 2]; 2]; // [machine][take, restore]
        for k in 0..2 {
            let m = if round % 2 == 0 { k } else { 1 - k };
            let case = &mut pair[m];
            let (mut taking, mut restoring) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..BATCH {
                let start = Instant::now();
                let snap = take(driver, &case.handle);
                let mid = Instant::now();
                case.handle = restore(node, &snap);
                restoring += mid.elapsed();
                taking += mid - start;
            }
            times[m] = [taking, restoring].map(|d| d.as_nanos() as f64 / f64::from(BATCH));
        }
        per_round[0].push(times[0][0]);
        per_round[1].push(times[1][0]);
        per_round[2].push(times[1][0] / times[0][0]);
        per_round[3].push(times[0][1]);
        per_round[4].push(times[1][1]);
        per_round[5].push(times[1][1] / times[0][1]);
    }
    let [a, b, c, d, e, f] = per_round.map(|mut v| median(&mut v));
    println!(
        "| {} | {a:.0} | {b:.0} | {c:.3} | {d:.0} | {e:.0} | {f:.3} |",
        pair[0].name
    );
}

fn snapshots(c: &mut Criterion) {
    let driver = tern_benches::driver();
    let node = tern_benches::start_node(&driver, "bench-snap", 1);
    // A restored sleep whose deadline is the earliest of the node wakes the timer thread (a
    // futex wake, several µs). Each take → restore pushes a task's deadline later by the time
    // between the two, so which case holds the earliest deadline would change during the run
    // and bill that wake-up to whichever case it is (it made one machine's restore 2–3× the
    // other's). A sleeper with an earlier deadline that is never frozen keeps every case off
    // the top of the heap.
    let _earliest = node.spawn(tern_tests::Sleeper {
        millis: NAP.as_millis() as u64 / 2,
        value: 0,
        slept: false,
    });
    let here = file!();
    let sleeper = |name, kind, handle, expect: Vec<u8>, plain: Vec<u8>| Case {
        name,
        kind,
        handle,
        expect,
        plain: plain.len(),
        file: here,
    };
    use Kind::{HandWritten, Migratable};
    let mut cases = vec![
        sleeper(
            "empty",
            HandWritten,
            node.spawn(EmptyTask),
            postcard_bytes(&EmptyTask),
            postcard_bytes(&PlainEmpty),
        ),
        sleeper(
            "empty",
            Migratable,
            node.spawn(empty_task()),
            postcard_bytes(&PlainEmpty),
            postcard_bytes(&PlainEmpty),
        ),
        sleeper(
            "scalars10",
            HandWritten,
            node.spawn(ScalarTask { locals: scalars() }),
            postcard_bytes(&ScalarTask { locals: scalars() }),
            postcard_bytes(&PlainScalars { locals: scalars() }),
        ),
        sleeper(
            "scalars10",
            Migratable,
            node.spawn(scalar_task(scalars())),
            postcard_bytes(&PlainScalars { locals: scalars() }),
            postcard_bytes(&PlainScalars { locals: scalars() }),
        ),
        sleeper(
            "buf1k",
            HandWritten,
            node.spawn(BufferTask { buf: buffer() }),
            postcard_bytes(&BufferTask { buf: buffer() }),
            postcard_bytes(&PlainBuffer { buf: buffer() }),
        ),
        sleeper(
            "buf1k",
            Migratable,
            node.spawn(buffer_task(buffer())),
            postcard_bytes(&PlainBuffer { buf: buffer() }),
            postcard_bytes(&PlainBuffer { buf: buffer() }),
        ),
    ];
    let (hand_relay, hand_in, hand_out) = relay_case(&driver, &node, HandWritten, "relay-h");
    let (gen_relay, gen_in, gen_out) = relay_case(&driver, &node, Migratable, "relay-m");
    cases.push(hand_relay);
    cases.push(gen_relay);

    println!();
    println!("| task | machine | snapshot bytes | header (magic+version+header) | state | rest of the framing | of which the suspension location | of which the pending request | plain struct (same live values) | bound: header + 8 + plain | snapshot − bound |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for case in &mut cases {
        row(&driver, &node, case, true);
    }
    println!();

    let rounds = tern_benches::quick_or(100, 500);
    println!("Paired take/restore, hand-written (H) and migratable (M) in alternation: medians over {rounds} rounds of 20 round trips each, ns");
    println!();
    println!("| task | take H | take M | take M/H | restore H | restore M | restore M/H |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for pair in cases.chunks_mut(2) {
        paired(&driver, &node, pair, rounds);
    }
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
    // Per case: take of both machines, restore of both machines, then the postcard peer.
    for pair in cases.chunks_mut(2) {
        for what in ["take", "restore"] {
            for case in pair.iter_mut() {
                bench_case(&mut group, &driver, &node, case, what);
            }
        }
        match pair[0].name {
            "empty" => bench_postcard(&mut group, "empty", &PlainEmpty),
            "scalars10" => {
                bench_postcard(&mut group, "scalars10", &PlainScalars { locals: scalars() })
            }
            "buf1k" => bench_postcard(&mut group, "buf1k", &PlainBuffer { buf: buffer() }),
            _ => bench_postcard(
                &mut group,
                "relay2ch",
                &PlainRelay {
                    input: "relay-h/in".into(),
                    output: "relay-h/out".into(),
                    total: 5,
                },
            ),
        }
    }
    group.finish();

    // After thousands of round trips the tasks still hold their state.
    for case in &mut cases {
        row(&driver, &node, case, false);
    }
    // The relays resume where they were: their totals are still 5.
    let gen_relay = cases.pop();
    let hand_relay = cases.pop();
    match (hand_relay, gen_relay) {
        (Some(h), Some(g)) => {
            finish_relay(&driver, h, &hand_in, &hand_out);
            finish_relay(&driver, g, &gen_in, &gen_out);
        }
        _ => unreachable!("the relay cases are the last two"),
    }
    drop(cases);
    driver.block_on(node.shutdown());
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    snapshots(&mut c);
    c.final_summary();
}
