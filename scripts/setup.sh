#!/usr/bin/env bash
# Installs what the project needs beyond a Rust toolchain. Today: the rustfmt and clippy
# components (for CI). Idempotent and quiet when everything is present.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
    echo "tern needs a Rust toolchain (cargo): see https://rustup.rs" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >/dev/null
    done
fi
