#[tern::remote]
struct Store {
    len: u64,
}

#[tern::remote]
async fn len() -> u64 {
    0
}

fn main() {}
