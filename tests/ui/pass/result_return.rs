//! A `Result` return type, returned from several places.

use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<i64>) -> Result<i64, String> {
    let mut total: i64 = 0;
    loop {
        match input.recv().await {
            Ok(0) => return Ok(total),
            Ok(v) if v < 0 => return Err(format!("negative: {v}")),
            Ok(v) => total += v,
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<i64>("in", 8);
    for v in [1, 2, 0, 5, -3] {
        input.send(v).await.unwrap();
    }
    assert_eq!(node.spawn(f(input.clone())).join().await.unwrap(), Ok(3));
    assert_eq!(
        node.spawn(f(input.clone())).join().await.unwrap(),
        Err("negative: -3".to_string())
    );
    input.close();
    assert!(node.spawn(f(input)).join().await.unwrap().is_err());
}
