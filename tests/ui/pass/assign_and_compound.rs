//! Assignment and compound assignment, with `.await` on the right-hand side.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    let mut x: u64 = 1;
    x = input.recv().await.unwrap();
    x += input.recv().await.unwrap();
    x *= 2;
    x -= 1;
    let mut pair: (u64, u64) = (0, 0);
    pair.1 = input.recv().await.unwrap();
    pair.0 += x;
    pair.0 * 100 + pair.1
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 4);
    for v in [4, 5, 6] {
        input.send(v).await.unwrap();
    }
    let task = node.spawn(f(input));
    // x = 4, x = 9, x = 18, x = 17; pair = (17, 6)
    assert_eq!(task.join().await.unwrap(), 1706);
}
