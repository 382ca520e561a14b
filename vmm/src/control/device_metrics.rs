//! The virtio devices' series in `GET /metrics`: requests, bytes each way, errors and resets.

use std::fmt::Write as _;

use devices::virtio::counters::CounterSnapshot;

use crate::virtio_mmio::DeviceInfo;

/// One series: its name, help text, and per device its extra labels and value.
struct Series {
    name: &'static str,
    help: &'static str,
    samples: fn(kind: &str, c: &CounterSnapshot) -> Vec<(String, u64)>,
}

const SERIES: [Series; 4] = [
    Series {
        name: "tern_device_requests_total",
        help: "Requests a virtio device served (disk requests, network frames).",
        samples: |kind, c| vec![(format!(",kind=\"{kind}\""), c.requests)],
    },
    Series {
        name: "tern_device_bytes_total",
        help: "Bytes a virtio device moved: read = host to guest (disk reads, frames received), write = guest to host.",
        samples: |_, c| {
            vec![
                (",direction=\"read\"".into(), c.bytes_read),
                (",direction=\"write\"".into(), c.bytes_written),
            ]
        },
    },
    Series {
        name: "tern_device_errors_total",
        help: "Requests a virtio device answered with an error, or frames it dropped.",
        samples: |_, c| vec![(String::new(), c.errors)],
    },
    Series {
        name: "tern_device_resets_needed_total",
        help: "Times a virtio device set NEEDS_RESET after a malformed request from the guest.",
        samples: |_, c| vec![(String::new(), c.resets_needed)],
    },
];

/// Appends the devices' metrics to `text`.
pub fn render_devices(text: &mut String, devices: &[DeviceInfo]) {
    if devices.is_empty() {
        return;
    }
    let snapshots: Vec<_> = devices
        .iter()
        .map(|d| (d.name.as_str(), d.kind.name(), d.counters.snapshot()))
        .collect();
    for series in &SERIES {
        let name = series.name;
        let _ = writeln!(text, "# HELP {name} {}\n# TYPE {name} counter", series.help);
        for (device, kind, counters) in &snapshots {
            for (labels, value) in (series.samples)(kind, counters) {
                let _ = writeln!(text, "{name}{{device=\"{device}\"{labels}}} {value}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_has_one_line_per_device_and_label() {
        use std::sync::Arc;
        let counters = Arc::new(devices::virtio::DeviceCounters::default());
        counters.request();
        counters.read(4096);
        let device = DeviceInfo {
            name: "disk0".into(),
            kind: devices::virtio::DeviceKind::Block,
            backing: crate::virtio_mmio::Backing::Disk {
                path: "/img".into(),
                readonly: false,
            },
            guest_node: None,
            host_cpus: None,
            slot: crate::virtio_mmio::layout::slot(0).unwrap(),
            counters,
        };
        let mut text = String::new();
        render_devices(&mut text, &[device]);
        assert!(text.contains("tern_device_requests_total{device=\"disk0\",kind=\"block\"} 1\n"));
        assert!(
            text.contains("tern_device_bytes_total{device=\"disk0\",direction=\"read\"} 4096\n")
        );
        assert!(text.contains("tern_device_bytes_total{device=\"disk0\",direction=\"write\"} 0\n"));
        assert!(text.contains("tern_device_errors_total{device=\"disk0\"} 0\n"));
        assert_eq!(text.matches("# TYPE").count(), 4);
        let mut none = String::new();
        render_devices(&mut none, &[]);
        assert!(none.is_empty());
    }
}
