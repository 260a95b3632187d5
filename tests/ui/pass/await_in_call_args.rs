//! `.await` in call and method-call arguments, in array and tuple elements and struct fields.

use tern::{migratable, Channel};

fn sub(a: u64, b: u64) -> u64 {
    a - b
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Acc {
    total: u64,
}

impl Acc {
    fn push(&mut self, v: u64, w: u64) {
        self.total = self.total * 100 + v * 10 + w;
    }
}

struct Pair {
    left: u64,
    right: u64,
}

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    let first: u64 = 9;
    let d = sub(first, input.recv().await.unwrap());
    let mut acc: Acc = Acc { total: d };
    acc.push(input.recv().await.unwrap(), 7);
    let arr: [u64; 2] = [input.recv().await.unwrap(), 1];
    let pair = Pair {
        left: arr[0],
        right: (arr[1], input.recv().await.unwrap()).1,
    };
    acc.total + pair.left + pair.right
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    for v in [4, 3, 8, 20] {
        input.send(v).await.unwrap();
    }
    // d = 9 - 4 = 5; acc = 5 * 100 + 37 = 537; + 8 + 20
    assert_eq!(node.spawn(f(input)).join().await.unwrap(), 565);
}
