//! A generic `#[migratable]` function with serde bounds on its type parameter.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tern::{migratable, Channel};

#[migratable]
async fn relay<T>(input: Channel<T>, output: Channel<T>, times: u32) -> u32
where
    T: Serialize + DeserializeOwned + Send + Clone + 'static,
{
    let mut n: u32 = 0;
    while n < times {
        let item: T = input.recv().await.unwrap();
        output.send(item.clone()).await.unwrap();
        output.send(item).await.unwrap();
        n += 1;
    }
    n
}

#[migratable]
async fn first<T: Serialize + DeserializeOwned + Send + 'static>(input: Channel<T>) -> T {
    input.recv().await.unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<String>("in", 8);
    let output = node.buffered_channel::<String>("out", 8);
    input.send("a".into()).await.unwrap();
    input.send("b".into()).await.unwrap();
    assert_eq!(
        node.spawn(relay(input.clone(), output.clone(), 2))
            .join()
            .await
            .unwrap(),
        2
    );
    for want in ["a", "a", "b", "b"] {
        assert_eq!(output.recv().await.unwrap(), want);
    }
    let nums = node.buffered_channel::<(u8, i64)>("nums", 8);
    nums.send((1, -1)).await.unwrap();
    assert_eq!(node.spawn(first(nums)).join().await.unwrap(), (1, -1));
}
