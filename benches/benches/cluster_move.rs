//! B10 move latency and B11 distributed thread-ring: `#[migratable]` tasks moved between, and
//! spread over, nodes of this process listening on loopback (QUIC, mutual TLS from the
//! per-process dev CA), with B8's round trip measured on the same nodes in the same run as the
//! unit.
//!
//! Every tern variant runs on listening nodes of one worker each (`tern_tests::cluster`), on
//! one 2-worker tokio runtime that runs their cluster drivers and QUIC; the bench thread drives
//! moves and injections with `block_on`.
//!
//! B10 (`b10_move`, time per move; a move is `TaskHandle::move_to(other).await` of a
//! `stateful_echo` task parked in `recv` on a rendezvous channel homed at node A, where the
//! task was spawned — its home, holding the handle):
//!
//! - `b8-round-trip/tern`: B8 on the same two nodes (a `Pinger` on A, an `Echo` on B, each
//!   channel homed at its receiver) — the unit.
//! - `b8-round-trip/raw-quinn`: B8's raw quinn echo (on its own pair of endpoints).
//! - `move/1KiB`, `move/64KiB`: the task, holding a `Vec<u8>` of 1,000 or 65,536 bytes and
//!   two counters, moved A → B, B → A, A → B, … one move per iteration. A → B is a move from
//!   the home (freeze, withdraw the receive at A, Offer, Installed, Commit); B → A is asked by
//!   the home with a `Control` to B, which then moves it the same way. Both count.
//! - `move-64-concurrent/1KiB`: 64 such tasks moved to the other node at once (the 64
//!   `move_to` futures joined); `thrpt` is moves/s.
//!
//! After every batch of moves, the bench sends a value to each moved task and checks its
//! answer (value + 1): the task answers from where it now is, with its state intact.
//!
//! Besides criterion, a plain loop times single moves (p50 and p99; 2,000 moves, 200 in the
//! quick mode), the first echo after each move ("suspend on A → resumed on B → first message
//! handled"), and moves under steady traffic: a `Pinger` on A ping-pongs with the task while
//! the bench thread moves it back and forth until the pinger is done; the pinger checks every
//! answer (a lost message hangs it, a duplicate fails its check) and the echo's count must
//! equal the pinger's. The summary at the end prints every ratio to B8's round trip.
//!
//! B11 (`b11_ring`, time per pass of a token N; `thrpt` is hops/s): 503 `#[migratable]`
//! `tern_tests::ring_member`s, member i on node i mod 2 with its inbox homed there (502 of the
//! 503 hops cross nodes), a token N injected at member 1, the member that receives 0 reports
//! its name — `(N mod 503) + 1`, checked every pass. The ring is built once and reused.
//!
//! - `tern/spawned-spread`: members spawned on their nodes.
//! - `tern/moved-spread`: all members spawned on A, then every odd one moved to B with
//!   `move_to` (the same placement reached by migration; the moved tasks run away from home).
//! - `tern/one-node`: the same ring of `ring_member`s on one embedded 1-worker node (B1's
//!   `tern-migratable/1w` with the ring built once).
//!
//! Every move and every pass has a 30 s deadline: a hang panics with what was being done
//! instead of timing forever. `TERN_BENCH_QUICK=1` shortens the run (N = 2,000, fewer moves).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use tern::{Channel, Node, TaskHandle};
use tern_benches::cluster::{b8_round_trips, b8_unit, block, join, p50_p99, us, Summary};
use tern_benches::quinn_peers::RawEcho;
use tern_benches::{flat_group, per_element_group, quick, quick_or, tokio_runtime, Pinger};
use tern_net::proto::{encode, ChannelId, Limits, Message, OpId, PartyId, Payload, ToHome};
use tern_tests::cluster::{cluster, shutdown};
use tern_tests::{ring_member, Members, Ring};
use tokio::runtime::Runtime;

/// Bytes of state of the small task (with its two counters and two channels: ≤ 1 KiB of
/// live state besides the channels).
const SMALL: usize = 1000;

/// Bytes of state of the large task.
const LARGE: usize = 64 * 1024;

/// Tasks moved at once in the concurrent variant.
const CONCURRENT: usize = 64;

/// Members of B11's ring.
const RING: u32 = 503;

