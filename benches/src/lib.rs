//! Shared helpers for tern's benches: runtimes, criterion groups, the bench-only machines, the
//! skynet runs, and the `/proc` probes.
//!
//! The criterion files in `benches/` and the footprint probes in `src/bin/` use these. The
//! machines written for the integration tests (`Relay`, `RingMember`, `Skynet`) come from
//! `tern-tests`; the ones here exist only for measuring (ping-pong and throughput).
//!
//! Every machine checks what it receives and panics on a wrong value, so a bench that times a
//! wrong answer fails instead of reporting a figure.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};
use serde::{Deserialize, Serialize};
use tern::{Channel, Cx, Machine, Node, Step};
pub use tern_tests::Members;

pub mod cluster;
pub mod quinn_peers;

/// Whether the quick smoke mode is on (`TERN_BENCH_QUICK=1`): smaller problem sizes.
pub fn quick() -> bool {
    std::env::var("TERN_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `small` in the quick smoke mode (see [`quick`]), else `full`.
pub fn quick_or<T>(small: T, full: T) -> T {
    if quick() {
        small
    } else {
        full
    }
}

/// A current-thread tokio runtime that drives tern from the bench thread (setup, external
/// sends and receives, joins). tern's tasks run on the node's own worker threads.
pub fn driver() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio driver runtime did not start: {e}"),
    }
}

/// A tokio runtime for a peer: current-thread when `workers` is `None`, else multi-thread
/// with that many workers.
pub fn tokio_runtime(workers: Option<usize>) -> tokio::runtime::Runtime {
    let built = match workers {
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    match built {
        Ok(rt) => rt,
        Err(e) => panic!("tokio peer runtime did not start: {e}"),
    }
}

/// Starts a tern node with `workers` worker threads and a process-unique id.
pub fn start_node(driver: &tokio::runtime::Runtime, prefix: &str, workers: usize) -> Node {
    driver.block_on(tern_tests::node(prefix, workers))
}

/// A field of `/proc/self/status` in KiB (`"VmRSS"`, `"VmHWM"`), if readable.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// A field of `/proc/self/status` in KiB, for a probe that cannot do without it.
///
/// # Panics
/// When the field cannot be read.
pub fn require_proc_status_kib(field: &str) -> u64 {
    match proc_status_kib(field) {
        Some(kib) => kib,
        None => panic!("cannot read {field} from /proc/self/status"),
    }
}

/// Runs this executable again with `variant` as its only argument, in a fresh process, and
/// returns what it printed. The footprint probes run every variant this way, so that memory
/// one variant used (freed or at its peak) does not show in another's figure.
///
/// # Panics
/// When the process cannot be started or fails.
pub fn run_variant_process(variant: &str) -> String {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => panic!("cannot find this executable: {e}"),
    };
    match std::process::Command::new(&exe).arg(variant).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => panic!("{variant} failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("cannot run {variant}: {e}"),
    }
}

// ---- criterion -------------------------------------------------------------------------------

/// A criterion group for runs of milliseconds to seconds: 10 samples, flat sampling (the same
/// number of iterations in every sample), `warm_up` of warm-up and `measurement` of
/// measurement.
pub fn flat_group<'a>(
    c: &'a mut Criterion,
    name: String,
    warm_up: Duration,
    measurement: Duration,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(warm_up)
        .measurement_time(measurement);
    group
}

/// A criterion group for per-element timings of microseconds (a round trip, a message): flat
/// sampling, one element per iteration; 20 samples of 4 s, or 10 of 1 s in the quick mode.
pub fn per_element_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let quick = quick();
    let mut group = c.benchmark_group(name);
    group
        .sample_size(if quick { 10 } else { 20 })
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(if quick { 300 } else { 1000 }))
        .measurement_time(Duration::from_secs(if quick { 1 } else { 4 }))
        .throughput(criterion::Throughput::Elements(1));
    group
}

/// Checks that `run` answers `want`, then benches it as `id`, checking the answer of every
/// iteration too.
///
/// # Panics
/// On a wrong answer.
pub fn bench_checked<T: PartialEq + Debug>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    want: &T,
    mut run: impl FnMut() -> T,
) {
    assert_eq!(&run(), want, "{id}");
    group.bench_function(id, |b| {
        b.iter(|| assert_eq!(&run(), want));
    });
}

