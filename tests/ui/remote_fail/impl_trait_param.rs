#[tern::remote]
trait Store {
    async fn put_all(&self, keys: impl IntoIterator<Item = String>);
}

fn main() {}
