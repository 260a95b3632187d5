//! `for` over `a..=b`, including a range that ends at the type's maximum.

use tern::{migratable, Channel};

#[migratable]
async fn f(a: u8, b: u8, output: Channel<u8>) -> u32 {
    let mut count: u32 = 0;
    for i in a..=b {
        output.send(i).await.unwrap();
        count += 1;
    }
    count
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let output = node.buffered_channel::<u8>("out", 8);
    let task = node.spawn(f(3, 5, output.clone()));
    assert_eq!(task.join().await.unwrap(), 3);
    for want in [3, 4, 5] {
        assert_eq!(output.recv().await.unwrap(), want);
    }
    let task = node.spawn(f(254, 255, output.clone()));
    assert_eq!(task.join().await.unwrap(), 2);
    assert_eq!(output.recv().await.unwrap(), 254);
    assert_eq!(output.recv().await.unwrap(), 255);
}
