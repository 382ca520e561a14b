//! Turning the host script's samples into locality over time, per keeper.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::script::{Keeper, WINDOW_S};
use super::PART;
use crate::bench::error::BenchError;
use crate::bench::figure::{Figure, PartResult};
use crate::bench::records::{facts, records, Record};
use crate::bench::stats::median;

/// Share of the memory local to its vCPUs that counts as "back home".
const HOME_SHARE: f64 = 0.9;

/// One VM's memory in one sample: MiB per host node, and the node its vCPUs are on.
#[derive(Clone, Debug, Default, PartialEq)]
struct VmPlace {
    on: BTreeMap<u64, f64>,
    vcpu_node: Option<u64>,
}

/// What one `ternctl host --json` answer says of locality: per VM its placement.
#[derive(Clone, Debug, PartialEq)]
struct Sample {
    at: f64,
    vms: BTreeMap<String, VmPlace>,
}

impl Sample {
    fn from_record(r: &Record) -> Option<Self> {
        let at = r.num("at")?;
        let view = r.json.as_ref()?;
        let mut vms = BTreeMap::new();
        for vm in view["vms"].as_array()? {
            let mut place = VmPlace::default();
            for g in vm["guest_nodes"].as_array()? {
                place.vcpu_node = g["vcpu_node"].as_u64().or(place.vcpu_node);
                for m in g["memory_on"].as_array()? {
                    *place.on.entry(m["host_node"].as_u64()?).or_default() += m["mib"].as_f64()?;
                }
            }
            vms.insert(vm["name"].as_str()?.to_string(), place);
        }
        (!vms.is_empty()).then_some(Self { at, vms })
    }

    /// The share of all the VMs' populated memory that sits on its own vCPUs' node.
    fn locality(&self) -> Option<f64> {
        let (mut local, mut total) = (0.0, 0.0);
        for place in self.vms.values() {
            total += place.on.values().sum::<f64>();
            if let Some(node) = place.vcpu_node {
                local += place.on.get(&node).copied().unwrap_or(0.0);
            }
        }
        (total > 0.0).then(|| local / total)
    }

    /// MiB that changed node between `self` and `later`, over all VMs.
    fn moved_until(&self, later: &Sample) -> f64 {
        let mut moved = 0.0;
        for (name, before) in &self.vms {
            let Some(after) = later.vms.get(name) else {
                continue;
            };
            let gained: f64 = after
                .on
                .iter()
                .map(|(node, mib)| (mib - before.on.get(node).copied().unwrap_or(0.0)).max(0.0))
                .sum();
            moved += gained;
        }
        moved
    }
}

/// One window's measurements.
#[derive(Clone, Debug, PartialEq)]
struct Window {
    round: i64,
    keeper: Keeper,
    vm: String,
    /// Locality averaged over the window's time (each sample holds until the next).
    locality: f64,
    /// Seconds from the vCPU move until the moved VM had [`HOME_SHARE`] of its memory on
    /// its vCPUs' node, if it got there in the window.
    home_s: Option<f64>,
    /// MiB that changed node during the window (first sample to last).
    moved_mib: f64,
    /// `(seconds since the vCPU move, locality)` per sample.
    curve: Vec<(f64, f64)>,
}

impl Window {
    fn to_json(&self) -> Value {
        json!({
            "round": self.round, "keeper": self.keeper.name(), "vm": self.vm,
            "locality": self.locality, "home_s": self.home_s, "moved_mib": self.moved_mib,
            "curve": self.curve,
        })
    }
}

/// The time-weighted mean of a step curve over `[0, end]`: each point holds until the
/// next, the first from 0.
fn step_mean(curve: &[(f64, f64)], end: f64) -> Option<f64> {
    let first = curve.first()?;
    let mut area = 0.0;
    let mut prev = (0.0, first.1);
    for &(t, v) in curve {
        let t = t.clamp(0.0, end);
        area += prev.1 * (t - prev.0).max(0.0);
        prev = (t.max(prev.0), v);
    }
    area += prev.1 * (end - prev.0).max(0.0);
    (end > 0.0).then(|| area / end)
}

