use tern::{migratable, Channel};

#[derive(serde::Serialize, serde::Deserialize)]
struct Worker {
    input: Channel<u64>,
}

#[migratable]
impl Worker {
    async fn run(&self) -> u64 {
        self.input.recv().await.unwrap()
    }
}

fn main() {}
