//! B3 footprint: peak RSS (`VmHWM`) of one skynet run (1,000,000 leaves), per runtime.
//!
//! Run without arguments, it runs itself once per variant (`tern-1w`, `tern-migratable-1w`,
//! `tern-2w`, `tern-migratable-2w`, `tokio-current-thread`, `tokio-multi-thread-2w`; the
//! `tern-migratable` ones run the `#[migratable]` `tern_tests::skynet` instead of the
//! hand-written `Skynet`), each in a fresh process so that one variant's peak does not hide
//! another's, and prints a table. With a variant name it runs that one and prints
//! `variant peak_kib baseline_kib seconds`. The answer is checked.
//!
//! `cargo run --release -p tern-benches --bin skynet_peak_rss`

use std::time::Instant;

use tern_benches::Members;

const VARIANTS: [&str; 6] = [
    "tern-1w",
    "tern-migratable-1w",
    "tern-2w",
    "tern-migratable-2w",
    "tokio-current-thread",
    "tokio-multi-thread-2w",
];

fn run_one(variant: &str) {
    let leaves = tern_benches::skynet_leaves();
    let want = tern_benches::skynet_answer(leaves);
    let driver = tern_benches::driver();
    let (sum, baseline, secs) = match variant {
        "tern-1w" | "tern-2w" | "tern-migratable-1w" | "tern-migratable-2w" => {
            let workers = if variant.ends_with("1w") { 1 } else { 2 };
            let kind = if variant.starts_with("tern-migratable") {
                Members::Generated
            } else {
                Members::HandWritten
            };
            let node = tern_benches::start_node(&driver, "rss-skynet", workers);
            let baseline = tern_benches::proc_status_kib("VmHWM").unwrap_or(0);
            let start = Instant::now();
            let sum = tern_benches::skynet_on_tern(&driver, &node, leaves, kind);
            let secs = start.elapsed().as_secs_f64();
            driver.block_on(node.shutdown());
            (sum, baseline, secs)
        }
        "tokio-current-thread" | "tokio-multi-thread-2w" => {
            let workers = (variant == "tokio-multi-thread-2w").then_some(2);
            let rt = tern_benches::tokio_runtime(workers);
            let baseline = tern_benches::proc_status_kib("VmHWM").unwrap_or(0);
            let start = Instant::now();
            let sum = tern_benches::skynet_on_tokio(&rt, leaves);
            (sum, baseline, start.elapsed().as_secs_f64())
        }
        other => panic!("unknown variant {other:?}; one of {VARIANTS:?}"),
    };
    assert_eq!(sum, want, "{variant}: wrong skynet answer");
    let peak = tern_benches::require_proc_status_kib("VmHWM");
    println!("{variant} {peak} {baseline} {secs:.3}");
}

fn main() {
    if let Some(variant) = std::env::args().nth(1) {
        run_one(&variant);
        return;
    }
    println!(
        "skynet {} leaves: peak RSS (VmHWM) per variant, one process each",
        tern_benches::skynet_leaves()
    );
    println!("| variant | peak RSS (MiB) | baseline before the run (MiB) | run time (s) |");
    println!("|---|---:|---:|---:|");
    for v in VARIANTS {
        let line = tern_benches::run_variant_process(v);
        let f: Vec<&str> = line.split_whitespace().collect();
        let mib = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN) / 1024.0;
        println!("| {v} | {:.1} | {:.1} | {} |", mib(f[1]), mib(f[2]), f[3]);
    }
}
