//! `#[migratable]` functions awaiting each other three calls deep: each call is a frame.

use tern::{migratable, Channel};

#[migratable]
async fn leaf(input: Channel<u64>, add: u64) -> u64 {
    input.recv().await.unwrap() + add
}

#[migratable]
async fn middle(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let x: u64 = leaf(input.clone(), 10).await;
    output.send(x).await.unwrap();
    x + leaf(input, 20).await
}

#[migratable]
async fn top(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let first: u64 = middle(input.clone(), output.clone()).await;
    let second = middle(input, output).await;
    first * 1000 + second
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    for v in [1, 2, 3, 4] {
        input.send(v).await.unwrap();
    }
    // first = 11 + 22 = 33, second = 13 + 24 = 37
    assert_eq!(
        node.spawn(top(input, output.clone())).join().await.unwrap(),
        33037
    );
    assert_eq!(output.recv().await.unwrap(), 11);
    assert_eq!(output.recv().await.unwrap(), 13);
}
