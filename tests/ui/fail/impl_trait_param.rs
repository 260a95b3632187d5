use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, label: impl ToString) -> String {
    format!("{}{}", label.to_string(), input.recv().await.unwrap())
}

fn main() {}
