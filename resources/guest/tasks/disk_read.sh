#!/bin/sh
# Reads back what disk_write.sh left (after dropping the page cache) and checks it.
echo "TERN-GUEST root_dev=$(awk '$2 == "/" {print $1}' /proc/mounts)"
sync
echo 3 > /proc/sys/vm/drop_caches
echo "TERN-GUEST disk_md5=$(md5sum /data/blob | cut -d' ' -f1)"
echo "TERN-GUEST disk_md5_saved=$(cat /data/blob.md5)"
# A second, read-only disk, if given: the kernel must see it read-only and refuse writes.
if [ -b /dev/vdb ]; then
    echo "TERN-GUEST vdb_ro=$(cat /sys/block/vdb/ro)"
    if dd if=/dev/zero of=/dev/vdb bs=512 count=1 oflag=direct 2>/dev/null; then
        echo "TERN-GUEST vdb_write=accepted"
    else
        echo "TERN-GUEST vdb_write=refused"
    fi
    echo "TERN-GUEST vdb_serial=$(cat /sys/block/vdb/serial 2>/dev/null)"
fi
