#!/bin/sh
# The `make demo` guest: says what it booted from, brings eth0 up on a link-local address,
# pings L1, serves a page that L1 fetches, and shows its NUMA nodes. It stays up until L1 has
# fetched /demo.txt (or 60 s), so the host side can show where its memory and vCPUs sit.
host=169.254.10.1
echo "TERN-GUEST root=$(awk '$2 == "/" && $1 != "rootfs" {print $1; exit}' /proc/mounts)"
echo "TERN-GUEST nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)"
for n in /sys/devices/system/node/node[0-9]*; do
    echo "TERN-GUEST $(basename "$n") cpus=$(cat "$n/cpulist") mem_kb=$(awk '/MemTotal/ {print $4}' "$n/meminfo")"
done
ip link set eth0 up || exit 1
ip addr add 169.254.10.2/16 dev eth0 || exit 1
n=0
until ping -c 1 -W 1 "$host" >/dev/null 2>&1; do
    n=$((n + 1)); [ "$n" -gt 60 ] && { echo "TERN-GUEST ping=unreachable"; exit 1; }
done
echo "TERN-GUEST ping=$(ping -c 3 -W 2 "$host" | grep -c 'bytes from') of 3 replies from L1"
mkdir -p /tmp/www
echo "hello from a Tern guest booted from $(awk '$2 == "/" && $1 != "rootfs" {print $1; exit}' /proc/mounts)" > /tmp/www/demo.txt
httpd -f -p 8080 -h /tmp/www &
httpd=$!
echo "TERN-GUEST serving http://169.254.10.2:8080/demo.txt"
n=0
until wget -q -O /dev/null "http://$host:8080/done" 2>/dev/null; do
    n=$((n + 1)); [ "$n" -gt 120 ] && break; sleep 0.5
done
kill "$httpd"
