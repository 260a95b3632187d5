use tern::{migratable, Channel};

struct Worker {
    input: Channel<u64>,
}

impl Worker {
    #[migratable]
    async fn run(&self) -> u64 {
        self.input.recv().await.unwrap()
    }
}

fn main() {}
