#[tern::remote(name = "store")]
trait Store {
    async fn len(&self) -> u64;
}

fn main() {}
