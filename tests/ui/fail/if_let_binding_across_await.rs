use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<Option<u64>>, output: Channel<u64>) -> u64 {
    if let Ok(Some(v)) = input.recv().await {
        output.send(1).await.unwrap();
        return v;
    }
    0
}

fn main() {}
