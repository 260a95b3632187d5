//! A pending receive or send on a channel the task's state holds names it by index (snapshot
//! format 3): the restored request binds to the channel of that handle, on the restoring node;
//! a channel the state does not hold keeps its full identity; an index past the state's
//! handles is refused.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tern::{Channel, Cx, Machine, Node, Snapshot, SnapshotError, Step};
use tern_tests::{node, Relay};

/// `Pending`'s tags in format 3 (`runtime/src/snapshot/mod.rs`).
const RECV_NAMED: u8 = 0;
const RECV_HELD: u8 = 4;
const SEND_HELD: u8 = 5;

/// Holds two channels and waits in a receive on the second; returns what it received.
#[derive(Debug, Serialize, Deserialize)]
struct SecondWaiter {
    first: Channel<u64>,
    second: Channel<u64>,
    started: bool,
}

impl Machine for SecondWaiter {
    type Output = u64;
    const TYPE_KEY: &'static str = "task_snapshot_held::SecondWaiter";
    const FINGERPRINT: u64 = 1;
    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        if !self.started {
            self.started = true;
            return cx.suspend(self.second.recv());
        }
        Step::Done(cx.resumed(|| self.second.recv()).unwrap_or(0))
    }
}
tern::register_machine!(SecondWaiter);

/// Holds only the name of the channel it waits on, not a handle.
#[derive(Debug, Serialize, Deserialize)]
struct NameOnly {
    name: String,
    started: bool,
}

impl Machine for NameOnly {
    type Output = u64;
    const TYPE_KEY: &'static str = "task_snapshot_held::NameOnly";
    const FINGERPRINT: u64 = 1;
    fn resume(&mut self, cx: &mut Cx<'_>) -> Step<u64> {
        let chan = tern::channel::<u64>(&self.name);
        if !self.started {
            self.started = true;
            return cx.suspend(chan.recv());
        }
        Step::Done(cx.resumed(|| chan.recv()).unwrap_or(0))
    }
}
tern::register_machine!(NameOnly);

/// Where the body's `pending` field starts, for a snapshot of a single frame.
fn pending_at(bytes: &[u8]) -> usize {
    let header = Snapshot::from_bytes(bytes.to_vec()).header().unwrap();
    let header_len = 6 + postcard::to_stdvec(&header).unwrap().len();
    let (state_len, rest) = postcard::take_from_bytes::<u64>(&bytes[header_len..]).unwrap();
    let (nested, rest) = postcard::take_from_bytes::<u64>(&rest[state_len as usize..]).unwrap();
    assert_eq!(nested, 0, "a single frame");
    bytes.len() - rest.len()
}

fn occurrences(bytes: &[u8], text: &str) -> usize {
    bytes
        .windows(text.len())
        .filter(|w| *w == text.as_bytes())
        .count()
}

/// `f`, or a panic after 5 s: a request bound to the wrong channel waits forever.
async fn within<F: std::future::IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), f.into_future())
        .await
        .expect("done within 5 s")
}

