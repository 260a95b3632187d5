//! First contact: the DESIGN example as a `#[migratable]` function.

use tern::{migratable, Channel};

#[migratable]
async fn accumulate(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut total: u64 = 0;
    while let Ok(v) = input.recv().await {
        total += v;
        output.send(total).await.ok();
    }
    total
}

#[tokio::test]
async fn accumulate_runs() {
    let node = tern_tests::node("smoke", 1).await;
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    let task = node.spawn(accumulate(input.clone(), output.clone()));
    input.send(5).await.unwrap();
    input.send(7).await.unwrap();
    assert_eq!(output.recv().await.unwrap(), 5);
    assert_eq!(output.recv().await.unwrap(), 12);
    input.close();
    assert_eq!(task.join().await.unwrap(), 12);
}

/// Receives one value and panics on zero (after its suspension point).
#[migratable]
async fn divide_by(input: Channel<u64>) -> u64 {
    let dividend: u64 = 1000;
    let d: u64 = input.recv().await.unwrap_or(0); // line 33: the suspension point
    if d == 0 {
        panic!("division by zero requested");
    }
    dividend / d
}

#[tokio::test]
async fn a_panicking_task_reports_its_own_source_line_and_state() {
    let node = tern_tests::node("smoke-report", 1).await;
    let input = node.channel::<u64>("in");
    let task = node.spawn(divide_by(input.clone()));
    input.send(0).await.unwrap();
    let report = match task.join().await {
        Err(tern::JoinError::Failed(report)) => report,
        other => panic!("expected a failure report, got {other:?}"),
    };
    let at = report.suspension_point.expect("the task suspended once");
    assert!(at.file.ends_with("migratable_smoke.rs"), "{at:?}");
    assert_eq!(at.line, 33, "the line of the user's .await");
    assert_eq!(report.task_type, "migratable_smoke::divide_by");
    let panic = report.panic.expect("a panic report");
    assert!(panic.message.contains("division by zero"), "{panic:?}");
}

#[tokio::test]
async fn a_suspended_task_stores_only_its_live_locals() {
    let node = tern_tests::node("smoke-size", 1).await;
    // Parked at its receive, `divide_by` stores `input` and `dividend`: `d` is not live yet.
    let task = node.spawn(divide_by(node.channel("in")));
    let snap = task.snapshot().await.unwrap();
    let restored = node.restore::<u64>(&snap).unwrap();
    // Parked at their receive, the hand-written Relay holds input, output, total and its
    // position; the generated `accumulate` holds input, output and total: it must not be larger.
    let hand = node.spawn(tern_tests::Relay::new(node.channel("a"), node.channel("b")));
    let gen = node.spawn(accumulate(node.channel("c"), node.channel("d")));
    for name in ["a", "c"] {
        while node.channel::<u64>(name).balance() >= 0 {
            tokio::task::yield_now().await;
        }
    }
    let (hand, gen) = (
        hand.snapshot().await.unwrap(),
        gen.snapshot().await.unwrap(),
    );
    // The headers differ in the type key and the length of the fingerprint's varint (a 64-bit
    // hash against Relay's small constant), and only the hand-written machine's snapshot spells
    // out its suspension point's file name; compare the rest.
    use tern::Machine;
    fn varint_len(mut v: u64) -> usize {
        let mut n = 1;
        while v >= 0x80 {
            v >>= 7;
            n += 1;
        }
        n
    }
    let fp_gen = varint_len(gen.header().unwrap().fingerprint);
    let fp_hand = varint_len(tern_tests::Relay::FINGERPRINT);
    let overhead = |s: &tern::Snapshot, key: &str, file: &str, fp: usize| {
        s.len() - key.len() - file.len() - fp
    };
    let gen_size = overhead(&gen, "migratable_smoke::accumulate", "", fp_gen);
    let hand_size = overhead(&hand, "tern_tests::Relay", "tests/src/lib.rs", fp_hand);
    assert!(
        gen_size <= hand_size,
        "generated {gen_size} bytes > hand-written {hand_size} bytes"
    );
    node.channel::<u64>("in").send(4).await.unwrap();
    assert_eq!(restored.join().await.unwrap(), 250);
}

/// A stateful worker whose run loop is a migratable method taking `self` by value.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Scaler {
    factor: u64,
    handled: u64,
}

#[migratable]
impl Scaler {
    /// Multiplies what arrives by `self.factor` until the input closes; returns the worker.
    async fn run(mut self, input: Channel<u64>, output: Channel<u64>) -> Scaler {
        while let Ok(v) = input.recv().await {
            output.send(v * self.factor).await.ok();
            self.handled += 1;
        }
        Self {
            factor: self.factor,
            handled: self.handled,
        }
    }

    fn new(factor: u64) -> Self {
        Scaler { factor, handled: 0 }
    }
}

