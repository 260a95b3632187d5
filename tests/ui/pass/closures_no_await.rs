//! Closures that do not cross a suspension point: used before or after an `.await`, and
//! inside plain code such as iterator chains.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<Vec<u64>>) -> u64 {
    let factor: u64 = 3;
    let scaled: Vec<u64> = input
        .recv()
        .await
        .unwrap()
        .into_iter()
        .map(|x| x * factor)
        .collect();
    let more = input.recv().await.unwrap();
    let add = |a: u64, b: u64| a + b;
    scaled.iter().copied().fold(0, add) + more.iter().filter(|&&x| x > 1).sum::<u64>()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<Vec<u64>>("in", 8);
    input.send(vec![1, 2]).await.unwrap();
    input.send(vec![1, 2, 3]).await.unwrap();
    assert_eq!(node.spawn(f(input)).join().await.unwrap(), 9 + 5);
}
