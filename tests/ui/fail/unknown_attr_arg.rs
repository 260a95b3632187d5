use tern::{migratable, Channel};

#[migratable(nmae = "ui::task")]
async fn f(input: Channel<u64>) -> u64 {
    input.recv().await.unwrap()
}

fn main() {}
