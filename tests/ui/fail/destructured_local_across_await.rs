use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<(u64, u64)>, output: Channel<u64>) -> u64 {
    let (a, b) = input.recv().await.unwrap();
    output.send(a).await.unwrap();
    b
}

fn main() {}
