//! Post-mortems across nodes over real QUIC: a `#[migratable]` task that panics after moving
//! reports the node it failed on, the panic and its location, and its frames' live state to
//! the joiner at home; a remote method that panics gives its caller a `Panicked` error with the
//! owner's report while the owner keeps serving; a method's own `Err` reaches the caller typed.
//!
//! A note on frame states: a `#[migratable]` frame that is running when it panics reports
//! `name (running)` and no locals (its locals are out of its state while it runs); frames
//! suspended below it — here the outer frame, awaiting the nested call that panicked — report
//! theirs. The first test relies on that: its local `marker` is in the outer frame. A node
//! built with `capture_locals(true)` keeps the running frame's state as of its last resume,
//! and reports that instead (the second test).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tern::{Channel, JoinError, Remote, RemoteErrorKind};
use tern_tests::cluster::{cluster, cluster_with, shutdown};

/// A value the failing task holds in a local, looked for in its report.
const MARKER: u64 = 7_654_321;

/// Adds up the numbers it receives, holding [`MARKER`] in a local, by awaiting [`add_next`]
/// for each (a nested frame); returns the total and the marker when `input` closes.
#[tern::migratable(name = "remote_postmortem::unlucky")]
async fn unlucky(input: Channel<u64>) -> u64 {
    let marker: u64 = MARKER;
    let mut total: u64 = 0;
    loop {
        match add_next(input.clone(), total).await {
            Some(t) => total = t,
            None => return total + marker,
        }
    }
}

