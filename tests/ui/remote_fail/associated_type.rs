#[tern::remote]
trait Store {
    type Value;
    const SIZE: usize;
    async fn len(&self) -> u64;
}

fn main() {}
