//! B6 channel throughput: M messages through one channel, single and multiple producers.
//!
//! Shapes: `spsc` (one producer, one consumer) and `mpsc` (4 producers, one consumer), with
//! capacities 0 (rendezvous), 1 and 1024. Implementations:
//!
//! - `tern/1w`, `tern/2w`: `Producer` and `Consumer` tern tasks on a node of 1 or 2 workers,
//!   over one tern channel (`Node::buffered_channel`, capacity 0 = `Node::channel`);
//! - `crossbeam`, `flume`: `bounded(cap)` channels between OS threads (a producer thread per
//!   producer, the consumer on the bench thread);
//! - `tokio/current-thread`, `tokio/multi-thread-2w`: tokio tasks over `tokio::sync::mpsc`
//!   (tokio has no zero-capacity channel: capacity 0 runs with capacity 1).
//!
//! Every run checks that the consumer got exactly the values `0..M` (by count and sum).
//! Throughput is one element per message: criterion's `time` is per run of M messages, its
//! `thrpt` line is messages per second. M = 100,000 (`TERN_BENCH_QUICK=1`: 20,000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput};
use tern_benches::{Consumer, Producer};

const CAPACITIES: [usize; 3] = [0, 1, 1024];

fn messages() -> u64 {
    tern_benches::quick_or(20_000, 100_000)
}

fn expected_sum(m: u64) -> u64 {
    m * (m - 1) / 2
}

/// The value range of producer `p` of `producers` when `m` values are sent in all.
fn share(p: u64, producers: u64, m: u64) -> std::ops::Range<u64> {
    (p * m / producers)..((p + 1) * m / producers)
}

fn tern_run(
    driver: &tokio::runtime::Runtime,
    node: &tern::Node,
    ch: &tern::Channel<u64>,
    producers: u64,
    m: u64,
) -> u64 {
    let consumer = node.spawn(Consumer {
        input: ch.clone(),
        remaining: m,
        sum: 0,
        receiving: false,
    });
    let senders: Vec<_> = (0..producers)
        .map(|p| {
            let r = share(p, producers, m);
            node.spawn(Producer {
                out: ch.clone(),
                next: r.start,
                end: r.end,
                sending: false,
            })
        })
        .collect();
    let sum = match driver.block_on(consumer.join()) {
        Ok(s) => s,
        Err(e) => panic!("tern consumer failed: {e}"),
    };
    for s in senders {
        if let Err(e) = driver.block_on(s.join()) {
            panic!("tern producer failed: {e}");
        }
    }
    sum
}

/// `m` values from `producers` OS threads (producer `p` sends its [`share`]) to the bench
/// thread over one bounded channel of `lib` (crossbeam or flume: the same API), given as its
/// two ends and how to send on and receive from them; returns their sum.
fn threads_run<S: Clone + Send + 'static, R>(
    lib: &'static str,
    (tx, rx): (S, R),
    send: impl Fn(&S, u64) -> bool + Copy + Send + 'static,
    recv: impl Fn(&R) -> Option<u64>,
    producers: u64,
    m: u64,
) -> u64 {
    let threads: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for v in share(p, producers, m) {
                    if !send(&tx, v) {
                        panic!("{lib} send of {v} failed");
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let sum = (0..m).fold(0u64, |sum, _| match recv(&rx) {
        Some(v) => sum + v,
        None => panic!("{lib} channel closed early"),
    });
    for t in threads {
        if t.join().is_err() {
            panic!("{lib} producer panicked");
        }
    }
    sum
}

fn crossbeam_run(cap: usize, producers: u64, m: u64) -> u64 {
    threads_run(
        "crossbeam",
        crossbeam_channel::bounded::<u64>(cap),
        |tx, v| tx.send(v).is_ok(),
        |rx| rx.recv().ok(),
        producers,
        m,
    )
}

fn flume_run(cap: usize, producers: u64, m: u64) -> u64 {
    threads_run(
        "flume",
        flume::bounded::<u64>(cap),
        |tx, v| tx.send(v).is_ok(),
        |rx| rx.recv().ok(),
        producers,
        m,
    )
}

async fn tokio_run(cap: usize, producers: u64, m: u64) -> u64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(cap.max(1));
    let tasks: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for v in share(p, producers, m) {
                    if tx.send(v).await.is_err() {
                        panic!("tokio send of {v} failed");
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = tokio::spawn(async move {
        let mut sum = 0u64;
        for _ in 0..m {
            match rx.recv().await {
                Some(v) => sum += v,
                None => panic!("tokio channel closed early"),
            }
        }
        sum
    });
    let sum = match consumer.await {
        Ok(s) => s,
        Err(e) => panic!("tokio consumer failed: {e}"),
    };
    for t in tasks {
        if let Err(e) = t.await {
            panic!("tokio producer failed: {e}");
        }
    }
    sum
}

fn shape(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    driver: &tokio::runtime::Runtime,
    producers: u64,
    m: u64,
) {
    let want = expected_sum(m);
    static CHANNEL: AtomicUsize = AtomicUsize::new(0);
    for cap in CAPACITIES {
        tern_benches::for_each_tern_node(driver, "bench-tput", |node, workers| {
            let name = format!("bench-tput-{}", CHANNEL.fetch_add(1, Ordering::Relaxed));
            let ch = node.buffered_channel::<u64>(&name, cap);
            tern_benches::bench_checked(group, format!("cap{cap}/tern/{workers}w"), &want, || {
                tern_run(driver, node, &ch, producers, m)
            });
        });
        tern_benches::bench_checked(group, format!("cap{cap}/crossbeam"), &want, || {
            crossbeam_run(cap, producers, m)
        });
        tern_benches::bench_checked(group, format!("cap{cap}/flume"), &want, || {
            flume_run(cap, producers, m)
        });
        tern_benches::for_each_tokio_runtime(|rt, label| {
            tern_benches::bench_checked(group, format!("cap{cap}/tokio/{label}"), &want, || {
                rt.block_on(tokio_run(cap, producers, m))
            });
        });
    }
}

fn throughput(c: &mut Criterion) {
    let m = messages();
    let driver = tern_benches::driver();
    for (label, producers) in [("spsc", 1), ("mpsc4", 4)] {
        let mut group = tern_benches::flat_group(
            c,
            format!("throughput/{label}"),
            Duration::from_millis(500),
            Duration::from_secs(tern_benches::quick_or(1, 3)),
        );
        group.throughput(Throughput::Elements(m));
        shape(&mut group, &driver, producers, m);
        group.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    c.final_summary();
}