/// Receives one number and adds it to `total`; `None` when `input` closed. Panics on 13.
#[tern::migratable(name = "remote_postmortem::add_next")]
async fn add_next(input: Channel<u64>, total: u64) -> Option<u64> {
    let v: u64 = input.recv().await.ok()?;
    if v == 13 {
        panic!("unlucky number {v} after a total of {total}");
    }
    Some(total + v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_panics_after_moving_reports_where_and_what() {
    let nodes = cluster(&["pm-task-a", "pm-task-b"]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let input = a.channel::<u64>("pm-task-input");
    let task = a.spawn(unlucky(input.clone()));
    input.send(5).await.unwrap();
    task.move_to(b.id().as_str()).await.unwrap();
    assert_eq!(&task.location(), b.id());
    input.send(8).await.unwrap();
    input.send(13).await.unwrap();
    let report = match task.join().await {
        Err(JoinError::Failed(report)) => report,
        other => panic!("the task did not fail: {other:?}"),
    };
    assert_eq!(report.node, b.id().as_str(), "{report}");
    assert_eq!(report.task_type, "remote_postmortem::unlucky", "{report}");
    let panic = report.panic.as_ref().expect("a panic report");
    assert!(
        panic
            .message
            .contains("unlucky number 13 after a total of 13"),
        "{report}"
    );
    let location = panic.location.as_ref().expect("the panic's location");
    assert!(
        location.file.ends_with("remote_postmortem.rs"),
        "{location} ({report})"
    );
    // Outermost first: `unlucky`, suspended in its call of `add_next`, shows its locals; the
    // frame that panicked was running, and shows no state (see the module's note).
    assert_eq!(report.frames.len(), 2, "{report}");
    assert!(report.frames[0].task_type.ends_with("unlucky"), "{report}");
    assert!(
        report.frames[0].state.contains(&MARKER.to_string())
            && report.frames[0].state.contains("total: 13"),
        "the outer frame does not show its locals `marker` and `total`: {report}"
    );
    shutdown(nodes).await;
}

/// Adds what it receives to `total`, holding [`MARKER`]; panics on 13 (one frame only).
#[tern::migratable(name = "remote_postmortem::flat")]
async fn flat(input: Channel<u64>) -> u64 {
    let marker: u64 = MARKER;
    let mut total: u64 = 0;
    while let Ok(v) = input.recv().await {
        if v == 13 {
            panic!("unlucky number after a total of {total}");
        }
        total += v;
    }
    total + marker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_captured_locals_the_frame_that_panicked_shows_its_own() {
    let nodes = cluster_with(&["pm-cap-a", "pm-cap-b"], |b| b.capture_locals(true)).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let input = a.channel::<u64>("pm-cap-input");
    let task = a.spawn(flat(input.clone()));
    input.send(5).await.unwrap();
    task.move_to(b.id().as_str()).await.unwrap();
    input.send(8).await.unwrap();
    input.send(13).await.unwrap();
    let report = match task.join().await {
        Err(JoinError::Failed(report)) => report,
        other => panic!("the task did not fail: {other:?}"),
    };
    assert_eq!(report.node, b.id().as_str(), "{report}");
    assert_eq!(report.frames.len(), 1, "{report}");
    let state = &report.frames[0].state;
    assert!(
        state.contains(&MARKER.to_string()) && state.contains("total: 13"),
        "the frame that panicked does not show the locals it resumed with: {report}"
    );
    shutdown(nodes).await;
}

/// Why [`Ledger::withdraw`] refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerError {
    /// The balance is lower than asked for.
    Insufficient {
        /// The balance.
        balance: u64,
    },
}

/// A balance on one node.
#[tern::remote]
pub trait Ledger {
    /// The balance; panics when `poison` is set (a bug in the method).
    async fn balance(&self, poison: bool) -> u64;
    /// Takes `n`; the balance left, or why not.
    async fn withdraw(&self, n: u64) -> Result<u64, LedgerError>;
}

struct Account(AtomicU64);

#[tern::remote]
impl Ledger for Account {
    async fn balance(&self, poison: bool) -> u64 {
        if poison {
            panic!("the ledger is poisoned");
        }
        self.0.load(Ordering::SeqCst)
    }

    async fn withdraw(&self, n: u64) -> Result<u64, LedgerError> {
        let balance = self.0.load(Ordering::SeqCst);
        if balance < n {
            return Err(LedgerError::Insufficient { balance });
        }
        self.0.store(balance - n, Ordering::SeqCst);
        Ok(balance - n)
    }
}

/// A reference to a fresh account with `balance` on `nodes[0]`, received on `nodes[1]`.
async fn ledger_on_b(nodes: &[tern::Node], channel: &str, balance: u64) -> Remote<dyn Ledger> {
    let r: Remote<dyn Ledger> = nodes[0].expose(Account(AtomicU64::new(balance)));
    nodes[0]
        .buffered_channel::<Remote<dyn Ledger>>(channel, 1)
        .send(r)
        .await
        .unwrap();
    nodes[1]
        .buffered_channel::<Remote<dyn Ledger>>(channel, 1)
        .recv()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_that_panics_fails_the_call_and_the_owner_keeps_serving() {
    let nodes = cluster(&["pm-call-a", "pm-call-b"]).await;
    let ledger = ledger_on_b(&nodes, "pm-call-refs", 40).await;
    assert_eq!(ledger.balance(false).await.unwrap(), 40);
    let err = ledger
        .balance(true)
        .await
        .expect_err("a poisoned call fails");
    assert_eq!(err.kind, RemoteErrorKind::Panicked, "{err}");
    assert_eq!(err.node, nodes[0].id().as_str(), "{err}");
    let report = err.report.as_ref().expect("the owner's report");
    assert_eq!(report.node, nodes[0].id().as_str(), "{err}");
    let panic = report.panic.as_ref().expect("a panic report");
    assert!(panic.message.contains("the ledger is poisoned"), "{err:?}");
    assert!(
        panic
            .location
            .as_ref()
            .is_some_and(|l| l.file.ends_with("remote_postmortem.rs")),
        "{err:?}"
    );
    // The owner still answers, through the same reference.
    assert_eq!(ledger.balance(false).await.unwrap(), 40);
    assert_eq!(ledger.withdraw(1).await.unwrap(), Ok(39));
    assert_eq!(nodes[0].remote_stats().panics, 1);
    shutdown(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_methods_error_reaches_the_caller_typed() {
    let nodes = cluster(&["pm-err-a", "pm-err-b"]).await;
    let ledger = ledger_on_b(&nodes, "pm-err-refs", 10).await;
    assert_eq!(ledger.withdraw(4).await.unwrap(), Ok(6));
    assert_eq!(
        ledger.withdraw(7).await.unwrap(),
        Err(LedgerError::Insufficient { balance: 6 })
    );
    assert_eq!(ledger.balance(false).await.unwrap(), 6);
    shutdown(nodes).await;
}
