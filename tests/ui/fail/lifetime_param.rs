use tern::{migratable, Channel};

#[migratable]
async fn f<'a>(input: Channel<u64>, name: &'a str) -> u64 {
    input.recv().await.unwrap() + name.len() as u64
}

fn main() {}
