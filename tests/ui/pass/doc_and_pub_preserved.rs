//! Doc comments and `pub` visibility on a `#[migratable]` function are kept: `missing_docs`
//! would reject an undocumented public function, and `main` calls it from outside its module.
#![deny(missing_docs)]

/// Tasks.
pub mod tasks {
    use tern::{migratable, Channel};

    /// Doubles the next number received.
    #[migratable]
    pub async fn double(input: Channel<u64>) -> u64 {
        input.recv().await.unwrap() * 2
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    input.send(4).await.unwrap();
    assert_eq!(node.spawn(tasks::double(input)).join().await.unwrap(), 8);
}
