//! `if`/`else` with an `.await` in the condition and in both branches.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut total: u64 = 0;
    if input.recv().await.unwrap() > 10 {
        total += input.recv().await.unwrap();
        output.send(1).await.unwrap();
    } else {
        total += 1000;
        output.send(2).await.unwrap();
    }
    if total == 0 {
        output.send(99).await.unwrap();
    } else {
        output.send(total).await.unwrap();
    }
    total
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 4);
    let output = node.buffered_channel::<u64>("out", 4);
    input.send(11).await.unwrap();
    input.send(5).await.unwrap();
    let task = node.spawn(f(input.clone(), output.clone()));
    assert_eq!(task.join().await.unwrap(), 5);
    assert_eq!(output.recv().await.unwrap(), 1);
    assert_eq!(output.recv().await.unwrap(), 5);

    input.send(3).await.unwrap();
    let task = node.spawn(f(input, output.clone()));
    assert_eq!(task.join().await.unwrap(), 1000);
    assert_eq!(output.recv().await.unwrap(), 2);
    assert_eq!(output.recv().await.unwrap(), 1000);
}
