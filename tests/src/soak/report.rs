//! The soak's figures: `bench/results/soak.json` and the summary printed at the end.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::lab::SoakResult;
use super::records::{FailureKind, MoveRecord};

/// Bytes per GiB.
const GIB: f64 = (1u64 << 30) as f64;
/// Failures listed one by one in the report, at most.
const LISTED_FAILURES: usize = 50;

/// Moves of one (backing, method, policy, fault) combination.
#[derive(Clone, Debug, Default, PartialEq)]
struct CaseCount {
    moves: u64,
    fault_fired: u64,
    states: BTreeMap<&'static str, u64>,
    failures: u64,
    bytes: u64,
}

fn case_key(m: &MoveRecord) -> (String, String, String, String) {
    (
        m.backing.name().into(),
        m.method.name().into(),
        m.policy.name().into(),
        m.fault.name().into(),
    )
}

/// How many failures of each kind, every kind listed.
pub fn failures_by_kind(result: &SoakResult) -> BTreeMap<&'static str, u64> {
    let mut counts: BTreeMap<&'static str, u64> =
        FailureKind::ALL.iter().map(|k| (k.name(), 0)).collect();
    for f in result.failures() {
        *counts.entry(f.kind.name()).or_default() += 1;
    }
    counts
}

/// The report as JSON; `meta` is merged in (commit, time).
pub fn report(result: &SoakResult, meta: &Value) -> Value {
    let moves: Vec<&MoveRecord> = result.moves().collect();
    let bytes: u64 = moves.iter().map(|m| m.bytes_moved()).sum();
    let mut states: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut cases: BTreeMap<(String, String, String, String), CaseCount> = BTreeMap::new();
    let mut notes: BTreeMap<String, u64> = BTreeMap::new();
    for m in &moves {
        *states.entry(m.state_name()).or_default() += 1;
        let c = cases.entry(case_key(m)).or_default();
        c.moves += 1;
        c.fault_fired += u64::from(m.fault_fired_at_ms.is_some());
        *c.states.entry(m.state_name()).or_default() += 1;
        c.failures += u64::from(m.failure.is_some());
        c.bytes += m.bytes_moved();
        for n in &m.notes {
            // Notes differ in their numbers; count them by their words.
            let words: String = n
                .split_whitespace()
                .filter(|w| !w.chars().any(|ch| ch.is_ascii_digit()))
                .collect::<Vec<_>>()
                .join(" ");
            *notes.entry(words).or_default() += 1;
        }
    }
    // What a move costs in the lab, by backing: from the POST to its end, and the whole step
    // with its preparation, fault and host-side checks.
    let mut cost: BTreeMap<&'static str, (u64, u64, u64)> = BTreeMap::new();
    for m in &moves {
        let c = cost.entry(m.backing.name()).or_default();
        *c = (c.0 + 1, c.1 + m.wall_ms, c.2 + m.step_ms);
    }
    let cost: BTreeMap<&'static str, Value> = cost
        .into_iter()
        .map(|(backing, (n, wall, step))| {
            let mean_s = |ms: u64| round(ms as f64 / n.max(1) as f64 / 1000.0, 2);
            (
                backing,
                json!({"moves": n, "move_s_mean": mean_s(wall), "step_s_mean": mean_s(step)}),
            )
        })
        .collect();
    let placement_misses = moves
        .iter()
        .filter(|m| {
            m.failure
                .as_ref()
                .is_some_and(|f| f.kind == FailureKind::PlacementMiss)
        })
        .count();
    let by_case: Vec<Value> = cases
        .iter()
        .map(|((backing, method, policy, fault), c)| {
            json!({
                "backing": backing, "method": method, "policy": policy, "fault": fault,
                "moves": c.moves, "fault_fired": c.fault_fired, "states": c.states,
                "failures": c.failures, "gib_moved": round(c.bytes as f64 / GIB, 3),
            })
        })
        .collect();
    let runs: Vec<Value> = result
        .runs
        .iter()
        .map(|r| {
            let rec = r.record.as_ref();
            json!({
                "run": r.run, "backing": r.backing.name(), "moves": r.moves.len(),
                "seed": rec.map(|x| x.seed), "lab_retries": r.retries, "wall_s": round(r.wall_s, 1),
                "driver_s": rec.map(|x| round(x.duration_s, 1)),
                "bad_words": rec.map(|x| x.bad_words), "heartbeats": rec.map(|x| x.heartbeats),
                "workload_passes": rec.map(|x| x.passes.clone()),
                "largest_heartbeat_gap_ms": rec.map(|x| x.largest_gap_ms),
                "anon_huge_mib": rec.map(|x| x.anon_huge_mib), "tern_exit": rec.and_then(|x| x.tern_exit),
                "notes": rec.map(|x| x.notes.clone()),
            })
        })
        .collect();
    let mut listed: Vec<Value> = Vec::new();
    for r in &result.runs {
        let run_failures = r
            .record
            .iter()
            .flat_map(|x| x.failures.iter())
            .chain(r.failures.iter());
        for f in run_failures {
            listed.push(json!({"run": r.run, "kind": f.kind.name(), "detail": f.detail}));
        }
        for m in &r.moves {
            if let Some(f) = &m.failure {
                listed.push(json!({
                    "run": m.run, "move": m.index, "kind": f.kind.name(), "detail": f.detail,
                    "case": format!("{} {} {} {}", m.backing.name(), m.method.name(), m.policy.name(), m.fault.name()),
                    "fault_effect": m.fault_effect,
                }));
            }
        }
    }
    listed.truncate(LISTED_FAILURES);
    let mut doc = json!({
        "seed": result.plan.seed,
        "moves": moves.len(),
        "moves_asked": result.plan.moves,
        "gib_moved": round(bytes as f64 / GIB, 2),
        "bad_words": result.bad_words(),
        "placement_misses": placement_misses,
        "lab_retries": result.lab_retries(),
        "failures": failures_by_kind(result),
        "duration_s": round(result.duration_s, 0),
        "states": states,
        "cost_by_backing": cost,
        "lab_runs": result.runs.len(),
        "moves_per_run": {"thp": result.plan.per_run.thp, "4k": result.plan.per_run.base},
        "guest": {
            "guest_nodes": 2, "vcpus": 2, "node_mib": result.plan.shape.node_mib,
            "workload_mib_per_vcpu": result.plan.shape.workload_mib,
        },
        "by_case": by_case,
        "runs": runs,
        "notes": notes,
        "failure_list": listed,
    });
    if let (Some(doc), Some(meta)) = (doc.as_object_mut(), meta.as_object()) {
        for (k, v) in meta {
            doc.insert(k.clone(), v.clone());
        }
    }
    doc
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Writes `doc` to `path` (pretty, with a newline at the end).
pub fn write(path: &Path, doc: &Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_string_pretty(doc).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}

/// The report's headline in a few lines.
pub fn summary(doc: &Value) -> String {
    let get = |k: &str| doc.get(k).cloned().unwrap_or(Value::Null);
    let failures = doc
        .get("failures")
        .and_then(Value::as_object)
        .map(|m: &Map<String, Value>| {
            m.iter()
                .filter(|(_, v)| v.as_u64().unwrap_or(0) > 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    format!(
        "soak: seed {} | {} moves of {} asked ({} GiB) in {} s | states {} | bad words {} | \
         placement misses {} | lab retries {} | failures: {}",
        get("seed"),
        get("moves"),
        get("moves_asked"),
        get("gib_moved"),
        get("duration_s"),
        get("states"),
        get("bad_words"),
        get("placement_misses"),
        get("lab_retries"),
        if failures.is_empty() {
            "none".into()
        } else {
            failures
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::case::{Backing, Fault, Method, Policy};
    use crate::soak::lab::{GuestShape, RunOutcome, RunSizes, SoakPlan};
    use crate::soak::records::{Failure, RunRecord};

    fn record(index: u32, fault: Fault, failure: Option<FailureKind>) -> MoveRecord {
        MoveRecord {
            run: 0,
            index,
            backing: Backing::Thp,
            method: Method::MovePages,
            policy: Policy::ToNode,
            fault,
            target: 1,
            budget_mib: None,
            fault_effect: None,
            fault_fired_at_ms: (fault != Fault::None).then_some(10),
            status: None,
            wall_ms: 10,
            step_ms: 20,
            placement: None,
            failure: failure.map(|k| Failure::new(k, "x")),
            notes: vec!["seen 12 pages".into()],
        }
    }

    #[test]
    fn counts_moves_failures_and_cases() {
        let result = SoakResult {
            plan: SoakPlan {
                moves: 3,
                per_run: RunSizes { thp: 3, base: 3 },
                seed: 9,
                shape: GuestShape::default(),
                driver: "d".into(),
                name: "n".into(),
                echo: false,
            },
            runs: vec![RunOutcome {
                run: 0,
                backing: Backing::Thp,
                record: Some(RunRecord {
                    bad_words: 2,
                    failures: vec![Failure::new(FailureKind::GuestStalled, "y")],
                    ..Default::default()
                }),
                moves: vec![
                    record(0, Fault::None, None),
                    record(1, Fault::None, Some(FailureKind::PlacementMiss)),
                    record(2, Fault::Cancel, None),
                ],
                retries: 1,
                failures: vec![],
                log: "l".into(),
                wall_s: 5.0,
            }],
            duration_s: 6.0,
        };
        let doc = report(&result, &json!({"commit": "abc"}));
        assert_eq!(doc["moves"], 3);
        assert_eq!(doc["bad_words"], 2);
        assert_eq!(doc["placement_misses"], 1);
        assert_eq!(doc["lab_retries"], 1);
        assert_eq!(doc["failures"]["placement_miss"], 1);
        assert_eq!(doc["failures"]["guest_stalled"], 1);
        assert_eq!(doc["failures"]["guest_crash"], 0);
        assert_eq!(doc["commit"], "abc");
        assert_eq!(doc["by_case"].as_array().unwrap().len(), 2);
        assert_eq!(doc["notes"]["seen pages"], 3);
        assert_eq!(doc["cost_by_backing"]["thp"]["moves"], 3);
        assert_eq!(doc["cost_by_backing"]["thp"]["step_s_mean"], 0.02);
        assert_eq!(doc["failure_list"].as_array().unwrap().len(), 2);
        let line = summary(&doc);
        assert!(line.contains("guest_stalled=1 placement_miss=1"), "{line}");
    }
}
