use tern::{migratable, Channel};

#[migratable]
async fn f(input: &Channel<u64>) -> u64 {
    input.recv().await.unwrap()
}

fn main() {}
