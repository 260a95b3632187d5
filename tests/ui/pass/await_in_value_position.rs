//! `if`, `match` and blocks that await, used as values: in a `let`, a call argument, an
//! operand and the tail expression.

use tern::{migratable, Channel};

fn twice(x: u64) -> u64 {
    x * 2
}

#[migratable]
async fn f(pick: u64, input: Channel<u64>) -> u64 {
    let a: u64 = if pick == 0 {
        input.recv().await.unwrap()
    } else {
        100
    };
    let b: u64 = match pick {
        0 => 1,
        _ => input.recv().await.unwrap() + 1,
    };
    let c = twice({
        let t: u64 = input.recv().await.unwrap();
        t + b
    });
    let d = 1 + if c > 1000 {
        0
    } else {
        input.recv().await.unwrap()
    };
    let e: u64 = a + d;
    match e {
        0 => 0,
        _ => e * 1000 + input.recv().await.unwrap(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    // pick = 0: a = 5, b = 1, c = twice(7 + 1) = 16, d = 1 + 3 = 4, e = 9, 9000 + 9
    for v in [5, 7, 3, 9] {
        input.send(v).await.unwrap();
    }
    assert_eq!(node.spawn(f(0, input.clone())).join().await.unwrap(), 9009);
    // pick = 1: a = 100, b = 11, c = twice(2 + 11) = 26, d = 1 + 4 = 5, e = 105, 105000 + 6
    for v in [10, 2, 4, 6] {
        input.send(v).await.unwrap();
    }
    assert_eq!(node.spawn(f(1, input)).join().await.unwrap(), 105006);
}
