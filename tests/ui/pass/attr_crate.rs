//! `#[migratable(crate = "…")]`: the generated code names tern through the given path.

use tern as tern2;

mod inner {
    use super::tern2;

    #[tern2::migratable(crate = "tern2")]
    pub(crate) async fn f(input: tern2::Channel<u64>) -> u64 {
        let a: u64 = input.recv().await.unwrap();
        tern2::yield_now().await;
        a * 2
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern2::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    input.send(21).await.unwrap();
    assert_eq!(node.spawn(inner::f(input)).join().await.unwrap(), 42);
}
