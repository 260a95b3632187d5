//! A `loop` that overwrites a local after an `.await` and leaves by `break`, both before the
//! overwrite (a 0) and after it (the limit): the local is read after the loop.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, out: Channel<u64>, limit: u64) -> u64 {
    let mut last: u64 = 1;
    loop {
        let v: u64 = input.recv().await.unwrap();
        if v == 0 {
            break;
        }
        out.send(v * 3).await.unwrap();
        last = v * 3;
        if last >= limit {
            break;
        }
    }
    last
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();

    // Leaves at the 0: the last value written.
    let input = node.buffered_channel::<u64>("in0", 8);
    let out = node.buffered_channel::<u64>("out0", 8);
    for v in [2, 5, 0, 9] {
        input.send(v).await.unwrap();
    }
    assert_eq!(
        node.spawn(f(input.clone(), out.clone(), 100))
            .join()
            .await
            .unwrap(),
        15
    );
    assert_eq!(input.recv().await.unwrap(), 9, "the loop stopped at the 0");

    // Leaves right after an overwrite.
    let input = node.buffered_channel::<u64>("in1", 8);
    for v in [2, 40, 5] {
        input.send(v).await.unwrap();
    }
    assert_eq!(
        node.spawn(f(input.clone(), out.clone(), 100))
            .join()
            .await
            .unwrap(),
        120
    );
    assert_eq!(
        input.recv().await.unwrap(),
        5,
        "the loop stopped at the limit"
    );

    // Leaves before any overwrite.
    let input = node.buffered_channel::<u64>("in2", 8);
    input.send(0).await.unwrap();
    assert_eq!(
        node.spawn(f(input, out.clone(), 100)).join().await.unwrap(),
        1
    );

    for want in [6, 15, 6, 120] {
        assert_eq!(out.recv().await.unwrap(), want);
    }
}