/// Answers every `v` on `input` with `v + 1` on `output`, holding `pad`; returns how many it
/// answered, the (wrapping) sum of what it answered and a checksum of `pad` when `input` (or
/// `output`) closes.
#[tern::migratable]
async fn stateful_echo(input: Channel<u64>, output: Channel<u64>, pad: Vec<u8>) -> (u64, u64, u64) {
    let mut handled: u64 = 0;
    let mut total: u64 = 0;
    while let Ok(v) = input.recv().await {
        let v: u64 = v;
        if output.send(v + 1).await.is_err() {
            break;
        }
        handled += 1;
        total = total.wrapping_add(v);
    }
    (handled, total, checksum(&pad))
}

/// What a `stateful_echo` holding `pad(len)` returns after answering `0..count`.
fn echo_answer(count: u64, len: usize) -> (u64, u64, u64) {
    (
        count,
        (0..count).fold(0u64, u64::wrapping_add),
        checksum(&pad(len)),
    )
}

/// A deterministic pad of `len` bytes.
fn pad(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// FNV-1a of `bytes`.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A fresh channel name starting with `prefix` whose home is `home` on every node of `nodes`.
fn name_homed_at(nodes: &[Node], prefix: &str, home: &Node) -> String {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    loop {
        let name = format!("{prefix}-{}", RUN.fetch_add(1, Ordering::Relaxed));
        if nodes.iter().all(|n| n.home_of(&name) == *home.id()) {
            return name;
        }
    }
}

// ---- B8, the unit ----------------------------------------------------------------------------

/// The length of the frame of tern's `ToHome::Send` of a `u64` on a rendezvous channel (the
/// raw quinn echo sends frames this long, as in `cluster_remote.rs`).
fn send_frame_len() -> usize {
    let message = Message::ToHome(ToHome::Send {
        chan: ChannelId::of::<u64>("b10-b8-ping-1000", 0),
        op: OpId {
            party: PartyId {
                origin: u64::MAX,
                seq: 1 << 20,
            },
            epoch: 0,
            seq: 1 << 30,
        },
        value: Payload(vec![0x80; 5]),
    });
    let mut frame = Vec::new();
    match encode(&message, &Limits::default(), &mut frame) {
        Ok(()) => frame.len().max(12),
        Err(e) => panic!("bench message does not encode: {e}"),
    }
}

// ---- B10 -------------------------------------------------------------------------------------

/// A `stateful_echo` spawned on `nodes[0]` (its home), with the bench's ends of its channels.
struct Mover {
    task: TaskHandle<(u64, u64, u64)>,
    input: Channel<u64>,
    output: Channel<u64>,
    /// Index of the node it is on.
    at: usize,
    /// Moves made.
    moves: u64,
    /// Values sent (and answered).
    sent: u64,
    /// The length of its pad.
    len: usize,
    label: String,
}

impl Mover {
    fn spawn(nodes: &[Node], label: &str, len: usize) -> Mover {
        let a = &nodes[0];
        let input = name_homed_at(nodes, &format!("b10-{label}-in"), a);
        let output = name_homed_at(nodes, &format!("b10-{label}-out"), a);
        let task = a.spawn(stateful_echo(
            a.channel(&input),
            a.channel(&output),
            pad(len),
        ));
        Mover {
            task,
            input: a.channel(&input),
            output: a.channel(&output),
            at: 0,
            moves: 0,
            sent: 0,
            len,
            label: label.to_owned(),
        }
    }

    /// How to reproduce a failure of the next move.
    fn describe(&self, nodes: &[Node]) -> String {
        format!(
            "move #{} of task {label} ({:?}) from {} to {} (moves alternate between two \
             listening nodes; the task is parked in recv on a channel homed at {})",
            self.moves + 1,
            self.task.id(),
            nodes[self.at].id(),
            nodes[1 - self.at].id(),
            nodes[0].id(),
            label = self.label,
        )
    }

    /// The future of the next move (to the other node).
    async fn move_next(&self, nodes: &[Node]) {
        let to = &nodes[1 - self.at];
        if let Err(e) = self.task.move_to(to.id().as_str()).await {
            panic!("{} failed: {e}", self.describe(nodes));
        }
    }

    /// Records a finished move and checks where the task is now.
    fn moved(&mut self, nodes: &[Node]) {
        self.at = 1 - self.at;
        self.moves += 1;
        let want = nodes[self.at].id();
        assert_eq!(
            &self.task.location(),
            want,
            "location after move #{} of {}",
            self.moves,
            self.label
        );
    }

    /// Moves the task to the other node; the time of `move_to`.
    fn move_once(&mut self, rt: &Runtime, nodes: &[Node]) -> Duration {
        let start = Instant::now();
        block(rt, || self.describe(nodes), self.move_next(nodes));
        let elapsed = start.elapsed();
        self.moved(nodes);
        elapsed
    }

    /// Sends the next value and checks the answer; the time of the round trip.
    async fn echo(&mut self) -> Duration {
        let v = self.sent;
        let start = Instant::now();
        if let Err(e) = self.input.send(v).await {
            panic!("{}: value {v} not sent: {e}", self.label);
        }
        match self.output.recv().await {
            Ok(w) if w == v + 1 => {}
            Ok(w) => panic!("{}: value {v} answered with {w}", self.label),
            Err(e) => panic!("{}: answer to {v} not received: {e}", self.label),
        }
        self.sent += 1;
        start.elapsed()
    }

    fn echo_blocking(&mut self, rt: &Runtime) -> Duration {
        let what = format!(
            "echo of value {} by {} after move #{}",
            self.sent, self.label, self.moves
        );
        block(rt, || what, self.echo())
    }

    /// Closes its input and checks its final count and state.
    fn finish(self, rt: &Runtime) {
        self.input.close();
        let got = join(rt, self.task, &self.label);
        assert_eq!(
            got,
            echo_answer(self.sent, self.len),
            "{}: values handled, their sum and the pad after {} moves",
            self.label,
            self.moves
        );
    }
}

/// Moves every mover of `movers` to its other node at once; the time until all are done.
fn move_all(rt: &Runtime, nodes: &[Node], movers: &mut [Mover]) -> Duration {
    let start = Instant::now();
    let what = || format!("{} concurrent moves", movers.len());
    block(
        rt,
        what,
        futures::future::join_all(movers.iter().map(|m| m.move_next(nodes))),
    );
    let elapsed = start.elapsed();
    for m in movers.iter_mut() {
        m.moved(nodes);
    }
    elapsed
}

/// Single moves of `mover` timed one by one: p50, p99 and moves/s overall and per direction,
/// and the first echo after each move.
fn plain_moves(
    rt: &Runtime,
    nodes: &[Node],
    mover: &mut Mover,
    count: usize,
    unit: Duration,
    out: &mut Summary,
) {
    // Echo round trips of the parked task without moves, at both places, as the reference.
    let mut still = Vec::new();
    for _ in 0..2 {
        for _ in 0..100 {
            still.push(mover.echo_blocking(rt));
        }
        mover.move_once(rt, nodes);
    }
    let mut all = Vec::with_capacity(count);
    let mut from_home = Vec::new();
    let mut to_home = Vec::new();
    let mut first = Vec::new();
    let mut with_first = Vec::new();
    let start = Instant::now();
    for _ in 0..count {
        let leaving_home = mover.at == 0;
        let d = mover.move_once(rt, nodes);
        all.push(d);
        if leaving_home {
            from_home.push(d);
        } else {
            to_home.push(d);
        }
    }
    let elapsed = start.elapsed();
    for _ in 0..count.min(500) {
        let d = mover.move_once(rt, nodes);
        let e = mover.echo_blocking(rt);
        first.push(e);
        with_first.push(d + e);
    }
    let (p50, p99) = p50_p99(&mut all);
    let (h50, h99) = p50_p99(&mut from_home);
    let (t50, t99) = p50_p99(&mut to_home);
    let (s50, _) = p50_p99(&mut still);
    let (f50, f99) = p50_p99(&mut first);
    let (w50, w99) = p50_p99(&mut with_first);
    let r = |d: Duration| us(d) / us(unit);
    out.add(format!(
        "B10 {}: {count} moves in {:.3} s = {:.0} moves/s; p50 {:.1} µs ({:.2} B8 rt), p99 {:.1} µs ({:.2} B8 rt)",
        mover.label,
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        us(p50),
        r(p50),
        us(p99),
        r(p99),
    ));
    out.add(format!(
        "B10 {}:   from home (A→B) p50 {:.1} µs p99 {:.1} µs; to home (B→A, via Control) p50 {:.1} µs p99 {:.1} µs",
        mover.label,
        us(h50),
        us(h99),
        us(t50),
        us(t99),
    ));
    out.add(format!(
        "B10 {}:   move + first echo p50 {:.1} µs ({:.2} B8 rt) p99 {:.1} µs; first echo after a move p50 {:.1} µs p99 {:.1} µs; echo without moves p50 {:.1} µs",
        mover.label,
        us(w50),
        r(w50),
        us(w99),
        us(f50),
        us(f99),
        us(s50),
    ));
}

/// Moves under steady traffic: a `Pinger` on A makes `rounds` round trips with a fresh
/// `stateful_echo` (1 KiB) while the bench thread moves the echo back and forth until the
/// pinger is done. Checks that no ping was lost or answered twice.
fn under_traffic(rt: &Runtime, nodes: &[Node], rounds: u64, unit: Duration, out: &mut Summary) {
    let a = &nodes[0];
    let ping = name_homed_at(nodes, "b10-traffic-ping", a);
    let pong = name_homed_at(nodes, "b10-traffic-pong", a);
    // The pinger runs on B and the channels are homed at A, so every ping crosses the network
    // wherever the echo is (with the echo and the pinger on one node, the ping-pong is a
    // local hand-off of well under a microsecond, and the moves would race a finished run).
    let b = &nodes[1];
    // Without moves, for reference (the echo stays on A).
    let quiet = {
        let echo = a.spawn(stateful_echo(
            a.channel(&ping),
            a.channel(&pong),
            pad(SMALL),
        ));
        let start = Instant::now();
        let pinger = b.spawn(Pinger::new(b.channel(&ping), b.channel(&pong), rounds));
        assert_eq!(join(rt, pinger, "quiet pinger"), rounds);
        let elapsed = start.elapsed();
        assert_eq!(join(rt, echo, "quiet echo"), echo_answer(rounds, SMALL));
        elapsed
    };
    let ping = name_homed_at(nodes, "b10-traffic-ping", a);
    let pong = name_homed_at(nodes, "b10-traffic-pong", a);
    let echo = a.spawn(stateful_echo(
        a.channel(&ping),
        a.channel(&pong),
        pad(SMALL),
    ));
    let start = Instant::now();
    let pinger = b.spawn(Pinger::new(b.channel(&ping), b.channel(&pong), rounds));
    let mut at = 0;
    let mut moves = Vec::new();
    while !pinger.is_finished() {
        let to = nodes[1 - at].id();
        let t = Instant::now();
        let what = || format!("move #{} under traffic to {to}", moves.len() + 1);
        match block(rt, what, echo.move_to(to.as_str())) {
            Ok(()) => {}
            // The pinger closed the channels and the echo ended between the check and the
            // move: the only error that is not a bug here.
            Err(tern::MoveError::NotFound) if pinger.is_finished() => break,
            Err(e) => panic!(
                "move #{} under traffic to {to} failed: {e}",
                moves.len() + 1
            ),
        }
        moves.push(t.elapsed());
        at = 1 - at;
    }
    assert_eq!(join(rt, pinger, "pinger under traffic"), rounds);
    let elapsed = start.elapsed();
    assert_eq!(
        join(rt, echo, "echo under traffic"),
        echo_answer(rounds, SMALL),
        "pings answered by the moved echo, and its state"
    );
    let n = moves.len();
    let (p50, p99) = p50_p99(&mut moves);
    out.add(format!(
        "B10 under traffic: {rounds} checked pings (0 lost, 0 duplicated) in {:.3} s while {n} moves ran = {:.0} moves/s, {:.0} pings/s (without moves: {:.0} pings/s); move p50 {:.1} µs ({:.2} B8 rt) p99 {:.1} µs",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        rounds as f64 / elapsed.as_secs_f64(),
        rounds as f64 / quiet.as_secs_f64(),
        us(p50),
        us(p50) / us(unit),
        us(p99),
    ));
}

fn b10(c: &mut Criterion, rt: &Runtime, out: &mut Summary) {
    let nodes = block(
        rt,
        || "start of the B10 nodes".into(),
        cluster(&["b10-a", "b10-b"]),
    );
    let mut group = per_element_group(c, "b10_move");

    b8_round_trips(rt, &nodes, 1000);
    group.bench_function("b8-round-trip/tern", |bench| {
        bench.iter_custom(|iters| b8_round_trips(rt, &nodes, iters));
    });
    let mut raw = RawEcho::start(rt, ("b10-raw-alpha", "b10-raw-beta"), send_frame_len());
    raw.round_trips(rt, 1000);
    group.bench_function("b8-round-trip/raw-quinn", |bench| {
        bench.iter_custom(|iters| raw.round_trips(rt, iters));
    });
    raw.finish(rt);

    let mut small = Mover::spawn(&nodes, "1KiB", SMALL);
    let mut large = Mover::spawn(&nodes, "64KiB", LARGE);
    for mover in [&mut small, &mut large] {
        mover.echo_blocking(rt);
        for _ in 0..20 {
            mover.move_once(rt, &nodes);
        }
        mover.echo_blocking(rt);
        let id = format!("move/{}", mover.label);
        group.bench_function(id, |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += mover.move_once(rt, &nodes);
                }
                mover.echo_blocking(rt);
                total
            });
        });
    }

    let mut many: Vec<Mover> = (0..CONCURRENT)
        .map(|i| Mover::spawn(&nodes, &format!("many-{i}"), SMALL))
        .collect();
    for m in &mut many {
        m.echo_blocking(rt);
    }
    move_all(rt, &nodes, &mut many);
    group.throughput(criterion::Throughput::Elements(CONCURRENT as u64));
    group.bench_function(format!("move-{CONCURRENT}-concurrent/1KiB"), |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += move_all(rt, &nodes, &mut many);
            }
            for m in &mut many {
                m.echo_blocking(rt);
            }
            total
        });
    });
    group.finish();

    // The plain loops, with the unit measured right before.
    let unit = b8_unit(rt, &nodes, 40);
    out.add(format!(
        "B10 unit: B8 round trip on these nodes {:.1} µs (median of 40 batches of 50)",
        us(unit)
    ));
    let count = quick_or(200, 2000);
    plain_moves(rt, &nodes, &mut small, count, unit, out);
    plain_moves(rt, &nodes, &mut large, count / 4, unit, out);
    let rounds = quick_or(20, 200);
    let start = Instant::now();
    for _ in 0..rounds {
        move_all(rt, &nodes, &mut many);
    }
    let elapsed = start.elapsed();
    for m in &mut many {
        m.echo_blocking(rt);
    }
    out.add(format!(
        "B10 {CONCURRENT} tasks moving at once: {} moves in {:.3} s = {:.0} moves/s ({:.1} µs per move, {:.2} B8 rt)",
        rounds * CONCURRENT,
        elapsed.as_secs_f64(),
        (rounds * CONCURRENT) as f64 / elapsed.as_secs_f64(),
        us(elapsed) / (rounds * CONCURRENT) as f64,
        us(elapsed) / (rounds * CONCURRENT) as f64 / us(unit),
    ));
    under_traffic(rt, &nodes, quick_or(2_000, 20_000), unit, out);

    small.finish(rt);
    large.finish(rt);
    for m in many {
        m.finish(rt);
    }
    block(rt, || "shutdown of the B10 nodes".into(), shutdown(nodes));
}

