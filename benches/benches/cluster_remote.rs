//! B8 remote ping-pong and B9 remote throughput: tern channels between two nodes of this
//! process, each listening on loopback (QUIC, mutual TLS from the per-process dev CA), against
//! raw quinn on endpoints with the same TLS and transport settings, in the same run.
//!
//! Every tern variant runs two nodes of one worker each, connected, on one 2-worker tokio
//! runtime (which runs their cluster drivers and QUIC, and the raw quinn peers too). A
//! channel's operations from the node that is not its home travel to the home (one round trip
//! per send or receive: `ToHome`, then the home's `Done`, then an `Ack`); parties on the home
//! itself do not serialize anything.
//!
//! B8 (`b8_round_trip`, time per round trip; a round trip is a `u64` sent by a `Pinger` task
//! on node A to an `Echo` task on node B over a rendezvous channel `ping`, and its successor
//! sent back over `pong`):
//!
//! - `tern/homes-at-receivers`: `ping` is homed at B and `pong` at A — each channel at its
//!   receiver's node, the realistic placement (a service homes its inbox). Each direction is
//!   then one `ToHome::Send` on the critical path; the home's `Done` to the sender overlaps
//!   with the answer travelling back.
//! - `tern/homes-at-echo`: both channels homed at B, so A's receive of `pong` is a remote
//!   `ToHome::Recv` too: A sends, waits for the `Done`, then asks for the answer — two network
//!   round trips per ping-pong. Shown for the cost of a bad placement.
//! - `raw-quinn`: a frame as long as tern's `ToHome::Send` of the `u64` written on one
//!   bidirectional stream, echoed by a task on the other endpoint, read back whole.
//!
//! B9 (`b9_throughput`, time per message; criterion's `thrpt` is messages/s): node A sends
//! `u64`s on a buffered channel of capacity 1024 homed at B, a `Consumer` task on B receives
//! and sums them (count and sum checked in every run). A sender has one operation in flight.
//!
//! - `tern/1-sender`: one `Producer` task on A.
//! - `tern/16-senders`: 16 `Producer` tasks on A, each sending a share.
//! - `raw-quinn-batched`: frames of the same length on one unidirectional stream, gathered up
//!   to the mesh's `batch_bytes` per write as the mesh's lane writers do (the floor).
//! - `raw-quinn-per-frame`: the same with one `write_all` per frame.
//!
//! `TERN_BENCH_QUICK=1` shortens the run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use tern::{Node, TaskHandle};
use tern_benches::quinn_peers::{RawEcho, RawOneWay};
use tern_benches::{per_element_group, tokio_runtime, Consumer, Echo, Pinger, Producer};
use tern_net::proto::{encode, ChannelId, Limits, Message, OpId, PartyId, Payload, ToHome};
use tern_net::quic::MeshConfig;
use tokio::runtime::Runtime;

/// Capacity of B9's buffered channel.
const B9_CAPACITY: usize = 1024;

/// Concurrent senders of B9's many-sender variant.
const B9_SENDERS: u64 = 16;

/// The length of the frame (prefix included) that carries tern's `ToHome::Send` of a `u64` on
/// the channel `name` of capacity `cap`: the raw variants send frames this long.
fn send_frame_len(name: &str, cap: u64) -> usize {
    let message = Message::ToHome(ToHome::Send {
        chan: ChannelId::of::<u64>(name, cap),
        op: OpId {
            party: PartyId {
                origin: u64::MAX,
                seq: 1 << 20,
            },
            epoch: 0,
            seq: 1 << 30,
        },
        // postcard's varint of a `u64` around 2^30.
        value: Payload(vec![0x80; 5]),
    });
    let mut frame = Vec::new();
    match encode(&message, &Limits::default(), &mut frame) {
        Ok(()) => frame.len().max(12),
        Err(e) => panic!("bench message does not encode: {e}"),
    }
}

