#[tern::remote]
trait Counter {
    async fn finish(self) -> u64;
}

fn main() {}
