//! Every `#[migratable]` function of the corpus, frozen and restored on another node at every
//! suspension point — and at random sequences of points — gives the same result and the same
//! channel traffic as an uninterrupted run.
//!
//! The driver talks to the task over two rendezvous channels, so each completed driver
//! operation (the task took an input, or the driver took an output) is one *step*, after which
//! the task runs to its next suspension point and parks there. Freezing "after step k" thus
//! freezes the task at a definite suspension point, the same on every run.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use proptest::prelude::*;
use tern::{Channel, Machine, Node, TaskHandle};
use tern_tests::corpus;
use tern_tests::node;

/// What a run observed: the values the task sent, how many inputs it took, and its result.
#[derive(Debug, PartialEq, Eq)]
struct Trace<O> {
    outputs: Vec<u64>,
    taken: usize,
    result: O,
    moves: usize,
    steps: usize,
}

/// Inputs offered to every function (enough for each to finish or to see the channel close).
const INPUTS: [u64; 12] = [4, 0, 13, 7, 2, 150, 9, 1, 99, 6, 3, 8];

async fn drive<M, F>(make: F, freeze_after: &BTreeSet<usize>) -> Trace<M::Output>
where
    M: Machine,
    M::Output: Debug + PartialEq,
    F: FnOnce(Channel<u64>, Channel<u64>) -> M,
{
    let nodes = [node("corpus-a", 1).await, node("corpus-b", 1).await];
    let mut here = 0;
    let mut task: TaskHandle<M::Output> =
        nodes[0].spawn(make(nodes[0].channel("in"), nodes[0].channel("out")));
    let (mut outputs, mut taken, mut moves, mut step) = (Vec::new(), 0, 0, 0);
    let mut closed = false;
    'run: loop {
        let input: Channel<u64> = nodes[here].channel("in");
        let output: Channel<u64> = nodes[here].channel("out");
        // Wait until the task is parked on one of its channels (or done). Parked, it waits in
        // exactly one operation, which the driver then completes: no operation is ever
        // cancelled halfway, and each step leaves the task at a definite point.
        let mut spins = 0u32;
        while output.balance() <= 0 && (closed || input.balance() >= 0) {
            if task.is_finished() {
                break 'run;
            }
            spins += 1;
            if spins < 200 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_micros(100)).await;
            }
        }
        if output.balance() > 0 {
            outputs.push(
                output
                    .recv()
                    .await
                    .expect("the output channel is never closed"),
            );
        } else if taken < INPUTS.len() {
            input
                .send(INPUTS[taken])
                .await
                .expect("the input channel is open");
            taken += 1;
        } else {
            input.close();
            closed = true;
        }
        step += 1;
        if freeze_after.contains(&step) {
            let snap = match task.snapshot().await {
                Ok(snap) => snap,
                // The last step let the task finish: nothing left to freeze.
                Err(_) if task.is_finished() => continue,
                Err(e) => panic!("a running task could not be frozen: {e}"),
            };
            here = 1 - here;
            task = nodes[here].restore(&snap).expect("the snapshot restores");
            moves += 1;
            if closed {
                nodes[here].channel::<u64>("in").close();
            }
        }
    }
    let result = task.join().await.expect("the task finishes");
    for n in nodes {
        n.shutdown().await;
    }
    Trace {
        outputs,
        taken,
        result,
        moves,
        steps: step,
    }
}

/// Runs `make` uninterrupted, then frozen after each step in turn; every trace must match.
async fn every_point<M, F>(name: &str, make: F) -> usize
where
    M: Machine,
    M::Output: Debug + PartialEq,
    F: Fn(Channel<u64>, Channel<u64>) -> M,
{
    let expected = drive(&make, &BTreeSet::new()).await;
    let steps = expected.steps;
    assert!(steps > 0, "{name} made no channel traffic");
    let mut moved = 0;
    for k in 1..=steps {
        let got = drive(&make, &BTreeSet::from([k])).await;
        moved += got.moves;
        assert!(got.moves <= 1, "{name}: froze more than once");
        assert_eq!(
            (&got.outputs, got.taken, &got.result),
            (&expected.outputs, expected.taken, &expected.result),
            "{name}: frozen after step {k}"
        );
    }
    // Only the step that lets the task finish leaves nothing to freeze.
    assert!(
        moved + 1 >= steps,
        "{name}: only {moved} of {steps} runs moved"
    );
    steps
}

