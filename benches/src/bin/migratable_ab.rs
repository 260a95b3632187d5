//! What `#[migratable]` costs: each generated machine against its hand-written twin, timed
//! in alternation.
//!
//! Criterion times one variant after another, each for seconds; on this shared 2-vCPU VM the
//! load of other users changes within seconds and can move a figure by 2× between two variants
//! measured a minute apart. This probe runs the two machines of a scenario in alternation
//! (hand-written then generated, generated then hand-written, …, after one warm-up run of
//! each) and prints the median time of each and the median and min–max of the per-round
//! ratios generated / hand-written, so that drift hits both alike. Every run checks its answer.
//!
//! | scenario | hand-written | `#[migratable]` | one run |
//! |---|---|---|---|
//! | `thread-ring/{1w,2w}` | `tern_tests::RingMember` | `tern_tests::ring_member` | 503 members, N hops (1,000,000; quick: 100,000) |
//! | `skynet/{1w,2w}` | `tern_tests::Skynet` | `tern_tests::skynet` | 1,000,000 leaves (quick: 100,000) |
//! | `ping-pong/{1w,2w}` | `Pinger` + `Echo` | `pinger` + `echo` | 50,000 round trips between two tasks |
//! | `ping-pong/task-to-thread` | `Echo` | `echo` | 5,000 round trips with the calling thread |
//!
//! B7's snapshot bench measures take and restore the same way (its "paired" table).
//!
//! `cargo run --release -p tern-benches --bin migratable_ab` (about 2 minutes; about 20 s with
//! `TERN_BENCH_QUICK=1`).
//!
//! `migratable_ab once <scenario> <hand|gen> <size>` runs one scenario once (`ring`: 503 members
//! and `size` hops on one worker; `skynet`: `size` leaves on one worker; `ping-pong`: `size`
//! round trips on one worker), checks its answer and exits: `benches/scripts/
//! migratable_instructions.sh` counts the instructions of such runs under callgrind.

use std::time::{Duration, Instant};

use tern_benches::Members;

/// The median of `v` (which it sorts).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `run` for both kinds over `rounds` rounds in alternation and prints a table row: the
/// median of each kind's time divided by `per` (the figure's unit, `unit`), and the median and
/// min–max of the per-round ratios generated / hand-written.
fn ab(name: &str, rounds: usize, per: f64, unit: &str, mut run: impl FnMut(Members) -> Duration) {
    run(Members::HandWritten);
    run(Members::Generated);
    let (mut hand, mut gen, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (h, g) = if round % 2 == 0 {
            let h = run(Members::HandWritten);
            (h, run(Members::Generated))
        } else {
            let g = run(Members::Generated);
            (run(Members::HandWritten), g)
        };
        let (h, g) = (h.as_secs_f64() / per, g.as_secs_f64() / per);
        hand.push(h);
        gen.push(g);
        ratio.push(g / h);
    }
    let (h, g, r) = (median(&mut hand), median(&mut gen), median(&mut ratio));
    println!(
        "| {name} | {rounds} | {h:.1} {unit} | {g:.1} {unit} | **{r:.3}** | {:.3}–{:.3} |",
        ratio[0],
        ratio[ratio.len() - 1]
    );
}

/// One run of `scenario` with machines of `kind`, sized `size`, on a 1-worker node.
///
/// # Panics
/// On a wrong answer or an unknown scenario.
fn once(scenario: &str, kind: Members, size: u64) {
    let driver = tern_benches::driver();
    let node = tern_benches::start_node(&driver, "ab-once", 1);
    match scenario {
        "ring" => {
            let winner = driver.block_on(tern_tests::thread_ring(&node, "once", 503, size, kind));
            assert_eq!(u64::from(winner), size % 503 + 1, "wrong winner");
        }
        "skynet" => {
            let sum = tern_benches::skynet_on_tern(&driver, &node, size, kind);
            assert_eq!(
                sum,
                tern_benches::skynet_answer(size),
                "wrong skynet answer"
            );
        }
        "ping-pong" => drop(tern_benches::ping_pong_tasks(&driver, &node, size, kind)),
        other => panic!("unknown scenario {other:?}: ring, skynet or ping-pong"),
    }
    driver.block_on(node.shutdown());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("once") {
        let (Some(scenario), Some(kind), Some(size)) = (args.get(2), args.get(3), args.get(4))
        else {
            panic!("usage: migratable_ab once <ring|skynet|ping-pong> <hand|gen> <size>");
        };
        let kind = match kind.as_str() {
            "hand" => Members::HandWritten,
            "gen" => Members::Generated,
            other => panic!("unknown kind {other:?}: hand or gen"),
        };
        let Ok(size) = size.parse() else {
            panic!("size {size:?} is not a number");
        };
        once(scenario, kind, size);
        return;
    }
    let driver = tern_benches::driver();
    let quick = tern_benches::quick();
    let hops: u64 = tern_benches::quick_or(100_000, 1_000_000);
    let leaves = tern_benches::skynet_leaves();
    let pp_rounds: u64 = 50_000;
    let thread_rounds: u64 = 5_000;
    println!("#[migratable] / hand-written, in alternation (quick mode: {quick})");
    println!();
    println!("| scenario | rounds | hand-written (median) | #[migratable] (median) | ratio (median) | ratio min–max |");
    println!("|---|---:|---:|---:|---:|---:|");

    tern_benches::for_each_tern_node(&driver, "ab-ring", |node, workers| {
        let want = (hops % 503) as u32 + 1;
        let mut run_no = 0;
        ab(
            &format!("thread-ring/{workers}w"),
            tern_benches::quick_or(6, 20),
            hops as f64 * 1e-9,
            "ns/hop",
            |kind| {
                run_no += 1;
                let prefix = format!("ab-ring-{run_no}");
                let start = Instant::now();
                let winner =
                    driver.block_on(tern_tests::thread_ring(node, &prefix, 503, hops, kind));
                let elapsed = start.elapsed();
                assert_eq!(winner, want, "thread-ring ({kind:?}): wrong winner");
                elapsed
            },
        );
    });
    tern_benches::for_each_tern_node(&driver, "ab-skynet", |node, workers| {
        let want = tern_benches::skynet_answer(leaves);
        ab(
            &format!("skynet/{workers}w"),
            tern_benches::quick_or(4, 10),
            1e-3,
            "ms",
            |kind| {
                let start = Instant::now();
                let sum = tern_benches::skynet_on_tern(&driver, node, leaves, kind);
                let elapsed = start.elapsed();
                assert_eq!(sum, want, "skynet ({kind:?}): wrong answer");
                elapsed
            },
        );
    });
    tern_benches::for_each_tern_node(&driver, "ab-pp", |node, workers| {
        ab(
            &format!("ping-pong/{workers}w"),
            tern_benches::quick_or(10, 40),
            pp_rounds as f64 * 1e-9,
            "ns/round trip",
            |kind| tern_benches::ping_pong_tasks(&driver, node, pp_rounds, kind),
        );
    });
    let node = tern_benches::start_node(&driver, "ab-pp-thread", 1);
    ab(
        "ping-pong/task-to-thread",
        tern_benches::quick_or(6, 20),
        thread_rounds as f64 * 1e-9,
        "ns/round trip",
        |kind| tern_benches::ping_pong_thread(&driver, &node, thread_rounds, kind),
    );
    driver.block_on(node.shutdown());
}
