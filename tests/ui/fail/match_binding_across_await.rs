use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<u64>) -> u64 {
    match input.recv().await {
        Ok(v) => {
            output.send(1).await.unwrap();
            v
        }
        Err(_) => 0,
    }
}

fn main() {}
