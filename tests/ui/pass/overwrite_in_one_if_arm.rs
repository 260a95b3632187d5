//! A local overwritten in only one arm of an `if` inside a loop, after that arm's `.await`,
//! and read after the loop. The task is frozen at the `send` of the arm that overwrites it.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, out: Channel<u64>) -> u64 {
    let mut last_even: u64 = 1;
    while let Ok(v) = input.recv().await {
        let v: u64 = v;
        if v % 2 == 0 {
            out.send(v).await.unwrap();
            last_even = v;
        } else {
            out.send(v + 100).await.unwrap();
        }
    }
    last_even
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

    let input = a.buffered_channel::<u64>("in0", 8);
    let out = a.buffered_channel::<u64>("out0", 8);
    for v in [3, 4, 5, 8, 9] {
        input.send(v).await.unwrap();
    }
    input.close();
    assert_eq!(a.spawn(f(input, out.clone())).join().await.unwrap(), 8);
    for want in [103, 4, 105, 8, 109] {
        assert_eq!(out.recv().await.unwrap(), want);
    }

    // Only odd values: the initial value.
    let input = a.buffered_channel::<u64>("in1", 8);
    input.send(3).await.unwrap();
    input.close();
    assert_eq!(a.spawn(f(input, out.clone())).join().await.unwrap(), 1);
    assert_eq!(out.recv().await.unwrap(), 103);

    // Frozen at the even arm's `send`, restored on `b`.
    let task = a.spawn(f(a.channel("in"), a.channel("out")));
    a.channel::<u64>("in").send(6).await.unwrap();
    assert_eq!(a.channel::<u64>("out").recv().await.unwrap(), 6);
    a.channel::<u64>("in").send(10).await.unwrap();
    while a.channel::<u64>("out").balance() <= 0 {
        tokio::task::yield_now().await;
    }
    let snap = task.snapshot().await.unwrap();
    let task = b.restore::<u64>(&snap).unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await.unwrap(), 10);
    b.channel::<u64>("in").send(7).await.unwrap();
    assert_eq!(b.channel::<u64>("out").recv().await.unwrap(), 107);
    b.channel::<u64>("in").close();
    assert_eq!(task.join().await.unwrap(), 10);
}
