//! Turning the modes script's records and heartbeats into figures, per mode and page size.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::script::{Mode, IDLE_WINDOW_S};
use super::PART;
use crate::bench::cpu::CpuSnap;
use crate::bench::error::BenchError;
use crate::bench::figure::{Figure, PartResult};
use crate::bench::heartbeat::{by_epoch, Beats};
use crate::bench::placement::HostPages;
use crate::bench::records::{facts, records, Record};
use crate::bench::stats::median;

const MIB: f64 = 1024.0 * 1024.0;
/// Share of the populated pages on the target that counts as "the hot pages are there".
const HOT_SHARE: f64 = 0.9;

/// One move's measurements.
#[derive(Clone, Debug, PartialEq)]
struct Move {
    n: i64,
    mode: Mode,
    /// `thp` or `4k`.
    kind: String,
    state: String,
    /// From the POST to the end, L1's clock (ternctl waited for the end).
    wall_ms: f64,
    /// The rebalance's own elapsed_ms.
    complete_ms: Option<f64>,
    hot90_ms: Option<f64>,
    rate_idle: Option<f64>,
    rate_moving: Option<f64>,
    /// From the move's start until its wake is over (`REC settled`), L1 ms, and the pass
    /// rate over that time.
    wake_ms: Option<f64>,
    rate_with_wake: Option<f64>,
    largest_gap_ms: Option<f64>,
    mover_cpu_s: Option<f64>,
    mib_moved: Option<f64>,
}

impl Move {
    fn ratio(&self) -> Option<f64> {
        Some(self.rate_moving? / self.rate_idle?)
    }

    /// Guest work lost during the move and its wake, in ms at the idle pass rate (during the
    /// move alone for a run without `REC settled`).
    fn work_lost_ms(&self) -> Option<f64> {
        match (self.wake_ms, self.rate_with_wake) {
            (Some(ms), Some(rate)) => Some((1.0 - rate / self.rate_idle?) * ms),
            _ => self.ratio().map(|r| (1.0 - r) * self.wall_ms),
        }
    }

    fn mib_per_s(&self) -> Option<f64> {
        Some(self.mib_moved? / (self.complete_ms? / 1000.0)).filter(|v| v.is_finite())
    }

    fn to_json(&self) -> Value {
        json!({
            "n": self.n, "mode": self.mode.name(), "kind": self.kind, "state": self.state,
            "wall_ms": self.wall_ms, "complete_ms": self.complete_ms, "hot90_ms": self.hot90_ms,
            "pass_rate_idle": self.rate_idle, "pass_rate_moving": self.rate_moving,
            "ratio": self.ratio(), "work_lost_ms": self.work_lost_ms(), "wake_ms": self.wake_ms,
            "largest_gap_ms": self.largest_gap_ms, "mover_cpu_s": self.mover_cpu_s,
            "mib_moved": self.mib_moved,
        })
    }
}

/// ms from `start` (L1 s) until a placement sample of move `n` shows [`HOT_SHARE`] of the
/// populated pages on `target`; the move's end if no sample did (a move that ended done
/// left its scope there).
fn hot90_ms(places: &[Record], n: i64, target: u64, start: f64, end: f64) -> f64 {
    places
        .iter()
        .filter(|p| p.int("n") == Some(n))
        .filter_map(|p| Some((p.num("at")?, HostPages::from_json(p.json.as_ref()?)?)))
        .find(|(_, pages)| {
            pages.populated() > 0
                && pages.on_node(target) as f64 >= HOT_SHARE * pages.populated() as f64
        })
        .map_or(end - start, |(at, _)| (at - start).max(0.0))
        * 1000.0
}

fn cpu_of(cpus: &[Record], n: i64, when: &str) -> Option<CpuSnap> {
    cpus.iter()
        .find(|r| r.int("n") == Some(n) && r.get("when") == Some(when))
        .and_then(CpuSnap::from_record)
}

/// Where the idle window of move `n` starts (L1 ms): its `REC steady` mark, or for a run
/// without one [`IDLE_WINDOW_S`] before the move.
fn idle_from_ms(steadies: &[Record], n: i64, start_ms: f64) -> f64 {
    steadies
        .iter()
        .find(|r| r.int("n") == Some(n))
        .and_then(|r| r.num("at"))
        .map(|at| at * 1000.0)
        .filter(|&at| at < start_ms)
        .unwrap_or(start_ms - f64::from(IDLE_WINDOW_S) * 1000.0)
}

