//! What heat sampling (KVM dirty logging) costs the guest: the `fill` workload's pass rate
//! in windows of equal length with sampling off, at 1 Hz and at 10 Hz, alternating in
//! rotated order, five rounds or more, all on one VM in one lab run. The drop is paired per
//! round (each sampling window against the off window of the same round).

use std::time::Duration;

use serde_json::json;

use super::cpu::CpuSnap;
use super::error::BenchError;
use super::figure::{Figure, PartResult};
use super::heartbeat::{by_epoch, Beats};
use super::lab;
use super::records::{facts, records, Record};
use super::shell::{prelude, rotated};
use super::stats::{median, median_ci95};

/// The part's name.
pub const PART: &str = "sampling";
/// Rounds (pairs of each sampling mode with an off window) at least: 12 give a 95% interval
/// of the median between the 3rd and the 10th of the sorted pairs.
pub const MIN_PAIRS: usize = 12;
/// Seconds per measured window.
pub const WINDOW_S: u32 = 10;
/// Seconds between switching the mode and opening the window.
pub const SETTLE_S: u32 = 2;
/// The modes: name, `ternctl heat` arguments, sampling interval (ms). `logged` keeps dirty
/// logging on but samples (and re-arms pages) only once in 10 minutes: what logging costs by
/// itself, apart from the write faults of the pages each sample re-arms.
pub const MODES: [(&str, &str, Option<u64>); 4] = [
    ("off", "--disable", None),
    ("1hz", "--enable --interval-ms 1000", Some(1000)),
    ("10hz", "--enable --interval-ms 100", Some(100)),
    ("logged", "--enable --interval-ms 600000", Some(600_000)),
];
/// The modes' names in reports.
const MODE_WORDS: [(&str, &str); 4] = [
    ("off", "off"),
    ("1hz", "1 Hz"),
    ("10hz", "10 Hz"),
    ("logged", "logging on, no re-arming"),
];

/// The script: the guest's workload runs throughout; each round visits every mode.
pub fn script(rounds: usize) -> String {
    let mut s = prelude();
    s.push_str(&format!(
        r#"facts
launch() {{
    start_tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 1G \
        --host-node 0 --host-cpus any --prefault --api-sock $sock \
        --cmdline "$GUEST_CMDLINE tern_task=fill tern_mib=256 tern_seconds=100000"
    await_ready "cpu1: HB pass=2" || {{ ensure_vm; return; }}
    now t; echo "REC ready epoch=$vm_epoch at=$t"
    sleep 3
}}
launch
window() {{
    ensure_vm
    ternctl --sock $sock heat --disable >/dev/null 2>&1
    [ "$3" = "--disable" ] || ternctl --sock $sock heat $3 $4 $5 >/dev/null 2>&1
    sleep {SETTLE_S}
    c0=$(cpu_snap); now a
    sleep {WINDOW_S}
    now b; c1=$(cpu_snap)
    echo "REC window round=$1 mode=$2 epoch=$vm_epoch start=$a end=$b"
    echo "REC cpu round=$1 mode=$2 when=before $c0"
    echo "REC cpu round=$1 mode=$2 when=after $c1"
    echo "REC heat round=$1 mode=$2 :: $(ctl heat)"
}}
"#
    ));
    for round in 1..=rounds {
        for (name, args, _) in rotated(&MODES, round - 1) {
            s.push_str(&format!("window {round} {name} {args}\n"));
        }
    }
    // The last window's pass rate needs heartbeats after its end.
    s.push_str("ternctl --sock $sock heat --disable >/dev/null 2>&1\nsleep 3\nfinish_vm\nexit 0\n");
    s
}

/// One window's measurements.
#[derive(Clone, Debug, PartialEq)]
struct Window {
    round: i64,
    mode: String,
    rate: Option<f64>,
    tern_cpus: Option<f64>,
    vcpu_cpus: Option<f64>,
    sampling_ok: bool,
}

fn cpu_of(cpus: &[Record], round: i64, mode: &str, when: &str) -> Option<CpuSnap> {
    cpus.iter()
        .find(|r| {
            r.int("round") == Some(round)
                && r.get("mode") == Some(mode)
                && r.get("when") == Some(when)
        })
        .and_then(CpuSnap::from_record)
}

