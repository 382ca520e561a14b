//! L1's /init: mounts the kernel file systems, inserts the kvm modules, prints the ready
//! marker, runs /lab/script.sh with every output line prefixed by [`SCRIPT_PREFIX`],
//! prints the exit marker with the script's status and powers L1 off.

/// The line L1 prints when the lab is set up (followed by ` uptime=<seconds>`).
pub const READY_MARKER: &str = "TERN-LAB-READY";
/// The line L1 prints after the script (followed by ` status=<n>`).
pub const EXIT_MARKER: &str = "TERN-LAB-EXIT";
/// The line L1 prints when it cannot set up the lab (followed by the reason).
pub const BROKEN_MARKER: &str = "TERN-LAB-BROKEN";
/// The line L1 prints every [`ALIVE_EVERY_S`] seconds while the script runs, so that a
/// console that falls silent means a frozen L1.
pub const ALIVE_MARKER: &str = "TERN-LAB-ALIVE";
/// Seconds between two [`ALIVE_MARKER`] lines.
pub const ALIVE_EVERY_S: u64 = 10;
/// Starts every line the script prints, so that the script's lines (and an L2 guest's
/// console that it passes on) are never taken for L1's own kernel messages.
pub const SCRIPT_PREFIX: &str = "| ";

/// Where the lab puts things in L1.
pub mod layout {
    /// The kvm modules and tun.
    pub const MODULES: &str = "/lib/modules/lab";
    /// The L2 kernel and initramfs: bzImage, vmlinux, guest.cpio.
    pub const IMAGES: &str = "/images";
    /// The test's script.
    pub const SCRIPT: &str = "/lab/script.sh";
    /// Carried binaries.
    pub const BIN: &str = "/usr/local/bin";
}

/// The text of L1's /init.
pub fn init_script() -> String {
    format!(
        r#"#!/bin/sh
# L1 init, written by tern-tests.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
export PATH={bin}:/bin:/sbin:/usr/bin:/usr/sbin
[ -t 1 ] || exec </dev/console >/dev/console 2>&1
mkdir -p /tmp /run /var/tmp
broken() {{
    echo "{broken} $*"
    poweroff -f
    exit 1
}}
insmod {modules}/irqbypass.ko || broken "insmod irqbypass.ko failed"
insmod {modules}/kvm.ko || broken "insmod kvm.ko failed"
insmod {modules}/kvm-amd.ko nested=1 || broken "insmod kvm-amd.ko failed"
[ -c /dev/kvm ] || broken "no /dev/kvm after loading kvm-amd"
insmod {modules}/tun.ko || broken "insmod tun.ko failed"
echo "{ready} uptime=$(cut -d' ' -f1 /proc/uptime)"
cd /lab
# If the script runs long, show where every tern thread waits and where its CPU time went
# (user, kernel, guest mode), twice, before the run's timeout.
watchdog() {{
    for p in $(pidof tern); do
        for t in /proc/$p/task/*; do
            echo "LAB-WATCHDOG tern $p $(cat $t/comm) state=$(cut -d' ' -f3 $t/stat) ticks_user_sys_guest=$(cut -d' ' -f14,15,43 $t/stat | tr ' ' ,) wchan=$(cat $t/wchan) stack=$(head -n 6 $t/stack 2>/dev/null | tr '\n' '|')"
        done
    done
}}
( sleep 100; watchdog; sleep 90; watchdog ) >/dev/console 2>&1 &
dog=$!
( while sleep {alive_every}; do echo "{alive}"; done ) >/dev/console 2>&1 &
alive=$!
{{ sh {script} </dev/null 2>&1; echo $? >/tmp/lab-status; }} | awk '{{ print "{prefix}" $0; fflush() }}'
kill $dog $alive 2>/dev/null
echo "{exit} status=$(cat /tmp/lab-status)"
poweroff -f
"#,
        bin = layout::BIN,
        broken = BROKEN_MARKER,
        modules = layout::MODULES,
        ready = READY_MARKER,
        script = layout::SCRIPT,
        prefix = SCRIPT_PREFIX,
        exit = EXIT_MARKER,
        alive = ALIVE_MARKER,
        alive_every = ALIVE_EVERY_S,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_has_the_markers_and_the_module_order() {
        let s = init_script();
        assert!(s.starts_with("#!/bin/sh\n"));
        let irq = s.find("irqbypass.ko ||").unwrap();
        let kvm = s.find("/kvm.ko ||").unwrap();
        let amd = s.find("kvm-amd.ko nested=1").unwrap();
        assert!(irq < kvm && kvm < amd);
        assert!(s.contains("echo \"TERN-LAB-READY uptime="));
        assert!(s.contains("echo \"TERN-LAB-EXIT status=$(cat /tmp/lab-status)\""));
        assert!(s.contains("print \"| \" $0; fflush()"));
        assert!(s.contains("while sleep 10; do echo \"TERN-LAB-ALIVE\"; done"));
    }
}