// ---- B11 -------------------------------------------------------------------------------------

/// How a distributed ring's members reach their nodes.
#[derive(Clone, Copy)]
enum Spread {
    /// Spawned on their nodes.
    Spawned,
    /// Spawned on the first node, then the odd ones moved to the second.
    Moved,
}

/// A ring of `ring_member`s, member i on `nodes[i % 2]` with its inbox homed there.
struct DistRing {
    start: Channel<u64>,
    done: Channel<u32>,
    inboxes: Vec<Channel<u64>>,
    members: Vec<TaskHandle<()>>,
}

impl DistRing {
    fn build(rt: &Runtime, nodes: &[Node], spread: Spread) -> DistRing {
        let k = nodes.len();
        let a = &nodes[0];
        let names: Vec<String> = (0..RING as usize)
            .map(|i| name_homed_at(nodes, "b11-ring", &nodes[i % k]))
            .collect();
        let done_name = name_homed_at(nodes, "b11-done", a);
        let mut members = Vec::new();
        for i in 0..RING as usize {
            let on = match spread {
                Spread::Spawned => &nodes[i % k],
                Spread::Moved => a,
            };
            let next = &names[(i + 1) % RING as usize];
            members.push(on.spawn(ring_member(
                i as u32 + 1,
                on.channel(&names[i]),
                on.channel(next),
                on.buffered_channel(&done_name, 1),
            )));
        }
        if let Spread::Moved = spread {
            let moves = members.iter().enumerate().filter(|(i, _)| i % k != 0).map(|(i, m)| async move {
                let to = nodes[i % k].id();
                if let Err(e) = m.move_to(to.as_str()).await {
                    panic!("B11: move of ring member {} (spawned on {}, parked in recv on its inbox homed at {to}) to {to} failed: {e}", i + 1, a.id());
                }
            });
            block(
                rt,
                || "B11: moving the odd ring members".into(),
                futures::future::join_all(moves),
            );
            for (i, m) in members.iter().enumerate() {
                assert_eq!(
                    &m.location(),
                    nodes[i % k].id(),
                    "B11: member {} placed",
                    i + 1
                );
            }
        }
        DistRing {
            start: a.channel(&names[0]),
            done: a.buffered_channel(&done_name, 1),
            inboxes: names.iter().map(|n| a.channel(n)).collect(),
            members,
        }
    }