/// Calls `bench` with a tern node of 1 and then one of 2 workers (started with [`start_node`]
/// under `prefix`, shut down after), and its number of workers.
pub fn for_each_tern_node(
    driver: &tokio::runtime::Runtime,
    prefix: &str,
    mut bench: impl FnMut(&Node, usize),
) {
    for workers in [1, 2] {
        let node = start_node(driver, prefix, workers);
        bench(&node, workers);
        driver.block_on(node.shutdown());
    }
}

/// Calls `bench` with each tokio peer runtime ([`tokio_runtime`]) and its label:
/// `current-thread`, then `multi-thread-2w` (2 workers). Each runtime is dropped after.
pub fn for_each_tokio_runtime(mut bench: impl FnMut(&tokio::runtime::Runtime, &str)) {
    for (label, workers) in [("current-thread", None), ("multi-thread-2w", Some(2))] {
        let rt = tokio_runtime(workers);
        bench(&rt, label);
    }
}

/// Benches one problem as `tern/1w` and `tern/2w` (`on_tern` on a node of that many workers,
/// see [`for_each_tern_node`]) and as `tokio/current-thread` and `tokio/multi-thread-2w`
/// (`on_tokio` on that runtime, see [`for_each_tokio_runtime`]), checking every answer against
/// `want` with [`bench_checked`].
pub fn bench_tern_and_tokio<T: PartialEq + Debug>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    driver: &tokio::runtime::Runtime,
    node_prefix: &str,
    want: &T,
    on_tern: impl Fn(&Node) -> T,
    on_tokio: impl Fn(&tokio::runtime::Runtime) -> T,
) {
    for_each_tern_node(driver, node_prefix, |node, workers| {
        bench_checked(group, format!("tern/{workers}w"), want, || on_tern(node));
    });
    for_each_tokio_runtime(|rt, label| {
        bench_checked(group, format!("tokio/{label}"), want, || on_tokio(rt));
    });
}

// ---- ping-pong -------------------------------------------------------------------------------

/// Where an [`Echo`] or a [`Pinger`] is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PingAt {
    /// Not started.
    Start,
    /// Waiting in a send.
    Sending,
    /// Waiting in a receive.
    Receiving,
}

/// Answers every `v` received on `ping` with `v + 1` on `pong`; returns how many it answered
/// when `ping` (or `pong`) closes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Echo {
    /// Where requests arrive.
    pub ping: Channel<u64>,
    /// Where answers go.
    pub pong: Channel<u64>,
    /// Answers sent.
    pub count: u64,
    /// The suspension point.
    pub at: PingAt,
}

impl Echo {
    /// An echo between two channels.
    pub fn new(ping: Channel<u64>, pong: Channel<u64>) -> Self {
        Echo {
            ping,
            pong,
            count: 0,
            at: PingAt::Start,
        }
    }
}

impl Machine for Echo {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_benches::Echo";
    const FINGERPRINT: u64 = 0xbe7c_0001;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        match self.at {
            PingAt::Start => {}
            PingAt::Receiving => match cx.resumed(|| self.ping.recv()) {
                Ok(v) => {
                    self.at = PingAt::Sending;
                    return cx.suspend(self.pong.send(v + 1));
                }
                Err(_closed) => return Step::Done(self.count),
            },
            PingAt::Sending => {
                if cx.resumed(|| self.pong.send(0)).is_err() {
                    return Step::Done(self.count);
                }
                self.count += 1;
            }
        }
        self.at = PingAt::Receiving;
        cx.suspend(self.ping.recv())
    }
}
tern::register_machine!(Echo);

/// Sends `0, 1, …, rounds - 1` on `ping`, checking that each answer on `pong` is the value
/// plus one; then closes both channels and returns `rounds`.
///
/// # Panics
/// On a wrong answer or a closed channel (the task's join then reports it).
#[derive(Debug, Serialize, Deserialize)]
pub struct Pinger {
    /// Where requests go.
    pub ping: Channel<u64>,
    /// Where answers arrive.
    pub pong: Channel<u64>,
    /// Round trips to make.
    pub rounds: u64,
    /// Round trips completed.
    pub done: u64,
    /// The suspension point.
    pub at: PingAt,
}

impl Pinger {
    /// A pinger making `rounds` round trips.
    pub fn new(ping: Channel<u64>, pong: Channel<u64>, rounds: u64) -> Self {
        Pinger {
            ping,
            pong,
            rounds,
            done: 0,
            at: PingAt::Start,
        }
    }
}

