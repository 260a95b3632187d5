//! B3 skynet: a tree of 1,111,111 tasks with 1,000,000 leaves, fan-out 10, summed upward.
//!
//! tern runs the `Skynet` machine of `tern-tests` (children spawned with `tern::spawn`, joined
//! with `TaskHandle::join` as an effect) at 1 and 2 workers; tokio runs the same tree with
//! `tokio::spawn` and `JoinHandle` fan-in on a current-thread and a 2-worker multi-thread
//! runtime. Every iteration checks the answer 499999500000 (it panics on anything else).
//! `TERN_BENCH_QUICK=1` uses 100,000 leaves (answer 4999950000).
//!
//! Peak RSS is not measured here (criterion runs every variant in one process); the
//! `skynet_peak_rss` binary of this package runs each variant in its own process and reads
//! `VmHWM`.

use std::time::Duration;

use criterion::{Criterion, SamplingMode};

fn leaves() -> u64 {
    if tern_benches::quick() {
        100_000
    } else {
        1_000_000
    }
}

fn answer(leaves: u64) -> u64 {
    leaves * (leaves - 1) / 2
}

fn tern_skynet(driver: &tokio::runtime::Runtime, node: &tern::Node, leaves: u64) -> u64 {
    let root = node.spawn(tern_tests::Skynet::root(leaves, 10));
    match driver.block_on(root.join()) {
        Ok(sum) => sum,
        Err(e) => panic!("tern skynet failed: {e}"),
    }
}

fn tokio_skynet(rt: &tokio::runtime::Runtime, leaves: u64) -> u64 {
    match rt.block_on(rt.spawn(tern_benches::tokio_skynet(0, leaves))) {
        Ok(sum) => sum,
        Err(e) => panic!("tokio skynet failed: {e}"),
    }
}

fn skynet(c: &mut Criterion) {
    let leaves = leaves();
    let want = answer(leaves);
    assert!(leaves != 1_000_000 || want == tern_benches::SKYNET_1M);
    let driver = tern_benches::driver();

    let mut group = c.benchmark_group(format!("skynet/{leaves}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(if tern_benches::quick() {
            2
        } else {
            8
        }));

    for workers in [1, 2] {
        let node = tern_benches::start_node(&driver, "bench-skynet", workers);
        assert_eq!(
            tern_skynet(&driver, &node, leaves),
            want,
            "tern, {workers} workers"
        );
        group.bench_function(format!("tern/{workers}w"), |b| {
            b.iter(|| assert_eq!(tern_skynet(&driver, &node, leaves), want));
        });
        driver.block_on(node.shutdown());
    }

    for (label, workers) in [
        ("tokio/current-thread", None),
        ("tokio/multi-thread-2w", Some(2)),
    ] {
        let rt = tern_benches::tokio_runtime(workers);
        assert_eq!(tokio_skynet(&rt, leaves), want, "{label}");
        group.bench_function(label, |b| {
            b.iter(|| assert_eq!(tokio_skynet(&rt, leaves), want));
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    skynet(&mut c);
    c.final_summary();
}
