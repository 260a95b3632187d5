//! `while let` over an awaited value.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<(u64, String)>, output: Channel<String>) -> usize {
    let mut count: usize = 0;
    while let Ok((n, word)) = input.recv().await {
        count += 1;
        output.send(word.repeat(n as usize)).await.unwrap();
    }
    count
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<(u64, String)>("in", 8);
    let output = node.buffered_channel::<String>("out", 8);
    input.send((2, "ab".into())).await.unwrap();
    input.send((3, "x".into())).await.unwrap();
    input.close();
    let task = node.spawn(f(input, output.clone()));
    assert_eq!(task.join().await.unwrap(), 2);
    assert_eq!(output.recv().await.unwrap(), "abab");
    assert_eq!(output.recv().await.unwrap(), "xxx");
}
