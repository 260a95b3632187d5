use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let total = input.recv().await.unwrap();
    output.send(1).await.unwrap();
    total
}

fn main() {}