/// Waits (at most 5 s) until `chan` has a receiver (< 0) or a sender (> 0) waiting.
async fn until_waiting(chan: &Channel<u64>, receiver: bool) {
    let waiting = || match receiver {
        true => chan.balance() < 0,
        false => chan.balance() > 0,
    };
    tokio::time::timeout(Duration::from_secs(5), async {
        while !waiting() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("nobody waits on {chan:?}"));
}

/// A `SecondWaiter` on `a`, parked in its receive, and its snapshot.
async fn second_waiter_snapshot(a: &Node) -> Vec<u8> {
    let t = a.spawn(SecondWaiter {
        first: a.channel("held/first"),
        second: a.channel("held/second"),
        started: false,
    });
    until_waiting(&a.channel("held/second"), true).await;
    t.snapshot().await.unwrap().into_bytes()
}

#[tokio::test]
async fn a_receive_on_the_second_held_channel_binds_to_it_on_the_other_node() {
    let a = node("held-a", 1).await;
    let b = node("held-b", 1).await;
    let bytes = second_waiter_snapshot(&a).await;
    let at = pending_at(&bytes);
    assert_eq!(bytes[at..at + 3], [1, RECV_HELD, 1], "Some(RecvHeld(1))");
    assert_eq!(
        occurrences(&bytes, "held/second"),
        1,
        "the request does not repeat the channel's name"
    );

    let t = b.restore::<u64>(&Snapshot::from_bytes(bytes)).unwrap();
    let (first, second) = (
        b.channel::<u64>("held/first"),
        b.channel::<u64>("held/second"),
    );
    until_waiting(&second, true).await;
    assert_eq!(first.balance(), 0, "nobody waits on the first channel");
    assert_eq!(a.channel::<u64>("held/second").balance(), 0, "nor on `a`");
    within(second.send(42)).await.unwrap();
    assert_eq!(within(t.join()).await.unwrap(), 42);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_send_on_a_held_channel_binds_by_index_and_delivers_its_value() {
    let a = node("held-send-a", 1).await;
    let b = node("held-send-b", 1).await;
    let t = a.spawn(Relay::new(a.channel("in"), a.channel("out")));
    a.channel::<u64>("in").send(7).await.unwrap();
    until_waiting(&a.channel("out"), false).await;
    let bytes = t.snapshot().await.unwrap().into_bytes();
    let at = pending_at(&bytes);
    // `Some(SendHeld(1, value))`: the relay's second handle, `output`.
    assert_eq!(bytes[at..at + 3], [1, SEND_HELD, 1]);

    let t = b.restore::<u64>(&Snapshot::from_bytes(bytes)).unwrap();
    assert_eq!(within(b.channel::<u64>("out").recv()).await, Ok(7));
    within(b.channel::<u64>("in").send(3)).await.unwrap();
    assert_eq!(within(b.channel::<u64>("out").recv()).await, Ok(10));
    b.channel::<u64>("in").close();
    assert_eq!(within(t.join()).await.unwrap(), 10);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_request_naming_a_channel_past_the_states_handles_is_malformed() {
    let a = node("held-bad-a", 1).await;
    let b = node("held-bad-b", 1).await;
    let bytes = second_waiter_snapshot(&a).await;
    let at = pending_at(&bytes);
    assert_eq!(bytes[at..at + 3], [1, RECV_HELD, 1]);
    for index in [2, 7, 127] {
        let mut bad = bytes.clone();
        bad[at + 2] = index;
        match b.restore::<u64>(&Snapshot::from_bytes(bad)).map(drop) {
            Err(SnapshotError::Malformed(m)) => assert!(
                m.contains(&format!("channel #{index}")) && m.contains("hold 2"),
                "{m}"
            ),
            other => panic!("channel #{index} of 2: {other:?}"),
        }
    }
    // A multi-byte index past the end, too (u32::MAX as a varint).
    let mut huge = bytes[..at + 2].to_vec();
    huge.extend_from_slice(&postcard::to_stdvec(&u32::MAX).unwrap());
    huge.extend_from_slice(&bytes[at + 3..]);
    assert!(matches!(
        b.restore::<u64>(&Snapshot::from_bytes(huge)).map(drop),
        Err(SnapshotError::Malformed(_))
    ));
    // Nothing was installed: the untouched snapshot still restores and receives.
    let t = b.restore::<u64>(&Snapshot::from_bytes(bytes)).unwrap();
    let second = b.channel::<u64>("held/second");
    until_waiting(&second, true).await;
    within(second.send(5)).await.unwrap();
    assert_eq!(within(t.join()).await.unwrap(), 5);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_channel_the_state_does_not_hold_keeps_its_full_identity() {
    let a = node("named-a", 1).await;
    let b = node("named-b", 1).await;
    let t = a.spawn(NameOnly {
        name: "named/only".into(),
        started: false,
    });
    until_waiting(&a.channel("named/only"), true).await;
    let bytes = t.snapshot().await.unwrap().into_bytes();
    let at = pending_at(&bytes);
    assert_eq!(bytes[at..at + 2], [1, RECV_NAMED]);
    assert_eq!(
        occurrences(&bytes, "named/only"),
        2,
        "in the state and the request"
    );

    let t = b.restore::<u64>(&Snapshot::from_bytes(bytes)).unwrap();
    let chan = b.channel::<u64>("named/only");
    until_waiting(&chan, true).await;
    within(chan.send(9)).await.unwrap();
    assert_eq!(within(t.join()).await.unwrap(), 9);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn handles_count_one_by_one_even_when_two_bind_to_one_channel() {
    // The state holds two cores with one name (one from each node); restored on a third node
    // both handles bind to its single channel of that name, and index 1 must still resolve.
    let a = node("dup-a", 1).await;
    let b = node("dup-b", 1).await;
    let c = node("dup-c", 1).await;
    let t = a.spawn(SecondWaiter {
        first: a.channel("dup"),
        second: b.channel("dup"),
        started: false,
    });
    until_waiting(&b.channel("dup"), true).await;
    let bytes = t.snapshot().await.unwrap().into_bytes();
    let at = pending_at(&bytes);
    assert_eq!(bytes[at..at + 3], [1, RECV_HELD, 1]);

    let t = c.restore::<u64>(&Snapshot::from_bytes(bytes)).unwrap();
    let chan = c.channel::<u64>("dup");
    until_waiting(&chan, true).await;
    within(chan.send(11)).await.unwrap();
    assert_eq!(within(t.join()).await.unwrap(), 11);
    for n in [a, b, c] {
        n.shutdown().await;
    }
}
