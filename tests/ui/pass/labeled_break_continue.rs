//! Labeled `break` and `continue` across nested loops that await.

use tern::{migratable, Channel};

#[migratable]
async fn f(output: Channel<(u64, u64)>) -> u64 {
    let mut sent: u64 = 0;
    'outer: for i in 0..5u64 {
        let mut j: u64 = 0;
        'inner: loop {
            j += 1;
            if j > 3 {
                break 'inner;
            }
            if j == 2 {
                continue 'inner;
            }
            if i == 1 {
                continue 'outer;
            }
            if i == 3 {
                break 'outer;
            }
            output.send((i, j)).await.unwrap();
            sent += 1;
        }
    }
    sent
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let output = node.buffered_channel::<(u64, u64)>("out", 16);
    let task = node.spawn(f(output.clone()));
    assert_eq!(task.join().await.unwrap(), 4);
    for want in [(0, 1), (0, 3), (2, 1), (2, 3)] {
        assert_eq!(output.recv().await.unwrap(), want);
    }
}
