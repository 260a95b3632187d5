//! Live migration between cluster nodes over QUIC: moves by handle (from the task's home,
//! wherever the task runs), a task moving itself, refusals that leave the task running where
//! it was, joins routed home, a node going down under a task that left, and `drain`.

use std::time::Duration;

use tern::{migratable, Channel, JoinError, MoveError, SnapshotError};
use tern_tests::cluster::{cluster, cluster_with, name_homed_at, shutdown};

/// Sums what it receives and reports each running total.
#[migratable(name = "moves::summer")]
async fn summer(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut total: u64 = 0;
    while let Ok(v) = input.recv().await {
        total += v;
        output.send(total).await.ok();
    }
    total
}

/// Moves itself to each node of `route` in turn, between receives, and returns where it ended
/// with the sum of what it received.
#[migratable(name = "moves::wanderer")]
async fn wanderer(input: Channel<u64>, output: Channel<u64>, route: Vec<String>) -> (String, u64) {
    let mut total: u64 = 0;
    let mut hop: usize = 0;
    while let Ok(v) = input.recv().await {
        total += v;
        if hop < route.len() {
            let to: String = route[hop].clone();
            hop += 1;
            tern::move_to(&to).await.expect("self move");
        }
        output.send(total).await.ok();
    }
    let here: String = tern::current_node().expect("a node").id().to_string();
    (here, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_moved_by_its_handle_keeps_its_state_and_bindings_and_joins_home() {
    let nodes = cluster(&["mh-a", "mh-b", "mh-c"]).await;
    let input = name_homed_at(&nodes, "mh-in", &nodes[1]);
    let output = name_homed_at(&nodes, "mh-out", &nodes[2]);
    let feed = nodes[0].channel::<u64>(&input);
    let results = nodes[0].buffered_channel::<u64>(&output, 16);
    let task = nodes[0].spawn(summer(
        nodes[0].channel(&input),
        nodes[0].buffered_channel(&output, 16),
    ));
    let route = ["mh-b", "mh-c", "mh-a", "mh-c", "mh-b"];
    let mut total = 0;
    for (i, to) in route.iter().enumerate() {
        let v = i as u64 + 1;
        feed.send(v).await.unwrap();
        total += v;
        assert_eq!(results.recv().await.unwrap(), total);
        // Moved from its home (a) wherever it is now: the handle follows it.
        task.move_to(to).await.expect("move");
        assert_eq!(task.location().as_str(), *to);
    }
    feed.send(100).await.unwrap();
    assert_eq!(results.recv().await.unwrap(), 115);
    feed.close();
    assert_eq!(task.join().await.expect("joined at home"), 115);
    let moved: u64 = nodes.iter().map(|n| n.cluster_stats().moves_out).sum();
    let arrived: u64 = nodes.iter().map(|n| n.cluster_stats().moves_in).sum();
    assert_eq!((moved, arrived), (5, 5));
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_moves_itself_and_its_output_reaches_its_home() {
    let nodes = cluster(&["ms-a", "ms-b", "ms-c"]).await;
    let input = name_homed_at(&nodes, "ms-in", &nodes[0]);
    let output = name_homed_at(&nodes, "ms-out", &nodes[0]);
    let feed = nodes[0].buffered_channel::<u64>(&input, 8);
    let results = nodes[0].buffered_channel::<u64>(&output, 8);
    let route: Vec<String> = ["ms-b", "ms-c", "ms-b", "ms-a", "ms-c"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let task = nodes[0].spawn(wanderer(
        nodes[0].buffered_channel(&input, 8),
        nodes[0].buffered_channel(&output, 8),
        route,
    ));
    let mut expected = 0;
    for v in 1..=8u64 {
        feed.send(v).await.unwrap();
        expected += v;
        assert_eq!(results.recv().await.unwrap(), expected);
    }
    feed.close();
    let (here, total) = task.join().await.expect("joined");
    assert_eq!((here.as_str(), total), ("ms-c", 36));
    let moved: u64 = nodes.iter().map(|n| n.cluster_stats().moves_out).sum();
    assert_eq!(moved, 5);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_moves_leave_the_task_running_where_it_was() {
    let nodes = cluster_with(&["rf-a", "rf-b", "rf-c"], |b| b).await;
    // A fourth node with a skewed build of `moves::summer` and room for no task.
    let skewed = tern::Node::builder("rf-d")
        .workers(1)
        .listen("127.0.0.1:0".parse().unwrap())
        .simulate_version_skew("moves::summer")
        .start()
        .await
        .unwrap();
    let full = tern::Node::builder("rf-e")
        .workers(1)
        .max_tasks(0)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    for n in &nodes {
        n.connect(skewed.local_addr().unwrap()).await.unwrap();
        n.connect(full.local_addr().unwrap()).await.unwrap();
    }
    skewed.connect(full.local_addr().unwrap()).await.unwrap();
    let all: Vec<tern::Node> = nodes
        .iter()
        .cloned()
        .chain([skewed.clone(), full.clone()])
        .collect();
    for n in &all {
        while n.members().len() < all.len() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let input = name_homed_at(&all, "rf-in", &all[1]);
    let output = name_homed_at(&all, "rf-out", &all[1]);
    let feed = all[0].channel::<u64>(&input);
    let results = all[0].buffered_channel::<u64>(&output, 16);
    let task = all[0].spawn(summer(
        all[0].channel(&input),
        all[0].buffered_channel(&output, 16),
    ));
    feed.send(1).await.unwrap();
    assert_eq!(results.recv().await.unwrap(), 1);

    let err = task.move_to("rf-d").await.expect_err("version skew");
    assert!(
        matches!(&err, MoveError::Refused(SnapshotError::FingerprintMismatch { key, .. }) if key == "moves::summer"),
        "{err:?}"
    );
    let err = task.move_to("rf-e").await.expect_err("over capacity");
    assert!(
        matches!(&err, MoveError::OverCapacity { node, limit: 0 } if node == "rf-e"),
        "{err:?}"
    );
    let err = task.move_to("nowhere").await.expect_err("unknown");
    assert!(matches!(err, MoveError::UnknownNode(_)), "{err:?}");
    // Still on its node, still summing, nothing lost: the receive it was withdrawn from at
    // the channel's home is back in place.
    assert_eq!(task.location().as_str(), "rf-a");
    feed.send(2).await.unwrap();
    assert_eq!(results.recv().await.unwrap(), 3);
    // Moved away, the same refusals come back through the task's current node.
    task.move_to("rf-b").await.unwrap();
    let err = task
        .move_to("rf-d")
        .await
        .expect_err("version skew, remote");
    assert!(
        matches!(
            err,
            MoveError::Refused(SnapshotError::FingerprintMismatch { .. })
        ),
        "{err:?}"
    );
    assert_eq!(task.location().as_str(), "rf-b");
    feed.send(3).await.unwrap();
    assert_eq!(results.recv().await.unwrap(), 6);
    let failed: u64 = all.iter().map(|n| n.cluster_stats().moves_failed).sum();
    assert_eq!(failed, 3, "two refusals from a, one from b");
    feed.close();
    assert_eq!(task.join().await.unwrap(), 6);
    shutdown(all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_of_a_task_on_a_node_that_goes_down_fails_with_node_down() {
    let nodes = cluster(&["nd-a", "nd-b"]).await;
    let input = name_homed_at(&nodes, "nd-in", &nodes[0]);
    let output = name_homed_at(&nodes, "nd-out", &nodes[0]);
    let task = nodes[0].spawn(summer(
        nodes[0].channel(&input),
        nodes[0].buffered_channel(&output, 4),
    ));
    tokio::time::sleep(Duration::from_millis(20)).await;
    task.move_to("nd-b").await.unwrap();
    nodes[1].shutdown().await;
    let err = tokio::time::timeout(Duration::from_secs(20), task.join())
        .await
        .expect("no join waits forever on a dead node")
        .expect_err("lost with its node");
    assert!(
        matches!(&err, JoinError::NodeDown { node } if node.as_str() == "nd-b"),
        "{err:?}"
    );
    nodes[0].shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_moves_a_thousand_tasks_onto_two_nodes_and_every_one_completes() {
    let nodes = cluster(&["dr-a", "dr-b", "dr-c"]).await;
    const TASKS: u64 = 1000;
    // The tasks are homed on b (their handles are there) and run on a until it drains.
    let mut handles = Vec::new();
    let input = name_homed_at(&nodes, "dr-in", &nodes[1]);
    let output = name_homed_at(&nodes, "dr-out", &nodes[1]);
    for _ in 0..TASKS {
        let h = nodes[1].spawn(summer(
            nodes[1].buffered_channel(&input, 64),
            nodes[1].buffered_channel(&output, 4096),
        ));
        handles.push(h);
    }
    for h in &handles {
        h.move_to("dr-a").await.expect("to a");
    }
    // A move returns once the target holds the task; it runs there after the commit.
    while nodes[0].cluster_stats().moves_in < TASKS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = nodes[0].drain().await.expect("drain");
    assert_eq!(
        (report.moved, report.failed),
        (TASKS as usize, 0),
        "{report:?}"
    );
    // The home (b) learns each new location from a's `Owner` messages, sent as each move
    // completes: wait for the last of them.
    let mut on = std::collections::HashMap::new();
    for _ in 0..2000 {
        on.clear();
        for h in &handles {
            *on.entry(h.location().to_string()).or_insert(0) += 1;
        }
        if !on.contains_key("dr-a") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(on.get("dr-a"), None, "{on:?}");
    assert!(on.get("dr-b").copied().unwrap_or(0) > 300, "{on:?}");
    assert!(on.get("dr-c").copied().unwrap_or(0) > 300, "{on:?}");
    // A drained node refuses arrivals.
    let err = handles[0].move_to("dr-a").await.expect_err("draining");
    assert!(matches!(err, MoveError::ShuttingDown { .. }), "{err:?}");
    // Every task still works: each value is taken by exactly one of them.
    let feed = nodes[2].buffered_channel::<u64>(&input, 64);
    for v in 1..=TASKS {
        feed.send(v).await.unwrap();
    }
    feed.close();
    let mut total = 0;
    for h in handles {
        total += h.join().await.expect("joined");
    }
    assert_eq!(total, TASKS * (TASKS + 1) / 2);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_embedded_nodes_a_task_moves_itself_to_another_node_of_the_process() {
    let a = tern::Node::builder("em-a")
        .workers(1)
        .start()
        .await
        .unwrap();
    let b = tern::Node::builder("em-b")
        .workers(1)
        .start()
        .await
        .unwrap();
    let route: Vec<String> = vec!["em-b".into(), "nowhere".into()];
    let feed = a.buffered_channel::<u64>("em-in", 4);
    let feed_b = b.buffered_channel::<u64>("em-in", 4);
    let results_b = b.buffered_channel::<u64>("em-out", 4);
    let task = a.spawn(wanderer(
        a.buffered_channel("em-in", 4),
        a.buffered_channel("em-out", 4),
        route[..1].to_vec(),
    ));
    feed.send(5).await.unwrap();
    // It moved to b between its receive and its send. Embedded nodes share nothing: on b its
    // channels are b's of the same names.
    assert_eq!(results_b.recv().await.unwrap(), 5);
    assert_eq!(task.location().as_str(), "em-b");
    feed_b.send(7).await.unwrap();
    assert_eq!(results_b.recv().await.unwrap(), 12);
    feed_b.close();
    assert_eq!(task.join().await.unwrap(), ("em-b".to_string(), 12));
    // A move to a node that does not exist is refused and the task stays.
    let lost = a.spawn(wanderer(
        a.buffered_channel("em-in2", 4),
        a.buffered_channel("em-out2", 4),
        route[1..].to_vec(),
    ));
    a.buffered_channel::<u64>("em-in2", 4)
        .send(1)
        .await
        .unwrap();
    a.buffered_channel::<u64>("em-in2", 4).close();
    let joined = lost.join().await;
    assert!(
        joined.is_err(),
        "the task's `expect` sees the refusal: {joined:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
