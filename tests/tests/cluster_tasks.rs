//! `#[migratable]` tasks on channels whose homes are other nodes, and a task moved between
//! nodes while its receive waits at a remote home.

use std::time::Duration;

use tern::{migratable, Channel};
use tern_tests::cluster::{cluster, name_homed_at, shutdown};

#[migratable]
async fn doubler(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut handled: u64 = 0;
    while let Ok(v) = input.recv().await {
        output.send(v * 2).await.ok();
        handled += 1;
    }
    handled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_relays_between_channels_homed_on_two_other_nodes() {
    let nodes = cluster(&["task-a", "task-b", "task-c"]).await;
    let input = name_homed_at(&nodes, "in", &nodes[0]);
    let output = name_homed_at(&nodes, "out", &nodes[2]);
    // The task runs on b; its input lives on a, its output on c.
    let task = nodes[1].spawn(doubler(
        nodes[1].buffered_channel(&input, 4),
        nodes[1].buffered_channel(&output, 4),
    ));
    let feed = nodes[0].buffered_channel::<u64>(&input, 4);
    let results = nodes[2].buffered_channel::<u64>(&output, 4);
    let feeder = tokio::spawn(async move {
        for v in 1..=500u64 {
            feed.send(v).await.unwrap();
        }
        feed.close();
    });
    let mut got = Vec::new();
    for _ in 0..500 {
        got.push(results.recv().await.unwrap());
    }
    feeder.await.unwrap();
    assert_eq!(got, (1..=500).map(|v| v * 2).collect::<Vec<_>>());
    assert_eq!(task.join().await.unwrap(), 500);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_waiting_at_a_remote_home_moves_without_losing_a_value() {
    let nodes = cluster(&["mv-a", "mv-b", "mv-c"]).await;
    let input = name_homed_at(&nodes, "mv-in", &nodes[0]);
    let output = name_homed_at(&nodes, "mv-out", &nodes[0]);
    let feed = nodes[0].channel::<u64>(&input);
    let results = nodes[0].buffered_channel::<u64>(&output, 64);
    let task = nodes[1].spawn(doubler(
        nodes[1].channel(&input),
        nodes[1].buffered_channel(&output, 64),
    ));
    let mut sent = 0u64;
    for round in 0..6 {
        // The task handles some values, then waits at a's home for the next one...
        for _ in 0..5 {
            sent += 1;
            feed.send(sent).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // ...and is moved while it waits there: b withdraws its receive at a first.
        let target = if round % 2 == 0 { "mv-c" } else { "mv-b" };
        task.move_to(target).await.expect("move");
        assert_eq!(task.location().as_str(), target);
    }
    feed.close();
    let mut got = Vec::new();
    for _ in 0..sent {
        got.push(results.recv().await.unwrap());
    }
    assert_eq!(
        got,
        (1..=sent).map(|v| v * 2).collect::<Vec<_>>(),
        "none lost, none twice"
    );
    assert_eq!(task.join().await.unwrap(), sent);
    assert!(
        nodes[0].cluster_stats().withdrawn >= 1,
        "some move withdrew a receive at the home: {:?}",
        nodes[0].cluster_stats()
    );
    shutdown(nodes).await;
}
