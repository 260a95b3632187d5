use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let x: u64 = input.recv().await.unwrap();
    {
        let x: u64 = 1000;
        output.send(x).await.unwrap();
    }
    x
}

fn main() {}
