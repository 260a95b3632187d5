//! `?` on an `Option` in a function that returns an `Option`.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<Option<u64>>) -> Option<u64> {
    let a: u64 = input.recv().await.ok()??;
    let b = input.recv().await.ok()??;
    a.checked_add(b)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<Option<u64>>("in", 8);
    for v in [Some(1), Some(2), None, Some(u64::MAX), Some(1)] {
        input.send(v).await.unwrap();
    }
    assert_eq!(node.spawn(f(input.clone())).join().await.unwrap(), Some(3));
    assert_eq!(node.spawn(f(input.clone())).join().await.unwrap(), None);
    assert_eq!(node.spawn(f(input.clone())).join().await.unwrap(), None);
    input.close();
    assert_eq!(node.spawn(f(input)).join().await.unwrap(), None);
}
