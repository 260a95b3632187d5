//! Freezing tasks into snapshots, restoring them on another node, moving them, and refusing
//! every kind of bad snapshot.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tern::{Channel, Cx, JoinError, Machine, MoveError, Node, Snapshot, SnapshotError, Step};
use tern_tests::{node, unique, Outer, Relay, Sleeper};

const INPUT: [u64; 6] = [3, 1, 4, 1, 5, 9];

/// Runs a relay over `INPUT`, freezing it after driver step `freeze_at` (None: never) and
/// restoring it on a second node. Returns the outputs seen and the joined total.
async fn relay_run(freeze_at: Option<usize>) -> (Vec<u64>, u64) {
    let a = node("snap-a", 1).await;
    let b = node("snap-b", 1).await;
    let mut on = a.clone();
    let mut task = a.spawn(Relay::new(a.channel("in"), a.channel("out")));
    let mut outputs = Vec::new();
    let mut step = 0;
    for v in INPUT {
        if freeze_at == Some(step) {
            let snap = task.snapshot().await.unwrap();
            task = b.restore(&snap).unwrap();
            on = b.clone();
        }
        step += 1;
        on.channel::<u64>("in").send(v).await.unwrap();
        if freeze_at == Some(step) {
            let snap = task.snapshot().await.unwrap();
            task = b.restore(&snap).unwrap();
            on = b.clone();
        }
        step += 1;
        outputs.push(on.channel::<u64>("out").recv().await.unwrap());
    }
    on.channel::<u64>("in").close();
    let total = task.join().await.unwrap();
    a.shutdown().await;
    b.shutdown().await;
    (outputs, total)
}

#[tokio::test]
async fn freezing_at_each_suspension_point_gives_the_uninterrupted_output() {
    let expected = relay_run(None).await;
    assert_eq!(expected.0, vec![3, 4, 8, 9, 14, 23]);
    assert_eq!(expected.1, 23);
    for point in 0..INPUT.len() * 2 {
        assert_eq!(
            relay_run(Some(point)).await,
            expected,
            "frozen at suspension point {point}"
        );
    }
}

/// Spins until released: keeps a 1-worker node busy so a woken task waits in the run queue.
#[derive(Debug, Serialize, Deserialize)]
struct Blocker {
    release: Channel<u64>,
}