impl Machine for Pinger {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_benches::Pinger";
    const FINGERPRINT: u64 = 0xbe7c_0002;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        match self.at {
            PingAt::Start => {}
            PingAt::Sending => {
                if let Err(e) = cx.resumed(|| self.ping.send(0)) {
                    panic!("ping {} not sent: {e}", self.done);
                }
                self.at = PingAt::Receiving;
                return cx.suspend(self.pong.recv());
            }
            PingAt::Receiving => match cx.resumed(|| self.pong.recv()) {
                Ok(v) if v == self.done + 1 => self.done += 1,
                Ok(v) => panic!("ping {} answered with {v}", self.done),
                Err(e) => panic!("pong {} not received: {e}", self.done),
            },
        }
        if self.done == self.rounds {
            self.ping.close();
            self.pong.close();
            return Step::Done(self.done);
        }
        self.at = PingAt::Sending;
        cx.suspend(self.ping.send(self.done))
    }
}
tern::register_machine!(Pinger);

/// The same task as [`Echo`], written as a `#[migratable]` function: answers every `v`
/// received on `ping` with `v + 1` on `pong`; returns how many it answered when `ping` (or
/// `pong`) closes.
#[tern::migratable]
pub async fn echo(ping: Channel<u64>, pong: Channel<u64>) -> u64 {
    let mut count: u64 = 0;
    while let Ok(v) = ping.recv().await {
        if pong.send(v + 1).await.is_err() {
            return count;
        }
        count += 1;
    }
    count
}

/// The same task as [`Pinger`], written as a `#[migratable]` function: sends `0, 1, …,
/// rounds - 1` on `ping`, checking that each answer on `pong` is the value plus one; then
/// closes both channels and returns `rounds`.
///
/// # Panics
/// On a wrong answer or a closed channel (the task's join then reports it).
#[tern::migratable]
pub async fn pinger(ping: Channel<u64>, pong: Channel<u64>, rounds: u64) -> u64 {
    let mut done: u64 = 0;
    while done < rounds {
        if let Err(e) = ping.send(done).await {
            panic!("ping {done} not sent: {e}");
        }
        match pong.recv().await {
            Ok(v) if v == done + 1 => done += 1,
            Ok(v) => panic!("ping {done} answered with {v}"),
            Err(e) => panic!("pong {done} not received: {e}"),
        }
    }
    ping.close();
    pong.close();
    done
}

/// Spawns an echo of the chosen `kind` ([`Echo`] or [`echo`]) on `node`.
pub fn spawn_echo(
    node: &Node,
    kind: Members,
    ping: Channel<u64>,
    pong: Channel<u64>,
) -> tern::TaskHandle<u64> {
    match kind {
        Members::HandWritten => node.spawn(Echo::new(ping, pong)),
        Members::Generated => node.spawn(echo(ping, pong)),
    }
}

/// Spawns a pinger of the chosen `kind` ([`Pinger`] or [`pinger`]) on `node`.
pub fn spawn_pinger(
    node: &Node,
    kind: Members,
    ping: Channel<u64>,
    pong: Channel<u64>,
    rounds: u64,
) -> tern::TaskHandle<u64> {
    match kind {
        Members::HandWritten => node.spawn(Pinger::new(ping, pong, rounds)),
        Members::Generated => node.spawn(pinger(ping, pong, rounds)),
    }
}

/// A channel name prefix unique within this process.
fn fresh_pp_name(kind: &str) -> String {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    format!("bench-pp-{kind}-{}", RUN.fetch_add(1, Ordering::Relaxed))
}

/// `rounds` round trips between a pinger and an echo task of the given `kind` on `node`, over
/// two fresh rendezvous channels; returns the time from spawning both to the pinger's end.
///
/// # Panics
/// When a task fails or a count is wrong.
pub fn ping_pong_tasks(
    driver: &tokio::runtime::Runtime,
    node: &Node,
    rounds: u64,
    kind: Members,
) -> Duration {
    let name = fresh_pp_name("tasks");
    let ping = node.channel::<u64>(&format!("{name}/ping"));
    let pong = node.channel::<u64>(&format!("{name}/pong"));
    let start = Instant::now();
    let echo = spawn_echo(node, kind, ping.clone(), pong.clone());
    let pinger = spawn_pinger(node, kind, ping, pong, rounds);
    let done = driver.block_on(pinger.join());
    let elapsed = start.elapsed();
    match done {
        Ok(n) => assert_eq!(n, rounds),
        Err(e) => panic!("tern pinger failed: {e}"),
    }
    match driver.block_on(echo.join()) {
        Ok(n) => assert_eq!(n, rounds),
        Err(e) => panic!("tern echo failed: {e}"),
    }
    elapsed
}

