//! `ternctl vcpus` and `ternctl pin`.

use crate::model::VcpuInfo;
use crate::ternctl::idlist::format_id_list;
use crate::ternctl::table::Table;
use crate::ternctl::units::or_dash;

/// A thread id, or `-` for a vCPU whose thread has not started.
fn thread_cell(thread_id: i32) -> String {
    or_dash((thread_id > 0).then_some(thread_id))
}

/// One row per vCPU: guest node, thread, host CPU and node, affinity and where it came from
/// (`launch`, `pin` or `none`), exits.
pub fn render_vcpus(vcpus: &[VcpuInfo]) -> String {
    let mut table = Table::new(&[
        "VCPU",
        "GUEST NODE",
        "THREAD",
        "HOST CPU",
        "HOST NODE",
        "AFFINITY",
        "FROM",
        "EXITS",
    ])
    .align_right(&[7]);
    for vcpu in vcpus {
        table.row(vec![
            vcpu.id.to_string(),
            vcpu.guest_node.to_string(),
            thread_cell(vcpu.thread_id),
            or_dash(vcpu.host_cpu),
            or_dash(vcpu.host_node),
            format_id_list(&vcpu.affinity),
            vcpu.affinity_source.name().to_string(),
            vcpu.exits.to_string(),
        ]);
    }
    table.render()
}

/// One line: where the vCPU may run now (and the host node asked for, if one was).
pub fn render_pinned(vcpu: &VcpuInfo, host_node: Option<u32>) -> String {
    let node = host_node.map_or(String::new(), |n| format!(" (host node {n})"));
    format!(
        "vCPU {} pinned to host CPUs {}{node}\n",
        vcpu.id,
        format_id_list(&vcpu.affinity)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AffinitySource;

    fn vcpu(id: u32, thread_id: i32, host_cpu: Option<u32>, exits: u64) -> VcpuInfo {
        VcpuInfo {
            id,
            guest_node: id / 2,
            thread_id,
            host_cpu,
            host_node: host_cpu.map(|c| c / 4),
            affinity: vec![0, 1, 2, 3, 6],
            affinity_source: if id == 0 {
                AffinitySource::Launch
            } else {
                AffinitySource::None
            },
            exits,
        }
    }

    #[test]
    fn one_row_per_vcpu_with_exits_right_aligned() {
        let vcpus = [vcpu(0, 4242, Some(2), 123_456), vcpu(3, 0, None, 7)];
        assert_eq!(
            render_vcpus(&vcpus),
            "\
VCPU  GUEST NODE  THREAD  HOST CPU  HOST NODE  AFFINITY  FROM     EXITS
0     0           4242    2         0          0-3,6     launch  123456
3     1           -       -         -          0-3,6     none         7
"
        );
        assert_eq!(
            render_vcpus(&[]),
            "VCPU  GUEST NODE  THREAD  HOST CPU  HOST NODE  AFFINITY  FROM  EXITS\n"
        );
    }

    #[test]
    fn pinning_says_where_the_vcpu_may_run() {
        let mut pinned = vcpu(1, 77, Some(4), 0);
        pinned.affinity = vec![4, 5, 6, 7];
        assert_eq!(
            render_pinned(&pinned, Some(1)),
            "vCPU 1 pinned to host CPUs 4-7 (host node 1)\n"
        );
        pinned.affinity = vec![0, 1, 3];
        assert_eq!(
            render_pinned(&pinned, None),
            "vCPU 1 pinned to host CPUs 0-1,3\n"
        );
    }
}
