//! `while` with an `.await` in the condition and in the body.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut i: u64 = 0;
    while i < 3 {
        output.send(i).await.unwrap();
        i += 1;
    }
    let mut rounds: u64 = 0;
    while input.recv().await.unwrap() != 0 {
        rounds += 1;
    }
    i * 100 + rounds
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    for v in [7, 7, 0] {
        input.send(v).await.unwrap();
    }
    let task = node.spawn(f(input, output.clone()));
    assert_eq!(task.join().await.unwrap(), 302);
    for i in 0..3 {
        assert_eq!(output.recv().await.unwrap(), i);
    }
}
