#!/bin/sh
# Talks to L1 over eth0 (virtio-net on L1's tap): link-local addresses only. Pings L1,
# downloads L1's /blob (tern_net_mib MiB, default 8) and serves its own /up of the same size
# until L1 has fetched it (L1 then publishes /done). Prints the checksums.
# shellcheck disable=SC2154 # tern_net_mib comes from the kernel command line
mib="${tern_net_mib:-8}"
host=169.254.10.1
ip link set eth0 up || exit 1
ip addr add 169.254.10.2/16 dev eth0 || exit 1
echo "TERN-GUEST mac=$(cat /sys/class/net/eth0/address)"
n=0
until ping -c 1 -W 1 "$host" >/dev/null 2>&1; do
    n=$((n + 1)); [ "$n" -gt 90 ] && { echo "TERN-GUEST ping=unreachable"; exit 1; }
done
echo "TERN-GUEST ping=$(ping -c 3 -W 2 "$host" | grep -c 'bytes from')"
n=0
until wget -q -O /tmp/down "http://$host:8080/blob"; do
    n=$((n + 1)); [ "$n" -gt 60 ] && { echo "TERN-GUEST download=failed"; exit 1; }; sleep 1
done
echo "TERN-GUEST down_md5=$(md5sum /tmp/down | cut -d' ' -f1)"
rm -f /tmp/down
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/up bs=64k count=$((mib * 16)) 2>/dev/null
echo "TERN-GUEST up_md5=$(md5sum /tmp/www/up | cut -d' ' -f1)"
httpd -f -p 8080 -h /tmp/www &
httpd=$!
n=0
until wget -q -O /dev/null "http://$host:8080/done"; do
    n=$((n + 1)); [ "$n" -gt 240 ] && { echo "TERN-GUEST upload=never-fetched"; break; }; sleep 0.5
done
kill "$httpd"
echo "TERN-GUEST net=done"
