//! A `for` loop over a range that overwrites a local after its `.await`s; the local is read
//! after the loop. The task is frozen mid-loop at a `send` and restored on another node.

use tern::{migratable, Channel};

#[migratable]
async fn f(n: u64, input: Channel<u64>, out: Channel<u64>) -> u64 {
    let mut last: u64 = 7;
    for i in 0..n {
        let v: u64 = input.recv().await.unwrap();
        out.send(v + i).await.unwrap();
        last = v * 100 + i;
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

    // An empty range: the initial value.
    let input = a.buffered_channel::<u64>("in0", 8);
    let out = a.buffered_channel::<u64>("out0", 8);
    assert_eq!(a.spawn(f(0, input, out)).join().await.unwrap(), 7);

    // Frozen at the `send` of the second iteration, restored on `b`.
    let task = a.spawn(f(3, a.channel("in"), a.channel("out")));
    a.channel::<u64>("in").send(4).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await.unwrap(), 4);
    a.channel::<u64>("in").send(5).await.unwrap();
    while a.channel::<u64>("out").balance() <= 0 {
        tokio::task::yield_now().await;
    }
    let snap = task.snapshot().await.unwrap();
    let task = b.restore::<u64>(&snap).unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await.unwrap(), 6);
    b.channel::<u64>("in").send(8).await.unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await.unwrap(), 10);
    assert_eq!(task.join().await.unwrap(), 802);
}
