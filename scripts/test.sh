#!/usr/bin/env bash
# Every test of the workspace (unit, integration, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo test --workspace --locked "$@"
