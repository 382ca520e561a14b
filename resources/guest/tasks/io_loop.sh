#!/bin/sh
# Disk and network I/O in rounds until L1 publishes /stop (or tern_io_seconds pass): each
# round writes tern_io_mib MiB of fresh random data to the root disk, drops the page cache
# and checks it back, then downloads L1's /blob and checks it against /blob.md5. Prints a
# line per round with the errors so far. Needs root=/dev/vda and a tap L1 serves on.
# shellcheck disable=SC2154 # tern_io_* come from the kernel command line
mib="${tern_io_mib:-4}"
seconds="${tern_io_seconds:-300}"
host=169.254.10.1
mount -t tmpfs -o size=64m tmpfs /tmp
ip link set eth0 up && ip addr add 169.254.10.2/16 dev eth0 || exit 1
n=0
until wget -q -O /tmp/blob.md5 "http://$host:8080/blob.md5"; do
    n=$((n + 1)); [ "$n" -gt 120 ] && { echo "TERN-GUEST io=no-network"; exit 1; }; sleep 0.5
done
expected="$(cut -d' ' -f1 /tmp/blob.md5)"
echo "TERN-GUEST io=started"
end=$(( $(cut -d. -f1 /proc/uptime) + seconds ))
rounds=0
errors=0
while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
    dd if=/dev/urandom of=/tmp/src bs=64k count=$((mib * 16)) 2>/dev/null
    want="$(md5sum /tmp/src | cut -d' ' -f1)"
    cp /tmp/src /data/io.bin && sync && echo 3 > /proc/sys/vm/drop_caches
    got="$(md5sum /data/io.bin | cut -d' ' -f1)"
    [ "$got" = "$want" ] || { errors=$((errors + 1)); echo "TERN-GUEST io_disk_mismatch round=$rounds"; }
    got="$(wget -q -O - "http://$host:8080/blob" | md5sum | cut -d' ' -f1)"
    [ "$got" = "$expected" ] || { errors=$((errors + 1)); echo "TERN-GUEST io_net_mismatch round=$rounds"; }
    rounds=$((rounds + 1))
    echo "TERN-GUEST io_round=$rounds errors=$errors"
    wget -q -O /dev/null "http://$host:8080/stop" 2>/dev/null && break
done
echo "TERN-GUEST io_rounds=$rounds"
echo "TERN-GUEST io_errors=$errors"
