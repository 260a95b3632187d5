//! A task spawns another with `tern::spawn` and awaits `TaskHandle::join`; the handle is
//! stored in the parent's state while it does other work.

use tern::{migratable, Channel, JoinError, TaskHandle};

#[migratable]
async fn child(input: Channel<u64>) -> u64 {
    input.recv().await.unwrap() * 10
}

#[migratable]
async fn parent(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let handle: TaskHandle<u64> = tern::spawn(child(input.clone()));
    output.send(1).await.unwrap();
    let joined: Result<u64, JoinError> = handle.join().await;
    joined.unwrap() + 1
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    let task = node.spawn(parent(input.clone(), output.clone()));
    assert_eq!(output.recv().await.unwrap(), 1);
    input.send(4).await.unwrap();
    assert_eq!(task.join().await.unwrap(), 41);
}