#[tokio::test]
async fn a_method_taking_self_runs_and_moves() {
    let a = tern_tests::node("smoke-method-a", 1).await;
    let b = tern_tests::node("smoke-method-b", 1).await;
    let task = a.spawn(Scaler::new(3).run(a.channel("in"), a.channel("out")));
    a.channel::<u64>("in").send(2).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await.unwrap(), 6);
    task.move_to(b.id().as_str()).await.unwrap();
    b.channel::<u64>("in").send(5).await.unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await.unwrap(), 15);
    b.channel::<u64>("in").close();
    let done = task.join().await.unwrap();
    assert_eq!((done.factor, done.handled), (3, 2));
}

/// A generic relay: forwards `n` values of any message type.
#[migratable]
async fn forward<T>(input: Channel<T>, output: Channel<T>, n: u32) -> u32
where
    T: tern::Message + std::fmt::Debug,
{
    let mut done: u32 = 0;
    while done < n {
        let Ok(v) = input.recv().await else { break };
        output.send(v).await.ok();
        done += 1;
    }
    done
}

#[tokio::test]
async fn a_generic_function_runs() {
    let node = tern_tests::node("smoke-generic", 1).await;
    let input = node.buffered_channel::<String>("in", 4);
    let output = node.buffered_channel::<String>("out", 4);
    let task = node.spawn(forward(input.clone(), output.clone(), 2));
    input.send("a".to_string()).await.unwrap();
    input.send("b".to_string()).await.unwrap();
    assert_eq!(task.join().await.unwrap(), 2);
    assert_eq!(output.recv().await.unwrap(), "a");
    assert_eq!(output.recv().await.unwrap(), "b");
}

/// Counts the `Tracked` values alive (only the test below makes them).
static TRACKED_ALIVE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// A stored local that counts its copies: every one made must be dropped exactly once.
#[derive(Debug, serde::Serialize)]
struct Tracked(u64);

impl Tracked {
    fn new(v: u64) -> Self {
        TRACKED_ALIVE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Tracked(v)
    }
}

impl<'de> serde::Deserialize<'de> for Tracked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(Tracked::new)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        TRACKED_ALIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Holds a `Tracked` across every suspension point, replacing it on each value.
#[migratable]
async fn keep_tracked(input: Channel<u64>) -> u64 {
    let mut kept: Tracked = Tracked::new(0);
    while let Ok(v) = input.recv().await {
        kept = Tracked::new(kept.0 + v);
        tern::yield_now().await;
    }
    kept.0
}

#[tokio::test]
async fn suspending_neither_leaks_nor_double_drops_a_stored_local() {
    use std::sync::atomic::Ordering::SeqCst;
    let node = tern_tests::node("smoke-drops", 1).await;
    let input = node.channel::<u64>("in");
    let task = node.spawn(keep_tracked(input.clone()));
    for v in 1..=5 {
        input.send(v).await.unwrap();
    }
    input.close();
    assert_eq!(task.join().await.unwrap(), 15);
    assert_eq!(TRACKED_ALIVE.load(SeqCst), 0, "after the task returned");

    // Dropped while suspended (the node shuts down with the task parked at its receive).
    let parked = node.spawn(keep_tracked(node.channel("idle")));
    while node.channel::<u64>("idle").balance() >= 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        TRACKED_ALIVE.load(SeqCst),
        1,
        "one value held by the parked task"
    );
    node.shutdown().await;
    drop(parked);
    assert_eq!(
        TRACKED_ALIVE.load(SeqCst),
        0,
        "after the parked task was dropped"
    );
}

#[tokio::test]
async fn a_snapshot_leaves_the_suspension_point_to_the_generated_machine() {
    let a = tern_tests::node("smoke-where-a", 1).await;
    let b = tern_tests::node("smoke-where-b", 1).await;
    // The report of a task that never moved.
    let stayed = a.spawn(divide_by(a.channel("stay")));
    a.channel::<u64>("stay").send(0).await.unwrap();
    let Err(tern::JoinError::Failed(stayed)) = stayed.join().await else {
        panic!("divide_by(0) must fail");
    };
    let expected = stayed.suspension_point.expect("it suspended once");

    // The same task frozen at its receive: the snapshot does not spell out the location...
    let task = a.spawn(divide_by(a.channel("in")));
    while a.channel::<u64>("in").balance() >= 0 {
        tokio::task::yield_now().await;
    }
    let snap = task.snapshot().await.unwrap();
    let file = expected.file.as_bytes();
    assert!(
        !snap.as_bytes().windows(file.len()).any(|w| w == file),
        "the snapshot spells out {}",
        expected.file
    );
    // ... and the restored task reports the same one, from its machine.
    let restored = b.restore::<u64>(&snap).unwrap();
    b.channel::<u64>("in").send(0).await.unwrap();
    let Err(tern::JoinError::Failed(report)) = restored.join().await else {
        panic!("divide_by(0) must fail");
    };
    assert_eq!(report.suspension_point, Some(expected));
    assert_eq!(report.node, b.id().as_str());
}
