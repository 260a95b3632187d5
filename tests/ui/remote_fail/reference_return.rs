#[tern::remote]
trait Store {
    async fn name(&self) -> &'static str;
}

fn main() {}
