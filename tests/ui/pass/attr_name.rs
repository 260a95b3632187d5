//! `#[migratable(name = "…")]` sets the task type's stable name.

use tern::{migratable, Channel, Machine};

#[migratable(name = "ui::renamed_task")]
async fn f(input: Channel<u64>) -> u64 {
    input.recv().await.unwrap() + 1
}

#[migratable]
async fn g(input: Channel<u64>) -> u64 {
    input.recv().await.unwrap()
}

fn key<M: Machine>(_: &M) -> &'static str {
    M::TYPE_KEY
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    assert_eq!(key(&f(input.clone())), "ui::renamed_task");
    assert!(
        key(&g(input.clone())).ends_with("::g"),
        "{}",
        key(&g(input.clone()))
    );
    input.send(1).await.unwrap();
    assert_eq!(node.spawn(f(input)).join().await.unwrap(), 2);
}
