//! Channel semantics on one node: rendezvous, FIFO among waiters, close, balance, mismatch,
//! cancel safety, and many producers through one buffered channel.

use std::future::IntoFuture;
use std::pin::pin;
use std::task::Poll;

use futures::poll;
use tern::{ChannelError, Node};
use tern_tests::{node, Relay};

#[tokio::test]
async fn rendezvous_send_is_not_complete_before_a_receiver_takes_the_value() {
    let n = node("rv", 1).await;
    let ch = n.channel::<u64>("rv");
    let mut send = pin!(ch.send(7).into_future());
    assert_eq!(
        poll!(send.as_mut()),
        Poll::Pending,
        "no receiver yet: the send must wait"
    );
    assert_eq!(ch.balance(), 1);
    assert_eq!(poll!(send.as_mut()), Poll::Pending, "still no receiver");
    assert_eq!(ch.recv().await, Ok(7));
    assert!(matches!(poll!(send.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(ch.balance(), 0);
    n.shutdown().await;
}

#[tokio::test]
async fn waiting_senders_are_served_in_fifo_order() {
    let n = node("fifo-s", 1).await;
    let ch = n.channel::<u64>("s");
    let mut sends: Vec<_> = (0..5u64)
        .map(|i| Box::pin(ch.send(i).into_future()))
        .collect();
    for s in &mut sends {
        assert_eq!(poll!(s.as_mut()), Poll::Pending);
    }
    assert_eq!(ch.balance(), 5);
    for i in 0..5u64 {
        assert_eq!(ch.recv().await, Ok(i));
        assert!(matches!(
            poll!(sends[i as usize].as_mut()),
            Poll::Ready(Ok(()))
        ));
        for later in &mut sends[i as usize + 1..] {
            assert_eq!(
                poll!(later.as_mut()),
                Poll::Pending,
                "a later sender completed early"
            );
        }
    }
    n.shutdown().await;
}

#[tokio::test]
async fn waiting_receivers_are_served_in_fifo_order() {
    let n = node("fifo-r", 1).await;
    let ch = n.channel::<u64>("r");
    let mut recvs: Vec<_> = (0..5).map(|_| Box::pin(ch.recv().into_future())).collect();
    for r in &mut recvs {
        assert_eq!(poll!(r.as_mut()), Poll::Pending);
    }
    assert_eq!(ch.balance(), -5);
    for i in 0..5u64 {
        ch.send(i * 10).await.unwrap();
    }
    for (i, r) in recvs.iter_mut().enumerate() {
        assert_eq!(poll!(r.as_mut()), Poll::Ready(Ok(i as u64 * 10)));
    }
    assert_eq!(ch.balance(), 0);
    n.shutdown().await;
}

#[tokio::test]
async fn close_wakes_every_waiter_and_hands_unsent_values_back() {
    let n = node("close", 1).await;
    let rv = n.channel::<String>("rv");
    let mut senders: Vec<_> = (0..3)
        .map(|i| Box::pin(rv.send(format!("v{i}")).into_future()))
        .collect();
    for s in &mut senders {
        assert!(poll!(s.as_mut()).is_pending());
    }
    let other = n.channel::<u64>("empty");
    let mut receivers: Vec<_> = (0..3)
        .map(|_| Box::pin(other.recv().into_future()))
        .collect();
    for r in &mut receivers {
        assert!(poll!(r.as_mut()).is_pending());
    }
    rv.close();
    other.close();
    for (i, s) in senders.iter_mut().enumerate() {
        match s.as_mut().await {
            Err(e) => {
                assert_eq!(e.kind, ChannelError::Closed);
                assert_eq!(e.value, format!("v{i}"), "the unsent value comes back");
            }
            Ok(()) => panic!("send on a closed channel succeeded"),
        }
    }
    for r in &mut receivers {
        assert_eq!(r.as_mut().await, Err(ChannelError::Closed));
    }
    assert_eq!(
        rv.send("late".into()).await.map_err(|e| e.value),
        Err("late".to_string())
    );
    assert!(rv.is_closed());
    n.shutdown().await;
}

#[tokio::test]
async fn closing_keeps_buffered_values_receivable() {
    let n = node("close-buf", 1).await;
    let ch = n.buffered_channel::<u64>("b", 4);
    ch.send(1).await.unwrap();
    ch.send(2).await.unwrap();
    ch.close();
    assert_eq!(ch.recv().await, Ok(1));
    assert_eq!(ch.recv().await, Ok(2));
    assert_eq!(ch.recv().await, Err(ChannelError::Closed));
    n.shutdown().await;
}

#[tokio::test]
async fn close_wakes_tasks_waiting_in_a_channel() {
    let n = node("close-task", 1).await;
    let input = n.channel::<u64>("in");
    let output = n.channel::<u64>("out");
    let task = n.spawn(Relay::new(input.clone(), output.clone()));
    input.send(4).await.unwrap();
    assert_eq!(output.recv().await, Ok(4));
    input.close();
    assert_eq!(task.join().await.unwrap(), 4);
    n.shutdown().await;
}

#[tokio::test]
async fn balance_counts_waiting_senders_and_receivers() {
    let n = node("balance", 1).await;
    let ch = n.buffered_channel::<u64>("b", 2);
    assert_eq!(ch.balance(), 0);
    ch.send(1).await.unwrap();
    ch.send(2).await.unwrap();
    assert_eq!(ch.balance(), 0, "buffered values are not waiting senders");
    assert_eq!(ch.len(), 2);
    let mut s3 = pin!(ch.send(3).into_future());
    assert!(poll!(s3.as_mut()).is_pending());
    assert_eq!(ch.balance(), 1);
    assert_eq!(ch.recv().await, Ok(1));
    assert!(
        matches!(poll!(s3.as_mut()), Poll::Ready(Ok(()))),
        "room freed: the sender completes"
    );
    assert_eq!(ch.balance(), 0);
    assert_eq!(ch.recv().await, Ok(2));
    assert_eq!(ch.recv().await, Ok(3));
    let mut r1 = pin!(ch.recv().into_future());
    let mut r2 = Box::pin(ch.recv().into_future());
    assert!(poll!(r1.as_mut()).is_pending());
    assert!(poll!(r2.as_mut()).is_pending());
    assert_eq!(ch.balance(), -2);
    drop(r2);
    assert_eq!(ch.balance(), -1, "a dropped receiver no longer counts");
    ch.send(9).await.unwrap();
    assert_eq!(r1.await, Ok(9));
    n.shutdown().await;
}

#[tokio::test]
async fn same_name_with_another_type_or_capacity_is_a_mismatch() {
    let n = node("mismatch", 1).await;
    let a = n.buffered_channel::<u64>("shared", 4);
    a.send(1).await.unwrap();
    let wrong_type = n.buffered_channel::<String>("shared", 4);
    match wrong_type.recv().await {
        Err(ChannelError::Mismatch(m)) => {
            assert_eq!(m.name, "shared");
            assert!(!m.same_type);
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    let wrong_cap = n.buffered_channel::<u64>("shared", 8);
    match wrong_cap.send(5).await {
        Err(e) => {
            assert!(
                matches!(e.kind, ChannelError::Mismatch(ref m) if m.same_type && m.found_capacity == 4)
            );
            assert_eq!(e.value, 5, "the value comes back");
        }
        Ok(()) => panic!("send through a mismatched handle succeeded"),
    }
    assert_eq!(a.recv().await, Ok(1), "the channel itself is untouched");
    n.shutdown().await;
}

#[tokio::test]
async fn a_dropped_receiver_that_was_handed_a_value_gives_it_back() {
    let n = node("cancel", 1).await;
    let ch = n.channel::<u64>("c");
    {
        let mut r = pin!(ch.recv().into_future());
        assert!(poll!(r.as_mut()).is_pending());
        // The send completes by handing the value to the waiting receiver...
        ch.send(42).await.unwrap();
        // ...which is dropped before it reads it.
    }
    assert_eq!(ch.recv().await, Ok(42), "the value was not lost");
    n.shutdown().await;
}

#[tokio::test]
async fn a_dropped_sender_sends_nothing() {
    let n = node("cancel-s", 1).await;
    let ch = n.channel::<u64>("c");
    {
        let mut s = pin!(ch.send(1).into_future());
        assert!(poll!(s.as_mut()).is_pending());
    }
    assert_eq!(ch.balance(), 0);
    let mut r = pin!(ch.recv().into_future());
    assert!(
        poll!(r.as_mut()).is_pending(),
        "the cancelled value must not arrive"
    );
    ch.send(2).await.unwrap();
    assert_eq!(r.await, Ok(2));
    n.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tokio_tasks_times_ten_thousand_messages_arrive_complete_and_in_order() {
    const SENDERS: u64 = 8;
    const EACH: u64 = 10_000;
    let n: Node = node("many", 2).await;
    let ch = n.buffered_channel::<(u64, u64)>("many", 64);
    let mut producers = Vec::new();
    for s in 0..SENDERS {
        let ch = ch.clone();
        producers.push(tokio::spawn(async move {
            for i in 0..EACH {
                ch.send((s, i)).await.unwrap();
            }
        }));
    }
    let mut next = vec![0u64; SENDERS as usize];
    for _ in 0..SENDERS * EACH {
        let (s, i) = ch.recv().await.unwrap();
        assert_eq!(i, next[s as usize], "sender {s} out of order");
        next[s as usize] += 1;
    }
    for p in producers {
        p.await.unwrap();
    }
    assert!(
        next.iter().all(|&k| k == EACH),
        "missing messages: {next:?}"
    );
    assert_eq!(ch.len(), 0, "no duplicates left over");
    n.shutdown().await;
}

#[tokio::test]
async fn unused_empty_channels_are_forgotten_and_used_ones_are_kept() {
    let n = node("forget", 1).await;
    let keeps_value = n.buffered_channel::<u64>("keeps-value", 1);
    keeps_value.send(42).await.unwrap();
    drop(keeps_value);
    let closed = n.channel::<u64>("closed-then-forgotten");
    closed.close();
    drop(closed);
    let held = n.buffered_channel::<u64>("held", 1);
    let waited_on = n.channel::<u64>("waited-on");
    let task = n.spawn(Relay::new(waited_on.clone(), n.channel("relay-out")));
    drop(waited_on);
    // Let the relay park in `recv` on "waited-on" (its request holds the channel).
    while n.channel::<u64>("waited-on").balance() != -1 {
        tokio::task::yield_now().await;
    }
    for i in 0..10_000 {
        drop(n.channel::<u64>(&format!("temporary-{i}")));
    }
    assert!(
        n.channel_count() < 300,
        "{} channels remembered",
        n.channel_count()
    );
    let again = n.buffered_channel::<u64>("keeps-value", 1);
    assert_eq!(
        again.recv().await,
        Ok(42),
        "a buffered value is never forgotten"
    );
    assert!(
        !n.channel::<u64>("closed-then-forgotten").is_closed(),
        "forgotten, then new"
    );
    held.send(5).await.unwrap();
    assert_eq!(
        n.buffered_channel::<u64>("held", 1).recv().await,
        Ok(5),
        "a name with a live handle still means the same channel"
    );
    n.channel::<u64>("waited-on").send(7).await.unwrap();
    assert_eq!(
        n.channel::<u64>("relay-out").recv().await,
        Ok(7),
        "the task's channel was kept"
    );
    n.channel::<u64>("waited-on").close();
    assert_eq!(task.join().await.unwrap(), 7);
    n.shutdown().await;
}