/// When the wake of move `n` was over (L1 ms): its `REC settled` mark, if after `end_ms`.
fn settled_ms(settles: &[Record], n: i64, end_ms: f64) -> Option<f64> {
    settles
        .iter()
        .find(|r| r.int("n") == Some(n))
        .and_then(|r| r.num("at"))
        .map(|at| at * 1000.0)
        .filter(|&at| at >= end_ms)
}

/// What the script recorded besides the moves themselves.
struct Around<'a> {
    places: &'a [Record],
    cpus: &'a [Record],
    steadies: &'a [Record],
    settles: &'a [Record],
}

fn measure(m: &Record, beats: Option<&Beats>, around: &Around) -> Option<Move> {
    let Around {
        places,
        cpus,
        steadies,
        settles,
    } = around;
    let (n, a, b) = (m.int("n")?, m.num("start")?, m.num("end")?);
    let status = m.json.as_ref()?;
    let state = status["state"].as_str()?.to_string();
    let target = m.int("target")? as u64;
    let (a_ms, b_ms) = (a * 1000.0, b * 1000.0);
    let idle_from = idle_from_ms(steadies, n, a_ms);
    let settled = settled_ms(settles, n, b_ms);
    let mover_cpu_s = match (cpu_of(cpus, n, "before"), cpu_of(cpus, n, "after")) {
        (Some(before), Some(after)) => Some(before.until(&after).0),
        _ => None,
    };
    Some(Move {
        n,
        mode: Mode::from_name(m.get("mode")?)?,
        kind: m.get("kind")?.to_string(),
        complete_ms: (state == "done")
            .then(|| status["elapsed_ms"].as_f64())
            .flatten(),
        hot90_ms: (state == "done").then(|| hot90_ms(places, n, target, a, b)),
        state,
        wall_ms: b_ms - a_ms,
        rate_idle: beats.and_then(|x| x.pass_rate_l1(idle_from, a_ms)),
        rate_moving: beats.and_then(|x| x.pass_rate_l1(a_ms, b_ms)),
        wake_ms: settled.map(|s| s - a_ms),
        rate_with_wake: settled.and_then(|s| beats?.pass_rate_l1(a_ms, s)),
        largest_gap_ms: beats.and_then(|x| x.largest_gap_l1_ms(a_ms, b_ms)),
        mover_cpu_s,
        mib_moved: status["bytes_moved"].as_f64().map(|v| v / MIB),
    })
}

fn collect(list: &[&Move], f: impl Fn(&Move) -> Option<f64>) -> Vec<f64> {
    list.iter().filter_map(|m| f(m)).collect()
}

