#!/usr/bin/env bash
# Counts the instructions a #[migratable] machine executes against its hand-written twin: runs
# `migratable_ab once <scenario> <hand|gen> <size>` under callgrind at two sizes and prints the
# difference per unit of work (per hop, per skynet leaf, per round trip). Instruction counts do
# not depend on the load of this shared VM, so they compare the two machines' code where the
# timings are too noisy to. Needs valgrind. About 3 minutes. See benches/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p tern-benches --bin migratable_ab
bin=target/release/migratable_ab

count() { # scenario kind size -> instructions of the whole run
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" once "$@" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

echo "| scenario | unit | hand-written instructions/unit | #[migratable] instructions/unit | ratio |"
echo "|---|---|---:|---:|---:|"
for spec in "ring hop 20000 120000" "ping-pong round-trip 10000 60000" "skynet leaf 10000 100000"; do
    read -r scenario unit small large <<<"$spec"
    per=()
    for kind in hand gen; do
        a=$(count "$scenario" "$kind" "$small")
        b=$(count "$scenario" "$kind" "$large")
        per+=("$(( (b - a) / (large - small) ))")
    done
    ratio=$(awk -v h="${per[0]}" -v g="${per[1]}" 'BEGIN { printf "%.3f", g / h }')
    echo "| $scenario | $unit | ${per[0]} | ${per[1]} | $ratio |"
done
