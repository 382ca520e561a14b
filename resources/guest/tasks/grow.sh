# shellcheck disable=SC2154 # tern_* variables come from the kernel command line
# Holds tern_mib MiB (default 64) on CPU 0 from the start, then after tern_grow_after seconds
# (default 30) takes tern_grow_mib MiB more (default 256), both checked by tern-workload
# until tern_seconds (default 90) after the start. The first workload's lines come prefixed
# "hold: ", the second's "grow: ". Prints "TERN-GUEST grow result=ok|fail".
hold_mib="${tern_mib:-64}"
grow_mib="${tern_grow_mib:-256}"
after="${tern_grow_after:-30}"
seconds="${tern_seconds:-90}"
echo "TERN-GUEST grow hold_mib=$hold_mib grow_mib=$grow_mib after=$after seconds=$seconds"
(tern-workload --mib "$hold_mib" --cpu 0 --seconds "$seconds" 2>&1; echo "$?" >/tmp/hold.status) |
    sed "s/^/hold: /" &
sleep "$after"
echo "TERN-GUEST grow start"
(tern-workload --mib "$grow_mib" --cpu 0 --seconds $((seconds - after)) 2>&1; echo "$?" >/tmp/grow.status) |
    sed "s/^/grow: /" &
wait
result=ok
[ "$(cat /tmp/hold.status 2>/dev/null)" = 0 ] || result=fail
[ "$(cat /tmp/grow.status 2>/dev/null)" = 0 ] || result=fail
echo "TERN-GUEST grow result=$result"
[ "$result" = ok ]
