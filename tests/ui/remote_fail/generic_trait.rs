#[tern::remote]
trait Store<V> {
    async fn get(&self, key: String) -> Option<V>;
}

fn main() {}
