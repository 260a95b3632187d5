//! Shadowing: a new `x` replaces the old one, and only one of them is live at each `.await`.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<String>) -> String {
    let x: u64 = input.recv().await.unwrap();
    let x: String = format!("{x}!");
    output.send(x.clone()).await.unwrap();
    let x: usize = x.len() + input.recv().await.unwrap() as usize;
    {
        let y: u64 = 1000;
        let y: String = y.to_string();
        output.send(y).await.unwrap();
    }
    x.to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    let output = node.buffered_channel::<String>("out", 8);
    input.send(42).await.unwrap();
    input.send(5).await.unwrap();
    assert_eq!(
        node.spawn(f(input, output.clone())).join().await.unwrap(),
        "8"
    );
    assert_eq!(output.recv().await.unwrap(), "42!");
    assert_eq!(output.recv().await.unwrap(), "1000");
}
