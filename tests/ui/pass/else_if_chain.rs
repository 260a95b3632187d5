//! An `else if` chain whose conditions and branches await.

use tern::{migratable, Channel};

#[migratable]
async fn classify(input: Channel<u64>, output: Channel<String>) -> u64 {
    let mut seen: u64 = 0;
    while let Ok(v) = input.recv().await {
        seen += 1;
        if v == 0 {
            output.send("zero".to_string()).await.unwrap();
        } else if v < 10 {
            output.send("small".to_string()).await.unwrap();
        } else if v % 2 == 0 && input.recv().await.unwrap() == 1 {
            output.send("even, then one".to_string()).await.unwrap();
        } else {
            output.send("other".to_string()).await.unwrap();
        }
    }
    seen
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<String>("out", 8);
    for v in [0, 3, 12, 1, 12, 2, 13] {
        input.send(v).await.unwrap();
    }
    input.close();
    let task = node.spawn(classify(input, output.clone()));
    assert_eq!(task.join().await.unwrap(), 5);
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(output.recv().await.unwrap());
    }
    assert_eq!(got, ["zero", "small", "even, then one", "other", "other"]);
}
