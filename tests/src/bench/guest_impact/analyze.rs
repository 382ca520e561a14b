//! Turning the guest-impact script's records and heartbeats into figures and the plot.

use serde_json::{json, Value};

use super::{CAPPED_MIB_S, PART};
use crate::bench::cpu::CpuSnap;
use crate::bench::error::BenchError;
use crate::bench::figure::{Figure, PartResult};
use crate::bench::heartbeat::{by_epoch, Beats};
use crate::bench::lab;
use crate::bench::placement::HostPages;
use crate::bench::records::{facts, records, Record};
use crate::bench::stats::median;
use crate::bench::svg::{PlacementPlot, PlotPoint};

const MIB: f64 = 1024.0 * 1024.0;
/// Quiet time kept between the move back and the start of an idle window, in s.
const SETTLE_S: f64 = 0.5;

/// One round's measurements.
#[derive(Clone, Debug, Default, PartialEq)]
struct Round {
    round: i64,
    /// Moved at most [`CAPPED_MIB_S`] MiB/s.
    capped: bool,
    move_s: f64,
    idle_s: f64,
    rate_idle: Option<f64>,
    rate_moving: Option<f64>,
    gap_idle: Option<f64>,
    gap_moving: Option<f64>,
    mib_s: Option<f64>,
    gib_moved: Option<f64>,
    tern_cpus_moving: Option<f64>,
    vcpu_cpus_moving: Option<f64>,
    vcpu_cpus_quiet: Option<f64>,
}

impl Round {
    fn ratio(&self) -> Option<f64> {
        Some(self.rate_moving? / self.rate_idle?)
    }

    /// Seconds of idle-rate guest work the move cost per GiB it moved.
    fn lost_s_per_gib(&self) -> Option<f64> {
        let gib = self.gib_moved?;
        (gib > 0.0).then(|| self.ratio().map(|r| (1.0 - r) * self.move_s / gib))?
    }

    /// The pass-rate ratio per CPU the vCPU threads got: what the move cost the guest beyond
    /// the CPU time the mover took from it.
    fn per_vcpu_cpu_ratio(&self) -> Option<f64> {
        let cpu = self.vcpu_cpus_moving? / self.vcpu_cpus_quiet?;
        (cpu > 0.0).then(|| self.ratio().map(|r| r / cpu)).flatten()
    }

    fn to_json(&self) -> Value {
        json!({
            "round": self.round, "capped": self.capped, "move_s": self.move_s, "idle_window_s": self.idle_s,
            "pass_rate_idle": self.rate_idle, "pass_rate_moving": self.rate_moving,
            "ratio": self.ratio(), "per_vcpu_cpu_ratio": self.per_vcpu_cpu_ratio(),
            "lost_s_per_gib": self.lost_s_per_gib(),
            "largest_gap_idle_ms": self.gap_idle,
            "largest_gap_moving_ms": self.gap_moving, "move_mib_s": self.mib_s,
            "tern_cpus_moving": self.tern_cpus_moving, "vcpu_cpus_moving": self.vcpu_cpus_moving,
            "vcpu_cpus_quiet": self.vcpu_cpus_quiet,
        })
    }
}

fn cpu_of(cpus: &[Record], round: i64, when: &str) -> Option<(f64, CpuSnap)> {
    let r = cpus
        .iter()
        .rev()
        .find(|r| r.int("round") == Some(round) && r.get("when") == Some(when))?;
    Some((r.num("at")?, CpuSnap::from_record(r)?))
}

fn moved_mib_s(r: &Record) -> Option<f64> {
    let s = r.json.as_ref()?;
    if s["state"].as_str()? != "done" {
        return None;
    }
    Some(s["bytes_moved"].as_f64()? / MIB / (s["elapsed_ms"].as_f64()? / 1000.0))
}

fn collect(list: &[Round], f: impl Fn(&Round) -> Option<f64>) -> Vec<f64> {
    list.iter().filter_map(f).collect()
}

