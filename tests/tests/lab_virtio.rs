#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! virtio devices in the lab, with Debian's cloud kernel (virtio modules loaded by the guest's
//! initramfs, devices found through ACPI): a guest boots from an ext4 disk (root=/dev/vda),
//! writes a file and powers off; a second boot reads it back, and a read-only second disk
//! refuses writes. A guest and L1 talk over a tap that tern creates: ping and a transfer
//! each way whose checksums match.

use tern_tests::paths::rootfs_image;
use tern_tests::sections::{section, SECTION_FN};
use tern_tests::{run_with_retries, LabOutput, LabSpec};

const CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off quiet";

/// Waits for tern to create the tap tern0, then gives L1 its link-local address.
const TAP_UP: &str = r#"n=0; while [ ! -e /sys/class/net/tern0 ] && [ $n -lt 100 ]; do n=$((n+1)); sleep 0.1; done
ip addr add 169.254.10.1/16 dev tern0 && ip link set tern0 up"#;

/// Waits (up to 3 min) for tern, `$pid`, to end, and prints its status.
const TERN_END: &str = r#"n=0; while kill -0 $pid 2>/dev/null; do n=$((n+1)); [ $n -gt 900 ] && kill -9 $pid; sleep 0.2; done
wait $pid; echo "TERN-EXIT status=$?""#;

/// `TERN-GUEST key=value` in the lines of section `name`.
fn guest_value<'a>(out: &'a LabOutput, name: &str, key: &str) -> Option<&'a str> {
    let prefix = format!("TERN-GUEST {key}=");
    section(out, name)?
        .0
        .into_iter()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix(prefix.as_str()))
}

fn section_status(out: &LabOutput, name: &str) -> i32 {
    section(out, name)
        .unwrap_or_else(|| panic!("no section {name}:\n{}", out.console))
        .1
}

#[test]
fn a_guest_boots_from_disk_and_finds_what_it_wrote() {
    let script = format!(
        r#"{SECTION_FN}
cp /images/rootfs.ext4 /tmp/root.img
dd if=/dev/zero of=/tmp/ro.img bs=1M count=1 2>/dev/null
section boot1 timeout 200 tern --kernel /images/bzImage --initramfs /images/guest.cpio \
    --disk path=/tmp/root.img --cmdline "{CMDLINE} root=/dev/vda tern_task=disk_write"
section boot2 timeout 200 tern --kernel /images/bzImage --initramfs /images/guest.cpio \
    --disk path=/tmp/root.img --disk path=/tmp/ro.img,readonly=on \
    --cmdline "{CMDLINE} root=/dev/vda tern_task=disk_read"
section ro-image-untouched sh -c 'cmp /tmp/ro.img /dev/zero 2>&1 | grep -c differ'
section missing timeout 30 tern --kernel /images/bzImage --disk path=/tmp/nope.img
exit 0
"#
    );
    let spec = LabSpec::new("virtio_disk", script)
        .requiring_tern()
        .with_timeout(std::time::Duration::from_secs(480))
        .carry_file(
            rootfs_image().expect("the root disk"),
            "/images/rootfs.ext4",
        );
    let out = run_with_retries(&spec).expect("the lab ran");
    assert_eq!(section_status(&out, "boot1"), 0, "{}", out.console);
    assert_eq!(section_status(&out, "boot2"), 0, "{}", out.console);
    assert_eq!(
        guest_value(&out, "boot1", "root_dev"),
        Some("/dev/vda"),
        "{}",
        out.console
    );
    let written = guest_value(&out, "boot1", "disk_md5").expect("first boot's checksum");
    assert_eq!(written.len(), 32);
    assert_eq!(guest_value(&out, "boot2", "root_dev"), Some("/dev/vda"));
    assert_eq!(guest_value(&out, "boot2", "disk_md5_saved"), Some(written));
    assert_eq!(
        guest_value(&out, "boot2", "disk_md5"),
        Some(written),
        "{}",
        out.console
    );
    assert_eq!(guest_value(&out, "boot2", "vdb_ro"), Some("1"));
    assert_eq!(guest_value(&out, "boot2", "vdb_write"), Some("refused"));
    assert_eq!(guest_value(&out, "boot2", "vdb_serial"), Some("ro.img"));
    let (lines, _) = section(&out, "ro-image-untouched").unwrap();
    assert_eq!(
        lines.first().map(|l| l.trim()),
        Some("0"),
        "the read-only image changed"
    );
    let (lines, status) = section(&out, "missing").unwrap();
    assert_eq!(status, 1);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tern: cannot open disk image /tmp/nope.img")),
        "{lines:?}"
    );
}

