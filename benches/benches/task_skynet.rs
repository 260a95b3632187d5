//! B3 skynet: a tree of 1,111,111 tasks with 1,000,000 leaves, fan-out 10, summed upward.
//!
//! tern runs the hand-written `Skynet` machine of `tern-tests` (`tern/…`: children spawned
//! with `tern::spawn`, joined with `TaskHandle::join` as an effect) and its `#[migratable]`
//! twin `tern_tests::skynet` (`tern-migratable/…`: what the macro costs) at 1 and 2 workers,
//! each hand-written run followed by the generated one; tokio runs the same tree with
//! `tokio::spawn` and `JoinHandle` fan-in on a current-thread and a 2-worker multi-thread
//! runtime. Every iteration checks the answer 499999500000 (it panics on anything else).
//! `TERN_BENCH_QUICK=1` uses 100,000 leaves (answer 4999950000).
//!
//! Peak RSS is not measured here (criterion runs every variant in one process); the
//! `skynet_peak_rss` binary of this package runs each variant in its own process and reads
//! `VmHWM`.

use std::time::Duration;

use criterion::Criterion;
use tern_benches::Members;

fn skynet(c: &mut Criterion) {
    let leaves = tern_benches::skynet_leaves();
    let want = tern_benches::skynet_answer(leaves);
    assert!(leaves != 1_000_000 || want == tern_benches::SKYNET_1M);
    let driver = tern_benches::driver();

    let mut group = tern_benches::flat_group(
        c,
        format!("skynet/{leaves}"),
        Duration::from_secs(1),
        Duration::from_secs(tern_benches::quick_or(2, 8)),
    );
    // Each hand-written run is followed by its `#[migratable]` twin on the same node, so
    // that the pair sees the same state of the machine (this VM drifts).
    tern_benches::for_each_tern_node(&driver, "bench-skynet", |node, workers| {
        for (kind, label) in [
            (Members::HandWritten, "tern"),
            (Members::Generated, "tern-migratable"),
        ] {
            tern_benches::bench_checked(&mut group, format!("{label}/{workers}w"), &want, || {
                tern_benches::skynet_on_tern(&driver, node, leaves, kind)
            });
        }
    });
    tern_benches::for_each_tokio_runtime(|rt, label| {
        tern_benches::bench_checked(&mut group, format!("tokio/{label}"), &want, || {
            tern_benches::skynet_on_tokio(rt, leaves)
        });
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    skynet(&mut c);
    c.final_summary();
}
