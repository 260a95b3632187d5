//! A method taking a `Remote<dyn Other>` argument: the callee calls back through it into the
//! caller's object (on one node here; `tests/remote_macro.rs` does it across QUIC).

use std::sync::{Arc, Mutex};

use tern::Remote;

#[tern::remote]
trait Sink {
    async fn push(&self, value: u64);
}

#[tern::remote]
trait Source {
    async fn drain_into(&self, sink: Remote<dyn Sink>, upto: u64) -> u64;
}

struct Collect(Arc<Mutex<Vec<u64>>>);

#[tern::remote]
impl Sink for Collect {
    async fn push(&self, value: u64) {
        self.0.lock().unwrap().push(value);
    }
}

struct Numbers;

#[tern::remote]
impl Source for Numbers {
    async fn drain_into(&self, sink: Remote<dyn Sink>, upto: u64) -> u64 {
        for i in 0..upto {
            sink.push(i * i).await.unwrap();
        }
        upto
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink: Remote<dyn Sink> = node.expose(Collect(Arc::clone(&got)));
    let source: Remote<dyn Source> = node.expose(Numbers);
    assert_eq!(source.drain_into(sink.clone(), 4).await.unwrap(), 4);
    assert_eq!(*got.lock().unwrap(), [0, 1, 4, 9]);
    node.shutdown().await;
}