/// `rounds` round trips between the calling thread (through `driver`, with the channels'
/// futures) and an echo task of the given `kind` on `node`; returns the time of the round trips.
///
/// # Panics
/// When the echo fails or an answer is wrong.
pub fn ping_pong_thread(
    driver: &tokio::runtime::Runtime,
    node: &Node,
    rounds: u64,
    kind: Members,
) -> Duration {
    let name = fresh_pp_name("thread");
    let ping = node.channel::<u64>(&format!("{name}/ping"));
    let pong = node.channel::<u64>(&format!("{name}/pong"));
    let echo = spawn_echo(node, kind, ping.clone(), pong.clone());
    let elapsed = driver.block_on(async {
        let start = Instant::now();
        for i in 0..rounds {
            if let Err(e) = ping.send(i).await {
                panic!("ping {i} not sent: {e}");
            }
            match pong.recv().await {
                Ok(v) => assert_eq!(v, i + 1),
                Err(e) => panic!("pong {i} not received: {e}"),
            }
        }
        start.elapsed()
    });
    ping.close();
    match driver.block_on(echo.join()) {
        Ok(n) => assert_eq!(n, rounds),
        Err(e) => panic!("tern echo failed: {e}"),
    }
    elapsed
}

// ---- throughput ------------------------------------------------------------------------------

/// Sends `next, next + 1, …, end - 1` on `out`, then ends.
///
/// # Panics
/// When a send fails (the channel closed under it).
#[derive(Debug, Serialize, Deserialize)]
pub struct Producer {
    /// Where values go.
    pub out: Channel<u64>,
    /// The next value to send.
    pub next: u64,
    /// One past the last value.
    pub end: u64,
    /// Whether a send is in flight.
    pub sending: bool,
}

impl Machine for Producer {
    type Output = ();
    const TYPE_KEY: &'static str = "tern_benches::Producer";
    const FINGERPRINT: u64 = 0xbe7c_0003;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<()> {
        if self.sending {
            if let Err(e) = cx.resumed(|| self.out.send(0)) {
                panic!("producer send of {} failed: {e}", self.next);
            }
            self.next += 1;
        }
        if self.next == self.end {
            return Step::Done(());
        }
        self.sending = true;
        cx.suspend(self.out.send(self.next))
    }
}
tern::register_machine!(Producer);

/// Receives `remaining` values from `input` and returns their (wrapping) sum.
///
/// # Panics
/// When the channel closes before all values arrived.
#[derive(Debug, Serialize, Deserialize)]
pub struct Consumer {
    /// Where values arrive.
    pub input: Channel<u64>,
    /// Values still to receive.
    pub remaining: u64,
    /// The sum so far.
    pub sum: u64,
    /// Whether a receive is in flight.
    pub receiving: bool,
}

impl Machine for Consumer {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_benches::Consumer";
    const FINGERPRINT: u64 = 0xbe7c_0004;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if self.receiving {
            match cx.resumed(|| self.input.recv()) {
                Ok(v) => {
                    self.sum = self.sum.wrapping_add(v);
                    self.remaining -= 1;
                }
                Err(e) => panic!("consumer lost its input with {} to go: {e}", self.remaining),
            }
        }
        if self.remaining == 0 {
            return Step::Done(self.sum);
        }
        self.receiving = true;
        cx.suspend(self.input.recv())
    }
}
tern::register_machine!(Consumer);

// ---- idle tasks ------------------------------------------------------------------------------

/// Waits for one value on `inbox` and returns it (0 when the inbox closes): a task that sits
/// parked in `recv` for the footprint probe.
#[derive(Debug, Serialize, Deserialize)]
pub struct Parked {
    /// Where the task waits.
    pub inbox: Channel<u64>,
    /// Whether the receive is in flight.
    pub waiting: bool,
}

impl Machine for Parked {
    type Output = u64;
    const TYPE_KEY: &'static str = "tern_benches::Parked";
    const FINGERPRINT: u64 = 0xbe7c_0005;

    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if self.waiting {
            return Step::Done(cx.resumed(|| self.inbox.recv()).unwrap_or(0));
        }
        self.waiting = true;
        cx.suspend(self.inbox.recv())
    }
}
tern::register_machine!(Parked);

