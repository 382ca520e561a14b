#!/usr/bin/env bash
# Builds the L2 guest's initramfs: resources/cache/guest.cpio (newc, uncompressed) with
#   /init                 resources/guest/init
#   /tasks/*.sh           resources/guest/tasks/
#   /bin/busybox, /bin/sh busybox-static (init runs `busybox --install -s`)
#   /bin/tern-workload    the static workload (resources/build-workload.sh)
#   /lib/modules/virtio/  the kernel's virtio modules and their ORDER (resources/fetch-kernel.sh)
#   /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin   empty directories
# Rebuilds every time (a few seconds at most).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=resources/lib.sh
. "$here/lib.sh"
ensure_packages busybox-static cpio file

"$here/build-workload.sh"

busybox=/bin/busybox
file -b "$busybox" | grep -q 'statically linked' \
    || { echo "build-guest-initramfs: $busybox is not static" >&2; exit 1; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,tasks}
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$here/cache/tern-workload" "$stage/bin/tern-workload"
cp "$here/guest/init" "$stage/init"
cp "$here"/guest/tasks/*.sh "$stage/tasks/"
modules="$here/cache/kernel/guest-modules"
[ -s "$modules/ORDER" ] || "$here/fetch-kernel.sh" --refresh
mkdir -p "$stage/lib/modules/virtio"
cp "$modules"/*.ko "$modules/ORDER" "$stage/lib/modules/virtio/"
chmod 0755 "$stage/init" "$stage/bin/busybox" "$stage/bin/tern-workload"
chmod 1777 "$stage/tmp"

out="$here/cache/guest.cpio"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "build-guest-initramfs: $out ($(du -h "$out" | cut -f1))"