/// The figures of one modes run's output.
pub fn analyze(output: &str) -> Result<PartResult, BenchError> {
    let vms = by_epoch(output);
    let places = records(output.lines(), "place");
    let cpus = records(output.lines(), "cpu");
    let steadies = records(output.lines(), "steady");
    let settles = records(output.lines(), "settled");
    let around = Around {
        places: &places,
        cpus: &cpus,
        steadies: &steadies,
        settles: &settles,
    };
    let moves: Vec<Move> = records(output.lines(), "move")
        .iter()
        .filter_map(|m| measure(m, vms.get(&m.int("epoch").unwrap_or(1)), &around))
        .collect();
    if moves.is_empty() {
        return Err(BenchError::output(PART, "no move finished with a status"));
    }
    let mut result = PartResult::new(PART);
    let mut by: BTreeMap<(String, &'static str), Vec<&Move>> = BTreeMap::new();
    for m in &moves {
        by.entry((m.kind.clone(), m.mode.name()))
            .or_default()
            .push(m);
    }
    for kind in ["thp", "4k"] {
        let suffix = if kind == "thp" { "" } else { "_4k" };
        let pages = if kind == "thp" { "THP" } else { "4 KiB pages" };
        for mode in Mode::ALL {
            let Some(list) = by.get(&(kind.to_string(), mode.name())) else {
                continue;
            };
            let done: Vec<&Move> = list.iter().copied().filter(|m| m.state == "done").collect();
            let name = mode.name();
            let figures = [
                (
                    "complete_ms",
                    "time until the move is complete",
                    "ms",
                    collect(&done, |m| m.complete_ms),
                ),
                (
                    "hot90_ms",
                    "time until 90% of the guest's pages are on the target",
                    "ms",
                    collect(&done, |m| m.hot90_ms),
                ),
                (
                    "work_lost_ms",
                    "guest work lost during the move and its wake, ms at the idle rate",
                    "ms",
                    collect(list, Move::work_lost_ms),
                ),
                (
                    "largest_gap_ms",
                    "largest gap between two heartbeats of one vCPU",
                    "ms",
                    collect(list, |m| m.largest_gap_ms),
                ),
                (
                    "mover_cpu_s",
                    "CPU time of tern's own threads during the move",
                    "s",
                    collect(list, |m| m.mover_cpu_s),
                ),
                (
                    "ratio",
                    "guest pass rate during the move / idle",
                    "×",
                    collect(list, Move::ratio),
                ),
            ];
            for (metric, label, unit, samples) in figures {
                let key = format!("move_{name}{suffix}_{metric}");
                if metric != "mover_cpu_s" && metric != "ratio" {
                    result.headline(&key, median(&samples));
                }
                result.figure(Figure::new(
                    &format!("{PART}.{name}{suffix}_{metric}"),
                    format!("{name}, {pages}: {label}"),
                    unit,
                    samples,
                ));
            }
            if mode == Mode::Paced {
                result.headline(
                    &format!("guest_throughput_during_paced_move_ratio{suffix}"),
                    median(&collect(list, Move::ratio)),
                );
                let rates = collect(&done, Move::mib_per_s);
                result.headline(&format!("paced_move_mib_per_s{suffix}"), median(&rates));
                result.figure(Figure::new(
                    &format!("{PART}.paced{suffix}_mib_per_s"),
                    format!("paced, {pages}: move rate"),
                    "MiB/s",
                    rates,
                ));
            }
            let failed = list.len() - done.len();
            if failed > 0 {
                result.note(format!(
                    "{name} on {pages}: {failed} of {} moves did not end done: {}",
                    list.len(),
                    list.iter()
                        .filter(|m| m.state != "done")
                        .map(|m| format!("move {} {}", m.n, m.state))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    let errors: u64 = vms.values().map(Beats::errors).max().unwrap_or(0);
    result.headline("modes_bad_words", Some(errors as f64));
    result.detail(
        "moves",
        moves.iter().map(Move::to_json).collect::<Vec<_>>().into(),
    );
    result.detail("facts", facts(output.lines()));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(on0: u64, on1: u64) -> String {
        format!(
            r#"{{"page_size": 4096, "guest_nodes": [{{"id": 0, "host_nodes": [{{"host_node": 0, "pages": {on0}}}, {{"host_node": 1, "pages": {on1}}}], "absent": 0, "unknown": 0}}]}}"#
        )
    }

    /// Both CPUs' heartbeats at L1 times `times` (seconds), one pass each.
    fn beats(times: &[f64]) -> String {
        let mut out = String::new();
        for (pass, t) in times.iter().enumerate() {
            for cpu in 0..2 {
                out.push_str(&format!(
                    "HB @{t:.2} cpu{cpu}: HB pass={} uptime_ms={} pass_ms=500 errors=0\n",
                    pass + 1,
                    (t * 1000.0) as u64 - 1000
                ));
            }
        }
        out
    }

    #[test]
    fn figures_per_mode_and_page_size() {
        let mut out = String::new();
        out.push_str("REC cpu n=1 when=before at=20.00 total_ticks=1000 vcpu_ticks=800\n");
        out.push_str(&format!(
            "REC place n=1 at=20.20 :: {}\n",
            placement(800, 200)
        ));
        out.push_str(&format!(
            "REC place n=1 at=21.00 :: {}\n",
            placement(50, 950)
        ));
        out.push_str("REC cpu n=1 when=after at=22.00 total_ticks=1150 vcpu_ticks=850\n");
        out.push_str(r#"REC move n=1 mode=live kind=thp target=1 epoch=1 start=20.00 end=22.00 :: {"state": "done", "elapsed_ms": 1900, "bytes_moved": 1073741824}"#);
        out.push('\n');
        out.push_str(r#"REC move n=2 mode=paced kind=thp target=0 epoch=1 start=30.00 end=34.00 :: {"state": "done", "elapsed_ms": 4000, "bytes_moved": 419430400}"#);
        out.push('\n');
        // 2 passes/s per CPU before 20 s and after 22 s, 1/s between: half the work lost.
        let mut times: Vec<f64> = (0..=20).map(|i| 10.0 + f64::from(i) * 0.5).collect();
        times.extend([21.0, 22.0]);
        times.extend((1..=36).map(|i| 22.0 + f64::from(i) * 0.5));
        out.push_str(&beats(&times));
        let r = analyze(&out).unwrap();
        let head: BTreeMap<String, f64> = r.headline.iter().cloned().collect();
        assert_eq!(head["move_live_complete_ms"], 1900.0);
        assert!(
            (head["move_live_hot90_ms"] - 1000.0).abs() < 1e-6,
            "{head:?}"
        );
        assert!(
            (head["move_live_work_lost_ms"] - 1000.0).abs() < 1.0,
            "{head:?}"
        );
        assert!((head["move_live_largest_gap_ms"] - 1000.0).abs() < 1e-6);
        assert_eq!(head["paced_move_mib_per_s"], 100.0);
        assert!((head["guest_throughput_during_paced_move_ratio"] - 1.0).abs() < 1e-6);
        assert_eq!(head["modes_bad_words"], 0.0);
        // The mover used 1.5 s of CPU minus the vCPUs' 0.5 s.
        let cpu = r.find("modes.live_mover_cpu_s").unwrap();
        assert_eq!(cpu.samples, vec![1.0]);
        // A paced move without placement samples is hot when it ends.
        assert_eq!(
            r.find("modes.paced_hot90_ms").unwrap().samples,
            vec![4000.0]
        );
        assert!(!head.contains_key("move_live_4k_complete_ms"));
    }

    #[test]
    fn work_lost_counts_the_wake_until_the_settled_mark() {
        // 2 passes/s per CPU, but 1/s from 20 s to 24 s: the move ran 20-22 s, its wake
        // (refaults after a paused move's resume, say) 22-24 s.
        let mut out = String::new();
        out.push_str(r#"REC move n=1 mode=paused kind=4k target=1 epoch=1 start=20.00 end=22.00 :: {"state": "done", "elapsed_ms": 2000, "bytes_moved": 1048576}"#);
        out.push('\n');
        let mut times: Vec<f64> = (0..=20).map(|i| 10.0 + f64::from(i) * 0.5).collect();
        times.extend([21.0, 22.0, 23.0, 24.0]);
        times.extend((1..=12).map(|i| 24.0 + f64::from(i) * 0.5));
        out.push_str(&beats(&times));
        let lost = |extra: &str| {
            let r = analyze(&format!("{out}{extra}")).unwrap();
            r.find("modes.paused_4k_work_lost_ms").unwrap().samples[0]
        };
        // Without the mark only the move counts: half of 2 s.
        assert!((lost("") - 1000.0).abs() < 1.0, "{}", lost(""));
        // Settled at 25 s: from 20 s to 25 s the CPUs did 12 passes, 20 at the idle rate.
        assert!((lost("REC settled n=1 at=25.00\n") - 2000.0).abs() < 1.0);
        // A mark before the move's end is not one.
        assert!((lost("REC settled n=1 at=21.00\n") - 1000.0).abs() < 1.0);
    }

    #[test]
    fn the_idle_window_starts_at_the_steady_mark() {
        // One slow pass (the previous move's wake) until 16 s, then 1 pass/s per CPU; the
        // move from 20 s to 22 s runs at 1 pass/s too: nothing lost when the idle window
        // starts at the steady mark, half lost with a fixed window reaching into the slow
        // pass.
        let mut times = vec![6.0, 16.0];
        times.extend((17..=30).map(f64::from));
        let mut beats = String::new();
        for (pass, t) in times.iter().enumerate() {
            for cpu in 0..2 {
                beats.push_str(&format!(
                    "HB @{t:.2} cpu{cpu}: HB pass={} uptime_ms={} pass_ms=1000 errors=0\n",
                    pass + 1,
                    (t * 1000.0) as u64
                ));
            }
        }
        let mv = r#"REC move n=1 mode=live kind=4k target=1 epoch=1 start=20.00 end=22.00 :: {"state": "done", "elapsed_ms": 2000, "bytes_moved": 0}"#;
        let lost = |extra: &str| {
            let r = analyze(&format!("{extra}{mv}\n{beats}")).unwrap();
            r.find("modes.live_4k_work_lost_ms").unwrap().samples[0]
        };
        assert!(lost("REC steady n=1 at=16.00\n").abs() < 1e-6);
        assert!(lost("").abs() > 100.0);
        // A mark after the move's start is no idle window.
        assert!(lost("REC steady n=1 at=21.00\n").abs() > 100.0);
    }

    #[test]
    fn a_move_that_did_not_end_done_has_no_completion_and_is_noted() {
        let out = r#"REC move n=1 mode=lazy kind=4k target=1 epoch=1 start=5.00 end=6.00 :: {"state": "cancelled", "elapsed_ms": 900, "bytes_moved": 0}"#;
        let r = analyze(out).unwrap();
        assert!(r
            .find("modes.lazy_4k_complete_ms")
            .unwrap()
            .samples
            .is_empty());
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("1 of 1 moves did not end done")));
    }

    #[test]
    fn no_move_is_an_error() {
        assert!(analyze("REC fact kernel=6.1\n").is_err());
    }
}
