//! `#[migratable]` on an `impl` block: a method taking `self` by value is a task that owns
//! the value (ordinary methods in the block stay as they are).

use tern::{migratable, Channel};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Counter {
    step: u64,
    seen: u64,
}

#[migratable]
impl Counter {
    async fn run(mut self, input: Channel<u64>) -> u64 {
        while let Ok(v) = input.recv().await {
            self.seen += v * self.step;
        }
        self.seen
    }

    fn new(step: u64) -> Self {
        Counter { step, seen: 0 }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    for v in [1, 2, 3] {
        input.send(v).await.unwrap();
    }
    input.close();
    assert_eq!(
        node.spawn(Counter::new(10).run(input))
            .join()
            .await
            .unwrap(),
        60
    );
}
