use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) {
    println!("got {}", input.recv().await.unwrap());
}

fn main() {}