fn window(w: &Record, views: &[Record]) -> Option<Window> {
    let round = w.int("round")?;
    let keeper = Keeper::from_name(w.get("keeper")?)?;
    let vm = w.get("vm")?.to_string();
    let (start, end) = (w.num("start")?, w.num("end")?);
    let samples: Vec<Sample> = views
        .iter()
        .filter(|v| v.int("round") == Some(round) && v.get("keeper") == Some(keeper.name()))
        .filter_map(Sample::from_record)
        .collect();
    let curve: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.at - start, s.locality()?)))
        .collect();
    let home_s = samples.iter().find_map(|s| {
        let place = s.vms.get(&vm)?;
        let total: f64 = place.on.values().sum();
        let local = place.on.get(&place.vcpu_node?).copied().unwrap_or(0.0);
        (total > 0.0 && local >= HOME_SHARE * total).then(|| (s.at - start).max(0.0))
    });
    Some(Window {
        round,
        keeper,
        locality: step_mean(&curve, end - start)?,
        home_s,
        moved_mib: match (samples.first(), samples.last()) {
            (Some(a), Some(b)) => a.moved_until(b),
            _ => 0.0,
        },
        curve,
        vm,
    })
}

/// MiB the host balancer's `done:` lines of one round report as moved.
fn balancer_mib(output: &str, round: i64) -> f64 {
    let prefix = format!("BAL round={round} ");
    output
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|l| l.trim_start().starts_with("done: "))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "moved")?;
            let value: f64 = words.get(at + 1)?.parse().ok()?;
            let scale = match *words.get(at + 2)? {
                "GiB" => 1024.0,
                "MiB" => 1.0,
                "KiB" => 1.0 / 1024.0,
                "B" => 1.0 / (1024.0 * 1024.0),
                _ => return None,
            };
            Some(value * scale)
        })
        .sum()
}

