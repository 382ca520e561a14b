#!/usr/bin/env bash
# Builds tern-workload as a static binary and copies it to resources/cache/tern-workload.
# The guest initramfs carries that copy (a busybox guest has no shared libraries).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=resources/lib.sh
. "$here/lib.sh"
ensure_packages file

cd "$root"
cargo rustc -p tern-workload --release --quiet -- -C target-feature=+crt-static -C strip=debuginfo
target_dir="${CARGO_TARGET_DIR:-$root/target}"
built="$target_dir/release/tern-workload"
if ! file -b "$built" | grep -q 'static'; then
    echo "build-workload: $built is not statically linked: $(file -b "$built")" >&2
    exit 1
fi
mkdir -p "$here/cache"
cp "$built" "$here/cache/tern-workload.tmp"
mv "$here/cache/tern-workload.tmp" "$here/cache/tern-workload"
echo "build-workload: $here/cache/tern-workload ($(file -b "$here/cache/tern-workload" | cut -d, -f1-2))"