#[test]
fn a_guest_and_l1_exchange_traffic_over_a_tap() {
    let script = format!(
        r#"{SECTION_FN}
tern --kernel /images/bzImage --initramfs /images/guest.cpio --memory 256M \
    --net tap=tern0,mac=52:54:00:aa:bb:01 \
    --cmdline "{CMDLINE} tern_task=net tern_net_mib=8" </dev/null >/tmp/tern.out 2>&1 &
pid=$!
{TAP_UP}
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=64k count=128 2>/dev/null
echo "L1 blob_md5=$(md5sum /tmp/www/blob | cut -d' ' -f1)"
httpd -f -p 169.254.10.1:8080 -h /tmp/www &
httpd=$!
n=0; until wget -q -O /tmp/up http://169.254.10.2:8080/up 2>/dev/null; do
    n=$((n+1)); [ $n -gt 200 ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
echo "L1 up_md5=$(md5sum /tmp/up 2>/dev/null | cut -d' ' -f1)"
touch /tmp/www/done
{TERN_END}
kill $httpd
pid=
section guest cat /tmp/tern.out
exit 0
"#
    );
    let spec = LabSpec::new("virtio_net", script).requiring_tern();
    let out = run_with_retries(&spec).expect("the lab ran");
    assert_eq!(
        out.script_value("TERN-EXIT status="),
        Some("0"),
        "{}",
        out.console
    );
    assert_eq!(guest_value(&out, "guest", "mac"), Some("52:54:00:aa:bb:01"));
    assert_eq!(
        guest_value(&out, "guest", "ping"),
        Some("3"),
        "{}",
        out.console
    );
    let blob = out.script_value("L1 blob_md5=").expect("L1's checksum");
    assert_eq!(
        guest_value(&out, "guest", "down_md5"),
        Some(blob),
        "{}",
        out.console
    );
    let up = guest_value(&out, "guest", "up_md5").expect("the guest's checksum");
    assert_eq!(out.script_value("L1 up_md5="), Some(up), "{}", out.console);
    assert_eq!(guest_value(&out, "guest", "net"), Some("done"));
}

/// A guest on host node 0 does disk and network I/O in rounds (fresh random data written,
/// read back past the page cache, downloaded and checked) while its memory moves to host
/// node 1 and back through the API: every round checks out, and the devices' counters show
/// the traffic.
#[test]
fn a_live_move_under_disk_and_network_io_loses_nothing() {
    use tern_tests::sections::{json_section, WAIT_FNS};
    let script = format!(
        r#"{SECTION_FN}
sock=/tmp/api.sock
cp /images/rootfs.ext4 /tmp/root.img
tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 512M \
    --host-node 0 --api-sock $sock --disk path=/tmp/root.img,guest-node=0 --net tap=tern0,guest-node=0 \
    --cmdline "{CMDLINE} root=/dev/vda tern_task=io_loop tern_io_mib=4" </dev/null >/tmp/tern.out 2>&1 &
pid=$!
{WAIT_FNS}
{TAP_UP}
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=64k count=64 2>/dev/null
md5sum /tmp/www/blob > /tmp/www/blob.md5
httpd -f -p 169.254.10.1:8080 -h /tmp/www &
httpd=$!
wait_for "io_round=1 "
rounds() {{ grep -c "io_round=" /tmp/tern.out; }}
more() {{ c=$(rounds); n=0; while [ $(rounds) -lt $((c+$1)) ] && [ $n -lt 900 ] && kill -0 $pid 2>/dev/null; do n=$((n+1)); sleep 0.2; done; }}
section affinity sh -c 'for t in /proc/'$pid'/task/*; do c=$(cat $t/comm); case $c in virtio-*) echo "AFFINITY $c $(grep Cpus_allowed_list $t/status | cut -f2)";; esac; done; echo "NODE0 $(cat /sys/devices/system/node/node0/cpulist)"'
section move-1 ternctl --sock $sock --json rebalance --policy to-node --node 1
more 1
section placement-1 ternctl --sock $sock --json placement
section move-0 ternctl --sock $sock --json rebalance --policy to-node --node 0
more 2
section vm ternctl --sock $sock --json vm
section metrics sh -c "ternctl --sock $sock metrics | grep '^tern_device_'"
touch /tmp/www/stop
{TERN_END}
kill $httpd
pid=
section guest grep -E "TERN-GUEST|tern: " /tmp/tern.out
exit 0
"#
    );
    let spec = LabSpec::new("virtio_move", script)
        .requiring_tern()
        .with_node_mib(1024)
        .carry_file(
            rootfs_image().expect("the root disk"),
            "/images/rootfs.ext4",
        );
    let out = run_with_retries(&spec).expect("the lab ran");
    assert_eq!(
        out.script_value("TERN-EXIT status="),
        Some("0"),
        "{}",
        out.console
    );
    for (name, node) in [("move-1", 1), ("move-0", 0)] {
        let status = json_section(&out, name).unwrap_or_else(|| panic!("{name}: {}", out.console));
        assert_eq!(status["state"], "done", "{name}: {status}");
        assert!(
            status["pages_moved"].as_u64().unwrap() > 0,
            "{name}: {status}"
        );
        println!(
            "{name} to host node {node}: {} pages in {} ms",
            status["pages_moved"], status["elapsed_ms"]
        );
    }
    let placement = json_section(&out, "placement-1").expect("placement");
    let on_1: u64 = placement["guest_nodes"][0]["host_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["host_node"] == 1)
        .map(|h| h["pages"].as_u64().unwrap())
        .sum();
    assert!(on_1 > 0, "{placement}");
    let rounds: u64 = guest_value(&out, "guest", "io_rounds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(rounds >= 3, "{}", out.console);
    assert_eq!(
        guest_value(&out, "guest", "io_errors"),
        Some("0"),
        "{}",
        out.console
    );
    let vm = json_section(&out, "vm").expect("vm");
    let devices = vm["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2, "{vm}");
    assert_eq!(devices[0]["kind"], "block");
    assert_eq!(devices[0]["guest_node"], 0);
    assert_eq!(devices[1]["kind"], "net");
    assert!(
        devices[0]["bytes_written"].as_u64().unwrap() >= 4 << 20,
        "{vm}"
    );
    assert!(
        devices[1]["bytes_read"].as_u64().unwrap() >= 4 << 20,
        "{vm}"
    );
    assert_eq!(devices[0]["resets_needed"], 0);
    // Both workers run on the CPUs of guest node 0's host node (0).
    let (lines, _) = section(&out, "affinity").expect("affinity");
    let node0 = lines
        .iter()
        .find_map(|l| l.strip_prefix("NODE0 "))
        .expect("node 0's CPUs");
    for worker in ["virtio-disk0", "virtio-net0"] {
        let prefix = format!("AFFINITY {worker} ");
        let cpus = lines.iter().find_map(|l| l.strip_prefix(prefix.as_str()));
        assert_eq!(cpus, Some(node0), "{worker}: {lines:?}");
    }
    let (metrics, _) = section(&out, "metrics").expect("metrics");
    assert!(
        metrics.iter().any(|l| l
            .starts_with("tern_device_requests_total{vm=\"api\",device=\"disk0\",kind=\"block\"}")),
        "{metrics:?}"
    );
    assert!(
        metrics.iter().any(|l| l
            .starts_with("tern_device_bytes_total{vm=\"api\",device=\"net0\",direction=\"read\"}")),
        "{metrics:?}"
    );
}
