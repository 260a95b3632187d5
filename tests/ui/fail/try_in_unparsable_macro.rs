use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, seed: Option<u64>) -> Option<Vec<u64>> {
    let v: u64 = input.recv().await.ok()?;
    let copies = vec![seed?; 3];
    Some(copies.into_iter().map(|c| c + v).collect())
}

fn main() {}
