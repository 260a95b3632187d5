#[tern::remote]
trait Store {
    async fn put<V: Clone>(&self, key: String, value: V);
}

fn main() {}
