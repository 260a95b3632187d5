use tern::{migratable, Channel};

#[migratable]
async fn f((input, scale): (Channel<u64>, u64)) -> u64 {
    input.recv().await.unwrap() * scale
}

fn main() {}
