use tern::{migratable, Channel};

#[migratable]
async fn f(items: Vec<u64>, output: Channel<u64>) -> u64 {
    let first: &u64 = &items[0];
    output.send(1).await.unwrap();
    *first
}

fn main() {}
