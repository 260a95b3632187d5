use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    let x: u64 = input.recv().await.unwrap();
    let total: u64 = {
        let x: u64 = x + 1;
        input.recv().await.unwrap() + x
    };
    total + x
}

fn main() {}
