//! The local demo: what tern does on one machine, narrated.
//!
//! 1. A pipeline of tasks over named channels (parse → square → sum).
//! 2. thread-ring: 503 tasks passing a token, the answer checked.
//! 3. A running task frozen on node `alpha`, shipped as bytes, and resumed on node `beta` of
//!    the same process, with its channel bindings rebound by name and no value lost.
//!
//! Run: `cargo run --release -p tern-examples --bin local-demo`. Exits non-zero if any
//! check fails.

use std::process::ExitCode;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tern::{migratable, Channel, Node};

/// What a [`stage`] does to each number (an enum, so the stage stays serializable).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Op {
    Square,
    Double,
}

/// Applies `op` to every number from `input` and sends the result to `output`; closes
/// `output` when `input` closes. Returns how many numbers it handled.
#[migratable]
async fn stage(input: Channel<u64>, output: Channel<u64>, op: Op) -> u64 {
    let mut handled: u64 = 0;
    while let Ok(v) = input.recv().await {
        let out = match op {
            Op::Square => v * v,
            Op::Double => 2 * v,
        };
        if output.send(out).await.is_err() {
            return handled;
        }
        handled += 1;
    }
    output.close();
    handled
}

/// Sums what arrives on `input`, sending each running total to `totals`; returns the sum when
/// `input` closes.
#[migratable]
async fn accumulate(input: Channel<u64>, totals: Channel<u64>) -> u64 {
    let mut total: u64 = 0;
    while let Ok(v) = input.recv().await {
        total += v;
        totals.send(total).await.ok();
    }
    total
}

fn say(start: Instant, what: &str, line: impl std::fmt::Display) {
    println!("[{:7.3}s] {what:<8} {line}", start.elapsed().as_secs_f64());
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let alpha = Node::builder("alpha").workers(2).start().await?;
    let beta = Node::builder("beta").workers(2).start().await?;
    say(
        t0,
        "nodes",
        format_args!("alpha and beta started, {} workers each", alpha.workers()),
    );

    // 1. A pipeline: numbers → square → double → collected here.
    let numbers = alpha.buffered_channel::<u64>("numbers", 64);
    let squares = alpha.buffered_channel::<u64>("squares", 64);
    let doubled = alpha.buffered_channel::<u64>("doubled", 64);
    let square = alpha.spawn(stage(numbers.clone(), squares.clone(), Op::Square));
    let double = alpha.spawn(stage(squares.clone(), doubled.clone(), Op::Double));
    let feeder = {
        let numbers = numbers.clone();
        tokio::spawn(async move {
            for v in 1..=1000u64 {
                numbers.send(v).await?;
            }
            numbers.close();
            Ok::<_, tern::Error>(())
        })
    };
    let mut sum = 0u64;
    while let Ok(v) = doubled.recv().await {
        sum += v;
    }
    feeder.await??;
    let expected: u64 = (1..=1000u64).map(|v| 2 * v * v).sum();
    check(
        sum == expected,
        format!("pipeline sum {sum}, expected {expected}"),
    )?;
    say(
        t0,
        "pipeline",
        format_args!(
            "1000 numbers through square → double: sum {sum} ✓ ({} + {} items handled)",
            square.join().await?,
            double.join().await?
        ),
    );

    // 2. thread-ring.
    let token = 1_000_000u64;
    let ring_start = Instant::now();
    let winner =
        tern_tests::thread_ring(&alpha, "demo", 503, token, tern_tests::Members::Generated).await;
    let want = (token % 503) as u32 + 1;
    check(
        winner == want,
        format!("thread-ring winner {winner}, expected {want}"),
    )?;
    let per_hop = ring_start.elapsed().as_nanos() as f64 / token as f64;
    say(
        t0,
        "ring",
        format_args!("503 tasks, token {token}: winner {winner} ✓ ({per_hop:.0} ns per hop)"),
    );

    // 3. Move a running task between nodes.
    let input = alpha.channel::<u64>("readings");
    let totals = alpha.channel::<u64>("totals");
    let acc = alpha.spawn(accumulate(input.clone(), totals.clone()));
    let mut sent = Vec::new();
    let mut seen = Vec::new();
    for v in [3u64, 1, 4] {
        input.send(v).await?;
        sent.push(v);
        seen.push(totals.recv().await?);
    }
    say(
        t0,
        "move",
        format_args!(
            "accumulator on {} has summed {sent:?} → running totals {seen:?}",
            acc.location()
        ),
    );
    // The task is now suspended in `recv`: that request is withdrawn and travels with it.
    let moved_at = Instant::now();
    acc.move_to("beta").await?;
    say(
        t0,
        "move",
        format_args!(
            "frozen on alpha at its suspension point, checked and resumed on {} in {:.0} µs",
            acc.location(),
            moved_at.elapsed().as_secs_f64() * 1e6
        ),
    );
    let input = beta.channel::<u64>("readings");
    let totals = beta.channel::<u64>("totals");
    say(
        t0,
        "move",
        "its channels now bind to beta's \"readings\" and \"totals\"",
    );
    for v in [1u64, 5, 9] {
        input.send(v).await?;
        sent.push(v);
        seen.push(totals.recv().await?);
    }
    input.close();
    let total = acc.join().await?;
    let want: Vec<u64> = sent
        .iter()
        .scan(0, |s, v| {
            *s += v;
            Some(*s)
        })
        .collect();
    check(
        seen == want,
        format!("running totals {seen:?}, expected {want:?}"),
    )?;
    check(total == sent.iter().sum::<u64>(), format!("total {total}"))?;
    say(
        t0,
        "move",
        format_args!("running totals {seen:?}: joined on beta with total {total} ✓"),
    );

    alpha.shutdown().await;
    beta.shutdown().await;
    println!(
        "verified: pipeline sum {sum}, ring winner {winner}, migrated total {total}; 0 lost, 0 duplicated, 1 move"
    );
    Ok(())
}

fn check(ok: bool, what: String) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}
