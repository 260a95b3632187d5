#[tern::remote]
trait Counter {
    async fn add(&mut self, n: u64) -> u64;
}

fn main() {}
