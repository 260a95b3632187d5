use tern::{migratable, Channel};

#[migratable]
async fn f(words: Vec<String>, output: Channel<String>) {
    for w in words.into_iter().filter(|w| !w.is_empty()) {
        output.send(w).await.unwrap();
    }
}

fn main() {}
