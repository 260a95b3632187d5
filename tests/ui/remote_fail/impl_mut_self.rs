#[tern::remote]
trait Counter {
    async fn add(&self, n: u64) -> u64;
}

struct Local(u64);

#[tern::remote]
impl Counter for Local {
    async fn add(&mut self, n: u64) -> u64 {
        self.0 += n;
        self.0
    }
}

fn main() {}
