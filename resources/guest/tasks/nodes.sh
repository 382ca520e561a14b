# Prints the guest's NUMA nodes: one line per node with its CPUs and memory.
nodes=""
for n in /sys/devices/system/node/node[0-9]*; do
    [ -d "$n" ] && nodes="$nodes ${n##*/}"
done
echo "TERN-GUEST nodes=${nodes# }"
for n in /sys/devices/system/node/node[0-9]*; do
    [ -d "$n" ] || continue
    mem_kb="$(awk '/MemTotal:/ {print $4}' "$n/meminfo")"
    echo "TERN-GUEST node=${n##*/} cpulist=$(cat "$n/cpulist") memtotal_kb=$mem_kb distance=$(tr ' ' ',' < "$n/distance")"
done
