//! B8/B9 precursor: two [`Mesh`]es on loopback against raw quinn on the same endpoints.
//!
//! Every variant runs two nodes in this process, each a [`NodeEndpoint`] with a dev TLS
//! certificate (mutual TLS 1.3, ALPN `tern/1`, the same QUIC transport settings), on one
//! 2-worker tokio runtime. The raw variants use the endpoints' quinn connection directly, so
//! the difference to the mesh variants is the mesh: hello, lanes, framing, encode/decode,
//! inbox.
//!
//! - `round_trip/mesh`: alpha sends a `ToHome::Send` with a 64-byte value to beta; a task on
//!   beta takes it from its inbox and sends it back; alpha waits for it in its inbox. One
//!   message in flight.
//! - `round_trip/raw-quinn`: alpha writes a frame of the same length on a bidirectional
//!   stream; beta reads it whole and writes it back; alpha reads it whole.
//! - `throughput/mesh`: alpha sends `iters` such messages to beta with `Mesh::send` from one
//!   task; beta takes them from its inbox.
//! - `throughput/raw-quinn-batched`: alpha writes frames of the same length (a `u32` length
//!   and the body) on one unidirectional stream, gathering up to the mesh's `batch_bytes` per
//!   write as the mesh's lane writer does; beta reads chunks and splits them into frames.
//! - `throughput/raw-quinn-per-frame`: the same with one `write_all` per frame.
//!
//! Each variant checks what arrives (count, and order by a sequence number in every message)
//! once before it is timed and in every timed run. `time` is per round trip or per message;
//! criterion's `thrpt` line is round trips or messages per second. `TERN_BENCH_QUICK=1`
//! shortens the run.

use std::time::{Duration, Instant};

use criterion::Criterion;
use tern_benches::quinn_peers::{endpoint, join, RawEcho, RawOneWay};
use tern_net::proto::{
    encode, ChannelId, Incarnation, Limits, Message, NodeId, OpId, PartyId, Payload, ToHome,
};
use tern_net::quic::{Delivery, Inbox, Mesh, MeshConfig};
use tokio::runtime::Runtime;

/// Bytes of the value every message carries.
const VALUE_LEN: usize = 64;

/// The message number `seq`: a send on channel `bench` whose op number is `seq`.
fn message(seq: u64) -> Message {
    Message::ToHome(ToHome::Send {
        chan: ChannelId::of::<Vec<u8>>("bench", 0),
        op: OpId {
            party: PartyId { origin: 1, seq: 1 },
            epoch: 0,
            seq,
        },
        value: Payload(vec![0xa5; VALUE_LEN]),
    })
}

/// The sequence number of a message made by [`message`].
///
/// # Panics
/// When `message` is not one.
fn seq_of(message: &Message) -> u64 {
    match message {
        Message::ToHome(ToHome::Send { op, value, .. }) if value.0.len() == VALUE_LEN => op.seq,
        other => panic!("unexpected message {other:?}"),
    }
}

/// The length of a mesh frame (prefix included) carrying [`message`]: the raw variants send
/// frames this long. (A mesh frame's sequence number is a varint: frames of a run differ from
/// this by at most 2 bytes.)
fn frame_len() -> usize {
    let mut frame = Vec::new();
    match encode(&message(1 << 20), &Limits::default(), &mut frame) {
        Ok(()) => frame.len(),
        Err(e) => panic!("bench message does not encode: {e}"),
    }
}

fn runtime() -> Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime did not start: {e}"),
    }
}

// ---- mesh ------------------------------------------------------------------------------------

/// Two connected meshes: alpha, its inbox, beta's id and beta, beta's inbox (each inbox past
/// the peer's `Up`).
struct MeshPair {
    alpha: Mesh,
    alpha_inbox: Inbox,
    beta: Mesh,
    beta_inbox: Inbox,
    beta_id: NodeId,
}

async fn mesh_pair(alpha: &str, beta: &str) -> MeshPair {
    let (alpha, mut alpha_inbox) =
        Mesh::start(endpoint(alpha), Incarnation(1), MeshConfig::default());
    let (beta, mut beta_inbox) = Mesh::start(endpoint(beta), Incarnation(2), MeshConfig::default());
    let addr = beta.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let beta_id = alpha
        .connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    for inbox in [&mut alpha_inbox, &mut beta_inbox] {
        match inbox.recv().await {
            Some(Delivery::Event(_)) => {}
            other => panic!("expected the peer's Up, got {other:?}"),
        }
    }
    MeshPair {
        alpha,
        alpha_inbox,
        beta,
        beta_inbox,
        beta_id,
    }
}

