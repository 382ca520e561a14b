//! Sizes, durations, shares and missing values as people read them.

use std::fmt::Display;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A size in bytes, in the largest unit it reaches: `1 GiB`, `384 MiB`, `1.5 GiB` (one
/// decimal when not a whole number of units), `512 B`.
pub fn format_bytes(bytes: u64) -> String {
    let unit = [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")]
        .into_iter()
        .find(|(size, _)| bytes >= *size);
    match unit {
        Some((size, name)) if bytes.is_multiple_of(size) => format!("{} {name}", bytes / size),
        Some((size, name)) => format!("{:.1} {name}", bytes as f64 / size as f64),
        None => format!("{bytes} B"),
    }
}

/// A size in MiB, like [`format_bytes`].
pub fn format_mib(mib: u64) -> String {
    match mib.checked_mul(MIB) {
        Some(bytes) => format_bytes(bytes),
        None => format!("{mib} MiB"),
    }
}

/// A rate in bytes per second, in the largest unit it reaches, whole under 1 GiB/s:
/// `350 MiB/s`, `1.2 GiB/s`, `12 KiB/s`, `0 B/s`.
pub fn format_rate(bytes_per_s: f64) -> String {
    let rate = if bytes_per_s.is_finite() {
        bytes_per_s.max(0.0)
    } else {
        0.0
    };
    if rate >= GIB as f64 {
        return format!("{:.1} GiB/s", rate / GIB as f64);
    }
    let (size, name) = [(MIB, "MiB"), (KIB, "KiB")]
        .into_iter()
        .find(|(size, _)| rate >= *size as f64)
        .unwrap_or((1, "B"));
    format!("{:.0} {name}/s", rate / size as f64)
}

/// A rate given in MiB/s: whole when it is, else with one decimal: `256 MiB/s`, `0.5 MiB/s`.
pub fn format_mib_per_s(mib_per_s: f64) -> String {
    if mib_per_s.fract() == 0.0 {
        format!("{mib_per_s:.0} MiB/s")
    } else {
        format!("{mib_per_s:.1} MiB/s")
    }
}

/// A duration in milliseconds: `4.2s`, `3m 07s`, `2h 03m 07s`, `5d 02h 03m`.
pub fn format_uptime(ms: u64) -> String {
    let secs = ms / 1000;
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    if mins == 0 {
        format!("{secs}.{}s", (ms % 1000) / 100)
    } else if hours == 0 {
        format!("{mins}m {:02}s", secs % 60)
    } else if days == 0 {
        format!("{hours}h {:02}m {:02}s", mins % 60, secs % 60)
    } else {
        format!("{days}d {:02}h {:02}m", hours % 24, mins % 60)
    }
}

/// `part` of `whole` as a percentage with one decimal, `-` when `whole` is 0.
pub fn format_share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_string();
    }
    format_percent(part as f64 / whole as f64)
}

/// A fraction (0 to 1) as a percentage with one decimal: `83.3%`.
pub fn format_percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A value, or `-` when there is none.
pub fn or_dash<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_the_largest_exact_unit() {
        assert_eq!(format_bytes(GIB), "1 GiB");
        assert_eq!(format_bytes(0x1000_0000), "256 MiB");
        assert_eq!(format_bytes(3 * GIB / 2), "1.5 GiB");
        assert_eq!(format_bytes(2000 * 4096), "7.8 MiB");
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_bytes(1000), "1000 B");
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_mib(2048), "2 GiB");
        assert_eq!(format_mib(384), "384 MiB");
        assert_eq!(format_mib(3072), "3 GiB");
        assert_eq!(format_mib(u64::MAX), format!("{} MiB", u64::MAX));
    }

    #[test]
    fn rates_round_to_whole_units_below_a_gib_per_second() {
        assert_eq!(format_rate(350.4 * MIB as f64), "350 MiB/s");
        assert_eq!(format_rate(1.25 * GIB as f64), "1.2 GiB/s");
        assert_eq!(format_rate(12_500.0), "12 KiB/s");
        assert_eq!(format_rate(10.0), "10 B/s");
        assert_eq!(format_rate(0.0), "0 B/s");
        assert_eq!(format_rate(f64::NAN), "0 B/s");
        assert_eq!(format_mib_per_s(256.0), "256 MiB/s");
        assert_eq!(format_mib_per_s(0.5), "0.5 MiB/s");
    }

    #[test]
    fn uptimes_grow_units_as_they_grow() {
        assert_eq!(format_uptime(4_250), "4.2s");
        assert_eq!(format_uptime(0), "0.0s");
        assert_eq!(format_uptime(187_000), "3m 07s");
        assert_eq!(format_uptime(7_387_000), "2h 03m 07s");
        assert_eq!(format_uptime(439_380_000), "5d 02h 03m");
    }

    #[test]
    fn shares_and_missing_values() {
        assert_eq!(format_share(5, 6), "83.3%");
        assert_eq!(format_share(0, 6), "0.0%");
        assert_eq!(format_share(1, 0), "-");
        assert_eq!(format_percent(1.0), "100.0%");
        assert_eq!(or_dash(Some(3)), "3");
        assert_eq!(or_dash(None::<u32>), "-");
    }
}
