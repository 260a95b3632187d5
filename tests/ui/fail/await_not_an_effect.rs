use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    let one: u64 = std::future::ready(1u64).await;
    input.recv().await.unwrap() + one
}

fn main() {}