macro_rules! corpus_test {
    ($($f:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $f() {
            every_point(stringify!($f), corpus::$f).await;
        }
    )*};
}

corpus_test!(
    running_total,
    classify,
    labeled,
    nested,
    if_chains,
    value_positions,
    for_vec,
    squares,
    assign_and_shadow,
    sleepy,
    option_try,
);

#[tokio::test]
async fn uninterrupted_results_are_the_ones_worked_out_by_hand() {
    let t = drive(corpus::running_total, &BTreeSet::new()).await;
    assert_eq!(t.result, INPUTS.iter().sum::<u64>());
    assert_eq!(t.outputs.len(), INPUTS.len());
    // nested: three rounds of level2, each taking one input and sending it doubled.
    let t = drive(corpus::nested, &BTreeSet::new()).await;
    assert_eq!(t.outputs, vec![8, 0, 26]);
    assert_eq!(t.result, 9 + 1 + 27);
    let t = drive(corpus::squares, &BTreeSet::new()).await;
    assert_eq!(t.outputs, vec![1, 4, 9, 16]);
    let t = drive(corpus::option_try, &BTreeSet::new()).await;
    assert_eq!(t.result, Some(4));
}

/// Runs one corpus function by index with a set of freeze points: (outputs, inputs taken
/// and result as text, moves, steps).
async fn drive_any(which: usize, freeze: &BTreeSet<usize>) -> (String, usize, usize) {
    macro_rules! pick {
        ($($i:literal => $f:ident),*) => {
            match which {
                $($i => {
                    let t = drive(corpus::$f, freeze).await;
                    (format!("{:?} {} {:?}", t.outputs, t.taken, t.result), t.moves, t.steps)
                })*
                _ => unreachable!(),
            }
        };
    }
    pick!(0 => running_total, 1 => classify, 2 => labeled, 3 => nested, 4 => if_chains,
          5 => value_positions, 6 => for_vec, 7 => squares, 8 => assign_and_shadow,
          9 => sleepy, 10 => option_try)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random sequences of freeze points (several moves per run) change nothing either.
    #[test]
    fn random_freeze_sequences_change_nothing(
        which in 0usize..11,
        points in proptest::collection::btree_set(1usize..30, 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (plain, frozen) = rt.block_on(async {
            (drive_any(which, &BTreeSet::new()).await, drive_any(which, &points).await)
        });
        prop_assert_eq!(&plain.0, &frozen.0);
        // Every freeze point before the last step moved the task.
        let due = points.iter().filter(|&&p| p < plain.2).count();
        prop_assert!(frozen.1 >= due, "{} moves for {} points due", frozen.1, due);
    }
}

/// A moved task's channels are the target node's: checks the driver really switches nodes.
#[tokio::test]
async fn a_restored_task_uses_the_channels_of_its_new_node() {
    let a: Node = node("corpus-x", 1).await;
    let b: Node = node("corpus-y", 1).await;
    let task = a.spawn(corpus::running_total(a.channel("in"), a.channel("out")));
    a.channel::<u64>("in").send(5).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await.unwrap(), 5);
    let snap = task.snapshot().await.unwrap();
    let task = b.restore::<u64>(&snap).unwrap();
    b.channel::<u64>("in").send(6).await.unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await.unwrap(), 11);
    b.channel::<u64>("in").close();
    assert_eq!(task.join().await.unwrap(), 11);
}
