#!/usr/bin/env bash
# The loom models of the concurrency core, at preemption bound 2 (no time cap: a model that
# hits a cap has not finished). Built in a separate target dir with --cfg tern_loom.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg tern_loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2
exec cargo test -p tern --lib --release --locked -- --test-threads=1 tests::loom_
