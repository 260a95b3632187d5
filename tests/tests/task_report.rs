//! Post-mortem: a task that panics delivers a full report through `join`, and the node keeps
//! serving.

use tern::JoinError;
use tern_tests::{node, Faulty, Relay};

#[tokio::test]
async fn a_panicking_task_delivers_its_report_and_the_node_keeps_running() {
    let n = node("report", 1).await;
    let task = n.spawn(Faulty {
        input: n.channel("trigger"),
        seen: vec![1, 2],
        message: "invariant broken: total went negative".into(),
        started: false,
    });
    n.channel::<u64>("trigger").send(3).await.unwrap();
    let report = match task.join().await {
        Err(JoinError::Failed(report)) => report,
        other => panic!("expected a failure report, got {other:?}"),
    };
    assert_eq!(report.node, n.id().as_str());
    assert_eq!(report.task_type, "tern_tests::Faulty");
    let panic = report.panic.as_ref().expect("a panic section");
    assert_eq!(panic.message, "invariant broken: total went negative");
    let at = panic.location.as_ref().expect("the panic location");
    assert!(at.file.ends_with("src/lib.rs"), "panic location {at}");
    let suspended = report
        .suspension_point
        .as_ref()
        .expect("the last suspension point");
    assert!(
        suspended.file.ends_with("src/lib.rs"),
        "suspension point {suspended}"
    );
    assert!(
        suspended.line < at.line,
        "the suspension comes before the panic in the source"
    );
    assert_eq!(report.frames.len(), 1);
    assert!(
        report.frames[0]
            .state
            .contains("seen: [\n        1,\n        2,\n        3,"),
        "{}",
        report.frames[0].state
    );
    let text = report.to_string();
    assert!(
        text.contains("panicked at") && text.contains("last suspension point"),
        "{text}"
    );

    // The node is unaffected.
    let relay = n.spawn(Relay::new(n.channel("in"), n.channel("out")));
    n.channel::<u64>("in").send(2).await.unwrap();
    assert_eq!(n.channel::<u64>("out").recv().await, Ok(2));
    n.channel::<u64>("in").close();
    assert_eq!(relay.join().await.unwrap(), 2);
}

#[tokio::test]
async fn shutting_a_node_down_cancels_its_tasks_instead_of_hanging_their_joins() {
    let n = node("cancel-join", 2).await;
    let waiting = n.spawn(Relay::new(n.channel("never"), n.channel("out")));
    n.shutdown().await;
    assert!(matches!(waiting.join().await, Err(JoinError::Cancelled)));
    let late = n.spawn(Relay::new(n.channel("late-in"), n.channel("late-out")));
    assert!(matches!(late.join().await, Err(JoinError::Cancelled)));
}