/// The figures of one host run's output. A window in which a VM died is left out.
pub fn analyze(output: &str) -> Result<PartResult, BenchError> {
    let views = records(output.lines(), "view");
    let deaths = records(output.lines(), "vm_died");
    let died_in = |w: &Record| {
        deaths
            .iter()
            .any(|d| d.get("round") == w.get("round") && d.get("keeper") == w.get("keeper"))
    };
    let windows: Vec<Window> = records(output.lines(), "window")
        .iter()
        .filter(|w| !died_in(w))
        .filter_map(|w| window(w, &views))
        .collect();
    let of = |keeper: Keeper, f: &dyn Fn(&Window) -> Option<f64>| -> Vec<f64> {
        windows
            .iter()
            .filter(|w| w.keeper == keeper)
            .filter_map(f)
            .collect()
    };
    let with = of(Keeper::HostBalancer, &|w| Some(w.locality));
    let without = of(Keeper::Nobody, &|w| Some(w.locality));
    if with.is_empty() || without.is_empty() {
        return Err(BenchError::output(
            PART,
            format!(
                "no window with and without the host balancer ({} windows, {} samples)",
                windows.len(),
                views.len()
            ),
        ));
    }
    let mut result = PartResult::new(PART);
    let key = |k: &str| format!("{PART}.{k}");
    let share = |label: &str| {
        format!("share of the 3 VMs' memory on their vCPUs' node over {WINDOW_S} s after one VM's vCPU moved, {label}")
    };
    result.figure(Figure::new(
        &key("locality_with_balancer"),
        share("with `ternctl host balance`"),
        "share",
        with,
    ));
    result.figure(Figure::new(
        &key("locality_without"),
        share("with nothing moving memory"),
        "share",
        without,
    ));
    result.figure(Figure::new(
        &key("locality_tern_auto"),
        share("with each Tern's own automatic balancing"),
        "share",
        of(Keeper::TernAuto, &|w| Some(w.locality)),
    ));
    result.figure(Figure::new(
        &key("balancer_home_s"),
        "host balancer: seconds from the vCPU move until 90% of that VM's memory is with it",
        "s",
        of(Keeper::HostBalancer, &|w| w.home_s),
    ));
    result.figure(Figure::new(
        &key("tern_auto_home_s"),
        "Tern's automatic balancing: the same",
        "s",
        of(Keeper::TernAuto, &|w| w.home_s),
    ));
    let rounds: Vec<i64> = windows
        .iter()
        .filter(|w| w.keeper == Keeper::HostBalancer)
        .map(|w| w.round)
        .collect();
    result.figure(Figure::new(
        &key("balancer_moved_mib"),
        "MiB the host balancer reported moved in a window",
        "MiB",
        rounds.iter().map(|r| balancer_mib(output, *r)).collect(),
    ));
    for keeper in Keeper::ALL {
        result.figure(Figure::new(
            &key(&format!("{}_changed_node_mib", keeper.name())),
            format!(
                "MiB that changed node in a window, {} (placement, first sample to last)",
                keeper.name().replace('_', " ")
            ),
            "MiB",
            of(keeper, &|w| Some(w.moved_mib)),
        ));
    }
    let med = |k: &str| result.find(&key(k)).and_then(Figure::median);
    let headlines = [
        ("host_locality_with_balancer", med("locality_with_balancer")),
        ("host_locality_without", med("locality_without")),
        ("host_locality_tern_auto", med("locality_tern_auto")),
        ("host_balancer_moved_mib", med("balancer_moved_mib")),
    ];
    for (k, v) in headlines {
        result.headline(k, v);
    }
    let ends = records(output.lines(), "vmend");
    let bad: i64 = ends.iter().filter_map(|r| r.int("errors")).sum();
    result.headline("host_bad_words", Some(bad as f64));
    if ends.len() != 3 {
        result.note(format!("only {} of 3 VMs reported at the end", ends.len()));
    }
    if bad > 0 {
        result.note(format!("the guests' workloads found {bad} wrong words"));
    }
    if !deaths.is_empty() {
        let which: Vec<String> = deaths
            .iter()
            .map(|d| {
                format!(
                    "{} (round {}, {})",
                    d.get("vm").unwrap_or("?"),
                    d.get("round").unwrap_or("?"),
                    d.get("keeper").unwrap_or("?")
                )
            })
            .collect();
        result.note(format!(
            "guests that crashed and were started again (their windows are left out): {}",
            which.join(", ")
        ));
    }
    result.detail("vm_deaths", deaths.len().into());
    let autos: Vec<Value> = records(output.lines(), "auto")
        .iter()
        .map(|r| json!({"round": r.int("round"), "vm": r.get("vm"), "auto": r.json.clone()}))
        .collect();
    if let Some(last) = autos.last() {
        if let Some(decision) = last["auto"]["last_decision"].as_str() {
            result.note(format!(
                "Tern's automatic balancing, its last decision in the last window: {decision}"
            ));
        }
    }
    result.detail("tern_auto_reports", autos.into());
    let unsettled = records(output.lines(), "unsettled").len();
    if unsettled > 0 {
        result.note(format!(
            "{unsettled} windows started before the host balancer had brought every guest node home"
        ));
    }
    if let Some(m) = median(&of(Keeper::Nobody, &|w| Some(w.moved_mib))) {
        if m > 16.0 {
            result.note(format!(
                "{m:.0} MiB changed node in a median window with nothing moving memory"
            ));
        }
    }
    result.detail(
        "windows",
        windows
            .iter()
            .map(Window::to_json)
            .collect::<Vec<_>>()
            .into(),
    );
    result.detail(
        "passes",
        ends.iter()
            .map(|r| json!({"vm": r.get("vm"), "passes": r.int("passes"), "errors": r.int("errors")}))
            .collect::<Vec<_>>()
            .into(),
    );
    result.detail("facts", facts(output.lines()));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VM in a view: its name, its vCPUs' node, and MiB per host node.
    type VmAt<'a> = (&'a str, u64, &'a [(u64, u64)]);

    fn view(vms: &[VmAt]) -> String {
        let vms: Vec<Value> = vms
            .iter()
            .map(|(name, node, on)| {
                let on: Vec<Value> = on
                    .iter()
                    .map(|(n, mib)| json!({"host_node": n, "mib": mib}))
                    .collect();
                json!({"name": name, "guest_nodes": [{"id": 0, "vcpu_node": node, "memory_on": on}]})
            })
            .collect();
        json!({"host_nodes": [], "vms": vms, "unanswered": []}).to_string()
    }

    #[test]
    fn locality_is_averaged_over_time_and_moves_are_counted() {
        let misplaced = view(&[("vm-a", 1, &[(0, 200)]), ("vm-b", 1, &[(1, 200)])]);
        let home = view(&[("vm-a", 1, &[(1, 200)]), ("vm-b", 1, &[(1, 200)])]);
        let out = format!(
            "REC view round=1 keeper=host_balancer at=10.00 :: {misplaced}\n\
             REC view round=1 keeper=host_balancer at=25.00 :: {home}\n\
             BAL round=1   done: vm-a: rb-1 moved 200 MiB in 3.0 s\n\
             REC window round=1 keeper=host_balancer vm=vm-a target=1 start=10.00 end=40.00\n\
             REC view round=2 keeper=without at=50.00 :: {misplaced}\n\
             REC view round=2 keeper=without at=70.00 :: {misplaced}\n\
             REC window round=2 keeper=without vm=vm-a target=1 start=50.00 end=80.00\n\
             REC vmend vm=vm-a passes=9 errors=0\n"
        );
        let r = analyze(&out).unwrap();
        let with = r.find("host.locality_with_balancer").unwrap();
        // 15 s at 0.5, then 15 s at 1.0.
        assert!((with.samples[0] - 0.75).abs() < 1e-9, "{:?}", with.samples);
        let without = r.find("host.locality_without").unwrap();
        assert_eq!(without.samples, [0.5]);
        assert_eq!(r.find("host.balancer_moved_mib").unwrap().samples, [200.0]);
        assert_eq!(r.find("host.balancer_home_s").unwrap().samples, [15.0]);
        assert_eq!(
            r.find("host.host_balancer_changed_node_mib")
                .unwrap()
                .samples,
            [200.0]
        );
        assert_eq!(
            r.find("host.without_changed_node_mib").unwrap().samples,
            [0.0]
        );
        assert!(r
            .headline
            .iter()
            .any(|(k, v)| k == "host_locality_with_balancer" && (*v - 0.75).abs() < 1e-9));
    }

    #[test]
    fn a_window_in_which_a_vm_died_is_left_out() {
        let home = view(&[("vm-a", 1, &[(1, 200)])]);
        let out = format!(
            "REC view round=1 keeper=host_balancer at=10.00 :: {home}\n\
             REC window round=1 keeper=host_balancer vm=vm-a target=1 start=10.00 end=40.00\n\
             REC view round=1 keeper=without at=50.00 :: {home}\n\
             REC window round=1 keeper=without vm=vm-a target=1 start=50.00 end=80.00\n\
             REC vm_died vm=vm-b round=1 keeper=without at=70.00\n\
             REC view round=2 keeper=without at=90.00 :: {home}\n\
             REC window round=2 keeper=without vm=vm-a target=1 start=90.00 end=120.00\n"
        );
        let r = analyze(&out).unwrap();
        assert_eq!(r.find("host.locality_without").unwrap().samples, [1.0]);
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("vm-b (round 1, without)")));
    }

    #[test]
    fn a_run_without_both_kinds_of_window_is_an_error() {
        assert!(analyze("REC vmend vm=vm-a passes=1 errors=0\n").is_err());
    }

    #[test]
    fn the_step_mean_holds_each_value_until_the_next() {
        assert_eq!(step_mean(&[(0.0, 1.0)], 10.0), Some(1.0));
        assert_eq!(step_mean(&[(2.0, 0.0), (5.0, 1.0)], 10.0), Some(0.5));
        assert_eq!(step_mean(&[], 10.0), None);
    }
}
