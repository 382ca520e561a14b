#!/usr/bin/env bash
# Fuzzes the virtio devices' request parsing against in-memory guest memory (`make fuzz-virtio`):
# 1. the hostile-guest generators of devices/src/virtio/hostile.rs (random descriptor tables,
#    chains, flags, indirect tables, available indexes, headers, register writes and host
#    frames; tern must neither panic nor hang, and each device must work again after a reset),
#    on stable: FUZZ_ITERATIONS rounds (default 200000) for each of FUZZ_SEEDS seeds (default
#    4) from FUZZ_SEED (default: the time). A failure names its seed: replay it with
#    TERN_FUZZ_SEED=<seed> cargo test --release -p devices hostile.
# 2. coverage-guided, with cargo-fuzz (libFuzzer) on the same generators driven by the
#    fuzzer's bytes: devices/fuzz, targets virtio_block and virtio_net, FUZZ_SECONDS each
#    (default 120). Needs a nightly toolchain (rustup); cargo-fuzz is installed from crates.io
#    when missing. Skipped, with a note, when there is no nightly toolchain.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
iterations="${FUZZ_ITERATIONS:-200000}"
seeds="${FUZZ_SEEDS:-4}"
seed="${FUZZ_SEED:-$(date +%s)}"
seconds="${FUZZ_SECONDS:-120}"

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

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz-virtio: no nightly toolchain, so no coverage-guided run (cargo-fuzz needs nightly)"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-virtio: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi
cd devices
for target in virtio_block virtio_net; do
    echo "fuzz-virtio: cargo fuzz run $target for ${seconds}s"
    cargo +nightly fuzz run --release "$target" -- -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096
done
echo "fuzz-virtio: coverage-guided runs found nothing"
