//! Parameters with `mut` and destructuring patterns in the `impl`; the user's supertraits,
//! other items of the `impl`, and attributes on methods are kept.

use std::fmt::Debug;

use tern::Remote;

#[tern::remote]
trait Shape: Debug {
    async fn scale(&self, factor: u32, offset: (u32, u32)) -> (u32, u32);
    #[allow(clippy::ptr_arg)]
    async fn total(&self, values: Vec<u32>) -> u32;
}

#[derive(Debug)]
struct Square(u32);

impl Square {
    fn side(&self) -> u32 {
        self.0
    }
}

#[tern::remote]
impl Shape for Square {
    #[inline]
    async fn scale(&self, mut factor: u32, (dx, dy): (u32, u32)) -> (u32, u32) {
        factor *= self.side();
        (factor + dx, factor + dy)
    }

    async fn total(&self, mut values: Vec<u32>) -> u32 {
        values.push(self.0);
        values.iter().sum()
    }
}

fn debug_of(shape: &dyn Shape) -> String {
    format!("{shape:?}")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let shape: Remote<dyn Shape> = node.expose(Square(3));
    assert_eq!(shape.scale(2, (1, 10)).await.unwrap(), (7, 16));
    assert_eq!(shape.total(vec![1, 2]).await.unwrap(), 6);
    assert_eq!(debug_of(&Square(1)), "Square(1)");
    node.shutdown().await;
}
