//! B4-like footprint: bytes of resident memory per idle task parked in a channel receive.
//!
//! Variants, each run in its own process (so one does not reuse memory another freed):
//!
//! - `tern-shared`: N `Parked` tern tasks all waiting in `recv` on one rendezvous channel;
//! - `tern-own`: N `Parked` tern tasks, each waiting on its own named rendezvous channel (the
//!   figure includes the channel and its entry in the node's name registry);
//! - `tokio-own`: N tokio tasks, each waiting in `recv` on its own `mpsc` channel of capacity 1
//!   (the figure includes the channel).
//!
//! Each variant reads `VmRSS` from `/proc/self/status` once its runtime is up, spawns the
//! tasks, waits until every one is parked (tern: the channels' balance; tokio: a counter, then
//! 200 ms), reads `VmRSS` again and prints the difference divided by N. Task handles are
//! dropped (tasks are detached); the channel handles the probe keeps to release the tasks are
//! counted. N = 100,000 (`TERN_BENCH_QUICK=1`: 10,000).
//!
//! `cargo run --release -p tern-benches --bin idle_tasks` prints a table of every variant;
//! `… --bin idle_tasks -- tern-own` runs one (`variant n rss_before_kib rss_after_kib`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_benches::Parked;

const VARIANTS: [&str; 3] = ["tern-shared", "tern-own", "tokio-own"];

fn tasks() -> usize {
    tern_benches::quick_or(10_000, 100_000)
}

fn rss_kib() -> u64 {
    tern_benches::require_proc_status_kib("VmRSS")
}

/// Polls `cond` every millisecond for up to a minute.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn tern_variant(n: usize, own: bool) -> (u64, u64) {
    let driver = tern_benches::driver();
    let node = tern_benches::start_node(&driver, "idle", 2);
    let before = rss_kib();
    let channels: Vec<tern::Channel<u64>> = if own {
        (0..n).map(|i| node.channel(&format!("idle/{i}"))).collect()
    } else {
        vec![node.channel("idle/shared")]
    };
    for i in 0..n {
        let inbox = channels[if own { i } else { 0 }].clone();
        drop(node.spawn(Parked {
            inbox,
            waiting: false,
        }));
    }
    if own {
        wait_until("every tern task to park", || {
            channels.iter().all(|c| c.balance() == -1)
        });
    } else {
        wait_until("every tern task to park", || {
            channels[0].balance() == -(n as isize)
        });
    }
    let after = rss_kib();
    for c in &channels {
        c.close();
    }
    driver.block_on(node.shutdown());
    (before, after)
}

fn tokio_variant(n: usize) -> (u64, u64) {
    let rt = tern_benches::tokio_runtime(Some(2));
    let before = rss_kib();
    let parked = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..n)
        .map(|_| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1);
            let parked = Arc::clone(&parked);
            drop(rt.spawn(async move {
                parked.fetch_add(1, Ordering::Relaxed);
                rx.recv().await.unwrap_or(0)
            }));
            tx
        })
        .collect();
    wait_until("every tokio task to start", || {
        parked.load(Ordering::Relaxed) == n
    });
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_kib();
    drop(senders);
    drop(rt);
    (before, after)
}

fn run_one(variant: &str) {
    let n = tasks();
    let (before, after) = match variant {
        "tern-shared" => tern_variant(n, false),
        "tern-own" => tern_variant(n, true),
        "tokio-own" => tokio_variant(n),
        other => panic!("unknown variant {other:?}; one of {VARIANTS:?}"),
    };
    println!("{variant} {n} {before} {after}");
}

fn main() {
    if let Some(variant) = std::env::args().nth(1) {
        run_one(&variant);
        return;
    }
    println!(
        "idle tasks parked in recv: resident bytes per task (VmRSS delta / N), one process each"
    );
    println!("| variant | N | RSS before (MiB) | RSS after (MiB) | bytes per task |");
    println!("|---|---:|---:|---:|---:|");
    for v in VARIANTS {
        let line = tern_benches::run_variant_process(v);
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|s| s.parse().ok())
            .collect();
        let [n, before, after] = f[..] else {
            panic!("{v} printed {line:?}");
        };
        println!(
            "| {v} | {n} | {:.1} | {:.1} | {} |",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after.saturating_sub(before) * 1024) / n
        );
    }
}
