//! tern's CPU time as `cpu_snap` prints it (see [`super::shell`]): the whole process and its
//! vCPU threads, in clock ticks. The difference of two snapshots splits the CPU tern used in
//! between into guest (vCPU threads) and tern's own work (balancer, sampler, API, devices).

use super::records::Record;

/// Clock ticks per second (USER_HZ; 100 on Linux x86).
pub const TICKS_PER_S: f64 = 100.0;

/// One snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSnap {
    /// All of tern's threads, exited ones included.
    pub total_ticks: u64,
    /// The vCPU threads.
    pub vcpu_ticks: u64,
}

impl CpuSnap {
    /// Reads the snapshot fields of a record.
    pub fn from_record(r: &Record) -> Option<Self> {
        Some(Self {
            total_ticks: r.get("total_ticks")?.parse().ok()?,
            vcpu_ticks: r.get("vcpu_ticks")?.parse().ok()?,
        })
    }

    /// CPU seconds from `self` to `later`: (tern's own threads, vCPU threads).
    pub fn until(&self, later: &CpuSnap) -> (f64, f64) {
        let vcpu = later.vcpu_ticks.saturating_sub(self.vcpu_ticks) as f64;
        let total = later.total_ticks.saturating_sub(self.total_ticks) as f64;
        ((total - vcpu).max(0.0) / TICKS_PER_S, vcpu / TICKS_PER_S)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cpu_time() {
        let a =
            CpuSnap::from_record(&Record::parse("REC cpu total_ticks=100 vcpu_ticks=80").unwrap())
                .unwrap();
        let b = CpuSnap {
            total_ticks: 400,
            vcpu_ticks: 230,
        };
        assert_eq!(a.until(&b), (1.5, 1.5));
        assert!(CpuSnap::from_record(&Record::parse("REC cpu total_ticks=x").unwrap()).is_none());
    }
}
