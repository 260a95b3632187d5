#[tern::remote]
trait Store {
    async fn get(&self, key: &str) -> Option<u64>;
    async fn get_all(&self, keys: Vec<&[u8]>) -> Vec<u64>;
}

fn main() {}
