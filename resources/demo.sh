# The `make demo` script, run inside a 2-node lab (L1): tern boots Debian's cloud kernel
# with 2 vCPUs and 256 MiB; the guest prints a banner, its CPU count and memory, and powers
# off. The script's exit status is tern's.
echo "demo: L1 has $(ls -d /sys/devices/system/node/node[0-9]* | wc -l) NUMA nodes and $(nproc) CPUs; starting tern"
timeout -s KILL 120 tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 256M \
    --cmdline "console=ttyS0 reboot=k panic=1 pci=off quiet" </dev/null
status=$?
echo "demo: tern exited with status $status"
exit $status
