//! The mesh over real QUIC on loopback: pairwise connections between three nodes, FIFO per
//! lane, batching, batch receive through a small inbox, one connection per pair after
//! simultaneous dials.

mod quic_support;

use std::collections::HashMap;

use quic_support::*;
use tern_net::proto::Message;
use tern_net::quic::{Delivery, MeshConfig, PeerEvent, QuicConfig, SendError};

const PER_PAIR: u64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_exchange_messages_in_order_between_all_pairs() {
    let names = ["alpha", "beta", "gamma"];
    let mut nodes: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| node(n, i as u64 + 1))
        .collect();
    let addrs: Vec<_> = nodes
        .iter()
        .map(|(m, _)| m.local_addr().expect("addr"))
        .collect();
    // alpha dials beta and gamma, beta dials gamma.
    for (from, to) in [(0, 1), (0, 2), (1, 2)] {
        let peer = nodes[from].0.connect(addrs[to]).await.expect("connect");
        assert_eq!(peer, id(names[to]));
    }
    // Dialling again reuses the connection.
    assert_eq!(
        nodes[0].0.connect(addrs[1]).await.expect("again"),
        id("beta")
    );
    for (mesh, _) in &nodes {
        assert_eq!(mesh.peers().len(), 2, "{mesh:?}");
    }

    // Every node sends to every other node on two channels, from concurrent tasks.
    let mut senders = Vec::new();
    for (i, (mesh, _)) in nodes.iter().enumerate() {
        for (j, to) in names.iter().enumerate() {
            if i == j {
                continue;
            }
            for chan in ["left", "right"] {
                let (mesh, to) = (mesh.clone(), id(to));
                senders.push(tokio::spawn(async move {
                    for seq in 0..PER_PAIR {
                        mesh.send(&to, numbered(chan, 1, seq, 16))
                            .await
                            .expect("send");
                    }
                }));
            }
        }
    }
    // Each node receives 2 peers × 2 channels × PER_PAIR, in order per (peer, channel).
    for (i, (_, inbox)) in nodes.iter_mut().enumerate() {
        let mut expect: HashMap<(String, String), u64> = HashMap::new();
        let mut ups = 0;
        let mut got = 0;
        while got < 4 * PER_PAIR {
            match next(inbox).await {
                Delivery::Message { from, message } => {
                    let (chan, _, seq) = number_of(&message);
                    let want = expect.entry((from.to_string(), chan)).or_insert(0);
                    assert_eq!(seq, *want, "{} from {from}: out of order", names[i]);
                    *want += 1;
                    got += 1;
                }
                Delivery::Event(PeerEvent::Up { .. }) => ups += 1,
                Delivery::Event(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ups, 2, "{}: one Up per peer", names[i]);
    }
    for s in senders {
        s.await.expect("sender");
    }
    for (mesh, _) in &nodes {
        let stats = mesh.stats();
        assert_eq!(stats.bad_frames, 0);
        assert_eq!(stats.messages_received, 4 * PER_PAIR);
        mesh.shutdown().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn small_messages_are_batched() {
    let (alpha, _a) = node("alpha", 1);
    let (beta, mut beta_inbox) = node("beta", 2);
    let peer = alpha
        .connect(beta.local_addr().expect("addr"))
        .await
        .expect("connect");
    for seq in 0..2000 {
        alpha
            .send(&peer, numbered("jobs", 1, seq, 8))
            .await
            .expect("send");
    }
    for seq in 0..2000 {
        let (_, message) = next_message(&mut beta_inbox).await;
        assert_eq!(number_of(&message).2, seq);
    }
    let stats = alpha.stats();
    assert_eq!(stats.frames_written, 2000);
    // On one thread the writer runs only when the sender yields, and finds many frames queued.
    assert!(stats.batches_written < stats.frames_written, "{stats:?}");
    alpha.shutdown().await;
    beta.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_many_takes_messages_in_order_within_a_small_inbox() {
    let (alpha, _a) = node("alpha", 1);
    // An inbox of 16 items: readers wait for room between batches.
    let (beta, mut beta_inbox) = node_with(
        "beta",
        2,
        QuicConfig::default(),
        MeshConfig::default().with_inbox(16, 1 << 20),
    );
    let peer = alpha
        .connect(beta.local_addr().expect("addr"))
        .await
        .expect("connect");
    let sender = tokio::spawn({
        let alpha = alpha.clone();
        async move {
            for seq in 0..5000 {
                alpha
                    .send(&peer, numbered("many", 1, seq, 16))
                    .await
                    .expect("send");
            }
        }
    });
    let mut got = Vec::new();
    let mut deliveries = Vec::new();
    while got.len() < 5000 {
        let n = tokio::time::timeout(GUARD, beta_inbox.recv_many(&mut deliveries, 100))
            .await
            .expect("hang guard: no delivery");
        assert!((1..=100).contains(&n), "{n}");
        for delivery in deliveries.drain(..) {
            if let Delivery::Message { message, .. } = delivery {
                got.push(number_of(&message).2);
            }
        }
    }
    assert_eq!(got, (0..5000).collect::<Vec<_>>());
    sender.await.expect("sender");
    assert_eq!(beta.stats().messages_received, 5000);
    alpha.shutdown().await;
    beta.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_leave_one_connection() {
    for round in 0..5u64 {
        let (alpha, mut alpha_inbox) = node("alpha", 10 + round);
        let (beta, mut beta_inbox) = node("beta", 20 + round);
        let (a_addr, b_addr) = (
            alpha.local_addr().expect("a"),
            beta.local_addr().expect("b"),
        );
        let (to_beta, to_alpha) = tokio::join!(alpha.connect(b_addr), beta.connect(a_addr));
        assert_eq!(to_beta.expect("alpha → beta"), id("beta"));
        assert_eq!(to_alpha.expect("beta → alpha"), id("alpha"));
        // Both ends keep the same connection: the one dialled by the same node.
        let a_view = alpha.peer_info(&id("beta")).expect("alpha has beta");
        let b_view = beta.peer_info(&id("alpha")).expect("beta has alpha");
        assert_eq!(a_view.dialer, b_view.dialer, "round {round}");
        assert_eq!(a_view.incarnation.0, 20 + round);
        assert_eq!(b_view.incarnation.0, 10 + round);

        // Messages flow both ways on it.
        alpha
            .send(&id("beta"), numbered("x", 1, 0, 4))
            .await
            .expect("send");
        beta.send(&id("alpha"), numbered("y", 2, 0, 4))
            .await
            .expect("send");
        assert_eq!(next_message(&mut beta_inbox).await.0, id("alpha"));
        assert_eq!(next_message(&mut alpha_inbox).await.0, id("beta"));
        assert_eq!(alpha.peers(), vec![id("beta")]);
        assert_eq!(beta.peers(), vec![id("alpha")]);
        alpha.shutdown().await;
        beta.shutdown().await;
    }
}

#[tokio::test]
async fn sends_are_refused_with_the_message_back() {
    let (alpha, _a) = node("alpha", 1);
    let nobody = id("nobody");
    let msg = numbered("jobs", 1, 0, 4);
    match alpha.send(&nobody, msg.clone()).await {
        Err(SendError::NodeDown { peer, message }) => {
            assert_eq!(peer, nobody);
            assert_eq!(message, msg);
        }
        other => panic!("{other:?}"),
    }
    let ping = Message::Ping(1);
    assert!(matches!(
        alpha.try_send(&nobody, ping.clone()),
        Err(SendError::Reserved { message }) if message == ping
    ));
    alpha.shutdown().await;
    assert!(matches!(
        alpha.send(&nobody, msg).await,
        Err(SendError::Shutdown { .. })
    ));
}