/// The figures of one guest-impact run's output.
pub fn analyze(output: &str) -> Result<PartResult, BenchError> {
    let vms = by_epoch(output);
    if vms.values().all(Beats::is_empty) {
        return Err(BenchError::output(PART, "the guest sent no heartbeats"));
    }
    let readies = records(output.lines(), "ready");
    let ready_of = |epoch: i64| {
        readies
            .iter()
            .find(|r| r.int("epoch").unwrap_or(1) == epoch)
            .and_then(|r| r.num("at"))
            .unwrap_or(0.0)
    };
    let backs = records(output.lines(), "back");
    let cpus = records(output.lines(), "cpu");
    let mut epoch = 1;
    let mut quiet_since = ready_of(1);
    let mut rounds = Vec::new();
    let mut shortened = 0;
    for m in records(output.lines(), "move") {
        let (Some(round), Some(a), Some(b)) = (m.int("round"), m.num("start"), m.num("end")) else {
            continue;
        };
        let this_epoch = m.int("epoch").unwrap_or(1);
        if this_epoch != epoch {
            epoch = this_epoch;
            quiet_since = ready_of(epoch);
        }
        let Some((beats, offset)) = vms
            .get(&epoch)
            .and_then(|b| Some((b, b.clock_offset_ms()?)))
        else {
            continue;
        };
        let guest = |l1_s: f64| l1_s * 1000.0 - offset;
        let move_s = b - a;
        let idle_from = (a - move_s).max(quiet_since + SETTLE_S);
        if idle_from > a - move_s + 0.01 {
            shortened += 1;
        }
        let mut r = Round {
            round,
            capped: m.get("kind") == Some("capped"),
            move_s,
            idle_s: a - idle_from,
            rate_idle: beats.pass_rate(guest(idle_from), guest(a)),
            rate_moving: beats.pass_rate(guest(a), guest(b)),
            gap_idle: beats.largest_gap_ms(guest(idle_from), guest(a)),
            gap_moving: beats.largest_gap_ms(guest(a), guest(b)),
            mib_s: moved_mib_s(&m),
            gib_moved: m
                .json
                .as_ref()
                .and_then(|s| s["bytes_moved"].as_f64())
                .map(|b| b / MIB / 1024.0),
            ..Round::default()
        };
        if let (Some((t0, before)), Some((t1, after))) = (
            cpu_of(&cpus, round, "before"),
            cpu_of(&cpus, round, "after"),
        ) {
            let (own, vcpu) = before.until(&after);
            r.tern_cpus_moving = Some(own / (t1 - t0).max(0.01));
            r.vcpu_cpus_moving = Some(vcpu / (t1 - t0).max(0.01));
        }
        if let (Some((t0, quiet)), Some((t1, before))) = (
            cpu_of(&cpus, round, "quiet"),
            cpu_of(&cpus, round, "before"),
        ) {
            r.vcpu_cpus_quiet = Some(quiet.until(&before).1 / (t1 - t0).max(0.01));
        }
        if let Some(end) = backs
            .iter()
            .find(|x| x.int("round") == Some(round))
            .and_then(|x| x.num("end"))
        {
            quiet_since = end;
        }
        rounds.push(r);
    }
    let (capped, rounds): (Vec<Round>, Vec<Round>) = rounds.into_iter().partition(|r| r.capped);
    let ratios = collect(&rounds, Round::ratio);
    if ratios.is_empty() {
        return Err(BenchError::output(
            PART,
            format!(
                "no move could be compared with an idle window ({} moves)",
                rounds.len()
            ),
        ));
    }
    let mut result = PartResult::new(PART);
    let fig = |key: &str, label: &str, unit: &str, samples| {
        Figure::new(&format!("{PART}.{key}"), label, unit, samples)
    };
    result.figure(fig(
        "pass_rate_ratio",
        "guest workload pass rate during a full Tern move / just before",
        "×",
        ratios.clone(),
    ));
    let per_cpu = collect(&rounds, Round::per_vcpu_cpu_ratio);
    result.figure(fig(
        "pass_rate_per_vcpu_cpu_ratio",
        "the same per CPU second the vCPU threads got (the cost of the move beyond the CPU it took)",
        "×",
        per_cpu.clone(),
    ));
    result.figure(fig(
        "lost_s_per_gib",
        "guest work the move cost: seconds at the idle pass rate, per GiB moved",
        "s/GiB",
        collect(&rounds, Round::lost_s_per_gib),
    ));
    result.figure(fig(
        "pass_rate_idle",
        "guest workload pass rate, idle (before the move)",
        "HB/s",
        collect(&rounds, |r| r.rate_idle),
    ));
    result.figure(fig(
        "pass_rate_moving",
        "guest workload pass rate during the move",
        "HB/s",
        collect(&rounds, |r| r.rate_moving),
    ));
    result.figure(fig(
        "largest_gap_idle_ms",
        "largest heartbeat gap, idle",
        "ms",
        collect(&rounds, |r| r.gap_idle),
    ));
    result.figure(fig(
        "largest_gap_moving_ms",
        "largest heartbeat gap during the move",
        "ms",
        collect(&rounds, |r| r.gap_moving),
    ));
    result.figure(fig(
        "move_mib_s",
        "Tern default mover, 1 GiB THP, guest busy",
        "MiB/s",
        collect(&rounds, |r| r.mib_s),
    ));
    let tern_cpus = collect(&rounds, |r| r.tern_cpus_moving);
    let vcpu_moving = collect(&rounds, |r| r.vcpu_cpus_moving);
    let vcpu_quiet = collect(&rounds, |r| r.vcpu_cpus_quiet);
    result.figure(fig(
        "tern_cpus_moving",
        "CPU used by tern's own threads (mover) during the move",
        "CPUs",
        tern_cpus.clone(),
    ));
    result.figure(fig(
        "vcpu_cpus_moving",
        "CPU used by the vCPU threads during the move",
        "CPUs",
        vcpu_moving.clone(),
    ));
    result.figure(fig(
        "vcpu_cpus_quiet",
        "CPU used by the vCPU threads between moves",
        "CPUs",
        vcpu_quiet.clone(),
    ));

    let capped_ratios = collect(&capped, Round::ratio);
    result.figure(fig(
        "capped_pass_rate_ratio",
        &format!("guest workload pass rate during a Tern move capped at {CAPPED_MIB_S} MiB/s / just before"),
        "×",
        capped_ratios.clone(),
    ));
    result.figure(fig(
        "capped_largest_gap_moving_ms",
        &format!("largest heartbeat gap during a move capped at {CAPPED_MIB_S} MiB/s"),
        "ms",
        collect(&capped, |r| r.gap_moving),
    ));
    result.figure(fig(
        "capped_move_mib_s",
        &format!("Tern mover capped at {CAPPED_MIB_S} MiB/s, 1 GiB THP, guest busy"),
        "MiB/s",
        collect(&capped, |r| r.mib_s),
    ));
    result.figure(fig(
        "capped_tern_cpus_moving",
        &format!("CPU used by tern's own threads during a move capped at {CAPPED_MIB_S} MiB/s"),
        "CPUs",
        collect(&capped, |r| r.tern_cpus_moving),
    ));

    let ratio = median(&ratios);
    result.headline("guest_throughput_during_move_ratio", ratio);
    result.headline(
        "guest_throughput_during_capped_move_ratio",
        median(&capped_ratios),
    );
    result.headline(
        "guest_throughput_per_vcpu_cpu_during_move_ratio",
        median(&per_cpu),
    );
    result.headline(
        "guest_largest_gap_during_move_ms",
        median(&collect(&rounds, |r| r.gap_moving)),
    );
    result.headline(
        "guest_largest_gap_idle_ms",
        median(&collect(&rounds, |r| r.gap_idle)),
    );
    if let Some(r) = ratio.filter(|r| *r < 0.9) {
        let cpu = match (median(&tern_cpus), median(&vcpu_moving), median(&vcpu_quiet)) {
            (Some(t), Some(m), Some(q)) => format!(
                " L1 has 2 CPUs and the guest's 2 vCPUs want both: during a move tern's own threads \
                 (the mover) used a median {t:.2} CPUs, and the vCPU threads got {m:.2} CPUs against \
                 {q:.2} between moves ({:.0}% of it, close to the pass-rate ratio: the slowdown is \
                 mostly CPU the mover took from the guest; on a host with CPUs to spare for the \
                 mover it would be much smaller). Pages being migrated also stall the guest's \
                 writes to them.",
                m / q * 100.0
            ),
            _ => String::new(),
        };
        result.note(format!(
            "The guest's workload ran at {:.0}% of its idle pass rate during a full move.{cpu}",
            r * 100.0
        ));
    }
    let errors: u64 = vms.values().map(Beats::errors).sum();
    if errors > 0 {
        result.note(format!(
            "THE GUEST WORKLOAD FOUND {errors} BAD WORDS: memory was corrupted during a move"
        ));
    }
    lab::note_vm_deaths(&mut result, output);
    if shortened > 0 {
        result.note(format!(
            "{shortened} idle window(s) were shorter than their move (the quiet spell before was too short)"
        ));
    }
    result.detail(
        "rounds",
        rounds.iter().chain(&capped).map(Round::to_json).collect(),
    );
    result.detail(
        "heartbeats",
        json!(vms.values().map(Beats::len).sum::<usize>()),
    );
    result.detail("workload_errors", json!(errors));
    result.detail("lab", facts(output.lines()));
    Ok(result)
}

