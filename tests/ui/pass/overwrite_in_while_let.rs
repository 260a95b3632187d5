//! A local overwritten in a `while let` body without being read there, and read after the loop:
//! it is stored at every suspension point in the loop, also where every path overwrites it
//! before reading it (the resumed code re-enters the loop's whole body as far as rustc can
//! tell). The task is frozen at the `send` and restored on another node.

use tern::{migratable, Channel};

#[migratable]
async fn keeper(input: Channel<u64>, out: Channel<u64>) -> u64 {
    let mut last: u64 = 0;
    while let Ok(v) = input.recv().await {
        let v: u64 = v;
        let total: u64 = v * 2;
        out.send(total).await.ok();
        last = total;
    }
    last
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = tern::Node::builder("ui-a")
        .workers(1)
        .start()
        .await
        .unwrap();
    let b = tern::Node::builder("ui-b")
        .workers(1)
        .start()
        .await
        .unwrap();

    // Uninterrupted: the last total.
    let input = a.buffered_channel::<u64>("in0", 8);
    let out = a.buffered_channel::<u64>("out0", 8);
    for v in [3, 1, 7] {
        input.send(v).await.unwrap();
    }
    input.close();
    assert_eq!(
        a.spawn(keeper(input, out.clone())).join().await.unwrap(),
        14
    );
    for want in [6, 2, 14] {
        assert_eq!(out.recv().await.unwrap(), want);
    }

    // Closed before any value: the initial value.
    let input = a.buffered_channel::<u64>("in1", 8);
    input.close();
    let out = a.buffered_channel::<u64>("out1", 8);
    assert_eq!(a.spawn(keeper(input, out)).join().await.unwrap(), 0);

    // Frozen while blocked on the rendezvous `send` (the point where `last` is dead for the
    // source), restored on `b`, and finished there.
    let task = a.spawn(keeper(a.channel("in"), a.channel("out")));
    a.channel::<u64>("in").send(5).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await.unwrap(), 10);
    a.channel::<u64>("in").send(4).await.unwrap();
    while a.channel::<u64>("out").balance() <= 0 {
        tokio::task::yield_now().await;
    }
    let snap = task.snapshot().await.unwrap();
    let task = b.restore::<u64>(&snap).unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await.unwrap(), 8);
    b.channel::<u64>("in").send(6).await.unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await.unwrap(), 12);
    b.channel::<u64>("in").close();
    assert_eq!(task.join().await.unwrap(), 12);
}
