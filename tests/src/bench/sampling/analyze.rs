//! Turning the sampling script's records and heartbeats into figures.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::script::{Mode, VMS, WINDOW_S};
use super::PART;
use crate::bench::cpu::CpuSnap;
use crate::bench::error::BenchError;
use crate::bench::figure::{Figure, PartResult};
use crate::bench::heartbeat::{by_epoch, Beats};
use crate::bench::records::{facts, records, Record};
use crate::bench::stats::{median, median_ci95};

/// One window: each VM's pass rate, and whether sampling was as asked.
#[derive(Clone, Debug, PartialEq)]
struct Window {
    round: i64,
    mode: Mode,
    /// The VM that sampled (or would have, in a null window).
    on: String,
    /// Pass rate per VM, in VMS order.
    rates: [Option<f64>; 2],
    /// CPUs used by the sampling VM's tern, beyond its vCPU.
    tern_cpus: Option<f64>,
    as_asked: bool,
}

impl Window {
    /// The sampling VM's rate over the other's.
    fn ratio(&self) -> Option<f64> {
        let (on, off) = if self.on == VMS[0].0 {
            (self.rates[0]?, self.rates[1]?)
        } else {
            (self.rates[1]?, self.rates[0]?)
        };
        (off > 0.0).then(|| on / off)
    }
}

/// Whether the heat answers of both VMs after a window show the mode was in force: the
/// sampling VM at the mode's interval, the other off.
fn as_asked(heats: &[Record], w: &Record, mode: Mode, on: &str) -> bool {
    VMS.iter().all(|(vm, _)| {
        let Some(h) = heats
            .iter()
            .find(|h| {
                h.int("round") == w.int("round")
                    && h.get("mode") == w.get("mode")
                    && h.get("on") == Some(on)
                    && h.get("vm") == Some(vm)
            })
            .and_then(|h| h.json.as_ref())
        else {
            return false;
        };
        match mode.interval_ms().filter(|_| *vm == on) {
            None => h["sampling"] == false,
            Some(ms) => h["sampling"] == true && h["interval_ms"].as_u64() == Some(ms),
        }
    })
}

fn cpu_of(cpus: &[Record], w: &Record, when: &str) -> Option<CpuSnap> {
    cpus.iter()
        .find(|r| {
            r.int("round") == w.int("round")
                && r.get("mode") == w.get("mode")
                && r.get("on") == w.get("on")
                && r.get("when") == Some(when)
        })
        .and_then(CpuSnap::from_record)
}

fn windows(output: &str, beats: &[Beats; 2]) -> Vec<Window> {
    let cpus = records(output.lines(), "cpu");
    let heats = records(output.lines(), "heat");
    records(output.lines(), "window")
        .iter()
        .filter_map(|w| {
            let mode = Mode::from_name(w.get("mode")?)?;
            let on = w.get("on")?.to_string();
            let (a, b) = (w.num("start")? * 1000.0, w.num("end")? * 1000.0);
            let tern_cpus = match (cpu_of(&cpus, w, "before"), cpu_of(&cpus, w, "after")) {
                (Some(x), Some(y)) => Some(x.until(&y).0 / ((b - a) / 1000.0)),
                _ => None,
            };
            Some(Window {
                round: w.int("round")?,
                as_asked: as_asked(&heats, w, mode, &on),
                rates: [beats[0].pass_rate_l1(a, b), beats[1].pass_rate_l1(a, b)],
                tern_cpus,
                mode,
                on,
            })
        })
        .collect()
}

/// Per round, the crosswise slowdown of `mode` in %: one minus the geometric mean of the
/// two windows' ratios (each VM sampling once).
fn crosswise(windows: &[Window], mode: Mode) -> Vec<f64> {
    let mut by_round: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for w in windows.iter().filter(|w| w.mode == mode && w.as_asked) {
        if let Some(r) = w.ratio() {
            by_round.entry(w.round).or_default().push(r);
        }
    }
    by_round
        .values()
        .filter(|r| r.len() == 2)
        .map(|r| (1.0 - (r[0] * r[1]).sqrt()) * 100.0)
        .collect()
}

