#[tern::remote]
trait Counter {
    async fn zero() -> u64;
}

fn main() {}
