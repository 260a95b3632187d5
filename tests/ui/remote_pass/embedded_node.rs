//! A trait and its implementation on one embedded node: calls with several arguments, none,
//! and a method without a return type.

use std::sync::atomic::{AtomicU64, Ordering};

use tern::Remote;

#[tern::remote]
trait Counter {
    async fn add(&self, a: u64, b: u64) -> u64;
    async fn get(&self) -> u64;
    async fn reset(&self);
}

#[derive(Default)]
struct Local(AtomicU64);

#[tern::remote]
impl Counter for Local {
    async fn add(&self, a: u64, b: u64) -> u64 {
        self.0.fetch_add(a + b, Ordering::SeqCst) + a + b
    }

    async fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    async fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let counter: Remote<dyn Counter> = node.expose(Local::default());
    assert_eq!(counter.add(1, 2).await.unwrap(), 3);
    assert_eq!(counter.add(4, 0).await.unwrap(), 7);
    assert_eq!(counter.get().await.unwrap(), 7);
    let () = counter.reset().await.unwrap();
    assert_eq!(counter.get().await.unwrap(), 0);
    assert_eq!(node.remote_stats().calls_in, 5);
    node.shutdown().await;
}
