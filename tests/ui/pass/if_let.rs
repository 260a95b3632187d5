//! `if let` on an awaited value, with an `else` that awaits too.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<u64>) -> u64 {
    if let Ok(v) = input.recv().await {
        // `v` crosses the next `.await`, so it is rebound with a type.
        let v: u64 = v;
        output.send(v * 2).await.unwrap();
        v
    } else {
        output.send(0).await.unwrap();
        0
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 4);
    let output = node.buffered_channel::<u64>("out", 4);
    input.send(21).await.unwrap();
    let task = node.spawn(f(input.clone(), output.clone()));
    assert_eq!(task.join().await.unwrap(), 21);
    assert_eq!(output.recv().await.unwrap(), 42);

    input.close();
    let task = node.spawn(f(input, output.clone()));
    assert_eq!(task.join().await.unwrap(), 0);
    assert_eq!(output.recv().await.unwrap(), 0);
}
