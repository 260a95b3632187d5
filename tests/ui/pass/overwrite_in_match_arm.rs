//! A local overwritten in some arms of a `match` inside a loop, after the arm's `.await`, and
//! read after the loop.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, out: Channel<u64>) -> u64 {
    let mut last: u64 = 0;
    loop {
        match input.recv().await {
            Ok(0) | Err(_) => break,
            Ok(v) if v > 100 => {
                out.send(0).await.unwrap();
            }
            Ok(v) => {
                let v: u64 = v;
                out.send(v).await.unwrap();
                last = v;
            }
        }
    }
    last
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in0", 8);
    let out = node.buffered_channel::<u64>("out0", 8);
    for v in [5, 500, 9, 700, 0, 3] {
        input.send(v).await.unwrap();
    }
    assert_eq!(
        node.spawn(f(input.clone(), out.clone()))
            .join()
            .await
            .unwrap(),
        9
    );
    assert_eq!(input.recv().await.unwrap(), 3, "the loop stopped at the 0");
    for want in [5, 0, 9, 0] {
        assert_eq!(out.recv().await.unwrap(), want);
    }

    // Ends by the channel closing.
    let input = node.buffered_channel::<u64>("in1", 8);
    input.send(4).await.unwrap();
    input.close();
    assert_eq!(node.spawn(f(input, out.clone())).join().await.unwrap(), 4);
    assert_eq!(out.recv().await.unwrap(), 4);
}
