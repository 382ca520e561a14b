# shellcheck disable=SC2154 # tern_* variables come from the kernel command line
# Runs tern-workload on every CPU at once, each pinned to its CPU; its lines are prefixed
# with "cpuN: ". Environment (from the kernel command line): tern_mib (MiB per CPU,
# default 64), tern_seconds (default 10) or tern_passes.
# Prints "TERN-GUEST fill result=ok" (exit 0) or "result=fail" (exit 1).
mib="${tern_mib:-64}"
if [ -n "$tern_passes" ]; then
    stop="--passes $tern_passes"
else
    stop="--seconds ${tern_seconds:-10}"
fi
cpus="$(nproc)"
echo "TERN-GUEST fill cpus=$cpus mib_per_cpu=$mib $stop"
c=0
while [ "$c" -lt "$cpus" ]; do
    (
        # shellcheck disable=SC2086 # $stop is two words on purpose
        tern-workload --mib "$mib" --cpu "$c" $stop 2>&1
        echo "$?" > "/tmp/fill.$c.status"
    ) | sed "s/^/cpu$c: /" &
    c=$((c + 1))
done
wait
result=ok
c=0
while [ "$c" -lt "$cpus" ]; do
    status="$(cat "/tmp/fill.$c.status" 2>/dev/null)"
    [ "$status" = 0 ] || result=fail
    c=$((c + 1))
done
echo "TERN-GUEST fill result=$result"
[ "$result" = ok ]
