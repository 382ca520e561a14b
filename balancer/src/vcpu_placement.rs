//! vCPU placement: where a vCPU thread runs as the host sees it: the CPU it last ran on
//! (field 39 of `/proc/self/task/<tid>/stat`, a cheap read) and its affinity
//! (sched_getaffinity/sched_setaffinity).

use std::io;
use std::mem::MaybeUninit;

/// The host CPU thread `tid` of this process last ran on: field 39 of
/// `/proc/self/task/<tid>/stat`.
pub fn last_cpu(tid: i32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(36)?.parse().ok()
}

/// The CPUs thread `tid` may run on.
pub fn affinity(tid: i32) -> io::Result<Vec<u32>> {
    let mut set = MaybeUninit::<libc::cpu_set_t>::zeroed();
    // SAFETY: the kernel fills at most size_of::<cpu_set_t>() bytes of `set`, which is zeroed
    // (a valid empty set) beforehand.
    let ret = unsafe {
        libc::sched_getaffinity(
            tid,
            std::mem::size_of::<libc::cpu_set_t>(),
            set.as_mut_ptr(),
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised and then written by the kernel.
    let set = unsafe { set.assume_init() };
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads one bit of a valid set, for an index within its size.
        .filter(|cpu| unsafe { libc::CPU_ISSET(*cpu, &set) })
        .map(|cpu| cpu as u32)
        .collect())
}

/// Lets thread `tid` run only on `cpus`.
pub fn set_affinity(tid: i32, cpus: &[u32]) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu as usize >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: sets one bit of a valid set, for an index checked to be within its size.
        unsafe { libc::CPU_SET(cpu as usize, &mut set) };
    }
    // SAFETY: passes a valid set of its own size; the kernel only reads it.
    let ret = unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where each vCPU of `threads` runs now: its host node, from the CPU it last ran on.
pub fn locate_vcpus(
    threads: &[crate::guest::VcpuThread],
    host: &crate::topology::HostTopology,
) -> Vec<crate::policy::VcpuLocation> {
    threads
        .iter()
        .map(|t| crate::policy::VcpuLocation {
            vcpu: t.vcpu,
            guest_node: t.guest_node,
            host_node: (t.tid > 0)
                .then(|| last_cpu(t.tid))
                .flatten()
                .and_then(|cpu| host.node_of_cpu(cpu)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_runs_somewhere_it_may_and_can_be_pinned() {
        std::thread::spawn(|| {
            // SAFETY: gettid only returns the calling thread's id.
            let tid = unsafe { libc::gettid() };
            let allowed = affinity(tid).unwrap();
            assert!(!allowed.is_empty());
            set_affinity(tid, &allowed[..1]).unwrap();
            assert_eq!(affinity(tid).unwrap(), vec![allowed[0]]);
            std::thread::yield_now();
            assert_eq!(last_cpu(tid), Some(allowed[0]));
            assert!(set_affinity(tid, &[100_000]).is_err());
        })
        .join()
        .unwrap();
    }
}