/// The figures of one sampling run's output.
pub fn analyze(output: &str) -> Result<PartResult, BenchError> {
    let vms = by_epoch(output);
    let beats = [
        vms.get(&1).cloned().unwrap_or_default(),
        vms.get(&2).cloned().unwrap_or_default(),
    ];
    if beats.iter().any(Beats::is_empty) {
        return Err(BenchError::output(PART, "a VM sent no heartbeats"));
    }
    let windows = windows(output, &beats);
    let (one, ten, null) = (
        crosswise(&windows, Mode::OneHz),
        crosswise(&windows, Mode::TenHz),
        crosswise(&windows, Mode::Null),
    );
    if one.is_empty() {
        return Err(BenchError::output(
            PART,
            format!("no round had both 1 Hz windows ({} windows)", windows.len()),
        ));
    }
    let mut result = PartResult::new(PART);
    let key = |k: &str| format!("{PART}.{k}");
    result.figure(Figure::new(
        &key("overhead_1hz_pct"),
        "guest write workload slowdown with heat sampling at 1 Hz (crosswise per round)",
        "%",
        one.clone(),
    ));
    result.figure(Figure::new(
        &key("overhead_10hz_pct"),
        "the same at 10 Hz",
        "%",
        ten.clone(),
    ));
    result.figure(Figure::new(
        &key("null_pct"),
        "the same with neither VM sampling (the measurement's own spread)",
        "%",
        null.clone(),
    ));
    for mode in Mode::ALL {
        let of_mode: Vec<&Window> = windows
            .iter()
            .filter(|w| w.mode == mode && w.as_asked)
            .collect();
        result.figure(Figure::new(
            &key(&format!("pass_rate_{}", mode.name())),
            format!("guest pass rate of the sampling VM, {}", mode.name()),
            "HB/s",
            of_mode
                .iter()
                .filter_map(|w| w.rates[usize::from(w.on != VMS[0].0)])
                .collect(),
        ));
        result.figure(Figure::new(
            &key(&format!("tern_cpus_{}", mode.name())),
            format!("CPU used by the sampling VM's tern, {}", mode.name()),
            "CPUs",
            of_mode.iter().filter_map(|w| w.tern_cpus).collect(),
        ));
    }
    for (headline, samples) in [
        ("dirty_sampling_overhead_pct", &one),
        ("dirty_sampling_overhead_10hz_pct", &ten),
    ] {
        let m = median(samples);
        result.headline(headline, m);
        let Some(m) = m else { continue };
        match median_ci95(samples) {
            Some((lo, hi)) => {
                let half = (m - lo).max(hi - m);
                result.headline(&format!("{headline}_ci95"), Some(half));
                result.detail(&format!("{headline}_ci95"), json!([lo, hi]));
                let verdict = if half <= 0.5 { "within" } else { "wider than" };
                result.note(format!(
                    "{headline}: median {m:.2} points, 95% interval of the median {lo:.2} to \
                     {hi:.2} ({} rounds; {verdict} the +/-0.5 points asked for)",
                    samples.len()
                ));
            }
            None => result.note(format!(
                "{headline}: {} rounds are too few for a 95% interval of the median (6 or more)",
                samples.len()
            )),
        }
    }
    if let (Some(m), Some((lo, hi))) = (median(&null), median_ci95(&null)) {
        result.note(format!(
            "null rounds (neither VM sampling): median {m:.2} points, 95% interval {lo:.2} to \
             {hi:.2}: what the lab's noise alone gives"
        ));
    }
    let skipped = windows.iter().filter(|w| !w.as_asked).count();
    if skipped > 0 {
        result.note(format!(
            "{skipped} window(s) did not count: the heat state did not match the mode"
        ));
    }
    for death in records(output.lines(), "vm_died") {
        result.note(format!(
            "VM {} died at L1 uptime {} s: measuring ended there (its last console lines are \
             in the notes above or the console log)",
            death.get("vm").unwrap_or("?"),
            death.get("at").unwrap_or("?")
        ));
    }
    let errors = beats.iter().map(Beats::errors).max().unwrap_or(0);
    if errors > 0 {
        result.note(format!("THE GUEST WORKLOAD FOUND {errors} BAD WORDS"));
    }
    result.detail(
        "windows",
        windows
            .iter()
            .map(window_json)
            .collect::<Vec<Value>>()
            .into(),
    );
    result.detail("window_s", json!(WINDOW_S));
    result.detail("workload_errors", json!(errors));
    result.detail("lab", facts(output.lines()));
    Ok(result)
}