// ---- skynet on tokio -------------------------------------------------------------------------

/// The answer of skynet with 1,000,000 leaves.
pub const SKYNET_1M: u64 = 499_999_500_000;

/// The number of skynet leaves: 1,000,000, or 100,000 in the quick mode.
pub fn skynet_leaves() -> u64 {
    quick_or(100_000, 1_000_000)
}

/// The answer of skynet with `leaves` leaves: the sum of the ordinals `0..leaves`.
pub fn skynet_answer(leaves: u64) -> u64 {
    leaves * (leaves - 1) / 2
}

/// One skynet of `leaves` leaves on a tern node, joined from `driver`: the hand-written
/// `tern_tests::Skynet` or the `#[migratable]` `tern_tests::skynet`, as `kind` says.
///
/// # Panics
/// When the root task fails.
pub fn skynet_on_tern(
    driver: &tokio::runtime::Runtime,
    node: &Node,
    leaves: u64,
    kind: Members,
) -> u64 {
    driver.block_on(tern_tests::run_skynet(node, leaves, kind))
}

/// One skynet of `leaves` leaves on a tokio runtime ([`tokio_skynet`], spawned on `rt`).
///
/// # Panics
/// When the root task fails.
pub fn skynet_on_tokio(rt: &tokio::runtime::Runtime, leaves: u64) -> u64 {
    match rt.block_on(rt.spawn(tokio_skynet(0, leaves))) {
        Ok(sum) => sum,
        Err(e) => panic!("tokio skynet failed: {e}"),
    }
}

/// skynet on tokio: a task over `size` leaves starting at ordinal `num` spawns ten subtasks
/// with `tokio::spawn` and sums their `JoinHandle`s; a leaf returns its ordinal.
///
/// # Panics
/// When a subtask panics (inside the runtime, surfacing on the root's join).
pub fn tokio_skynet(num: u64, size: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size <= 1 {
            return num;
        }
        let part = size / 10;
        let children: Vec<_> = (0..10)
            .map(|i| tokio::spawn(tokio_skynet(num + i * part, part)))
            .collect();
        let mut sum = 0;
        for child in children {
            match child.await {
                Ok(v) => sum += v,
                Err(e) => panic!("a skynet subtask failed: {e}"),
            }
        }
        sum
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rounds` round trips between a pinger and an echo of the given kinds; returns what each
    /// of them returned.
    async fn ping_pong(pinger: Members, echo: Members, rounds: u64) -> (u64, u64) {
        let node = tern_tests::node("pp-twins", 1).await;
        let (ping, pong) = (node.channel::<u64>("ping"), node.channel::<u64>("pong"));
        let e = spawn_echo(&node, echo, ping.clone(), pong.clone());
        let p = spawn_pinger(&node, pinger, ping, pong, rounds);
        let done = (p.join().await.ok(), e.join().await.ok());
        node.shutdown().await;
        match done {
            (Some(p), Some(e)) => (p, e),
            other => panic!("{pinger:?} pinger / {echo:?} echo failed: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_generated_ping_pong_twins_answer_like_the_hand_written_ones() {
        use Members::{Generated, HandWritten};
        for (pinger, echo) in [
            (HandWritten, HandWritten),
            (Generated, Generated),
            (HandWritten, Generated),
            (Generated, HandWritten),
        ] {
            assert_eq!(ping_pong(pinger, echo, 100).await, (100, 100));
        }
    }

    #[tokio::test]
    async fn a_pinger_fails_on_a_wrong_answer() {
        for kind in [Members::HandWritten, Members::Generated] {
            let node = tern_tests::node("pp-wrong", 1).await;
            let (ping, pong) = (node.channel::<u64>("ping"), node.channel::<u64>("pong"));
            let p = spawn_pinger(&node, kind, ping.clone(), pong.clone(), 10);
            assert_eq!(ping.recv().await.ok(), Some(0));
            assert!(pong.send(2).await.is_ok());
            match p.join().await {
                Err(tern::JoinError::Failed(report)) => {
                    let message = report.panic.map(|p| p.message).unwrap_or_default();
                    assert!(message.contains("answered with 2"), "{kind:?}: {message}");
                }
                other => panic!("{kind:?}: a wrong answer was accepted: {other:?}"),
            }
            node.shutdown().await;
        }
    }
}
