#!/usr/bin/env bash
# Runs the cargo-fuzz targets of tern-net for a while each (nightly toolchain), installing
# cargo-fuzz first if it is missing. Not part of CI (too slow); the decoders' property tests
# run with the normal tests.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   run each target SECONDS (default 60), all by default
#   FUZZ_CMIN=1 scripts/fuzz.sh ...          then minimize each corpus (keep it small: it is
#                                            committed under net/fuzz/corpus/<target>/)
#
# Crashes land in net/fuzz/artifacts/<target>/; reproduce one with
#   (cd net && cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>)
set -euo pipefail
cd "$(dirname "$0")/../net"
secs="${1:-60}"
shift || true

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "scripts/fuzz.sh needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo +nightly install cargo-fuzz --locked
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "=== fuzzing $t for ${secs}s" >&2
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=8192 \
        -print_final_stats=1
    if [ "${FUZZ_CMIN:-0}" = 1 ]; then
        cargo +nightly fuzz cmin "$t" "fuzz/corpus/$t"
    fi
done
