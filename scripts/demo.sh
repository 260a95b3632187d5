#!/usr/bin/env bash
# The main job: the cluster demo with live migration — three node processes on loopback (QUIC,
# mutual TLS from a CA the demo makes) run stateful #[migratable] workers that move between the
# processes while the jobs flow (by handle, by themselves, by draining a node), in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --release --quiet -p tern-examples --bin cluster-demo -- "$@"
