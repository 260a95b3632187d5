//! B1 thread-ring: 503 tasks in a ring pass a token N times; the holder at 0 wins.
//!
//! tern (the hand-written `RingMember` machines of `tern-tests` over rendezvous channels) at 1
//! and 2 workers, and the same ring of `#[migratable]` `ring_member`s at 1 worker (what the
//! macro costs), against tokio current-thread and multi-thread (2 workers) with 503 tasks
//! linked by `tokio::sync::mpsc` channels of capacity 1 (tokio has no rendezvous channel; capacity 1 is
//! the closest). Each iteration builds the ring, injects N, waits for the winner and checks it
//! is `(N mod 503) + 1`; it panics on a wrong winner.
//!
//! N = 5,000,000 (winner 181); `TERN_BENCH_QUICK=1` uses N = 500,000 (winner 77).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::Criterion;
use tokio::sync::mpsc;

const RING: u32 = 503;

fn token() -> u64 {
    tern_benches::quick_or(500_000, 5_000_000)
}

fn expected_winner(n: u64) -> u32 {
    (n % u64::from(RING)) as u32 + 1
}

/// One tern ring of N hops on `node`; channel names are fresh for every call.
fn tern_ring(
    driver: &tokio::runtime::Runtime,
    node: &tern::Node,
    n: u64,
    members: tern_tests::Members,
) -> u32 {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("bench-ring-{}", RUN.fetch_add(1, Ordering::Relaxed));
    driver.block_on(tern_tests::thread_ring(node, &prefix, RING, n, members))
}

/// One tokio ring of N hops: member `i` owns the receiver of channel `i` and the sender of
/// channel `i + 1`. The winner reports its name and leaves; dropping its sender ends the next
/// member, and so on around the ring, so every member has ended when this returns.
async fn tokio_ring(n: u64) -> u32 {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..RING).map(|_| mpsc::channel::<u64>(1)).unzip();
    let (report, mut winner) = mpsc::channel::<u32>(1);
    let mut members = Vec::with_capacity(RING as usize);
    for (i, mut inbox) in receivers.into_iter().enumerate() {
        let next = senders[(i + 1) % RING as usize].clone();
        let report = report.clone();
        let name = i as u32 + 1;
        members.push(tokio::spawn(async move {
            while let Some(token) = inbox.recv().await {
                if token == 0 {
                    report.send(name).await.ok();
                    return;
                }
                if next.send(token - 1).await.is_err() {
                    return;
                }
            }
        }));
    }
    drop(report);
    let first = senders[0].clone();
    drop(senders);
    if first.send(n).await.is_err() {
        panic!("tokio ring did not take the token");
    }
    drop(first);
    let Some(w) = winner.recv().await else {
        panic!("tokio ring ended with no winner");
    };
    for m in members {
        if let Err(e) = m.await {
            panic!("a tokio ring member failed: {e}");
        }
    }
    w
}

fn thread_ring(c: &mut Criterion) {
    let n = token();
    let want = expected_winner(n);
    let driver = tern_benches::driver();

    let mut group = tern_benches::flat_group(
        c,
        format!("thread_ring/{n}"),
        Duration::from_secs(1),
        Duration::from_secs(tern_benches::quick_or(3, 12)),
    );
    tern_benches::bench_tern_and_tokio(
        &mut group,
        &driver,
        "bench-ring",
        &want,
        |node| tern_ring(&driver, node, n, tern_tests::Members::HandWritten),
        |rt| rt.block_on(tokio_ring(n)),
    );
    // The same ring with `#[migratable]` members: what the macro costs.
    let node = driver.block_on(async {
        match tern::Node::builder("bench-ring-macro")
            .workers(1)
            .start()
            .await
        {
            Ok(node) => node,
            Err(e) => panic!("bench node did not start: {e}"),
        }
    });
    group.bench_function("tern-migratable/1w", |b| {
        b.iter(|| {
            let got = tern_ring(&driver, &node, n, tern_tests::Members::Generated);
            assert_eq!(got, want, "wrong winner");
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    thread_ring(&mut c);
    c.final_summary();
}
