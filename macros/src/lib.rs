//! Procedural macros for tern.
//!
//! `#[migratable]` (turn an `async fn` into a serializable state machine) and `#[remote]`
//! (generate a proxy for a trait) live here. They are being built; until they land, tasks are
//! written by hand against [`tern::Machine`](https://docs.rs/tern) — see the `tern::task`
//! module docs.
#![forbid(unsafe_code)]
