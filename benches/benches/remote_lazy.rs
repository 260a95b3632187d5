//! B13 lazy remote collections: reading a `RemoteVec<u64>` of 1,000,000 items exposed on node A
//! from node B (two listening nodes of this process on loopback, QUIC with mutual TLS from the
//! per-process dev CA, as in `cluster_move.rs`), against copying it whole and against a local
//! `Vec`.
//!
//! Every variant reads all the items and sums them (the sum is checked every time); time is per
//! pass over the 1,000,000 items, `thrpt` is items/s:
//!
//! - `lazy-iter/page-1024`, `lazy-iter/page-16384`: on B, `RemoteVec::iter_with_page(n)` —
//!   one call to A per page, fetched when the previous page is used up (no prefetch).
//! - `fetch`: on B, `RemoteVec::fetch()`: the whole vector in one reply (about 2.9 MB).
//! - `same-node-iter/page-1024`: the same iteration on A itself (in-process calls, no network;
//!   the items are still encoded and decoded).
//! - `local-vec`: summing a local `Vec<u64>` (the floor).
//!
//! Besides criterion, a plain loop times each variant (15 passes, 3 in the quick mode) and
//! prints a table of medians, min–max, items/s and the reply bytes per item
//! (`RemoteStats::reply_bytes_in` on B over one pass: the encoded results, without the QUIC
//! and message framing). The items are `0..1_000_000` as postcard varints of 1 to 3 bytes.
//!
//! `TERN_BENCH_QUICK=1` shortens the run (100,000 items, short measurement).

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tern::{Node, RemoteVec};
use tern_benches::{flat_group, quick, quick_or, tokio_runtime};
use tern_tests::cluster::{cluster, shutdown};
use tokio::runtime::Runtime;

/// How long a pass may take before the bench calls it a hang.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `fut` on `rt`, panicking with `what` when it takes longer than [`DEADLINE`].
fn block<T>(rt: &Runtime, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match rt.block_on(async { tokio::time::timeout(DEADLINE, fut).await }) {
        Ok(v) => v,
        Err(_) => panic!("hang: {what} did not finish within {DEADLINE:?}"),
    }
}

/// One way of reading all the items.
#[derive(Clone, Copy)]
enum Variant {
    Iter(u64),
    Fetch,
    SameNodeIter(u64),
    Local,
}

impl Variant {
    fn name(self) -> String {
        match self {
            Variant::Iter(p) => format!("lazy-iter/page-{p}"),
            Variant::Fetch => "fetch".to_owned(),
            Variant::SameNodeIter(p) => format!("same-node-iter/page-{p}"),
            Variant::Local => "local-vec".to_owned(),
        }
    }
}

/// What the variants read.
struct Setup {
    /// The reference on B (the vector lives on A).
    remote: RemoteVec<u64>,
    /// The reference on A.
    same_node: RemoteVec<u64>,
    local: Vec<u64>,
    sum: u64,
}

/// Sums `v` by iterating it in pages of `page`.
async fn iter_sum(v: &RemoteVec<u64>, page: u64) -> u64 {
    let mut it = v.iter_with_page(page);
    let mut sum = 0u64;
    while let Some(x) = it.next().await {
        sum = sum.wrapping_add(x.expect("an item"));
    }
    sum
}

/// One pass of `variant`; returns the sum of the items.
fn pass(rt: &Runtime, s: &Setup, variant: Variant) -> u64 {
    match variant {
        Variant::Iter(p) => block(rt, "lazy iteration", iter_sum(&s.remote, p)),
        Variant::SameNodeIter(p) => block(rt, "same-node iteration", iter_sum(&s.same_node, p)),
        Variant::Fetch => {
            let all = block(rt, "fetch", s.remote.fetch().into_future()).expect("fetch");
            all.iter().fold(0u64, |a, x| a.wrapping_add(*x))
        }
        Variant::Local => std::hint::black_box(&s.local)
            .iter()
            .fold(0u64, |a, x| a.wrapping_add(*x)),
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio_runtime(Some(2));
    if quick() {
        eprintln!("quick mode");
    }
    let len: u64 = quick_or(100_000, 1_000_000);
    let nodes = block(&rt, "cluster", cluster(&["b13-a", "b13-b"]));
    let (a, b): (&Node, &Node) = (&nodes[0], &nodes[1]);
    let local: Vec<u64> = (0..len).collect();
    let same_node = a.expose_vec(local.clone());
    let remote = block(&rt, "hand-over", async {
        a.buffered_channel::<RemoteVec<u64>>("b13-vec", 1)
            .send(same_node.clone())
            .await
            .expect("send");
        b.buffered_channel::<RemoteVec<u64>>("b13-vec", 1)
            .recv()
            .await
            .expect("recv")
    });
    let setup = Setup {
        remote,
        same_node,
        sum: local.iter().sum(),
        local,
    };
    let variants = [
        Variant::Iter(1_024),
        Variant::Iter(16_384),
        Variant::Fetch,
        Variant::SameNodeIter(1_024),
        Variant::Local,
    ];
    for v in variants {
        assert_eq!(pass(&rt, &setup, v), setup.sum, "{} summed wrong", v.name());
    }

    {
        let mut group = flat_group(
            &mut c,
            "b13_remote_lazy".to_owned(),
            Duration::from_millis(quick_or(300, 1000)),
            Duration::from_secs(quick_or(1, 6)),
        );
        group.throughput(Throughput::Elements(len));
        for v in variants {
            group.bench_function(v.name(), |bench| {
                bench.iter(|| assert_eq!(pass(&rt, &setup, v), setup.sum));
            });
        }
        group.finish();
    }
    c.final_summary();

    let samples = quick_or(3, 15);
    eprintln!("\n---- summary (plain loops, {samples} passes over {len} items each) ----");
    eprintln!("| variant | ms per pass, median (min–max) | items/s (median) | calls per pass | reply bytes per item |");
    eprintln!("|---|---|---:|---:|---:|");
    for v in variants {
        let before = b.remote_stats();
        let mut times: Vec<Duration> = (0..samples)
            .map(|_| {
                let t = Instant::now();
                assert_eq!(pass(&rt, &setup, v), setup.sum);
                t.elapsed()
            })
            .collect();
        let after = b.remote_stats();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let median = times[times.len() / 2];
        let calls = (after.calls_out - before.calls_out) as f64 / samples as f64;
        let bytes = (after.reply_bytes_in - before.reply_bytes_in) as f64 / (samples * len) as f64;
        eprintln!(
            "| {} | {:.2} ({:.2}–{:.2}) | {:.3e} | {calls:.0} | {bytes:.2} |",
            v.name(),
            ms(median),
            ms(times[0]),
            ms(times[times.len() - 1]),
            len as f64 / median.as_secs_f64(),
        );
    }
    block(&rt, "shutdown", shutdown(nodes));
}
