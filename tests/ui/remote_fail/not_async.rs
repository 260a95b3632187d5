#[tern::remote]
trait Counter {
    fn add(&self, n: u64) -> u64;
}

fn main() {}
