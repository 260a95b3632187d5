struct Store;

#[tern::remote]
impl Store {
    async fn len(&self) -> u64 {
        0
    }
}

fn main() {}
