//! `GET /metrics`: the VMM's series in Prometheus text format (the API adds its own).

use std::fmt::Write as _;

use api::model::VmState;

use super::VmControl;

fn header(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The VMM's metrics.
pub fn render(control: &VmControl) -> String {
    let mut text = String::new();
    header(
        &mut text,
        "tern_vm_uptime_seconds",
        "gauge",
        "Seconds since the VM started.",
    );
    let _ = writeln!(
        text,
        "tern_vm_uptime_seconds {:.3}",
        control.started.elapsed().as_secs_f64()
    );
    header(
        &mut text,
        "tern_vm_paused",
        "gauge",
        "1 while the VM is paused.",
    );
    let _ = writeln!(
        text,
        "tern_vm_paused {}",
        u8::from(control.state() == VmState::Paused)
    );
    header(&mut text, "tern_vcpus", "gauge", "Number of vCPUs.");
    let _ = writeln!(text, "tern_vcpus {}", control.plan.vcpus);
    header(
        &mut text,
        "tern_guest_memory_bytes",
        "gauge",
        "Guest memory size.",
    );
    let _ = writeln!(text, "tern_guest_memory_bytes {}", control.ram.size());

    header(
        &mut text,
        "tern_vcpu_exits_total",
        "counter",
        "VM exits tern handled, by vCPU and reason.",
    );
    for (id, vcpu) in control.vcpus.vcpus().iter().enumerate() {
        for (reason, count) in vcpu.exits.snapshot() {
            let _ = writeln!(
                text,
                "tern_vcpu_exits_total{{vcpu=\"{id}\",reason=\"{reason}\"}} {count}"
            );
        }
    }

    balancer_metrics(&mut text, control);
    super::console_metrics::render_console(&mut text, &control.console.stats());
    super::device_metrics::render_devices(&mut text, &control.devices);
    match control.guest_placement() {
        Ok(nodes) => {
            header(
                &mut text,
                "tern_guest_memory_resident_pages",
                "gauge",
                "Guest memory pages resident on each host node, per guest node (4 KiB pages; estimated from a sample beyond 1 GiB per region).",
            );
            for (guest, p) in &nodes {
                for (host, count) in &p.on_node {
                    let _ = writeln!(text, "tern_guest_memory_resident_pages{{guest_node=\"{guest}\",host_node=\"{host}\"}} {}", p.estimate(*count));
                }
            }
            header(
                &mut text,
                "tern_guest_memory_absent_pages",
                "gauge",
                "Guest memory pages not populated, per guest node.",
            );
            for (guest, p) in &nodes {
                let _ = writeln!(
                    text,
                    "tern_guest_memory_absent_pages{{guest_node=\"{guest}\"}} {}",
                    p.estimate(p.absent)
                );
            }
        }
        Err(err) => log::warn!("metrics without placement: {err}"),
    }
    text
}

fn balancer_metrics(text: &mut String, control: &VmControl) {
    let totals = control.balancer.totals();
    header(
        text,
        "tern_balancer_rebalances_total",
        "counter",
        "Rebalances started (by the API or automatic balancing).",
    );
    let _ = writeln!(text, "tern_balancer_rebalances_total {}", totals.started);
    header(
        text,
        "tern_balancer_pages_moved_total",
        "counter",
        "Guest pages the balancer moved to another host node (4 KiB pages).",
    );
    let _ = writeln!(
        text,
        "tern_balancer_pages_moved_total {}",
        totals.pages_moved
    );
    header(
        text,
        "tern_balancer_bytes_moved_total",
        "counter",
        "Bytes of guest memory the balancer moved.",
    );
    let _ = writeln!(
        text,
        "tern_balancer_bytes_moved_total {}",
        totals.bytes_moved
    );
    header(
        text,
        "tern_balancer_pages_failed_total",
        "counter",
        "Guest pages the balancer could not move, by reason.",
    );
    for (reason, count) in &totals.failed_by_reason {
        let _ = writeln!(
            text,
            "tern_balancer_pages_failed_total{{reason=\"{reason}\"}} {count}"
        );
    }
    let heat = control.balancer.heat_state();
    header(
        text,
        "tern_balancer_heat_sampling",
        "gauge",
        "1 while KVM dirty logging samples write heat.",
    );
    let _ = writeln!(
        text,
        "tern_balancer_heat_sampling {}",
        u8::from(heat.running)
    );
    header(
        text,
        "tern_balancer_heat_samples",
        "gauge",
        "Heat samples taken since sampling last started.",
    );
    let _ = writeln!(text, "tern_balancer_heat_samples {}", heat.samples);
    let auto = control.balancer.auto();
    header(
        text,
        "tern_balancer_auto_enabled",
        "gauge",
        "1 while automatic balancing is on.",
    );
    let _ = writeln!(
        text,
        "tern_balancer_auto_enabled {}",
        u8::from(auto.enabled)
    );
}
