//! The tasks behind the golden snapshot files in `tests/golden/` (checked by
//! `tests/tests/snapshot_golden.rs`; `tests/golden/README.md` says what each file holds).
//!
//! These functions are frozen. A `#[migratable]` function's code fingerprint is a hash of its
//! tokens — signature, doc comments and body (plain `//` comments are not tokens) — and every
//! snapshot carries it, so any edit to one of them makes the committed files unrestorable.
//! Change them only on purpose, and then re-bless the files (`TERN_BLESS=1`, see the README).
//! The module docs and the constants below are not hashed, but the constants are in the
//! files: renaming a channel changes the bytes too.

use tern::Channel;

/// The channel [`tally`] reads (rendezvous, `u32`).
pub const TALLY_IN: &str = "golden/tally/in";
/// The channel [`batches`] (and its nested [`sum_of`] frames) read (rendezvous, `u64`).
pub const BATCHES_IN: &str = "golden/batches/in";
/// The channel [`squares`] writes (buffered, `u64`).
pub const SQUARES_OUT: &str = "golden/squares/out";
/// The capacity of [`SQUARES_OUT`].
pub const SQUARES_CAP: usize = 2;

/// Golden task: receives numbers until `input` closes, keeping a total, a log line and the
/// values seen; returns them as one line.
#[tern::migratable(name = "golden::tally")]
pub async fn tally(input: Channel<u32>) -> String {
    let mut total: u64 = 0;
    let mut log: String = String::from("tally");
    let mut seen: Vec<u32> = Vec::new();
    while let Ok(v) = input.recv().await {
        total += u64::from(v);
        log.push_str(&format!(" +{v}"));
        seen.push(v);
    }
    format!("{log} = {total} from {seen:?}")
}

/// Golden task (the nested frame of [`batches`]): sums the next `count` numbers on `input`
/// (fewer if it closes).
#[tern::migratable(name = "golden::sum_of")]
pub async fn sum_of(input: Channel<u64>, count: u32) -> u64 {
    let mut sum: u64 = 0;
    for _ in 0..count {
        match input.recv().await {
            Ok(v) => sum += v,
            Err(_closed) => break,
        }
    }
    sum
}

/// Golden task with two frames: sums a batch of two numbers and then one of three (each in a
/// nested [`sum_of`] call); returns `first * factor + second`.
#[tern::migratable(name = "golden::batches")]
pub async fn batches(input: Channel<u64>, factor: u64) -> u64 {
    let first: u64 = sum_of(input.clone(), 2).await;
    let second: u64 = sum_of(input, 3).await;
    first * factor + second
}

/// Golden task: sends the squares of `0..n` on `out`; returns the sum of those it sent.
#[tern::migratable(name = "golden::squares")]
pub async fn squares(out: Channel<u64>, n: u64) -> u64 {
    let mut sent: u64 = 0;
    for i in 0..n {
        if out.send(i * i).await.is_err() {
            return sent;
        }
        sent += i * i;
    }
    sent
}
