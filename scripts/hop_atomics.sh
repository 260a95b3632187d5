#!/usr/bin/env bash
# Counts the locked read-modify-write instructions of one same-worker hand-off: builds
# `benches/src/bin/hop_atomics.rs` (release) and runs it under gdb with a counting breakpoint
# on every `lock`-prefixed and memory `xchg` instruction of the binary (scripts/hop_atomics.py).
# Prints the hits per thread and, per hop, every instruction hit at least once per ten hops
# with its inlined call chain. Needs gdb, objdump, nm and addr2line. See benches/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p tern-benches --bin hop_atomics
exec gdb -q -batch -x scripts/hop_atomics.py target/release/hop_atomics
