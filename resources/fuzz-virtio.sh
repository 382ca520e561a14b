#!/usr/bin/env bash
# Fuzzes the virtio devices' request parsing against in-memory guest memory: the hostile-guest
# tests of devices/ (random descriptor tables, chains, flags, indirect tables, available
# indexes, headers and register writes; tern must neither panic nor hang, and each device must
# work again after a reset), run for FUZZ_ITERATIONS rounds (default 200000) per seed, for
# FUZZ_SEEDS seeds (default 4) starting from FUZZ_SEED (default: the time). A failure prints
# the seed: rerun it with TERN_FUZZ_SEED=<seed>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
iterations="${FUZZ_ITERATIONS:-200000}"
seeds="${FUZZ_SEEDS:-4}"
seed="${FUZZ_SEED:-$(date +%s)}"
cargo test --release -p devices --lib --no-run
for i in $(seq 0 $((seeds - 1))); do
    s=$((seed + i))
    echo "fuzz-virtio: seed $s, $iterations rounds per device"
    TERN_FUZZ_SEED=$s TERN_FUZZ_ITERATIONS=$iterations \
        cargo test --release -q -p devices --lib hostile -- --nocapture --test-threads 2 2>&1 \
        | grep -E "hostile|panicked|test result|seed" \
        || { echo "fuzz-virtio: seed $s failed" >&2; exit 1; }
done
echo "fuzz-virtio: $seeds seeds passed"
