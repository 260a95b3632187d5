//! Counts the locked read-modify-write instructions a same-worker hand-off executes.
//!
//! Runs a thread-ring of 503 `RingMember` tasks on a 1-worker node, warms it up, then passes a
//! token of `HOPS` between the two marker calls [`tern_hop_atomics_begin`] and
//! [`tern_hop_atomics_end`]. On its own it only checks the winner; `scripts/hop_atomics.sh`
//! runs it under gdb with a counting breakpoint on every `lock`-prefixed and `xchg`
//! instruction of the binary and divides the worker thread's hits by `HOPS` (see
//! `benches/README.md`, "Atomics per hop"). No timing is involved: the figure is exact.

use std::hint::black_box;

use tern_tests::{node, Ring};

/// Hops between the markers.
pub const HOPS: u64 = 2_000;

/// Marks the start of the counted hops (a breakpoint target for the counting script).
#[no_mangle]
#[inline(never)]
pub extern "C" fn tern_hop_atomics_begin(hops: u64) {
    black_box(hops + 1);
}

/// Marks the end of the counted hops.
#[no_mangle]
#[inline(never)]
pub extern "C" fn tern_hop_atomics_end(hops: u64) {
    black_box(hops + 2);
}

fn main() {
    let driver = tern_benches::driver();
    driver.block_on(async {
        let n = node("hop-atomics", 1).await;
        let ring = Ring::new(&n, "hop-atomics", 503).await;
        // Warm up: queues reach their steady-state capacity.
        assert_eq!(ring.pass(5_000).await, 5_000 % 503 + 1);
        tern_hop_atomics_begin(HOPS);
        let winner = ring.pass(HOPS).await;
        tern_hop_atomics_end(HOPS);
        assert_eq!(u64::from(winner), HOPS % 503 + 1);
        println!("{HOPS} hops, winner {winner}");
        ring.close();
        n.shutdown().await;
    });
}
