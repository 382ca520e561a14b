//! `ternctl vm` and the actions' one-line answers.

use super::join_sections;
use crate::model::{Action, DeviceKind, DeviceSummary, GuestNodeSummary, VmInfo, VmState};
use crate::ternctl::idlist::format_id_list;
use crate::ternctl::table::Table;
use crate::ternctl::units::{format_mib, format_uptime, or_dash};

/// The state as the API spells it.
pub fn state_name(state: VmState) -> &'static str {
    match state {
        VmState::Running => "running",
        VmState::Paused => "paused",
        VmState::ShuttingDown => "shutting-down",
    }
}

/// Guest nodes: vCPUs, memory, the host node it is tied to and the policy.
pub fn guest_nodes_table(nodes: &[GuestNodeSummary]) -> Table {
    let mut table = Table::new(&["GUEST NODE", "VCPUS", "MEMORY", "HOST NODE", "POLICY"]);
    for node in nodes {
        table.row(vec![
            node.id.to_string(),
            format_id_list(&node.vcpus),
            format_mib(node.memory_mib),
            or_dash(node.host_node),
            node.policy.clone(),
        ]);
    }
    table
}

/// Virtio devices: what they are attached to, their guest node and what they moved.
pub fn devices_table(devices: &[DeviceSummary]) -> Table {
    let mut table = Table::new(&[
        "DEVICE",
        "KIND",
        "ON",
        "MODE",
        "GUEST NODE",
        "REQUESTS",
        "READ",
        "WRITTEN",
        "ERRORS",
    ]);
    for d in devices {
        let (kind, on, mode) = match d.kind {
            DeviceKind::Block => (
                "block",
                d.path.clone().unwrap_or_default(),
                if d.read_only { "ro" } else { "rw" }.to_string(),
            ),
            DeviceKind::Net => (
                "net",
                d.tap.clone().unwrap_or_default(),
                d.mac.clone().unwrap_or_default(),
            ),
        };
        table.row(vec![
            d.name.clone(),
            kind.to_string(),
            on,
            mode,
            or_dash(d.guest_node),
            d.requests.to_string(),
            format_mib(d.bytes_read >> 20),
            format_mib(d.bytes_written >> 20),
            d.errors.to_string(),
        ]);
    }
    table
}

/// The VM: `key  value` lines (its name first, when it has one), then its guest nodes and devices.
pub fn render_vm(vm: &VmInfo) -> String {
    let mut summary = Table::untitled();
    if !vm.name.is_empty() {
        summary.row(vec!["name".to_string(), vm.name.clone()]);
    }
    for (key, value) in [
        ("state", state_name(vm.state).to_string()),
        ("vCPUs", vm.vcpus.to_string()),
        ("memory", format_mib(vm.memory_mib)),
        ("uptime", format_uptime(vm.uptime_ms)),
    ] {
        summary.row(vec![key.to_string(), value]);
    }
    let nodes = guest_nodes_table(&vm.guest_nodes);
    let nodes = if nodes.is_empty() {
        String::new()
    } else {
        nodes.render()
    };
    let devices = devices_table(&vm.devices);
    let devices = if devices.is_empty() {
        String::new()
    } else {
        devices.render()
    };
    join_sections(&[summary.render(), nodes, devices])
}

/// One line saying what an action did, e.g. `VM paused`, and the state the VM reports if
/// it is not the one the action leads to.
pub fn render_action_done(action: Action, vm: &VmInfo) -> String {
    let (done, expected) = match action {
        Action::Pause => ("VM paused", VmState::Paused),
        Action::Resume => ("VM resumed", VmState::Running),
        Action::Shutdown => ("VM shutting down", VmState::ShuttingDown),
    };
    if vm.state == expected {
        format!("{done}\n")
    } else {
        format!("{done} (it reports {})\n", state_name(vm.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_node_vm(state: VmState) -> VmInfo {
        let node =
            |id: u32, vcpus: Vec<u32>, host_node: Option<u32>, policy: &str| GuestNodeSummary {
                id,
                vcpus,
                memory_mib: 1024,
                host_node,
                policy: policy.into(),
            };
        VmInfo {
            name: "web-1".into(),
            state,
            vcpus: 4,
            memory_mib: 2048,
            guest_nodes: vec![
                node(0, vec![0, 1], Some(0), "bind"),
                node(1, vec![2, 3], None, "default"),
            ],
            uptime_ms: 3_723_000,
            devices: Vec::new(),
        }
    }

    #[test]
    fn devices_follow_the_guest_nodes() {
        let device = |name: &str, kind| DeviceSummary {
            name: name.into(),
            kind,
            path: (kind == DeviceKind::Block).then(|| "/img/root.ext4".into()),
            tap: (kind == DeviceKind::Net).then(|| "tap0".into()),
            mac: (kind == DeviceKind::Net).then(|| "52:54:00:7e:00:00".into()),
            read_only: false,
            guest_node: (kind == DeviceKind::Block).then_some(1),
            mmio_base: 0xd000_0000,
            irq: 5,
            requests: 12,
            bytes_read: 3 << 20,
            bytes_written: 1 << 20,
            errors: 0,
            resets_needed: 0,
        };
        let mut vm = two_node_vm(VmState::Running);
        vm.devices = vec![
            device("disk0", DeviceKind::Block),
            device("net0", DeviceKind::Net),
        ];
        let text = render_vm(&vm);
        let table = &text[text.find("DEVICE").unwrap()..];
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            words(lines[1])[..5],
            ["disk0", "block", "/img/root.ext4", "rw", "1"]
        );
        assert_eq!(
            words(lines[2])[..5],
            ["net0", "net", "tap0", "52:54:00:7e:00:00", "-"]
        );
        assert!(!render_vm(&two_node_vm(VmState::Running)).contains("DEVICE"));
    }

    #[test]
    fn the_vm_is_a_summary_then_its_guest_nodes() {
        assert_eq!(
            render_vm(&two_node_vm(VmState::Running)),
            "\
name    web-1
state   running
vCPUs   4
memory  2 GiB
uptime  1h 02m 03s

GUEST NODE  VCPUS  MEMORY  HOST NODE  POLICY
0           0-1    1 GiB   0          bind
1           2-3    1 GiB   -          default
"
        );
    }

    #[test]
    fn a_vm_without_guest_nodes_is_just_the_summary() {
        let mut vm = two_node_vm(VmState::ShuttingDown);
        vm.guest_nodes.clear();
        vm.uptime_ms = 1500;
        vm.name.clear();
        assert_eq!(
            render_vm(&vm),
            "state   shutting-down\nvCPUs   4\nmemory  2 GiB\nuptime  1.5s\n"
        );
    }

    #[test]
    fn actions_answer_in_one_line() {
        let vm = two_node_vm;
        assert_eq!(
            render_action_done(Action::Pause, &vm(VmState::Paused)),
            "VM paused\n"
        );
        assert_eq!(
            render_action_done(Action::Resume, &vm(VmState::Running)),
            "VM resumed\n"
        );
        assert_eq!(
            render_action_done(Action::Shutdown, &vm(VmState::ShuttingDown)),
            "VM shutting down\n"
        );
        assert_eq!(
            render_action_done(Action::Resume, &vm(VmState::Paused)),
            "VM resumed (it reports paused)\n"
        );
    }
}
