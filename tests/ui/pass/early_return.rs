//! Early `return` from inside loops and branches, before and after an `.await`.

use tern::{migratable, Channel};

#[migratable]
async fn f(limit: u64, input: Channel<u64>) -> u64 {
    if limit == 0 {
        return 0;
    }
    let mut sum: u64 = 0;
    loop {
        let v = input.recv().await.unwrap();
        sum += v;
        if sum > limit {
            return sum;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    for v in [5, 5, 5, 5] {
        input.send(v).await.unwrap();
    }
    assert_eq!(node.spawn(f(0, input.clone())).join().await.unwrap(), 0);
    assert_eq!(node.spawn(f(12, input.clone())).join().await.unwrap(), 15);
    assert_eq!(input.recv().await.unwrap(), 5, "one value left");
}
