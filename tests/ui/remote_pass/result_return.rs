//! A method returning `Result<T, E>`: the caller gets `Ok(Err(e))` with the typed error, and
//! `?` works in the method's body.

use serde::{Deserialize, Serialize};
use tern::Remote;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum ParseError {
    Empty,
    NotANumber(String),
}

impl From<std::num::ParseIntError> for ParseError {
    fn from(e: std::num::ParseIntError) -> Self {
        ParseError::NotANumber(e.to_string())
    }
}

#[tern::remote]
trait Parser {
    async fn parse(&self, text: String) -> Result<u64, ParseError>;
}

struct Decimal;

#[tern::remote]
impl Parser for Decimal {
    async fn parse(&self, text: String) -> Result<u64, ParseError> {
        if text.is_empty() {
            return Err(ParseError::Empty);
        }
        let n: u64 = text.parse()?;
        Ok(n)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let parser: Remote<dyn Parser> = node.expose(Decimal);
    assert_eq!(parser.parse("42".into()).await, Ok(Ok(42)));
    assert_eq!(parser.parse("".into()).await, Ok(Err(ParseError::Empty)));
    assert!(matches!(
        parser.parse("x".into()).await,
        Ok(Err(ParseError::NotANumber(_)))
    ));
    node.shutdown().await;
}
