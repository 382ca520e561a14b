#!/bin/sh
# Writes 4 MiB of random data to the root disk, syncs, and prints its checksum.
echo "TERN-GUEST root_dev=$(awk '$2 == "/" {print $1}' /proc/mounts)"
dd if=/dev/urandom of=/data/blob bs=64k count=64 2>/dev/null || exit 1
md5sum /data/blob | cut -d' ' -f1 > /data/blob.md5
sync
echo "TERN-GUEST disk_md5=$(cat /data/blob.md5)"
