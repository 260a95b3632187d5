//! `for` over `0..n`: the range is stored in the task while the body awaits.

use tern::{migratable, Channel};

#[migratable]
async fn f(n: u64, output: Channel<u64>) -> u64 {
    let mut sum: u64 = 0;
    for i in 0..n {
        output.send(i * i).await.unwrap();
        sum += i;
    }
    for j in 0u8..2 {
        output.send(u64::from(j) + 100).await.unwrap();
    }
    sum
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let output = node.buffered_channel::<u64>("out", 8);
    let task = node.spawn(f(4, output.clone()));
    assert_eq!(task.join().await.unwrap(), 6);
    for want in [0, 1, 4, 9, 100, 101] {
        assert_eq!(output.recv().await.unwrap(), want);
    }
}
