//! `match` on an awaited value, with guards, bindings and arms that await.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut total: u64 = 0;
    loop {
        match input.recv().await {
            Ok(0) => break,
            Ok(v) if v % 2 == 0 => {
                output.send(v / 2).await.unwrap();
                total += 1;
            }
            Ok(v) if v > 100 => total += v,
            Ok(v) => {
                let v: u64 = v;
                output.send(v * 3).await.unwrap();
                total += v;
            }
            Err(_) => return u64::MAX,
        }
    }
    total
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    for v in [4, 101, 3, 0] {
        input.send(v).await.unwrap();
    }
    let task = node.spawn(f(input.clone(), output.clone()));
    assert_eq!(task.join().await.unwrap(), 1 + 101 + 3);
    assert_eq!(output.recv().await.unwrap(), 2);
    assert_eq!(output.recv().await.unwrap(), 9);

    input.close();
    let task = node.spawn(f(input, output));
    assert_eq!(task.join().await.unwrap(), u64::MAX);
}
