//! `for` over a local of written type `Vec<T>`: the remaining items are stored in the task.

use tern::{migratable, Channel};

#[migratable]
async fn f(output: Channel<String>) -> usize {
    let words: Vec<String> = vec!["one".into(), "two".into(), "three".into()];
    let mut letters: usize = 0;
    for w in words {
        letters += w.len();
        output.send(w).await.unwrap();
    }
    letters
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let output = node.buffered_channel::<String>("out", 8);
    let task = node.spawn(f(output.clone()));
    assert_eq!(task.join().await.unwrap(), 11);
    for want in ["one", "two", "three"] {
        assert_eq!(output.recv().await.unwrap(), want);
    }
}
