use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> &'static str {
    if input.recv().await.unwrap() > 1 {
        "big"
    } else {
        "small"
    }
}

fn main() {}
