use tern::{migratable, Channel};

#[migratable]
fn f(input: Channel<u64>) -> u64 {
    drop(input);
    0
}

fn main() {}
