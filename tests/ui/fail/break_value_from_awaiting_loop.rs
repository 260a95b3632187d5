use tern::{migratable, Channel};

#[migratable]
async fn f(input: Channel<u64>) -> u64 {
    let found = loop {
        let v = input.recv().await.unwrap();
        if v > 10 {
            break v;
        }
    };
    found
}

fn main() {}
