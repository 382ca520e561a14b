#!/usr/bin/env bash
# Builds an ext4 root disk for L2 guests, without root: resources/cache/rootfs.ext4 (32 MiB),
# made with mke2fs -d from a staged tree:
#   /init, /tasks/*.sh    resources/guest/ (the same init as the initramfs)
#   /bin/busybox, /bin/sh busybox-static
#   /etc/tern-rootfs      marks the disk, so its init does not look for a root again
#   /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin /data   empty directories
# A guest boots it with the initramfs (which loads virtio_blk) and root=/dev/vda.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=resources/lib.sh
. "$here/lib.sh"
ensure_packages busybox-static e2fsprogs

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,tasks,etc,data}
cp /bin/busybox "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$here/guest/init" "$stage/init"
cp "$here"/guest/tasks/*.sh "$stage/tasks/"
echo "Tern's L2 root disk" > "$stage/etc/tern-rootfs"
chmod 0755 "$stage/init" "$stage/bin/busybox"
chmod 1777 "$stage/tmp"

out="$here/cache/rootfs.ext4"
mkdir -p "$here/cache"
rm -f "$out.tmp"
mke2fs -q -t ext4 -L ternroot -E root_owner=0:0 -d "$stage" "$out.tmp" 32M
mv "$out.tmp" "$out"
echo "build-disk-image: $out ($(du -h --apparent-size "$out" | cut -f1))"
