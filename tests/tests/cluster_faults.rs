//! Nodes that go away, connections that drop, strangers that knock: typed errors, nothing
//! lost, and the node keeps serving.

use std::time::Duration;

use tern::net::{ClusterCa, TlsConfig};
use tern::{ChannelError, Error, Node, NodeError, NodeId};
use tern_tests::cluster::{cluster, cluster_with, name_homed_at, shutdown};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_loses_and_duplicates_nothing() {
    let nodes = cluster(&["drop-a", "drop-b"]).await;
    let name = name_homed_at(&nodes, "dropped", &nodes[1]);
    let tx = nodes[0].buffered_channel::<u32>(&name, 16);
    let rx = nodes[1].buffered_channel::<u32>(&name, 16);
    const N: u32 = 2_000;
    let sender = tokio::spawn(async move {
        for i in 0..N {
            tx.send(i).await.expect("send survives a reconnect");
        }
    });
    let (a, b) = (nodes[0].clone(), nodes[1].id().clone());
    let cutter = tokio::spawn(async move {
        let mut cuts = 0;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            if a.disconnect(&b) {
                cuts += 1;
            }
        }
        cuts
    });
    let mut got = Vec::with_capacity(N as usize);
    while got.len() < N as usize {
        got.push(rx.recv().await.expect("recv"));
    }
    sender.await.unwrap();
    let cuts = cutter.await.unwrap();
    assert!(cuts > 0, "the test cut no connection");
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "in order, once each");
    // Nothing more arrives: no duplicate was buffered.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.len(), 0);
    assert!(
        nodes[1].cluster_stats().streamed > 0,
        "sends completed against credit: {:?}",
        nodes[1].cluster_stats()
    );
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_a_node_that_shuts_down_fails_with_node_down() {
    let nodes = cluster(&["down-a", "down-b", "down-c"]).await;
    let name = name_homed_at(&nodes, "doomed", &nodes[1]);
    let rx = nodes[0].channel::<u64>(&name);
    let tx = nodes[2].channel::<u64>(&name);
    let waiting = tokio::spawn(async move { rx.recv().await });
    let sending = tokio::spawn(async move { tx.send(5).await.map_err(|e| (e.kind, e.value)) });
    // Both wait at the home (a receive and a send cannot both wait on a rendezvous channel
    // unless they matched; so give them separate channels to be sure one waits).
    let other = name_homed_at(&nodes, "doomed-too", &nodes[1]);
    let rx2 = nodes[0].channel::<u64>(&other);
    let waiting2 = tokio::spawn(async move { rx2.recv().await });
    let matched = sending.await.unwrap();
    let first = waiting.await.unwrap();
    assert_eq!(matched, Ok(()), "the pair matched at the home");
    assert_eq!(first, Ok(5));

    tokio::time::sleep(Duration::from_millis(50)).await;
    nodes[1].shutdown().await;
    let err = tokio::time::timeout(Duration::from_secs(30), waiting2)
        .await
        .expect("no hang on a dead home")
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err,
        ChannelError::NodeDown {
            node: "down-b".into()
        }
    );
    assert!(nodes[0].cluster_stats().node_down >= 1);
    // The survivors keep working together; the dead node has left their membership.
    let alive = [nodes[0].clone(), nodes[2].clone()];
    for n in &alive {
        while n.members().len() != 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let name = name_homed_at(&alive, "after", &nodes[2]);
    let tx = nodes[0].buffered_channel::<u64>(&name, 1);
    tx.send(9).await.unwrap();
    assert_eq!(
        nodes[2].buffered_channel::<u64>(&name, 1).recv().await,
        Ok(9)
    );
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_refused_and_reaches_no_channel() {
    let nodes = cluster(&["home-a", "home-b"]).await;
    let name = name_homed_at(&nodes, "guarded", &nodes[0]);
    let guarded = nodes[0].buffered_channel::<String>(&name, 4);
    guarded.send("secret".into()).await.unwrap();

    // A node whose certificate comes from another CA, under a member's id and under its own.
    let other_ca = ClusterCa::generate("stranger-ca").unwrap();
    for id in ["home-b", "stranger"] {
        let node_id = NodeId::new(id).unwrap();
        let identity = other_ca.issue(&node_id).unwrap();
        let tls = TlsConfig::new(other_ca.trust(), identity);
        // An id already running in this process cannot start twice; use the dev directory's
        // rule only for the stranger's own id.
        let builder = Node::builder(if id == "home-b" { "home-b-x" } else { id });
        let started = builder
            .listen("127.0.0.1:0".parse().unwrap())
            .tls(tls)
            .start()
            .await;
        let stranger = match started {
            Ok(node) => node,
            Err(Error::Node(NodeError::Tls(msg))) => {
                // The certificate names another node than the builder's id: refused at start.
                assert!(msg.contains("home-b"), "{msg}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let err = stranger
            .connect(nodes[0].local_addr().unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Node(NodeError::Connect { .. })),
            "{err}"
        );
        let err = nodes[0]
            .connect(stranger.local_addr().unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Node(NodeError::Connect { .. })),
            "{err}"
        );
        assert!(!nodes[0].members().contains(stranger.id()));
        assert!(stranger.peers().is_empty());
        stranger.shutdown().await;
    }
    // The members still serve each other.
    let remote = nodes[1].buffered_channel::<String>(&name, 4);
    assert_eq!(remote.recv().await.unwrap(), "secret");
    assert_eq!(nodes[0].cluster_stats().mismatches, 0);
    shutdown(nodes).await;
}

#[tokio::test]
async fn cluster_calls_on_an_embedded_node_are_typed_errors() {
    let node = Node::builder("embedded-only")
        .workers(1)
        .start()
        .await
        .unwrap();
    assert_eq!(node.local_addr(), None);
    let err = node
        .connect("127.0.0.1:9".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Node(NodeError::NotListening)), "{err}");
    assert_eq!(node.members(), vec![node.id().clone()]);
    let err = Node::builder("Not_A_Label").start().await.unwrap_err();
    assert!(
        matches!(err, Error::Node(NodeError::InvalidId { .. })),
        "{err}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_away_past_the_grace_period_fails_what_waits_on_it() {
    // No grace at all: the first lost connection declares the peer down (the mesh then
    // redials and it joins again).
    let nodes = cluster_with(&["grace-a", "grace-b"], |b| b.grace(Duration::ZERO)).await;
    let name = name_homed_at(&nodes, "graceless", &nodes[1]);
    let rx = nodes[0].channel::<u64>(&name);
    let waiting = tokio::spawn(async move { rx.recv().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(nodes[0].disconnect(nodes[1].id()));
    let err = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("no hang")
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err,
        ChannelError::NodeDown {
            node: "grace-b".into()
        }
    );
    // The redial brings the peer back, and the channel works again.
    for n in &nodes {
        while n.members().len() != 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let tx = nodes[1].buffered_channel::<u64>(&name, 0);
    let rx = nodes[0].channel::<u64>(&name);
    let sender = tokio::spawn(async move { tx.send(3).await.map_err(|e| e.kind) });
    assert_eq!(rx.recv().await, Ok(3));
    assert_eq!(sender.await.unwrap(), Ok(()));
    shutdown(nodes).await;
}
