//! A function returning `()` (no return type), with an early bare `return`.

use tern::{migratable, Channel};

#[migratable]
async fn forward(input: Channel<u64>, output: Channel<u64>) {
    loop {
        let v = input.recv().await.unwrap();
        if v == 0 {
            return;
        }
        output.send(v + 1).await.unwrap();
    }
}

#[migratable]
async fn once(output: Channel<u64>) {
    output.send(5).await.unwrap();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    for v in [1, 2, 0] {
        input.send(v).await.unwrap();
    }
    node.spawn(forward(input, output.clone()))
        .join()
        .await
        .unwrap();
    node.spawn(once(output.clone())).join().await.unwrap();
    for want in [2, 3, 5] {
        assert_eq!(output.recv().await.unwrap(), want);
    }
}