/// The next message from `inbox`.
async fn next_message(inbox: &mut Inbox) -> (NodeId, Message) {
    match inbox.recv().await {
        Some(Delivery::Message { from, message }) => (from, message),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Sends every message from `inbox` back to its sender, until the mesh shuts down.
async fn mesh_echo(mesh: Mesh, mut inbox: Inbox) {
    while let Some(delivery) = inbox.recv().await {
        if let Delivery::Message { from, message } = delivery {
            if let Err(e) = mesh.send(&from, message).await {
                panic!("echo: {e}");
            }
        }
    }
}

/// `rounds` round trips from alpha through beta's echo, numbered from `first`; the time they
/// took. Checks every answer.
async fn mesh_round_trips(
    alpha: &Mesh,
    inbox: &mut Inbox,
    beta: &NodeId,
    first: u64,
    rounds: u64,
) -> Duration {
    let start = Instant::now();
    for seq in first..first + rounds {
        if let Err(e) = alpha.send(beta, message(seq)).await {
            panic!("send {seq}: {e}");
        }
        let (from, answer) = next_message(inbox).await;
        assert_eq!((&from, seq_of(&answer)), (beta, seq), "round trip {seq}");
    }
    start.elapsed()
}

/// `count` messages from alpha to beta, numbered from `first`; the time until beta has taken
/// the last. Checks count and order.
async fn mesh_stream(
    alpha: &Mesh,
    beta_inbox: &mut Inbox,
    beta: &NodeId,
    first: u64,
    count: u64,
) -> Duration {
    let start = Instant::now();
    let sender = {
        let (alpha, beta) = (alpha.clone(), beta.clone());
        tokio::spawn(async move {
            for seq in first..first + count {
                if let Err(e) = alpha.send(&beta, message(seq)).await {
                    panic!("send {seq}: {e}");
                }
            }
        })
    };
    for seq in first..first + count {
        let (_, message) = next_message(beta_inbox).await;
        assert_eq!(seq_of(&message), seq, "message out of order");
    }
    let elapsed = start.elapsed();
    join(sender).await;
    elapsed
}

// ---- benches ---------------------------------------------------------------------------------

fn round_trip(c: &mut Criterion, rt: &Runtime, len: usize) {
    let mut group = tern_benches::per_element_group(c, "net_round_trip");

    // Mesh: the echo task owns beta's inbox; alpha's inbox is read here.
    let MeshPair {
        alpha,
        mut alpha_inbox,
        beta,
        beta_inbox,
        beta_id,
    } = rt.block_on(mesh_pair("rt-alpha", "rt-beta"));
    let echo = rt.spawn(mesh_echo(beta.clone(), beta_inbox));
    let mut seq = 0;
    rt.block_on(mesh_round_trips(
        &alpha,
        &mut alpha_inbox,
        &beta_id,
        seq,
        1000,
    ));
    seq += 1000;
    group.bench_function("mesh", |b| {
        b.iter_custom(|iters| {
            let d = rt.block_on(mesh_round_trips(
                &alpha,
                &mut alpha_inbox,
                &beta_id,
                seq,
                iters,
            ));
            seq += iters;
            d
        });
    });
    rt.block_on(async {
        alpha.shutdown().await;
        beta.shutdown().await;
        join(echo).await;
    });

    // Raw quinn: one bidirectional stream, echoed by a task on beta.
    let mut raw = RawEcho::start(rt, ("rt-raw-alpha", "rt-raw-beta"), len);
    raw.round_trips(rt, 1000);
    group.bench_function("raw-quinn", |b| {
        b.iter_custom(|iters| raw.round_trips(rt, iters))
    });
    raw.finish(rt);
    group.finish();
}

fn throughput(c: &mut Criterion, rt: &Runtime, len: usize) {
    let mut group = tern_benches::per_element_group(c, "net_throughput");

    let MeshPair {
        alpha,
        alpha_inbox: _alpha_inbox,
        beta,
        mut beta_inbox,
        beta_id,
    } = rt.block_on(mesh_pair("tp-alpha", "tp-beta"));
    let mut seq = 0;
    rt.block_on(mesh_stream(&alpha, &mut beta_inbox, &beta_id, seq, 10_000));
    seq += 10_000;
    group.bench_function("mesh", |b| {
        b.iter_custom(|iters| {
            let d = rt.block_on(mesh_stream(&alpha, &mut beta_inbox, &beta_id, seq, iters));
            seq += iters;
            d
        });
    });
    rt.block_on(async {
        alpha.shutdown().await;
        beta.shutdown().await;
    });

    let batch_bytes = MeshConfig::default().batch_bytes;
    for (label, batch) in [
        ("raw-quinn-batched", batch_bytes),
        ("raw-quinn-per-frame", 1),
    ] {
        let mut raw = RawOneWay::start(rt, ("tp-raw-alpha", "tp-raw-beta"), len, batch);
        raw.run(rt, 10_000);
        group.bench_function(label, |b| b.iter_custom(|iters| raw.run(rt, iters)));
        raw.finish(rt);
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = runtime();
    let len = frame_len();
    round_trip(&mut c, &rt, len);
    throughput(&mut c, &rt, len);
    c.final_summary();
}
