//! First contact: the DESIGN example as a `#[migratable]` function.

use tern::{migratable, Channel};

#[migratable]
async fn accumulate(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut total: u64 = 0;
    while let Ok(v) = input.recv().await {
        total += v;
        output.send(total).await.ok();
    }
    total
}

#[tokio::test]
async fn accumulate_runs() {
    let node = tern_tests::node("smoke", 1).await;
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    let task = node.spawn(accumulate(input.clone(), output.clone()));
    input.send(5).await.unwrap();
    input.send(7).await.unwrap();
    assert_eq!(output.recv().await.unwrap(), 5);
    assert_eq!(output.recv().await.unwrap(), 12);
    input.close();
    assert_eq!(task.join().await.unwrap(), 12);
}
