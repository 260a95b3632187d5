//! `tern::sleep` and `tern::yield_now` inside a task.

use std::time::{Duration, Instant};

use tern::{migratable, Channel};

#[migratable]
async fn f(output: Channel<u32>) -> u32 {
    let mut turns: u32 = 0;
    while turns < 3 {
        tern::yield_now().await;
        turns += 1;
    }
    tern::sleep(Duration::from_millis(20)).await;
    output.send(turns).await.unwrap();
    turns
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let output = node.buffered_channel::<u32>("out", 8);
    let started = Instant::now();
    assert_eq!(node.spawn(f(output.clone())).join().await.unwrap(), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(output.recv().await.unwrap(), 3);
}
