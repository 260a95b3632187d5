use tern::{migratable, Channel};

fn sub(a: u64, b: u64) -> u64 {
    a - b
}

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    sub(input.recv().await.unwrap(), input.recv().await.unwrap())
}

fn main() {}