    /// Passes `token` around; the winner's name.
    fn pass(&self, rt: &Runtime, token: u64) -> u32 {
        block(rt, || format!("B11 pass of token {token}"), async {
            if let Err(e) = self.start.send(token).await {
                panic!("B11 injection failed: {e}");
            }
            match self.done.recv().await {
                Ok(w) => w,
                Err(e) => panic!("B11 report failed: {e}"),
            }
        })
    }

    fn finish(self, rt: &Runtime) {
        for ch in &self.inboxes {
            ch.close();
        }
        for (i, m) in self.members.into_iter().enumerate() {
            join(rt, m, &format!("B11 ring member {}", i + 1));
        }
    }
}

fn b11(c: &mut Criterion, rt: &Runtime, unit_out: &mut Summary) {
    let n: u64 = quick_or(2_000, 20_000);
    let want = (n % u64::from(RING)) as u32 + 1;
    let mut group = flat_group(
        c,
        "b11_ring".into(),
        Duration::from_secs(quick_or(1, 3)),
        Duration::from_secs(quick_or(4, 20)),
    );
    group.throughput(criterion::Throughput::Elements(n));

    let nodes = block(
        rt,
        || "start of the B11 nodes".into(),
        cluster(&["b11-a", "b11-b"]),
    );
    let mut per_hop = Vec::new();
    for (label, spread) in [
        ("spawned-spread", Spread::Spawned),
        ("moved-spread", Spread::Moved),
    ] {
        let ring = DistRing::build(rt, &nodes, spread);
        assert_eq!(ring.pass(rt, n), want, "B11 {label}");
        let t = Instant::now();
        assert_eq!(ring.pass(rt, n), want, "B11 {label}");
        per_hop.push((label, t.elapsed() / n as u32));
        group.bench_function(format!("tern/{label}"), |b| {
            b.iter(|| assert_eq!(ring.pass(rt, n), want));
        });
        ring.finish(rt);
    }
    let unit = b8_unit(rt, &nodes, 20);
    block(rt, || "shutdown of the B11 nodes".into(), shutdown(nodes));

    let local = block(
        rt,
        || "start of the B11 local node".into(),
        tern_tests::node("b11-local", 1),
    );
    let ring = block(
        rt,
        || "B11 local ring".into(),
        Ring::with_members(&local, "b11-local", RING, Members::Generated),
    );
    let pass = |ring: &Ring| block(rt, || "B11 local pass".into(), ring.pass(n));
    assert_eq!(pass(&ring), want, "B11 one-node");
    let t = Instant::now();
    assert_eq!(pass(&ring), want, "B11 one-node");
    let local_hop = t.elapsed() / n as u32;
    group.bench_function("tern/one-node", |b| {
        b.iter(|| assert_eq!(pass(&ring), want));
    });
    ring.close();
    block(
        rt,
        || "shutdown of the B11 local node".into(),
        local.shutdown(),
    );
    group.finish();

    for (label, hop) in per_hop {
        unit_out.add(format!(
            "B11 {label}: {:.2} µs per hop (one pass of {n}); {:.2} B8 rt ({:.1} µs on these nodes); {:.0}× the one-node ring ({:.3} µs per hop)",
            us(hop),
            us(hop) / us(unit),
            us(unit),
            us(hop) / us(local_hop),
            us(local_hop),
        ));
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio_runtime(Some(2));
    let mut summary = Summary::default();
    if quick() {
        eprintln!("quick mode");
    }
    b10(&mut c, &rt, &mut summary);
    b11(&mut c, &rt, &mut summary);
    c.final_summary();
    summary.print();
}