/// Starts listening nodes `a` and `b` (one worker each), connects them and waits until both
/// count the other as a member.
async fn node_pair(a: &str, b: &str) -> (Node, Node) {
    let start = |id: &str| {
        Node::builder(id)
            .workers(1)
            .listen(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .start()
    };
    let a = start(a).await.unwrap_or_else(|e| panic!("start: {e}"));
    let b = start(b).await.unwrap_or_else(|e| panic!("start: {e}"));
    let addr = b
        .local_addr()
        .unwrap_or_else(|| panic!("b does not listen"));
    let peer = a
        .connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    assert_eq!(&peer, b.id());
    while a.members().len() < 2 || b.members().len() < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (a, b)
}

/// A fresh channel name starting with `prefix` whose home is `home` on both nodes.
fn name_homed_at(nodes: [&Node; 2], prefix: &str, home: &Node) -> String {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    loop {
        let name = format!("{prefix}-{}", RUN.fetch_add(1, Ordering::Relaxed));
        if nodes.iter().all(|n| n.home_of(&name) == *home.id()) {
            return name;
        }
    }
}

/// Awaits a tern task's output.
fn join<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static>(
    rt: &Runtime,
    task: TaskHandle<T>,
    what: &str,
) -> T {
    match rt.block_on(task.join()) {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

// ---- B8 --------------------------------------------------------------------------------------

/// Where B8's two channels are homed.
#[derive(Clone, Copy)]
enum Homes {
    /// `ping` at the echo's node, `pong` at the pinger's.
    AtReceivers,
    /// Both at the echo's node.
    AtEcho,
}

/// `rounds` round trips between a `Pinger` on `a` and an `Echo` on `b` over two fresh
/// rendezvous channels homed as `homes` says; the time from spawning both to the pinger's end.
fn remote_ping_pong(rt: &Runtime, a: &Node, b: &Node, homes: Homes, rounds: u64) -> Duration {
    let ping = name_homed_at([a, b], "b8-ping", b);
    let pong = match homes {
        Homes::AtReceivers => name_homed_at([a, b], "b8-pong", a),
        Homes::AtEcho => name_homed_at([a, b], "b8-pong", b),
    };
    let start = Instant::now();
    let echo = b.spawn(Echo::new(b.channel(&ping), b.channel(&pong)));
    let pinger = a.spawn(Pinger::new(a.channel(&ping), a.channel(&pong), rounds));
    assert_eq!(join(rt, pinger, "pinger"), rounds);
    let elapsed = start.elapsed();
    assert_eq!(join(rt, echo, "echo"), rounds);
    elapsed
}

fn b8(c: &mut Criterion, rt: &Runtime) {
    let mut group = per_element_group(c, "b8_round_trip");
    let (a, b) = rt.block_on(node_pair("b8-alpha", "b8-beta"));
    for (label, homes) in [
        ("tern/homes-at-receivers", Homes::AtReceivers),
        ("tern/homes-at-echo", Homes::AtEcho),
    ] {
        remote_ping_pong(rt, &a, &b, homes, 1000);
        group.bench_function(label, |bench| {
            bench.iter_custom(|iters| remote_ping_pong(rt, &a, &b, homes, iters));
        });
    }
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });

    let mut raw = RawEcho::start(
        rt,
        ("b8-raw-alpha", "b8-raw-beta"),
        send_frame_len("b8-ping-1000", 0),
    );
    raw.round_trips(rt, 1000);
    group.bench_function("raw-quinn", |bench| {
        bench.iter_custom(|iters| raw.round_trips(rt, iters));
    });
    raw.finish(rt);
    group.finish();
}

// ---- B9 --------------------------------------------------------------------------------------

/// `count` values `first..first + count` from `senders` `Producer`s on `a` to a `Consumer` on
/// `b`, over the buffered channel `name` (homed at `b`); the time from spawning them to the
/// consumer's end. Checks the count and the sum.
fn remote_stream(
    rt: &Runtime,
    (a, b): (&Node, &Node),
    name: &str,
    senders: u64,
    (first, count): (u64, u64),
) -> Duration {
    let start = Instant::now();
    let consumer = b.spawn(Consumer {
        input: b.buffered_channel(name, B9_CAPACITY),
        remaining: count,
        sum: 0,
        receiving: false,
    });
    let share = count.div_ceil(senders);
    let producers: Vec<_> = (0..senders)
        .map(|k| {
            let next = (first + k * share).min(first + count);
            let end = (next + share).min(first + count);
            a.spawn(Producer {
                out: a.buffered_channel(name, B9_CAPACITY),
                next,
                end,
                sending: false,
            })
        })
        .collect();
    let sum = join(rt, consumer, "consumer");
    let elapsed = start.elapsed();
    for p in producers {
        join(rt, p, "producer");
    }
    let want = (first..first + count).fold(0u64, u64::wrapping_add);
    assert_eq!(sum, want, "sum of {count} values from {first}");
    elapsed
}

fn b9(c: &mut Criterion, rt: &Runtime) {
    let mut group = per_element_group(c, "b9_throughput");
    let (a, b) = rt.block_on(node_pair("b9-alpha", "b9-beta"));
    let name = name_homed_at([&a, &b], "b9-stream", &b);
    for senders in [1, B9_SENDERS] {
        let label = if senders == 1 {
            "tern/1-sender".to_string()
        } else {
            format!("tern/{senders}-senders")
        };
        let mut next = 0;
        let mut run = |count: u64| {
            let d = remote_stream(rt, (&a, &b), &name, senders, (next, count));
            next += count;
            d
        };
        run(2000);
        group.bench_function(label, |bench| bench.iter_custom(&mut run));
    }
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });

    let len = send_frame_len(&name, B9_CAPACITY as u64);
    for (label, batch) in [
        ("raw-quinn-batched", MeshConfig::default().batch_bytes),
        ("raw-quinn-per-frame", 1),
    ] {
        let mut raw = RawOneWay::start(rt, ("b9-raw-alpha", "b9-raw-beta"), len, batch);
        raw.run(rt, 10_000);
        group.bench_function(label, |bench| {
            bench.iter_custom(|iters| raw.run(rt, iters));
        });
        raw.finish(rt);
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio_runtime(Some(2));
    eprintln!(
        "raw frame lengths: B8 {} bytes, B9 {} bytes",
        send_frame_len("b8-ping-1000", 0),
        send_frame_len("b9-stream-1000", B9_CAPACITY as u64)
    );
    b8(&mut c, &rt);
    b9(&mut c, &rt);
    c.final_summary();
}
