#!/usr/bin/env bash
# The cluster demo (what scripts/demo.sh runs): three node processes on loopback (QUIC, mutual
# TLS from a CA the demo makes) moving stateful workers between them while they square jobs
# over named channels, in release mode. Extra arguments go to the demo
# (e.g. `--jobs 50000`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --release --quiet -p tern-examples --bin cluster-demo -- "$@"
