//! A corpus of `#[migratable]` functions that together use every construct the macro
//! supports, at every nesting depth: `let` with and without a type, assignment and compound
//! assignment, `if`/`else`, `if let`, `match` with guards, `loop`, `while`, `while let`, `for`
//! over ranges and over a stored vector, labeled `break`/`continue`, early `return`, `?` on
//! `Result` and `Option`, nested blocks, closures that do not cross a suspension point,
//! value-position `if`/`match`/blocks, `&&`, nested calls three deep, `sleep` and `yield_now`.
//!
//! Every function has the same shape — it reads numbers from `input` and writes to `output` —
//! so one driver (`tests/tests/migratable_corpus.rs`) can run each uninterrupted and frozen at
//! any of its suspension points, and compare results and channel traffic.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tern::{migratable, Channel, ChannelError};

/// Why a corpus function stopped early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    /// A channel closed.
    Closed,
}

impl From<ChannelError> for Stop {
    fn from(_: ChannelError) -> Self {
        Stop::Closed
    }
}

/// `while let`, compound assignment, a typed `let`.
#[migratable]
pub async fn running_total(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut total: u64 = 0;
    while let Ok(v) = input.recv().await {
        total += v;
        output.send(total).await.ok();
    }
    total
}

/// `loop`, `match` with guards, `continue` and `break`, untyped locals that do not cross.
#[migratable]
pub async fn classify(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut evens: u64 = 0;
    let mut odds: u64 = 0;
    loop {
        let v = match input.recv().await {
            Ok(v) => v,
            Err(_) => break,
        };
        match v {
            0 => continue,
            x if x % 2 == 0 => {
                evens += 1;
                output.send(x / 2).await.ok();
            }
            x => {
                odds += 1;
                output.send(x * 3 + 1).await.ok();
            }
        }
    }
    evens * 1000 + odds
}

/// Labeled loops: `for` over a range, `break 'outer`, `continue 'outer`, an inner `loop`.
#[migratable]
pub async fn labeled(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let rounds: u64 = 3;
    let mut count: u64 = 0;
    'outer: for round in 0..rounds {
        let mut inner: u64 = 0;
        loop {
            let v: u64 = match input.recv().await {
                Ok(v) => v,
                Err(_) => break 'outer,
            };
            if v == 7 {
                continue 'outer;
            }
            if v > 100 {
                break;
            }
            inner += v;
            output.send(round * 1000 + inner).await.ok();
            count += 1;
        }
    }
    count
}

/// The innermost of three nested calls: `?` converting `ChannelError` into [`Stop`].
#[migratable]
pub async fn level3(input: Channel<u64>) -> Result<u64, Stop> {
    let v: u64 = input.recv().await?;
    Ok(v * 2)
}

/// The middle call: a nested call, `?` after `map_err`.
#[migratable]
pub async fn level2(input: Channel<u64>, output: Channel<u64>) -> Result<u64, Stop> {
    let a: u64 = level3(input.clone()).await?;
    output.send(a).await.map_err(|_| Stop::Closed)?;
    Ok(a + 1)
}

/// The outer call: a `for` over a suffixed range around a nested call.
#[migratable]
pub async fn level1(input: Channel<u64>, output: Channel<u64>) -> Result<u64, Stop> {
    let mut acc: u64 = 0;
    for _ in 0..3u32 {
        acc += level2(input.clone(), output.clone()).await?;
    }
    Ok(acc)
}

/// Calls three deep (`nested` → `level1` → `level2` → `level3`).
#[migratable]
pub async fn nested(input: Channel<u64>, output: Channel<u64>) -> u64 {
    match level1(input, output).await {
        Ok(v) => v,
        Err(Stop::Closed) => u64::MAX,
    }
}

/// `while` with a condition, `if let … else`, `else if` chains, early `return`, an arm
/// binding re-bound with a type so it can cross an `.await`.
#[migratable]
pub async fn if_chains(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut seen: u64 = 0;
    while seen < 6 {
        if let Ok(v) = input.recv().await {
            let v: u64 = v;
            if v % 3 == 0 {
                output.send(v).await.ok();
            } else if v % 3 == 1 {
                output.send(v + 1).await.ok();
                output.send(v + 2).await.ok();
            } else {
                seen += 1;
            }
        } else {
            return seen * 100;
        }
        seen += 1;
    }
    seen
}

/// Value-position `if`, `match` and block with `.await` inside, and `&&` short-circuit.
#[migratable]
pub async fn value_positions(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let first: u64 = input.recv().await.unwrap_or(0);
    let doubled = if first > 10 {
        input.recv().await.unwrap_or(0) * 2
    } else {
        first
    };
    let label: u64 = match doubled {
        0 => 0,
        d => {
            let d: u64 = d;
            output.send(d).await.ok();
            d + 1
        }
    };
    let ok: bool = label > 3 && output.send(label).await.is_ok();
    let block_value: u64 = {
        let x = input.recv().await.unwrap_or(5);
        x + 1
    };
    output.send(block_value).await.ok();
    if ok {
        block_value
    } else {
        block_value + 10_000
    }
}

/// `for` over a vector kept in the task, a closure that does not cross a suspension point.
#[migratable]
pub async fn for_vec(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let items: Vec<u64> = (1..=4).map(|i| i * 10).collect();
    let mut sent: u64 = 0;
    for item in items {
        let scaled = [item].iter().map(|x| x + 1).sum::<u64>();
        output.send(scaled).await.ok();
        sent += 1;
    }
    let extra: u64 = input.recv().await.unwrap_or(0);
    sent * 100 + extra
}

/// `for` over an inclusive range whose bound arrives on a channel.
#[migratable]
pub async fn squares(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let n: u64 = input.recv().await.unwrap_or(3).min(6);
    let mut sum: u64 = 0;
    for i in 1..=n {
        output.send(i * i).await.ok();
        sum += i * i;
    }
    sum
}

/// Assignment, deferred initialization, nested blocks, shadowing.
#[migratable]
pub async fn assign_and_shadow(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut state: u64 = 1;
    let tag;
    {
        let inner: u64 = input.recv().await.unwrap_or(0);
        state = state * 31 + inner;
    }
    tag = if state % 2 == 0 { "even" } else { "odd" };
    output.send(tag.len() as u64).await.ok();
    let next = state + 1;
    let state: u64 = next * 2;
    output.send(state).await.ok();
    state
}

/// `yield_now` and `sleep` in a loop with early returns.
#[migratable]
pub async fn sleepy(input: Channel<u64>, output: Channel<u64>) -> u64 {
    let mut n: u64 = 0;
    loop {
        tern::yield_now().await;
        let v: u64 = match input.recv().await {
            Ok(v) => v,
            Err(_) => return n,
        };
        if v == 99 {
            return n + 1000;
        }
        tern::sleep(Duration::from_millis(1)).await;
        n += v;
        output.send(n).await.ok();
    }
}

/// `?` on `Option`.
#[migratable]
pub async fn option_try(input: Channel<u64>, output: Channel<u64>) -> Option<u64> {
    let a: u64 = input.recv().await.ok()?;
    output.send(a).await.ok()?;
    let b: u64 = input.recv().await.ok()?;
    Some(a + b)
}
