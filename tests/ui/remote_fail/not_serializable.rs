struct Key(String);

#[tern::remote]
trait Store {
    async fn get(&self, key: Key) -> Option<u64>;
}

fn main() {}