fn window_json(w: &Window) -> Value {
    json!({"round": w.round, "mode": w.mode.name(), "on": w.on, "pass_rates": w.rates,
           "tern_cpus": w.tern_cpus, "sampling_as_asked": w.as_asked})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::shell::rotated;

    /// VM a runs 4 passes/s and VM b 2 (a constant difference), each slowed by `cost` (a
    /// fraction) while it samples at 1 Hz and twice that at 10 Hz.
    fn output(rounds: i64, cost: f64) -> String {
        let mut s = String::new();
        let mut spans: Vec<(String, f64, f64, f64)> = Vec::new();
        let mut t = 20.0;
        for round in 1..=rounds {
            for mode in rotated(&Mode::ALL, round as usize - 1) {
                for (on, _) in VMS {
                    s += &format!(
                        "REC window round={round} mode={} on={on} start={t:.2} end={:.2}\n",
                        mode.name(),
                        t + 5.0
                    );
                    for (vm, _) in VMS {
                        let heat = match mode.interval_ms().filter(|_| vm == on) {
                            Some(ms) => format!("{{\"sampling\":true,\"interval_ms\":{ms}}}"),
                            None => "{\"sampling\":false}".to_string(),
                        };
                        s += &format!(
                            "REC heat round={round} mode={} on={on} vm={vm} :: {heat}\n",
                            mode.name()
                        );
                    }
                    let slow = match mode {
                        Mode::OneHz => cost,
                        Mode::TenHz => 2.0 * cost,
                        Mode::Null => 0.0,
                    };
                    spans.push((on.to_string(), t - 0.5, t + 5.5, slow));
                    t += 6.0;
                }
            }
        }
        for (n, (vm, _)) in VMS.iter().enumerate() {
            s += &format!("REC epoch n={}\n", n + 1);
            let base = if n == 0 { 4.0 } else { 2.0 };
            let (mut x, mut pass) = (10.0f64, 1u64);
            while x < t + 5.0 {
                s += &format!(
                    "HB @{x:.4} cpu0: HB pass={pass} uptime_ms={} pass_ms=1 errors=0\n",
                    ((x - 5.0) * 1000.0).round() as u64
                );
                let slow = spans
                    .iter()
                    .find(|sp| sp.0 == *vm && x >= sp.1 && x < sp.2)
                    .map_or(0.0, |sp| sp.3);
                x += 1.0 / (base * (1.0 - slow));
                pass += 1;
            }
        }
        s
    }

    #[test]
    fn the_crosswise_figure_cancels_the_vms_own_difference() {
        let r = analyze(&output(6, 0.05)).unwrap();
        let one = r.find("sampling.overhead_1hz_pct").unwrap();
        assert_eq!(one.samples.len(), 6);
        assert!(
            (one.median().unwrap() - 5.0).abs() < 0.3,
            "{:?}",
            one.samples
        );
        let ten = r
            .find("sampling.overhead_10hz_pct")
            .unwrap()
            .median()
            .unwrap();
        assert!((ten - 10.0).abs() < 0.3, "{ten}");
        let null = r.find("sampling.null_pct").unwrap().median().unwrap();
        assert!(null.abs() < 0.3, "{null}");
        let head: BTreeMap<_, _> = r.headline.iter().cloned().collect();
        assert!(head["dirty_sampling_overhead_pct_ci95"] < 0.5, "{head:?}");
        assert!(r.notes.iter().any(|n| n.contains("(6 rounds; within")));
    }

    #[test]
    fn windows_whose_mode_did_not_take_are_left_out() {
        let out = output(6, 0.05).replace(
            "vm=a :: {\"sampling\":true,\"interval_ms\":1000}",
            "vm=a :: {\"sampling\":false}",
        );
        assert!(analyze(&out).is_err());
        let r = analyze(&output(3, 0.0)).unwrap();
        assert!(r.notes.iter().any(|n| n.contains("3 rounds are too few")));
    }
}
