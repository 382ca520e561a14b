# The `make demo` script, run inside a 2-node lab (L1). tern boots Debian's cloud kernel from
# an ext4 disk (root=/dev/vda) with a virtio-net device on a tap it creates, two guest NUMA
# nodes each bound to its own host node with its vCPU pinned there. L1 pings the guest and
# fetches a page it serves; ternctl shows where the memory and the vCPUs sit, then pins vCPU 1
# to host node 0 and lets the memory follow it, live, and shows it again. The script's exit
# status is tern's.
echo "demo: L1 has $(ls -d /sys/devices/system/node/node[0-9]* | wc -l) NUMA nodes and $(nproc) CPUs"
cp /images/rootfs.ext4 /tmp/root.img
sock=/tmp/tern.sock
export TERN_API_SOCK=$sock
tern --kernel /images/bzImage --initramfs /images/guest.cpio --api-sock $sock \
    --numa node=0,vcpus=0,memory=256M,host-node=0 \
    --numa node=1,vcpus=1,memory=256M,host-node=1 \
    --disk path=/tmp/root.img,guest-node=0 \
    --net tap=tern0,mac=52:54:00:de:00:01,guest-node=0 \
    --cmdline "console=ttyS0 reboot=k panic=1 pci=off quiet root=/dev/vda tern_task=demo" </dev/null &
pid=$!
n=0; while [ ! -e /sys/class/net/tern0 ] && [ $n -lt 300 ]; do n=$((n+1)); sleep 0.1; done
ip addr add 169.254.10.1/16 dev tern0 && ip link set tern0 up
mkdir -p /tmp/www
n=0; until wget -q -O /tmp/demo.txt http://169.254.10.2:8080/demo.txt 2>/dev/null; do
    n=$((n+1)); [ $n -gt 240 ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
echo "demo: L1 fetched from the guest over virtio-net: $(cat /tmp/demo.txt 2>/dev/null || echo nothing)"
echo "demo: L1 pings the guest: $(ping -c 3 -W 2 169.254.10.2 | grep -c 'bytes from') of 3 replies"
# Each vCPU thread's allowed CPUs, read from the host side.
affinity() {
    for t in /proc/$pid/task/*; do
        case "$(cat $t/comm)" in vcpu*) echo "demo: host side: $(cat $t/comm) may run on CPUs $(awk '/Cpus_allowed_list/ {print $2}' $t/status)" ;; esac
    done
}
echo "demo: ---- ternctl vcpus (pinned at launch to their guest node's host node) ----"
ternctl vcpus
affinity
echo "demo: ---- ternctl placement (each guest node's memory on its host node) ----"
ternctl placement
echo "demo: ---- ternctl pin 1 --node 0, then rebalance --policy follow-vcpus (live) ----"
ternctl pin 1 --node 0
affinity
ternctl rebalance --policy follow-vcpus
echo "demo: the move ended with status $?"
echo "demo: ---- ternctl placement after the move ----"
ternctl placement
touch /tmp/www/done
httpd -f -p 8080 -h /tmp/www &
httpd=$!
n=0; while kill -0 $pid 2>/dev/null; do n=$((n+1)); [ $n -gt 600 ] && kill -9 $pid; sleep 0.2; done
wait $pid
status=$?
kill $httpd
echo "demo: tern exited with status $status"
exit $status