/// Whether the heat answer after a window shows the mode was in force.
fn sampling_matches(heat: Option<&serde_json::Value>, mode: &str) -> bool {
    let Some(want) = MODES.iter().find(|m| m.0 == mode) else {
        return false;
    };
    let Some(h) = heat else {
        return false;
    };
    match want.2 {
        None => h["sampling"] == false,
        Some(ms) => h["sampling"] == true && h["interval_ms"].as_u64() == Some(ms),
    }
}

/// The figures of one sampling run's output.
pub fn analyze(output: &str) -> Result<PartResult, BenchError> {
    let vms = by_epoch(output);
    if vms.values().all(Beats::is_empty) {
        return Err(BenchError::output(PART, "the guest sent no heartbeats"));
    }
    let cpus = records(output.lines(), "cpu");
    let heats = records(output.lines(), "heat");
    let windows: Vec<Window> = records(output.lines(), "window")
        .iter()
        .filter_map(|w| {
            let (round, mode) = (w.int("round")?, w.get("mode")?.to_string());
            let (a, b) = (w.num("start")?, w.num("end")?);
            let beats = vms.get(&w.int("epoch").unwrap_or(1))?;
            let offset = beats.clock_offset_ms()?;
            let cpu = match (
                cpu_of(&cpus, round, &mode, "before"),
                cpu_of(&cpus, round, &mode, "after"),
            ) {
                (Some(x), Some(y)) => Some(x.until(&y)),
                _ => None,
            };
            let heat = heats
                .iter()
                .find(|h| h.int("round") == Some(round) && h.get("mode") == Some(mode.as_str()))
                .and_then(|h| h.json.as_ref());
            Some(Window {
                round,
                sampling_ok: sampling_matches(heat, &mode),
                rate: beats.pass_rate(a * 1000.0 - offset, b * 1000.0 - offset),
                tern_cpus: cpu.map(|c| c.0 / (b - a)),
                vcpu_cpus: cpu.map(|c| c.1 / (b - a)),
                mode,
            })
        })
        .collect();
    let valid: Vec<&Window> = windows.iter().filter(|w| w.sampling_ok).collect();
    let of_mode = |mode: &str, f: &dyn Fn(&Window) -> Option<f64>| -> Vec<f64> {
        valid
            .iter()
            .filter(|w| w.mode == mode)
            .filter_map(|w| f(w))
            .collect()
    };
    let drops = |mode: &str| -> Vec<f64> {
        valid
            .iter()
            .filter(|w| w.mode == mode)
            .filter_map(|w| {
                let off = valid
                    .iter()
                    .find(|o| o.mode == "off" && o.round == w.round)?;
                Some((1.0 - w.rate? / off.rate?) * 100.0)
            })
            .collect()
    };
    let (drop1, drop10) = (drops("1hz"), drops("10hz"));
    if drop1.is_empty() {
        return Err(BenchError::output(
            PART,
            format!(
                "no 1 Hz window could be paired with an off window ({} windows)",
                windows.len()
            ),
        ));
    }
    let mut result = PartResult::new(PART);
    let key = |k: &str| format!("{PART}.{k}");
    result.figure(Figure::new(
        &key("overhead_1hz_pct"),
        "guest write workload slowdown with heat sampling at 1 Hz (paired with sampling off)",
        "%",
        drop1.clone(),
    ));
    result.figure(Figure::new(
        &key("overhead_10hz_pct"),
        "the same at 10 Hz",
        "%",
        drop10.clone(),
    ));
    result.figure(Figure::new(
        &key("overhead_logging_only_pct"),
        "the same with dirty logging on but no page re-armed after the first interval",
        "%",
        drops("logged"),
    ));
    for (mode, words) in MODE_WORDS {
        result.figure(Figure::new(
            &key(&format!("pass_rate_{mode}")),
            format!("guest workload pass rate, sampling {words}"),
            "HB/s",
            of_mode(mode, &|w| w.rate),
        ));
    }
    for (mode, words) in MODE_WORDS {
        result.figure(Figure::new(
            &key(&format!("tern_cpus_{mode}")),
            format!("CPU used by tern's own threads, sampling {words}"),
            "CPUs",
            of_mode(mode, &|w| w.tern_cpus),
        ));
    }
    let (m1, m10) = (median(&drop1), median(&drop10));
    result.headline("dirty_sampling_overhead_pct", m1);
    result.headline("dirty_sampling_overhead_10hz_pct", m10);
    for (key, drops, m) in [
        ("dirty_sampling_overhead_pct", &drop1, m1),
        ("dirty_sampling_overhead_10hz_pct", &drop10, m10),
    ] {
        let Some(m) = m else { continue };
        match median_ci95(drops) {
            Some((lo, hi)) => {
                let half = (m - lo).max(hi - m);
                result.headline(&format!("{key}_ci95"), Some(half));
                result.detail(&format!("{key}_ci95"), json!([lo, hi]));
                let verdict = if half <= 0.5 { "within" } else { "wider than" };
                result.note(format!(
                    "{key}: median {m:.2} points, 95% interval of the median {lo:.2} to {hi:.2} \
                     ({} pairs; {verdict} the +/-0.5 points asked for)",
                    drops.len()
                ));
            }
            None => result.note(format!(
                "{key}: {} pairs are too few for a 95% interval of the median (6 or more)",
                drops.len()
            )),
        }
    }
    if let Some(d) = m1.filter(|d| *d > 1.0) {
        let cpu = median(&of_mode("1hz", &|w| w.tern_cpus))
            .zip(median(&of_mode("off", &|w| w.tern_cpus)))
            .map_or(String::new(), |(on, off)| {
                format!(" tern's own threads used only {on:.3} CPUs with sampling at 1 Hz ({off:.3} with it off).")
            });
        let why = match median(&drops("logged")) {
            Some(l) if l >= d * 0.6 => format!(
                " With dirty logging on but nothing re-armed the guest lost {l:.1}%: most of the \
                 cost is running with logging on at all (KVM maps logged memory with 4 KiB pages \
                 instead of huge ones, and in this lab nested paging is emulated by TCG, which \
                 makes the extra TLB misses dear), not the write faults of the watched pages."
            ),
            Some(l) => format!(
                " With dirty logging on but nothing re-armed the guest lost {l:.1}%; the rest is \
                 the write faults of the pages each sample watches (one per 2 MiB chunk)."
            ),
            None => String::new(),
        };
        result.note(format!(
            "Heat sampling at 1 Hz costs the guest's write workload {d:.1}% (10 Hz: {:.1}%).{cpu}{why}",
            m10.unwrap_or(f64::NAN)
        ));
    }
    let skipped = windows.len() - valid.len();
    if skipped > 0 {
        result.note(format!(
            "{skipped} sampling window(s) did not count: the heat state did not match the mode"
        ));
    }
    let silent = valid.iter().filter(|w| w.rate.is_none()).count();
    if silent > 0 {
        result.note(format!(
            "{silent} window(s) had too few heartbeats around them to measure a pass rate and \
             are left out (a guest that stopped making progress shows here too: see the console)"
        ));
    }
    let errors: u64 = vms.values().map(Beats::errors).sum();
    if errors > 0 {
        result.note(format!("THE GUEST WORKLOAD FOUND {errors} BAD WORDS"));
    }
    lab::note_vm_deaths(&mut result, output);
    result.detail(
        "windows",
        windows
            .iter()
            .map(|w| json!({"round": w.round, "mode": w.mode, "pass_rate": w.rate, "tern_cpus": w.tern_cpus, "vcpu_cpus": w.vcpu_cpus, "sampling_as_asked": w.sampling_ok}))
            .collect(),
    );
    result.detail("window_s", json!(WINDOW_S));
    result.detail(
        "heartbeats",
        json!(vms.values().map(Beats::len).sum::<usize>()),
    );
    result.detail("workload_errors", json!(errors));
    result.detail("lab", facts(output.lines()));
    Ok(result)
}

