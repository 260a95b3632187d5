//! `loop` with `.await` and a `break` out of it.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    let mut sum: u64 = 0;
    let mut n: u32 = 0;
    loop {
        let v = input.recv().await.unwrap();
        n += 1;
        if v == 0 {
            break;
        }
        sum += v;
    }
    sum * 10 + u64::from(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    for v in [1, 2, 3, 0, 50] {
        input.send(v).await.unwrap();
    }
    let task = node.spawn(f(input.clone()));
    assert_eq!(task.join().await.unwrap(), 64);
    assert_eq!(input.recv().await.unwrap(), 50, "the loop stopped at the 0");
}
