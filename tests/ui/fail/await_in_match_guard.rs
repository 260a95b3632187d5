use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    match input.recv().await {
        Ok(v) if v == input.recv().await.unwrap() => v,
        _ => 0,
    }
}

fn main() {}
