//! `?` on a `Result`, converting the error with `From`, and `Result` as the return type.

use tern::{migratable, Channel, ChannelError};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum AppError {
    Closed,
    TooBig(u64),
}

impl From<ChannelError> for AppError {
    fn from(_: ChannelError) -> Self {
        AppError::Closed
    }
}

fn check(v: u64) -> Result<u64, AppError> {
    if v > 100 {
        Err(AppError::TooBig(v))
    } else {
        Ok(v)
    }
}

#[migratable]
async fn f(input: Channel<u64>) -> Result<u64, AppError> {
    let a: u64 = check(input.recv().await?)?;
    let b = input.recv().await?;
    Ok(a + check(b)?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let input = node.buffered_channel::<u64>("in", 8);
    for v in [1, 2, 500, 3, 4] {
        input.send(v).await.unwrap();
    }
    assert_eq!(node.spawn(f(input.clone())).join().await.unwrap(), Ok(3));
    assert_eq!(
        node.spawn(f(input.clone())).join().await.unwrap(),
        Err(AppError::TooBig(500))
    );
    input.close();
    assert_eq!(
        node.spawn(f(input.clone())).join().await.unwrap(),
        Ok(7),
        "buffered values are still delivered after close"
    );
    assert_eq!(
        node.spawn(f(input)).join().await.unwrap(),
        Err(AppError::Closed)
    );
}
