//! `.await` deep inside method-chain receivers, fields and operators.

use tern::{migratable, Channel};

#[migratable]
async fn f(words: Channel<String>, nums: Channel<(u64, u64)>) -> usize {
    let a: usize = words.recv().await.unwrap().trim().to_uppercase().len();
    let b: usize = (nums.recv().await.unwrap().1 + 1).pow(2) as usize;
    let c = words
        .recv()
        .await
        .unwrap()
        .chars()
        .rev()
        .collect::<String>()
        .len()
        * 1000;
    a + b + c
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let words = node.buffered_channel::<String>("words", 8);
    let nums = node.buffered_channel::<(u64, u64)>("nums", 8);
    words.send("  hey  ".into()).await.unwrap();
    words.send("abcd".into()).await.unwrap();
    nums.send((9, 4)).await.unwrap();
    assert_eq!(
        node.spawn(f(words, nums)).join().await.unwrap(),
        3 + 25 + 4000
    );
}
