//! `.await` on the right of `&&` and `||`: it runs only when the left side does not decide.

use tern::{migratable, Channel};

#[migratable]
async fn f(flag: bool, input: Channel<u64>) -> (bool, bool) {
    let and: bool = flag && input.recv().await.unwrap() == 1;
    let or = flag || input.recv().await.unwrap() == 2;
    (and, or)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);

    // flag = true: `&&` receives, `||` does not.
    input.send(1).await.unwrap();
    input.send(42).await.unwrap();
    assert_eq!(
        node.spawn(f(true, input.clone())).join().await.unwrap(),
        (true, true)
    );
    assert_eq!(
        input.recv().await.unwrap(),
        42,
        "`||` must not have received"
    );

    // flag = false: `&&` does not receive, `||` does.
    input.send(2).await.unwrap();
    input.send(43).await.unwrap();
    assert_eq!(
        node.spawn(f(false, input.clone())).join().await.unwrap(),
        (false, true)
    );
    assert_eq!(
        input.recv().await.unwrap(),
        43,
        "`&&` must not have received"
    );
}