/// The watched move: placement over time from its `plot_place` records.
pub fn plot(output: &str) -> Option<PlacementPlot> {
    let mv = records(output.lines(), "plot_move").into_iter().next()?;
    let (start, end) = (mv.num("start")?, mv.num("end")?);
    let points: Vec<PlotPoint> = records(output.lines(), "plot_place")
        .iter()
        .filter_map(|r| {
            let t = (r.num("t0")? + r.num("t1")?) / 2.0 - start;
            let p = HostPages::from_json(r.json.as_ref()?)?;
            let mib = |n: u64| (n * p.page_size) as f64 / MIB;
            Some(PlotPoint {
                t,
                node0_mib: mib(p.on_node(0)),
                node1_mib: mib(p.on_node(1)),
            })
        })
        .collect();
    let mib_s = moved_mib_s(&mv);
    Some(PlacementPlot {
        title: format!(
            "Guest memory per host node during one Tern move of 1 GiB, node 0 → 1{}",
            mib_s.map_or(String::new(), |m| format!(" ({m:.0} MiB/s, guest busy)"))
        ),
        points,
        move_end_s: end - start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two CPUs, 2 passes/s each, guest clock = L1 clock - 10 s; CPU 0 slows to 1 pass/s
    /// during each move (L1 30-34 s and 60-64 s).
    fn output() -> String {
        let mut s = String::from("REC ready at=15.00\n");
        for cpu in 0..2u64 {
            let (mut t, mut pass) = (11.0f64, 1u64);
            while t < 90.0 {
                s += &format!(
                    "HB @{:.2} cpu{cpu}: HB pass={pass} uptime_ms={} pass_ms=500 errors=0\n",
                    t + 0.01,
                    ((t - 10.0) * 1000.0).round() as u64
                );
                let slow = cpu == 0 && ((30.0..34.0).contains(&t) || (60.0..64.0).contains(&t));
                t += if slow { 1.0 } else { 0.5 };
                pass += 1;
            }
        }
        let status = r#"{ "state": "done", "bytes_moved": 1073741824, "elapsed_ms": 4000 }"#;
        for (round, a, kind) in [(1, 30.0, "full"), (2, 60.0, "capped")] {
            s += &format!(
                "REC cpu round={round} when=quiet at={:.2} total_ticks=0 vcpu_ticks=0\n",
                a - 10.0
            );
            s += &format!(
                "REC cpu round={round} when=before at={a:.2} total_ticks=1500 vcpu_ticks=1500\n"
            );
            s += &format!(
                "REC cpu round={round} when=after at={:.2} total_ticks=2200 vcpu_ticks=1900\n",
                a + 4.0
            );
            s += &format!(
                "REC move round={round} kind={kind} start={a:.2} end={:.2} :: {status}\n",
                a + 4.0
            );
            s += &format!(
                "REC back round={round} start={:.2} end={:.2} :: {status}\n",
                a + 4.0,
                a + 8.0
            );
        }
        s += "REC plot_move start=70.00 end=74.00 :: {\"state\":\"done\",\"bytes_moved\":1073741824,\"elapsed_ms\":4000}\n";
        for (t, n0) in [(69.5, 262144u64), (71.5, 131072), (74.5, 0)] {
            s += &format!(
                "REC plot_place t0={t} t1={} :: {{\"page_size\":4096,\"guest_nodes\":[{{\"host_nodes\":[{{\"host_node\":0,\"pages\":{n0}}},{{\"host_node\":1,\"pages\":{}}}]}}]}}\n",
                t + 0.2,
                262144 - n0
            );
        }
        s
    }

    #[test]
    fn compares_each_move_with_the_window_before_it() {
        let r = analyze(&output()).unwrap();
        // Round 1 moved at full speed, round 2 capped; 3 passes/s instead of 4 during each.
        for key in ["pass_rate_ratio", "capped_pass_rate_ratio"] {
            let ratio = r.find(&format!("guest_impact.{key}")).unwrap();
            assert_eq!(ratio.samples.len(), 1, "{key}");
            assert!((ratio.samples[0] - 0.75).abs() < 0.02, "{key}");
        }
        assert_eq!(
            r.find("guest_impact.capped_largest_gap_moving_ms")
                .unwrap()
                .samples,
            [1000.0]
        );
        assert_eq!(
            r.find("guest_impact.largest_gap_moving_ms")
                .unwrap()
                .median(),
            Some(1000.0)
        );
        assert_eq!(
            r.find("guest_impact.largest_gap_idle_ms").unwrap().median(),
            Some(500.0)
        );
        assert_eq!(
            r.find("guest_impact.move_mib_s").unwrap().median(),
            Some(256.0)
        );
        let tern = r
            .find("guest_impact.tern_cpus_moving")
            .unwrap()
            .median()
            .unwrap();
        assert!((tern - 0.75).abs() < 1e-9, "{tern}");
        let quiet = r
            .find("guest_impact.vcpu_cpus_quiet")
            .unwrap()
            .median()
            .unwrap();
        assert!((quiet - 1.5).abs() < 1e-9, "{quiet}");
        let moving = r
            .find("guest_impact.vcpu_cpus_moving")
            .unwrap()
            .median()
            .unwrap();
        let per_cpu = r
            .find("guest_impact.pass_rate_per_vcpu_cpu_ratio")
            .unwrap()
            .median()
            .unwrap();
        assert!(
            (moving - 1.0).abs() < 1e-9,
            "the vCPUs got less CPU: {moving}"
        );
        assert!(
            (per_cpu - 0.75 / (moving / quiet)).abs() < 0.02,
            "{per_cpu} {moving}"
        );
        // A quarter of 4 s of work lost, for 1 GiB.
        let lost = r
            .find("guest_impact.lost_s_per_gib")
            .unwrap()
            .median()
            .unwrap();
        assert!((lost - 1.0).abs() < 0.1, "{lost}");
        assert_eq!(r.headline[0].0, "guest_throughput_during_move_ratio");
        assert_eq!(r.headline[1].0, "guest_throughput_during_capped_move_ratio");
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("75% of its idle pass rate")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn the_plot_follows_the_watched_move() {
        let p = plot(&output()).unwrap();
        assert_eq!(p.points.len(), 3);
        assert!((p.points[0].t + 0.4).abs() < 1e-9);
        assert_eq!(
            (p.points[1].node0_mib, p.points[1].node1_mib),
            (512.0, 512.0)
        );
        assert_eq!(p.move_end_s, 4.0);
        assert!(p.title.contains("256 MiB/s"));
    }

    #[test]
    fn no_heartbeats_is_an_error() {
        assert!(analyze("REC move round=1 start=1 end=2\n").is_err());
    }
}
