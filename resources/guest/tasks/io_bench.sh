#!/bin/sh
# Disk and network throughput as the guest sees it, for the bench: O_DIRECT writes and reads
# of tern_bench_mib MiB (default 128) on /dev/vda, then a download of L1's /blob over eth0
# (169.254.10.2 -> 169.254.10.1:8080). Prints each duration in ms.
# shellcheck disable=SC2154 # tern_bench_mib comes from the kernel command line
mib="${tern_bench_mib:-128}"
host=169.254.10.1
now() { cut -d' ' -f1 /proc/uptime; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
n=0
while [ ! -b /dev/vda ] && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
echo "TERN-GUEST bench_mib=$mib"
s=$(now); dd if=/dev/zero of=/dev/vda bs=1M count="$mib" oflag=direct 2>/dev/null || echo "TERN-GUEST bench_disk_write=failed"
e=$(now); echo "TERN-GUEST bench_disk_write_ms=$(ms "$s" "$e")"
s=$(now); dd if=/dev/vda of=/dev/null bs=1M count="$mib" iflag=direct 2>/dev/null || echo "TERN-GUEST bench_disk_read=failed"
e=$(now); echo "TERN-GUEST bench_disk_read_ms=$(ms "$s" "$e")"
ip link set eth0 up && ip addr add 169.254.10.2/16 dev eth0 || exit 1
n=0
until wget -q -O /dev/null "http://$host:8080/ready"; do
    n=$((n + 1)); [ "$n" -gt 120 ] && { echo "TERN-GUEST bench_net=unreachable"; exit 1; }; sleep 0.5
done
s=$(now); wget -q -O /dev/null "http://$host:8080/blob" || echo "TERN-GUEST bench_net=failed"
e=$(now); echo "TERN-GUEST bench_net_ms=$(ms "$s" "$e")"
echo "TERN-GUEST bench_net_mib=$(( $(wget -q -O - "http://$host:8080/blob.size") ))"
