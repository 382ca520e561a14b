//! Turning the migration script's records into figures.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{Memory, CONFIGS, GUEST_PAGES, MIGRATEPAGES};
use crate::bench::error::BenchError;
use crate::bench::figure::{Figure, PartResult};
use crate::bench::placement::HostPages;
use crate::bench::records::{facts, records, Record};
use crate::bench::stats::median;

const MIB: f64 = 1024.0 * 1024.0;
/// A move counts only if it moved at least this share of the guest's memory.
const FULL_SHARE: f64 = 0.95;
/// Full placement queries in one Tern rebalance: the plan's, whose answer the move reuses
/// (see balancer/src/mover and engine/run.rs).
pub const QUERIES_PER_REBALANCE: f64 = 1.0;

fn full_bytes() -> f64 {
    GUEST_PAGES as f64 * 4096.0 * FULL_SHARE
}

/// One timed move.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Its round.
    pub round: i64,
    /// Throughput: bytes moved over the move's time, in MiB/s.
    pub mib_s: f64,
    /// Bytes moved.
    pub bytes: f64,
    /// The move's time, in s (Tern: the rebalance's own `elapsed_ms`).
    pub seconds: f64,
    /// L1 wall time around the command, in s.
    pub wall_s: f64,
}

impl Sample {
    fn to_json(&self) -> Value {
        json!({"round": self.round, "mib_s": self.mib_s, "bytes": self.bytes,
               "seconds": self.seconds, "wall_s": self.wall_s})
    }
}

fn wall(r: &Record) -> Option<f64> {
    Some(r.num("end")? - r.num("start")?)
}

/// A Tern rebalance record as a sample, or why it does not count.
fn tern_sample(r: &Record) -> Result<Sample, String> {
    let status = r.json.as_ref().ok_or_else(|| {
        format!(
            "no status: {}",
            r.raw_json.as_deref().unwrap_or("(nothing)")
        )
    })?;
    let state = status["state"].as_str().unwrap_or("?");
    let bytes = status["bytes_moved"].as_f64().unwrap_or(0.0);
    let ms = status["elapsed_ms"].as_f64().unwrap_or(0.0);
    if state != "done" || bytes < full_bytes() || ms <= 0.0 {
        return Err(format!("state {state}, {bytes} bytes in {ms} ms: {status}"));
    }
    Ok(Sample {
        round: r.int("round").unwrap_or(0),
        mib_s: bytes / MIB / (ms / 1000.0),
        bytes,
        seconds: ms / 1000.0,
        wall_s: wall(r).unwrap_or(f64::NAN),
    })
}

/// A migratepages record (with its placements before and after) as a sample.
fn mp_sample(r: &Record, places: &[Record]) -> Result<Sample, String> {
    let round = r.int("round").unwrap_or(0);
    let place = |when: &str| {
        places
            .iter()
            .find(|p| p.int("round") == Some(round) && p.get("when") == Some(when))
            .and_then(|p| p.json.as_ref())
            .and_then(HostPages::from_json)
    };
    let (Some(before), Some(after)) = (place("before"), place("after")) else {
        return Err(format!("round {round}: no placement before or after"));
    };
    let seconds = wall(r).unwrap_or(0.0);
    let moved = after.on_node(1).saturating_sub(before.on_node(1));
    let bytes = (moved * after.page_size) as f64;
    if r.int("status") != Some(0) || bytes < full_bytes() || seconds <= 0.0 {
        return Err(format!(
            "round {round}: status {:?}, {moved} pages moved in {seconds} s (before {:?})",
            r.get("status"),
            before.on
        ));
    }
    Ok(Sample {
        round,
        mib_s: bytes / MIB / seconds,
        bytes,
        seconds,
        wall_s: seconds,
    })
}

fn mib_s(samples: &[Sample]) -> Vec<f64> {
    samples.iter().map(|s| s.mib_s).collect()
}