static RELEASED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Machine for Blocker {
    type Output = ();
    const TYPE_KEY: &'static str = "task_snapshot::Blocker";
    const FINGERPRINT: u64 = 1;
    fn resume(&mut self, _cx: &mut Cx<'_>) -> Step<()> {
        while !RELEASED.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::yield_now();
        }
        Step::Done(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_matched_before_the_freeze_travels_inside_the_snapshot() {
    let a = node("matched-a", 1).await;
    let b = node("matched-b", 1).await;
    let task = a.spawn(Relay::new(a.channel("in"), a.channel("out")));
    // Let the relay park in `recv`.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(a.channel::<u64>("in").balance(), -1);
    // Occupy the only worker, then hand the relay a value: it is matched and queued, not run.
    let blocker = a.spawn(Blocker {
        release: a.channel("unused"),
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.channel::<u64>("in").send(11).await.unwrap();
    let freezing = tokio::spawn(async move {
        let snap = task.snapshot().await;
        (task, snap)
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    RELEASED.store(true, std::sync::atomic::Ordering::SeqCst);
    let (_old, snap) = freezing.await.unwrap();
    let snap = snap.unwrap();
    blocker.join().await.unwrap();
    // The send completed on `a`, so the value must be in the snapshot, not in a's channel.
    assert_eq!(a.channel::<u64>("in").balance(), 0);
    let task = b.restore::<u64>(&snap).unwrap();
    assert_eq!(
        b.channel::<u64>("out").recv().await,
        Ok(11),
        "the matched value was not lost"
    );
    b.channel::<u64>("in").close();
    assert_eq!(task.join().await.unwrap(), 11);
}

#[tokio::test]
async fn a_frozen_handle_reports_frozen_and_the_restored_one_joins() {
    let a = node("frozen", 1).await;
    let task = a.spawn(Relay::new(a.channel("in"), a.channel("out")));
    let snap = task.snapshot().await.unwrap();
    assert!(matches!(task.join().await, Err(JoinError::Frozen)));
    assert_eq!(
        a.channel::<u64>("in").balance(),
        0,
        "the withdrawn receive left no entry"
    );
    let again = a.restore::<u64>(&snap).unwrap();
    a.channel::<u64>("in").send(2).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await, Ok(2));
    a.channel::<u64>("in").close();
    assert_eq!(again.join().await.unwrap(), 2);
}

#[tokio::test]
async fn move_to_carries_the_task_and_its_join_across_nodes() {
    let a = node("mv-a", 1).await;
    let b_id = unique("mv-b");
    let b = Node::builder(b_id.clone())
        .workers(1)
        .start()
        .await
        .unwrap();
    let task = a.spawn(Relay::new(a.channel("in"), a.channel("out")));
    a.channel::<u64>("in").send(5).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await, Ok(5));
    task.move_to(&b_id).await.unwrap();
    assert_eq!(task.location().as_str(), b_id);
    task.move_to(&b_id).await.unwrap(); // a no-op
    b.channel::<u64>("in").send(7).await.unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await, Ok(12));
    task.move_to(a.id().as_str()).await.unwrap();
    a.channel::<u64>("in").send(1).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await, Ok(13));
    a.channel::<u64>("in").close();
    assert_eq!(task.join().await.unwrap(), 13);
    assert!(matches!(
        a.spawn(Relay::new(a.channel("x"), a.channel("y")))
            .move_to("nowhere")
            .await,
        Err(MoveError::UnknownNode(_))
    ));
}

#[tokio::test]
async fn nested_frames_and_sleeps_survive_a_move() {
    let a = node("nest-a", 1).await;
    let b_id = unique("nest-b");
    let b = Node::builder(b_id.clone())
        .workers(1)
        .start()
        .await
        .unwrap();
    let outer = a.spawn(Outer {
        input: a.channel("in"),
        output: a.channel("out"),
        factor: 10,
        called: false,
    });
    a.channel::<u64>("in").send(4).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await, Ok(4));
    outer.move_to(&b_id).await.unwrap();
    b.channel::<u64>("in").send(2).await.unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await, Ok(6));
    b.channel::<u64>("in").close();
    assert_eq!(outer.join().await.unwrap(), 60);

    let sleeper = a.spawn(Sleeper {
        millis: 150,
        value: 77,
        slept: false,
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    sleeper.move_to(&b_id).await.unwrap();
    assert!(!sleeper.is_finished());
    assert_eq!(sleeper.join().await.unwrap(), 77);
}

/// A machine that waits for one value and returns it (0 if its channel closes); the three
/// below differ only in their identity.
macro_rules! recv_once_machine {
    ($(#[$doc:meta])* $name:ident, $key:literal, $fingerprint:literal) => {
        $(#[$doc])*
        #[derive(Debug, Serialize, Deserialize)]
        struct $name {
            input: Channel<u64>,
            started: bool,
        }

        impl Machine for $name {
            type Output = u64;
            const TYPE_KEY: &'static str = $key;
            const FINGERPRINT: u64 = $fingerprint;
            fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
                if !self.started {
                    self.started = true;
                    return cx.suspend(self.input.recv());
                }
                Step::Done(cx.resumed(|| self.input.recv()).unwrap_or(0))
            }
        }
    };
}

recv_once_machine!(
    /// Not registered anywhere: its snapshots cannot be restored.
    Unregistered,
    "task_snapshot::Unregistered",
    1
);
recv_once_machine!(
    /// Version 2 of a machine, registered under the key that version 1 also uses.
    SkewV2,
    "task_snapshot::Skew",
    2
);
tern::register_machine!(SkewV2);
recv_once_machine!(
    /// Version 1 (old code): same key, other fingerprint, not registered in this build.
    SkewV1,
    "task_snapshot::Skew",
    1
);

async fn relay_snapshot(n: &Node) -> Snapshot {
    let t = n.spawn(Relay::new(n.channel("bad-in"), n.channel("bad-out")));
    t.snapshot().await.unwrap()
}

#[tokio::test]
async fn every_bad_snapshot_gets_its_typed_error() {
    let n = node("bad", 1).await;
    let good = relay_snapshot(&n).await;
    let bytes = good.as_bytes().to_vec();
    let restore = |b: Vec<u8>| n.restore::<u64>(&Snapshot::from_bytes(b)).map(drop);

    assert_eq!(restore(vec![]), Err(SnapshotError::Empty));
    for len in 1..bytes.len() {
        match restore(bytes[..len].to_vec()) {
            Err(SnapshotError::Malformed(_)) => {}
            other => panic!("truncated to {len} of {} bytes: {other:?}", bytes.len()),
        }
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(restore(trailing), Err(SnapshotError::TrailingBytes(1)));
    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert_eq!(restore(magic), Err(SnapshotError::BadMagic));
    let mut version = bytes.clone();
    version[4] = 99;
    assert!(matches!(
        restore(version),
        Err(SnapshotError::Version {
            found: 99,
            supported: 3
        })
    ));
    // 1: before suspension points could be left to the machine; 2: before a pending request
    // could name its channel by the index of a handle the state holds.
    for old in [1, 2] {
        let mut v = bytes.clone();
        v[4] = old;
        assert_eq!(
            restore(v),
            Err(SnapshotError::Version {
                found: u16::from(old),
                supported: 3
            })
        );
    }
    assert!(matches!(
        n.restore::<String>(&good),
        Err(SnapshotError::OutputType(_))
    ));
    // A parked relay's snapshot ends with its suspension point written out (a hand-written
    // `Relay` cannot tell its own): left to a machine that names none, it is refused.
    let parked = n.spawn(Relay::new(n.channel("where-in"), n.channel("where-out")));
    while n.channel::<u64>("where-in").balance() >= 0 {
        tokio::task::yield_now().await;
    }
    let parked = parked.snapshot().await.unwrap().into_bytes();
    let file = b"tests/src/lib.rs";
    let at = parked
        .windows(file.len())
        .rposition(|w| w == file)
        .expect("the relay's suspension point is written out");
    let mut left_to_machine = parked[..at - 2].to_vec(); // before its tag and length
    left_to_machine.push(1);
    match restore(left_to_machine) {
        Err(SnapshotError::Malformed(m)) => assert!(m.contains("names none"), "{m}"),
        other => panic!("a location left to a machine that names none: {other:?}"),
    }

    let small = Node::builder(unique("bad-small"))
        .workers(1)
        .max_snapshot_bytes(16)
        .start()
        .await
        .unwrap();
    assert_eq!(
        small.restore::<u64>(&good).map(drop),
        Err(SnapshotError::Oversize {
            size: bytes.len(),
            limit: 16
        })
    );

    let unregistered = n.spawn(Unregistered {
        input: n.channel("u"),
        started: false,
    });
    let snap = unregistered.snapshot().await.unwrap();
    assert_eq!(
        n.restore::<u64>(&snap).map(drop),
        Err(SnapshotError::UnknownType(
            "task_snapshot::Unregistered".into()
        ))
    );

    let old = n.spawn(SkewV1 {
        input: n.channel("skew"),
        started: false,
    });
    let snap = old.snapshot().await.unwrap();
    assert_eq!(
        n.restore::<u64>(&snap).map(drop),
        Err(SnapshotError::FingerprintMismatch {
            key: "task_snapshot::Skew".into(),
            snapshot: 1,
            local: 2
        })
    );

    // The good snapshot still restores after all that.
    let t = n.restore::<u64>(&good).unwrap();
    n.channel::<u64>("bad-in").close();
    assert_eq!(t.join().await.unwrap(), 0);
}

#[tokio::test]
async fn a_refused_move_leaves_the_task_running_where_it_was() {
    let a = node("refuse-a", 1).await;
    let tiny_id = unique("refuse-tiny");
    let _tiny = Node::builder(tiny_id.clone())
        .workers(1)
        .max_snapshot_bytes(8)
        .start()
        .await
        .unwrap();
    let task = a.spawn(Relay::new(a.channel("in"), a.channel("out")));
    a.channel::<u64>("in").send(1).await.unwrap();
    // Refused while the relay waits in `send`: the value it is sending must survive.
    assert!(matches!(
        task.move_to(&tiny_id).await,
        Err(MoveError::Refused(SnapshotError::Oversize { .. }))
    ));
    assert_eq!(task.location(), *a.id());
    assert_eq!(a.channel::<u64>("out").recv().await, Ok(1));
    // Refused while it waits in `recv`: it must still receive.
    assert!(task.move_to(&tiny_id).await.is_err());
    let unregistered = a.spawn(Unregistered {
        input: a.channel("u2"),
        started: false,
    });
    let other_id = unique("refuse-other");
    let _other = Node::builder(other_id.clone())
        .workers(1)
        .start()
        .await
        .unwrap();
    assert!(matches!(
        unregistered.move_to(&other_id).await,
        Err(MoveError::Refused(SnapshotError::UnknownType(_)))
    ));
    a.channel::<u64>("u2").send(8).await.unwrap();
    assert_eq!(unregistered.join().await.unwrap(), 8);
    a.channel::<u64>("in").send(2).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await, Ok(3));
    a.channel::<u64>("in").close();
    assert_eq!(task.join().await.unwrap(), 3);
}

#[tokio::test]
async fn snapshot_of_a_finished_task_is_refused() {
    let a = node("finished", 1).await;
    let t = a.spawn(Sleeper {
        millis: 0,
        value: 1,
        slept: false,
    });
    while !t.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(t.snapshot().await.map(drop), Err(SnapshotError::Finished));
}

#[tokio::test]
async fn a_far_sleep_deadline_restores_without_panicking_and_keeps_sleeping() {
    let n = node("sleep-far", 1).await;
    let t = n.spawn(Sleeper {
        millis: 60_000,
        value: 1,
        slept: false,
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let snap = t.snapshot().await.unwrap().into_bytes();
    // Rewrite the pending sleep's remaining time as u64::MAX nanoseconds (~584 years).
    let good = n.restore::<u64>(&Snapshot::from_bytes(snap.clone()));
    assert!(good.is_ok(), "the untouched snapshot restores");
    let remaining_max = postcard::to_stdvec(&u64::MAX).unwrap();
    // Find `Some(Pending::Sleep { remaining_nanos })`: tags 1, 2, then a varint of about 60 s.
    let (start, end) = (0..snap.len() - 2)
        .filter(|&i| snap[i] == 1 && snap[i + 1] == 2)
        .find_map(|i| {
            let rest = &snap[i + 2..];
            let (nanos, after) = postcard::take_from_bytes::<u64>(rest).ok()?;
            (50_000_000_000..=60_000_000_000)
                .contains(&nanos)
                .then(|| (i + 2, i + 2 + rest.len() - after.len() - 1))
        })
        .expect("the pending sleep in the snapshot");
    let mut far = snap[..start].to_vec();
    far.extend_from_slice(&remaining_max);
    far.extend_from_slice(&snap[end + 1..]);
    // Either refused as malformed (where the clock cannot represent it) or asleep for centuries.
    match n.restore::<u64>(&Snapshot::from_bytes(far)) {
        Ok(t) => {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(
                !t.is_finished(),
                "a task restored asleep for 584 years woke up"
            );
        }
        Err(SnapshotError::Malformed(m)) => assert!(m.contains("sleep deadline"), "{m}"),
        Err(e) => panic!("unexpected error {e}"),
    }
}
