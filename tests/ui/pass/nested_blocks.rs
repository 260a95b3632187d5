//! Plain and labeled blocks nested around `.await`s, with scoped locals.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let outer: u64 = 1;
    {
        let inner: u64 = outer + 1;
        {
            output.send(inner).await.unwrap();
            let deeper: u64 = input.recv().await.unwrap();
            output.send(deeper + inner).await.unwrap();
        }
    }
    'done: {
        if input.recv().await.unwrap() == 0 {
            break 'done;
        }
        output.send(77).await.unwrap();
    }
    outer
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<u64>("out", 8);
    for v in [10, 0, 20, 1] {
        input.send(v).await.unwrap();
    }
    assert_eq!(
        node.spawn(f(input.clone(), output.clone()))
            .join()
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        node.spawn(f(input, output.clone())).join().await.unwrap(),
        1
    );
    for want in [2, 12, 2, 22, 77] {
        assert_eq!(output.recv().await.unwrap(), want);
    }
}
