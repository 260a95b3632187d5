//! Named channels across real nodes: three nodes of this process, each with its own QUIC
//! endpoint on loopback, mutual TLS from the per-process dev CA, fully connected.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern::ChannelError;
use tern_net::sim::{check, CheckConfig, Event, History, SendResult};
use tern_tests::cluster::{cluster, name_homed_at, shutdown};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_agrees_on_every_home() {
    let nodes = cluster(&["agree-a", "agree-b", "agree-c"]).await;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..200 {
        let name = format!("chan-{i}");
        let home = nodes[0].home_of(&name);
        for n in &nodes[1..] {
            assert_eq!(n.home_of(&name), home, "{name}");
        }
        seen.insert(home);
    }
    assert_eq!(seen.len(), 3, "homes spread over the members");
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendezvous_across_three_nodes() {
    let nodes = cluster(&["rv-a", "rv-b", "rv-c"]).await;
    // Sender on a, receiver on b, the channel's home on c: every step crosses the network.
    let name = name_homed_at(&nodes, "rv", &nodes[2]);
    let tx = nodes[0].channel::<String>(&name);
    let rx = nodes[1].channel::<String>(&name);

    let send = tokio::spawn(async move { tx.send("over the wire".to_string()).await });
    // A rendezvous send does not complete without a receiver.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !send.is_finished(),
        "a rendezvous send completed with no receiver"
    );
    assert_eq!(rx.recv().await.unwrap(), "over the wire");
    send.await.unwrap().unwrap();

    // The other way round: the receiver waits first.
    let tx = nodes[0].channel::<String>(&name);
    let waiting = tokio::spawn(async move { rx.recv().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished());
    tx.send("second".to_string()).await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), "second");
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_fifo_across_nodes_and_close() {
    let nodes = cluster(&["fifo-a", "fifo-b", "fifo-c"]).await;
    let name = name_homed_at(&nodes, "fifo", &nodes[1]);
    let tx_a = nodes[0].buffered_channel::<u32>(&name, 8);
    let tx_c = nodes[2].buffered_channel::<u32>(&name, 8);
    let rx = nodes[1].buffered_channel::<u32>(&name, 8);
    // Eight values fit in the buffer: the sends complete with no receiver.
    for i in 0..4 {
        tx_a.send(i).await.unwrap();
        tx_c.send(1000 + i).await.unwrap();
    }
    // The home holds the buffer. Sends completed against credit (see `tern::cluster`,
    // "Credit") may still be on their way to it: wait for them, they are never refused.
    for _ in 0..1000 {
        if rx.len() == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rx.len(), 8, "the home holds the buffer");
    let a = tokio::spawn(async move {
        for i in 4..200 {
            tx_a.send(i).await.unwrap();
        }
    });
    let c = tokio::spawn(async move {
        for i in 1004..1200 {
            tx_c.send(i).await.unwrap();
        }
        tx_c
    });
    let (mut from_a, mut from_c) = (Vec::new(), Vec::new());
    while from_a.len() + from_c.len() < 400 {
        let v = rx.recv().await.unwrap();
        if v < 1000 {
            from_a.push(v)
        } else {
            from_c.push(v)
        }
    }
    a.await.unwrap();
    let tx_c = c.await.unwrap();
    assert_eq!(from_a, (0..200).collect::<Vec<_>>(), "FIFO per sender");
    assert_eq!(from_c, (1000..1200).collect::<Vec<_>>(), "FIFO per sender");

    // Close from a node that is not the home: buffered values stay receivable, then Closed.
    tx_c.send(7).await.unwrap();
    tx_c.close();
    let err = tx_c.send(8).await.unwrap_err();
    assert_eq!(err.kind, ChannelError::Closed);
    assert_eq!(err.value, 8, "a refused send hands its value back");
    assert_eq!(rx.recv().await.unwrap(), 7);
    assert_eq!(rx.recv().await.unwrap_err(), ChannelError::Closed);
    assert!(rx.is_closed());
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_type_is_refused_counted_and_the_node_keeps_serving() {
    let nodes = cluster(&["type-a", "type-b", "type-c"]).await;
    let name = name_homed_at(&nodes, "typed", &nodes[1]);
    let good = nodes[1].buffered_channel::<String>(&name, 4);
    good.send("kept".to_string()).await.unwrap();

    let wrong = nodes[0].buffered_channel::<u64>(&name, 4);
    let err = wrong.send(42).await.unwrap_err();
    assert!(
        matches!(err.kind, ChannelError::Mismatch(_)),
        "{:?}",
        err.kind
    );
    assert_eq!(err.value, 42);
    let err = wrong.recv().await.unwrap_err();
    assert!(matches!(err, ChannelError::Mismatch(_)), "{err:?}");
    assert_eq!(nodes[1].cluster_stats().mismatches, 2);

    // The home still serves the channel, to local and remote parties.
    let remote = nodes[2].buffered_channel::<String>(&name, 4);
    assert_eq!(remote.recv().await.unwrap(), "kept");
    remote.send("from c".to_string()).await.unwrap();
    assert_eq!(good.recv().await.unwrap(), "from c");
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_use_on_two_nodes_makes_one_channel() {
    let nodes = cluster(&["first-a", "first-b", "first-c"]).await;
    for round in 0..20 {
        let name = format!("fresh-{round}");
        let (a, b) = (nodes[0].clone(), nodes[1].clone());
        let n1 = name.clone();
        let send = tokio::spawn(async move { a.channel::<u32>(&n1).send(round).await });
        let recv = tokio::spawn(async move { b.channel::<u32>(&name).recv().await });
        assert_eq!(recv.await.unwrap().unwrap(), round);
        send.await.unwrap().unwrap();
    }
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_messages_four_senders_three_nodes_two_receivers() {
    const SENDERS: u64 = 4;
    const PER_SENDER: u32 = 25_000;
    let nodes = cluster(&["hist-a", "hist-b", "hist-c"]).await;
    let name = name_homed_at(&nodes, "hist", &nodes[2]);
    let start = Instant::now();
    let history = Arc::new(Mutex::new(History::new()));
    let record = {
        let history = Arc::clone(&history);
        move |event: Event| {
            let mut h = history.lock().unwrap();
            let at = start.elapsed();
            h.push(at, event);
        }
    };
    let record = Arc::new(record);

    // Senders: two on a, one on b, one on c. Receivers: one on b, one on c.
    let sender_nodes = [0, 0, 1, 2];
    let mut senders = Vec::new();
    for (key, &n) in sender_nodes.iter().enumerate() {
        let ch = nodes[n].buffered_channel::<(u64, u32)>(&name, 64);
        let record = Arc::clone(&record);
        senders.push(tokio::spawn(async move {
            for seq in 0..PER_SENDER {
                record(Event::Send {
                    sender: key as u64,
                    chan: 0,
                    seq,
                });
                ch.send((key as u64, seq)).await.expect("send");
                record(Event::SendDone {
                    sender: key as u64,
                    seq,
                    result: SendResult::Sent,
                });
            }
        }));
    }
    let total = SENDERS * u64::from(PER_SENDER);
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut receivers = Vec::new();
    for (key, n) in [(100u64, 1usize), (101, 2)] {
        let ch = nodes[n].buffered_channel::<(u64, u32)>(&name, 64);
        let record = Arc::clone(&record);
        let received = Arc::clone(&received);
        receivers.push(tokio::spawn(async move {
            while received.load(std::sync::atomic::Ordering::SeqCst) < total {
                let recv = tokio::time::timeout(Duration::from_millis(200), ch.recv()).await;
                let Ok(value) = recv else { continue };
                let (sender, seq) = value.expect("recv");
                record(Event::Deliver {
                    receiver: key,
                    chan: 0,
                    sender,
                    seq,
                    node: n,
                    epoch: 0,
                });
                received.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    let mut last_report = Instant::now();
    while received.load(std::sync::atomic::Ordering::SeqCst) < total {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "[{:?}] {} of {total} delivered; stats {:?}",
                start.elapsed(),
                received.load(std::sync::atomic::Ordering::SeqCst),
                nodes.iter().map(|n| n.cluster_stats()).collect::<Vec<_>>()
            );
            last_report = Instant::now();
        }
    }
    for s in senders {
        s.await.unwrap();
    }
    for r in receivers {
        r.await.unwrap();
    }
    record(Event::End { complete: true });
    let history = history.lock().unwrap().clone();
    assert_eq!(history.deliveries() as u64, total);
    let violations = check(
        &history,
        &CheckConfig {
            resume_within: Duration::from_secs(3600),
        },
    );
    assert!(
        violations.is_empty(),
        "{} violations, first: {:?}",
        violations.len(),
        violations.first()
    );
    eprintln!("{total} messages in {:?}", start.elapsed());
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ends_agree_on_homes_as_soon_as_connect_returns() {
    for round in 0..5 {
        let a = tern::Node::builder(format!("early-a{round}"))
            .workers(1)
            .listen("127.0.0.1:0".parse().unwrap())
            .start()
            .await
            .unwrap();
        let b = tern::Node::builder(format!("early-b{round}"))
            .workers(1)
            .listen("127.0.0.1:0".parse().unwrap())
            .start()
            .await
            .unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        // No waiting: the listener already counts the dialer.
        assert_eq!(b.members(), a.members());
        let name = (0..1000)
            .map(|i| format!("early-{i}"))
            .find(|n| a.home_of(n) == *a.id())
            .unwrap();
        let rx = b.channel::<u32>(&name);
        let got = tokio::spawn(async move { rx.recv().await });
        a.channel::<u32>(&name).send(round).await.unwrap();
        assert_eq!(got.await.unwrap(), Ok(round));
        a.shutdown().await;
        b.shutdown().await;
    }
}
