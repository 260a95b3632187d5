use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    let get = || input.recv().await.unwrap();
    get()
}

fn main() {}