/// Runs the part.
pub fn run(rounds: usize) -> Result<PartResult, BenchError> {
    let rounds = rounds.max(MIN_PAIRS);
    let spec = lab::spec(
        "bench-sampling",
        script(rounds),
        Duration::from_secs(60 * (4 + rounds as u64)),
    );
    lab::run_and_analyze(PART, &spec, analyze).map(|(result, _)| result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steady 4 passes/s (2 CPUs), but 3.8 in 1 Hz windows and 3 in 10 Hz ones.
    fn output(rounds: i64) -> String {
        let mut s = String::new();
        let mut windows = Vec::new();
        let mut t = 20.0;
        for round in 1..=rounds {
            for (mode, args, _) in rotated(&MODES, round as usize - 1) {
                let _ = args;
                windows.push((round, mode, t, t + 10.0));
                let (ms, on) = match mode {
                    "off" => ("", "false"),
                    "1hz" => (",\"interval_ms\":1000", "true"),
                    "logged" => (",\"interval_ms\":600000", "true"),
                    _ => (",\"interval_ms\":100", "true"),
                };
                s += &format!(
                    "REC window round={round} mode={mode} start={t:.2} end={:.2}\n",
                    t + 10.0
                );
                s += &format!(
                    "REC cpu round={round} mode={mode} when=before total_ticks=0 vcpu_ticks=0\n"
                );
                s += &format!("REC cpu round={round} mode={mode} when=after total_ticks=1000 vcpu_ticks=900\n");
                s += &format!("REC heat round={round} mode={mode} :: {{\"sampling\":{on}{ms}}}\n");
                t += 12.0;
            }
        }
        for cpu in 0..2 {
            let (mut x, mut pass) = (10.0f64, 1u64);
            while x < t + 5.0 {
                s += &format!(
                    "HB @{x:.3} cpu{cpu}: HB pass={pass} uptime_ms={} pass_ms=1 errors=0\n",
                    ((x - 5.0) * 1000.0).round() as u64
                );
                let mode = windows
                    .iter()
                    .find(|w| x >= w.2 - 1.0 && x < w.3 + 1.0)
                    .map_or("off", |w| w.1);
                x += match mode {
                    "1hz" => 1.0 / 1.9,
                    "10hz" => 1.0 / 1.5,
                    _ => 0.5,
                };
                pass += 1;
            }
        }
        s
    }

    #[test]
    fn pairs_each_sampling_window_with_the_off_window_of_its_round() {
        let r = analyze(&output(3)).unwrap();
        let d1 = r.find("sampling.overhead_1hz_pct").unwrap();
        assert_eq!(d1.samples.len(), 3);
        assert!((d1.median().unwrap() - 5.0).abs() < 0.5, "{:?}", d1.samples);
        let d10 = r
            .find("sampling.overhead_10hz_pct")
            .unwrap()
            .median()
            .unwrap();
        assert!((d10 - 25.0).abs() < 0.5, "{d10}");
        assert_eq!(
            r.find("sampling.tern_cpus_off").unwrap().median(),
            Some(0.1)
        );
        assert_eq!(r.headline[0].0, "dirty_sampling_overhead_pct");
        assert!(r.notes.iter().any(|n| n.contains("1 Hz costs")));
        assert!(r.notes.iter().any(|n| n.contains("3 pairs are too few")));
        assert!(!r.headline.iter().any(|(k, _)| k.ends_with("_ci95")));
    }

    #[test]
    fn six_pairs_or_more_give_the_medians_interval() {
        let r = analyze(&output(6)).unwrap();
        let head: std::collections::BTreeMap<_, _> = r.headline.iter().cloned().collect();
        let half = head["dirty_sampling_overhead_pct_ci95"];
        assert!((0.0..0.5).contains(&half), "{head:?}");
        assert!(head.contains_key("dirty_sampling_overhead_10hz_pct_ci95"));
        assert!(
            r.notes.iter().any(|n| n.contains("(6 pairs; within")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn windows_whose_mode_did_not_take_are_left_out() {
        let out = output(3).replace(
            "{\"sampling\":true,\"interval_ms\":1000}",
            "{\"sampling\":false}",
        );
        assert!(analyze(&out).is_err());
        assert_eq!(script(5).matches("\nwindow ").count(), 5 * MODES.len());
    }
}