/// The figures of one migration run's output.
pub fn analyze(memory: Memory, output: &str) -> Result<PartResult, BenchError> {
    let part = memory.part();
    let mut result = PartResult::new(part);
    let mut invalid = Vec::new();
    let mut tern: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    for r in records(output.lines(), "move") {
        let name = r.get("config").unwrap_or("?");
        match (CONFIGS.iter().find(|c| c.name == name), tern_sample(&r)) {
            (Some(c), Ok(s)) => tern.entry(c.name).or_default().push(s),
            (_, Err(why)) => invalid.push(format!("{name}: {why}")),
            (None, Ok(_)) => invalid.push(format!("unknown configuration {name}")),
        }
    }
    let places = records(output.lines(), "place");
    let mps = records(output.lines(), "mp");
    let mut mp = Vec::new();
    for r in &mps {
        match mp_sample(r, &places) {
            Ok(s) => mp.push(s),
            Err(why) => invalid.push(format!("{MIGRATEPAGES}: {why}")),
        }
    }
    if mp.is_empty() || tern.is_empty() {
        return Err(BenchError::output(
            part,
            format!("no valid move was measured: {}", invalid.join("; ")),
        ));
    }

    let best = CONFIGS
        .iter()
        .filter_map(|c| Some((c, median(&mib_s(tern.get(c.name)?))?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| *c)
        .unwrap_or(CONFIGS[0]);
    let best_samples = tern.get(best.name).cloned().unwrap_or_default();
    let ratios: Vec<f64> = best_samples
        .iter()
        .filter_map(|t| {
            let m = mp.iter().find(|m| m.round == t.round)?;
            Some(t.mib_s / m.mib_s)
        })
        .collect();
    let words = memory.words();
    result.figure(Figure::new(
        &format!("{part}.ratio_vs_migratepages"),
        format!(
            "move 1 GiB ({words}) node 0 → 1: Tern's best ({}) / migratepages, paired per round",
            best.label
        ),
        "×",
        ratios.clone(),
    ));
    result.figure(Figure::new(
        &format!("{part}.tern_best_mib_s"),
        format!("Tern's best mover ({}), {words}", best.label),
        "MiB/s",
        mib_s(&best_samples),
    ));
    result.figure(Figure::new(
        &format!("{part}.migratepages_mib_s"),
        format!("numactl migratepages <pid> 0 1, {words}"),
        "MiB/s",
        mib_s(&mp),
    ));
    for c in CONFIGS {
        result.figure(Figure::new(
            &format!("{part}.tern_{}_mib_s", c.name),
            format!("Tern: {}, {words}", c.label),
            "MiB/s",
            tern.get(c.name).map(|s| mib_s(s)).unwrap_or_default(),
        ));
    }
    let returns: Vec<f64> = records(output.lines(), "back")
        .iter()
        .filter_map(|r| tern_sample(r).ok())
        .map(|s| s.mib_s)
        .collect();
    result.figure(Figure::new(
        &format!("{part}.tern_return_mib_s"),
        format!("Tern default mover node 1 → 0 (the untimed move back), {words}"),
        "MiB/s",
        returns,
    ));
    let span = |r: &Record, q: &str| -> Option<f64> {
        Some((r.num(&format!("{q}_end"))? - r.num(&format!("{q}_start"))?) * 1000.0)
    };
    let queries: Vec<f64> = mps
        .iter()
        .flat_map(|r| [span(r, "query0"), span(r, "query1")])
        .flatten()
        .collect();
    let query_fig = Figure::new(
        &format!("{part}.placement_query_ms"),
        format!("one `ternctl placement` (every 4 KiB page of 1 GiB queried), {words}"),
        "ms",
        queries,
    );

    let ratio = median(&ratios);
    let key = match memory {
        Memory::HugePages => "migration_ratio_vs_migratepages".to_string(),
        Memory::BasePages => format!("{part}_ratio_vs_migratepages"),
    };
    result.headline(&key, ratio);
    if let Some(r) = ratio.filter(|r| *r < 1.0) {
        let best_s = median(&best_samples.iter().map(|s| s.seconds).collect::<Vec<_>>());
        let q = query_fig.median();
        let why = match (best_s, q) {
            (Some(s), Some(q)) => format!(
                " A Tern rebalance reads the placement of every 4 KiB page once, to plan; one such \
                 query (`ternctl placement`) took a median {q:.0} ms here, so about {:.1} s of the \
                 best move's {s:.1} s is querying. The rest is the kernel's own work, which for \
                 move_pages(2) means finding each page by its address (migrate_pages(2) walks the \
                 page tables range by range).",
                QUERIES_PER_REBALANCE * q / 1000.0
            ),
            _ => String::new(),
        };
        result.note(format!(
            "{words}: Tern's best mover is slower than migratepages ({r:.2}×).{why}"
        ));
    }
    result.figure(query_fig);
    let detail_samples: serde_json::Map<String, Value> = tern
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(Sample::to_json).collect()))
        .chain([(
            MIGRATEPAGES.to_string(),
            mp.iter().map(Sample::to_json).collect(),
        )])
        .collect();
    result.detail("best_config", json!(best.name));
    result.detail("samples", Value::Object(detail_samples));
    result.detail("invalid", json!(invalid));
    result.detail("lab", facts(output.lines()));
    result.detail("memory", json!(words));
    if !invalid.is_empty() {
        result.note(format!(
            "{words}: {} move(s) did not count: {}",
            invalid.len(),
            invalid.join("; ")
        ));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(bytes: u64, ms: u64) -> String {
        format!(
            r#"{{  "id": "rb-1",  "state": "done",  "bytes_moved": {bytes},  "elapsed_ms": {ms}}}"#
        )
    }

    fn placement(n0: u64, n1: u64) -> String {
        format!(
            r#"{{"page_size":4096,"guest_nodes":[{{"id":0,"host_nodes":[{{"host_node":0,"pages":{n0}}},{{"host_node":1,"pages":{n1}}}],"absent":0,"unknown":0}}]}}"#
        )
    }

    fn output() -> String {
        let gib = 1u64 << 30;
        let mut s = String::from("REC fact kernel=6.1 thp=[always]_madvise_never\n");
        for round in 1..=3 {
            for c in CONFIGS {
                let ms = if c.name == "mbind" { 1000 } else { 2000 };
                s += &format!(
                    "REC back round={round} config={} start=0 end=1 :: {}\n",
                    c.name,
                    status(gib, 4000)
                );
                s += &format!(
                    "REC move round={round} config={} start=1.00 end=3.50 :: {}\n",
                    c.name,
                    status(gib, ms)
                );
            }
            // migratepages: 1 GiB in 0.5 s, then 1 s, then 2 s.
            let secs = [0.5, 1.0, 2.0][round as usize - 1];
            s += &format!("REC mp round={round} start=10.00 end={:.2} status=0 query0_start=9.00 query0_end=9.50 query1_start=11 query1_end=11.70\n", 10.0 + secs);
            s += &format!(
                "REC place round={round} when=before :: {}\n",
                placement(GUEST_PAGES, 0)
            );
            s += &format!(
                "REC place round={round} when=after :: {}\n",
                placement(0, GUEST_PAGES)
            );
        }
        s += "REC move round=3 config=single start=1 end=2 :: ternctl: refused\n";
        s
    }

    #[test]
    fn picks_the_best_mover_and_pairs_it_with_migratepages() {
        let r = analyze(Memory::HugePages, &output()).unwrap();
        assert_eq!(r.detail["best_config"], "mbind");
        let ratio = r.find("migration.ratio_vs_migratepages").unwrap();
        // mbind 1024 MiB/s against 2048, 1024, 512 MiB/s.
        assert_eq!(ratio.samples, vec![0.5, 1.0, 2.0]);
        assert_eq!(
            r.headline,
            vec![("migration_ratio_vs_migratepages".to_string(), 1.0)]
        );
        assert_eq!(
            r.find("migration.tern_single_mib_s").unwrap().median(),
            Some(512.0)
        );
        assert_eq!(
            r.find("migration.migratepages_mib_s").unwrap().median(),
            Some(1024.0)
        );
        assert_eq!(
            r.find("migration.tern_return_mib_s").unwrap().samples.len(),
            21
        );
        let q = r
            .find("migration.placement_query_ms")
            .unwrap()
            .summary()
            .unwrap();
        assert!((q.min - 500.0).abs() < 1e-6 && (q.max - 700.0).abs() < 1e-6);
        assert_eq!(r.detail["invalid"].as_array().unwrap().len(), 1);
        assert_eq!(r.detail["lab"]["kernel"], "6.1");
        assert!(r.notes.iter().any(|n| n.contains("did not count")));
    }

    #[test]
    fn a_slower_tern_gets_a_note_and_base_pages_their_own_key() {
        let slow = output().replace("\"elapsed_ms\": 1000", "\"elapsed_ms\": 8000");
        let r = analyze(Memory::BasePages, &slow).unwrap();
        assert_eq!(r.headline[0].0, "migration_4k_ratio_vs_migratepages");
        assert!(r.headline[0].1 < 1.0);
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("slower than migratepages")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn nothing_measured_is_an_error() {
        assert!(analyze(Memory::HugePages, "REC fact a=1\n").is_err());
    }
}
