//! `let` with and without a written type: only the local that crosses the `.await` needs one.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    let scale = 3; // used before the `.await` only: no type needed
    let base: u64 = 10 * scale; // crosses the `.await`: typed
    let v = input.recv().await.unwrap();
    let sum = base + v; // after the last `.await`: no type needed
    sum
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 1);
    input.send(7).await.unwrap();
    let task = node.spawn(f(input));
    assert_eq!(task.join().await.unwrap(), 37);
}
