#!/usr/bin/env bash
# The main job: the local demo (nodes, pipeline, thread-ring, a live move), in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --release --quiet -p tern-examples --bin local-demo
