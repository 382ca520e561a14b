//! The serial console's series in `GET /metrics`: what the guest wrote, what reached tern's
//! output, and what was dropped and why (a full buffer, the rate or byte limit, the escape
//! filter, an output that failed).

use std::fmt::Write as _;

use devices::console::ConsoleStats;

/// Appends the console's metrics to `text`.
pub fn render_console(text: &mut String, stats: &ConsoleStats) {
    let _ = writeln!(
        text,
        "# HELP tern_console_bytes_total Bytes of the guest's serial output: written by the guest (from_guest) and written to tern's output (written).\n# TYPE tern_console_bytes_total counter"
    );
    for (kind, value) in [("from_guest", stats.from_guest), ("written", stats.written)] {
        let _ = writeln!(text, "tern_console_bytes_total{{kind=\"{kind}\"}} {value}");
    }
    let _ = writeln!(
        text,
        "# HELP tern_console_dropped_bytes_total Bytes of the guest's serial output tern dropped, by reason.\n# TYPE tern_console_dropped_bytes_total counter"
    );
    for (reason, value) in [
        ("buffer_full", stats.dropped_full),
        ("limit", stats.dropped_limit),
        ("filtered", stats.dropped_filtered),
        ("unwritten", stats.dropped_unwritten),
    ] {
        let _ = writeln!(
            text,
            "tern_console_dropped_bytes_total{{reason=\"{reason}\"}} {value}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_count_has_its_own_labelled_line() {
        let stats = ConsoleStats {
            from_guest: 100,
            written: 60,
            dropped_full: 30,
            dropped_limit: 10,
            dropped_filtered: 0,
            dropped_unwritten: 0,
        };
        let mut text = String::new();
        render_console(&mut text, &stats);
        assert!(text.contains("tern_console_bytes_total{kind=\"from_guest\"} 100\n"));
        assert!(text.contains("tern_console_bytes_total{kind=\"written\"} 60\n"));
        assert!(text.contains("tern_console_dropped_bytes_total{reason=\"buffer_full\"} 30\n"));
        assert!(text.contains("tern_console_dropped_bytes_total{reason=\"limit\"} 10\n"));
        assert_eq!(text.matches("# TYPE").count(), 2);
    }
}
