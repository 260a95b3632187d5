//! A default method: boxed in the trait, run on the owner, overridable, and calling the
//! implementation's other methods through `self`.

use tern::Remote;

#[tern::remote]
trait Greeter {
    async fn name(&self) -> String;

    async fn greet(&self, greeting: String) -> String {
        let name = self.name().await;
        format!("{greeting}, {name}")
    }
}

struct Ada;

#[tern::remote]
impl Greeter for Ada {
    async fn name(&self) -> String {
        "ada".to_owned()
    }
}

struct Grace;

#[tern::remote]
impl Greeter for Grace {
    async fn name(&self) -> String {
        "grace".to_owned()
    }

    async fn greet(&self, greeting: String) -> String {
        format!("{greeting}!")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let ada: Remote<dyn Greeter> = node.expose(Ada);
    let grace: Remote<dyn Greeter> = node.expose(Grace);
    assert_eq!(ada.greet("hello".into()).await.unwrap(), "hello, ada");
    assert_eq!(grace.greet("hello".into()).await.unwrap(), "hello!");
    assert_eq!(grace.name().await.unwrap(), "grace");
    node.shutdown().await;
}
