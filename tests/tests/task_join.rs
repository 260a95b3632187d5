//! Tasks joining tasks: skynet, failures crossing a join, and a joiner that moves.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tern::{Cx, JoinError, Machine, Node, Step, TaskHandle};
use tern_tests::{node, unique, Faulty, Relay, Skynet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skynet_sums_its_leaves_at_one_and_two_workers() {
    for workers in [1, 2] {
        let n = node("skynet", workers).await;
        let root = n.spawn(Skynet::root(10_000, 10));
        assert_eq!(root.join().await.unwrap(), 49_995_000, "{workers} workers");
        n.shutdown().await;
    }
}

/// Joins one child and returns its output plus one; reports a child's failure as `u64::MAX`.
#[derive(Debug, Serialize, Deserialize)]
struct JoinOne {
    child: Option<TaskHandle<u64>>,
}

impl Machine for JoinOne {
    type Output = u64;
    const TYPE_KEY: &'static str = "task_join::JoinOne";
    const FINGERPRINT: u64 = 1;
    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if let Some(child) = self.child.take() {
            return cx.suspend(child.join());
        }
        match cx.resumed(|| self.child.take().unwrap().join()) {
            Ok(v) => Step::Done(v + 1),
            Err(JoinError::Failed(_)) => Step::Done(u64::MAX),
            Err(e) => panic!("unexpected join error {e}"),
        }
    }
}
tern::register_machine!(JoinOne);

#[tokio::test]
async fn a_failure_crosses_a_join_inside_tasks() {
    let n = node("join-fail", 1).await;
    let faulty = n.spawn(Faulty {
        input: n.channel("t"),
        seen: vec![],
        message: "boom".into(),
        started: false,
    });
    let joiner = n.spawn(JoinOne {
        child: Some(faulty),
    });
    n.channel::<u64>("t").send(1).await.unwrap();
    assert_eq!(joiner.join().await.unwrap(), u64::MAX);
}

#[tokio::test]
async fn a_task_waiting_in_a_join_moves_and_still_gets_the_result() {
    let a = node("join-a", 1).await;
    let b_id = unique("join-b");
    let b = Node::builder(b_id.clone())
        .workers(1)
        .start()
        .await
        .unwrap();
    let relay = a.spawn(Relay::new(a.channel("in"), a.channel("out")));
    let joiner = a.spawn(JoinOne { child: Some(relay) });
    tokio::time::sleep(Duration::from_millis(20)).await;
    joiner.move_to(&b_id).await.unwrap();
    a.channel::<u64>("in").send(41).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await, Ok(41));
    a.channel::<u64>("in").close();
    assert_eq!(joiner.join().await.unwrap(), 42);
    drop(b);
}

#[tokio::test]
async fn a_joiner_restored_after_its_child_finished_gets_the_result() {
    let a = node("join-late", 1).await;
    let relay = a.spawn(Relay::new(a.channel("in"), a.channel("out")));
    let joiner = a.spawn(JoinOne { child: Some(relay) });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let snap = joiner.snapshot().await.unwrap();
    a.channel::<u64>("in").send(9).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await, Ok(9));
    a.channel::<u64>("in").close();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let restored = a.restore::<u64>(&snap).unwrap();
    assert_eq!(restored.join().await.unwrap(), 10);
}
