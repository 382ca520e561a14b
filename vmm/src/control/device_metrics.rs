//! The virtio devices' series in `GET /metrics`: requests, bytes each way, errors and resets.

use std::fmt::Write as _;

use crate::virtio_mmio::DeviceInfo;

fn header(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends the devices' metrics to `text`.
pub fn render_devices(text: &mut String, devices: &[DeviceInfo]) {
    if devices.is_empty() {
        return;
    }
    let snapshots: Vec<_> = devices
        .iter()
        .map(|d| (d.name.as_str(), d.kind.name(), d.counters.snapshot()))
        .collect();
    header(
        text,
        "tern_device_requests_total",
        "counter",
        "Requests a virtio device served (disk requests, network frames).",
    );
    for (name, kind, s) in &snapshots {
        let _ = writeln!(
            text,
            "tern_device_requests_total{{device=\"{name}\",kind=\"{kind}\"}} {}",
            s.requests
        );
    }
    header(
        text,
        "tern_device_bytes_total",
        "counter",
        "Bytes a virtio device moved: read = host to guest (disk reads, frames received), write = guest to host.",
    );
    for (name, _, s) in &snapshots {
        let _ = writeln!(
            text,
            "tern_device_bytes_total{{device=\"{name}\",direction=\"read\"}} {}",
            s.bytes_read
        );
        let _ = writeln!(
            text,
            "tern_device_bytes_total{{device=\"{name}\",direction=\"write\"}} {}",
            s.bytes_written
        );
    }
    header(
        text,
        "tern_device_errors_total",
        "counter",
        "Requests a virtio device answered with an error, or frames it dropped.",
    );
    for (name, _, s) in &snapshots {
        let _ = writeln!(
            text,
            "tern_device_errors_total{{device=\"{name}\"}} {}",
            s.errors
        );
    }
    header(
        text,
        "tern_device_resets_needed_total",
        "counter",
        "Times a virtio device set NEEDS_RESET after a malformed request from the guest.",
    );
    for (name, _, s) in &snapshots {
        let _ = writeln!(
            text,
            "tern_device_resets_needed_total{{device=\"{name}\"}} {}",
            s.resets_needed
        );
    }
}
