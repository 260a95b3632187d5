//! B5 local ping-pong: one round trip = a `u64` sent one way and its successor sent back.
//!
//! - `tern/1w`: a `Pinger` and an `Echo` task on one worker over two rendezvous channels
//!   (the same-worker case).
//! - `tern/2w`: the same two tasks on a 2-worker node. tern schedules a task woken by a
//!   channel operation onto the waking worker, so the pair normally settles on one worker;
//!   this shows what a second worker costs, not a forced cross-core hand-off.
//! - `tern/task-to-thread`: an `Echo` task on a 1-worker node answering the bench thread,
//!   which sends and receives with the channels' futures: every hop crosses threads.
//! - `tern-migratable/{1w,2w,task-to-thread}`: the same with the `#[migratable]` twins `pinger`
//!   and `echo` instead of the hand-written `Pinger` and `Echo` (what the macro costs); each
//!   runs right after its hand-written variant.
//! - `tokio/{mpsc,oneshot}/{current-thread,multi-thread-2w}`: two tokio tasks; `mpsc` bounces
//!   the value over two `mpsc` channels of capacity 1, `oneshot` sends each value with a fresh
//!   `oneshot` sender for the answer.
//! - `crossbeam/zero-cap-threads`: two OS threads over two `crossbeam_channel::bounded(0)`.
//!
//! Timing is `iter_custom`: one measured call makes `iters` round trips between two already
//! running parties (tern and tokio include spawning the two tasks, a few microseconds per call
//! of thousands of round trips). Throughput is one element per round trip, so criterion's
//! `thrpt` line is round trips per second and `time` is the time per round trip.

use std::time::{Duration, Instant};

use criterion::Criterion;
use tern_benches::Members;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The time from `start` until the tokio `pinger` task has ended; then waits for `echo` to end.
///
/// # Panics
/// When either task failed.
async fn pinger_time(start: Instant, pinger: JoinHandle<()>, echo: JoinHandle<()>) -> Duration {
    if let Err(e) = pinger.await {
        panic!("tokio pinger failed: {e}");
    }
    let elapsed = start.elapsed();
    if let Err(e) = echo.await {
        panic!("tokio echo failed: {e}");
    }
    elapsed
}

/// `rounds` round trips between two tokio tasks over two mpsc channels of capacity 1.
async fn tokio_mpsc(rounds: u64) -> Duration {
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
    let start = Instant::now();
    let echo = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let pinger = tokio::spawn(async move {
        for i in 0..rounds {
            if ping_tx.send(i).await.is_err() {
                panic!("ping {i} not sent");
            }
            assert_eq!(pong_rx.recv().await, Some(i + 1));
        }
    });
    pinger_time(start, pinger, echo).await
}

/// `rounds` round trips between two tokio tasks: each request carries a oneshot for its answer.
async fn tokio_oneshot(rounds: u64) -> Duration {
    let (ping_tx, mut ping_rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(1);
    let start = Instant::now();
    let echo = tokio::spawn(async move {
        while let Some((v, answer)) = ping_rx.recv().await {
            if answer.send(v + 1).is_err() {
                break;
            }
        }
    });
    let pinger = tokio::spawn(async move {
        for i in 0..rounds {
            let (tx, rx) = oneshot::channel();
            if ping_tx.send((i, tx)).await.is_err() {
                panic!("ping {i} not sent");
            }
            assert_eq!(rx.await.ok(), Some(i + 1));
        }
    });
    pinger_time(start, pinger, echo).await
}

/// `rounds` round trips between two OS threads over zero-capacity crossbeam channels.
fn crossbeam_threads(rounds: u64) -> Duration {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<u64>(0);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<u64>(0);
    let echo = std::thread::spawn(move || {
        while let Ok(v) = ping_rx.recv() {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..rounds {
        if ping_tx.send(i).is_err() {
            panic!("ping {i} not sent");
        }
        assert_eq!(pong_rx.recv().ok(), Some(i + 1));
    }
    let elapsed = start.elapsed();
    drop(ping_tx);
    if echo.join().is_err() {
        panic!("crossbeam echo thread panicked");
    }
    elapsed
}

fn ping_pong(c: &mut Criterion) {
    let driver = tern_benches::driver();
    let mut group = tern_benches::per_element_group(c, "ping_pong");

    // Each hand-written variant is followed by its `#[migratable]` twin (`tern-migratable/…`)
    // on the same node, so that the pair sees the same state of the machine (this VM drifts).
    let kinds = [
        (Members::HandWritten, "tern"),
        (Members::Generated, "tern-migratable"),
    ];
    tern_benches::for_each_tern_node(&driver, "bench-pp", |node, workers| {
        for (kind, label) in kinds {
            tern_benches::ping_pong_tasks(&driver, node, 1000, kind);
            group.bench_function(format!("{label}/{workers}w"), |b| {
                b.iter_custom(|iters| tern_benches::ping_pong_tasks(&driver, node, iters, kind));
            });
        }
    });
    let node = tern_benches::start_node(&driver, "bench-pp", 1);
    for (kind, label) in kinds {
        tern_benches::ping_pong_thread(&driver, &node, 1000, kind);
        group.bench_function(format!("{label}/task-to-thread"), |b| {
            b.iter_custom(|iters| tern_benches::ping_pong_thread(&driver, &node, iters, kind));
        });
    }
    driver.block_on(node.shutdown());

    tern_benches::for_each_tokio_runtime(|rt, label| {
        rt.block_on(tokio_mpsc(1000));
        group.bench_function(format!("tokio/mpsc/{label}"), |b| {
            b.iter_custom(|iters| rt.block_on(tokio_mpsc(iters)));
        });
        rt.block_on(tokio_oneshot(1000));
        group.bench_function(format!("tokio/oneshot/{label}"), |b| {
            b.iter_custom(|iters| rt.block_on(tokio_oneshot(iters)));
        });
    });

    crossbeam_threads(1000);
    group.bench_function("crossbeam/zero-cap-threads", |b| {
        b.iter_custom(crossbeam_threads);
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    ping_pong(&mut c);
    c.final_summary();
}
