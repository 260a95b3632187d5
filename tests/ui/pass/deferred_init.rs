//! A local declared without a value (`let x: T;`) and assigned later, in branches that await.

use tern::{migratable, Channel};

#[migratable]
async fn f(pick: bool, input: Channel<u64>, output: Channel<u64>) -> u64 {
    let x: u64;
    let y: u64;
    if pick {
        x = input.recv().await.unwrap();
        y = 1;
    } else {
        x = 7;
        y = 2;
    }
    output.send(x).await.unwrap();
    x * 10 + y
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    input.send(3).await.unwrap();
    assert_eq!(
        node.spawn(f(true, input.clone(), output.clone()))
            .join()
            .await
            .unwrap(),
        31
    );
    assert_eq!(
        node.spawn(f(false, input, output.clone()))
            .join()
            .await
            .unwrap(),
        72
    );
    assert_eq!(output.recv().await.unwrap(), 3);
    assert_eq!(output.recv().await.unwrap(), 7);
}
