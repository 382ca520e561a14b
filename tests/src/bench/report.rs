//! The report: `latest.json` (every part's figures, samples and details, and the top-level
//! keys) and `latest.md` (a table per part). Parts run separately (`--only`) replace their
//! own entry and keep the others from the previous report.

use std::fmt::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::error::BenchError;
use super::figure::PartResult;

/// The top-level keys every report carries (null until the part that measures them ran).
pub const REQUIRED_KEYS: [&str; 7] = [
    "migration_ratio_vs_migratepages",
    "guest_throughput_during_move_ratio",
    "dirty_sampling_overhead_pct",
    "boot_to_init_ms",
    "boot_ratio_vs_qemu_microvm",
    "vmm_rss_mib",
    "api_ready_cpu_ms",
];

/// The parts of a previous `latest.json`, if there is a readable one.
pub fn load_parts(path: &Path) -> Vec<PartResult> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    v.get("parts")
        .and_then(Value::as_object)
        .map(|m| m.values().filter_map(PartResult::from_json).collect())
        .unwrap_or_default()
}

/// `parts` with `new` in place of the part of the same name (or added), in `order`.
pub fn merge(mut parts: Vec<PartResult>, new: PartResult, order: &[&str]) -> Vec<PartResult> {
    parts.retain(|p| p.part != new.part);
    parts.push(new);
    parts.sort_by_key(|p| {
        order
            .iter()
            .position(|o| *o == p.part)
            .unwrap_or(usize::MAX)
    });
    parts
}

/// The whole report as JSON: the required keys first, every part's headline keys, then
/// `generated`, `meta`, `figures` (all parts') and `parts`.
pub fn to_json(parts: &[PartResult], generated: &str, meta: &Value) -> Value {
    let mut top = Map::new();
    for key in REQUIRED_KEYS {
        top.insert(key.into(), Value::Null);
    }
    for (k, v) in parts.iter().flat_map(|p| &p.headline) {
        top.insert(k.clone(), json!(v));
    }
    top.insert("generated".into(), json!(generated));
    top.insert("meta".into(), meta.clone());
    top.insert(
        "figures".into(),
        parts
            .iter()
            .flat_map(|p| p.figures.iter().map(|f| f.to_json()))
            .collect(),
    );
    top.insert(
        "parts".into(),
        Value::Object(
            parts
                .iter()
                .map(|p| (p.part.clone(), p.to_json()))
                .collect(),
        ),
    );
    Value::Object(top)
}

/// A number with as many decimals as its size deserves.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown: headline keys, one table per part, notes, the plot.
pub fn to_markdown(
    parts: &[PartResult],
    generated: &str,
    meta: &Value,
    plot: Option<&str>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Tern benchmarks\n");
    let _ = writeln!(
        s,
        "Generated {generated} by `make bench` ({}). Every figure is the median of its runs, \
         measured side by side with what it is compared to, alternating, in the same lab run. \
         The lab is emulated (an L1 Linux under QEMU TCG with nested KVM): compare ratios, not \
         absolute times. How each figure is measured: [../README.md](../README.md).\n",
        meta["commit"].as_str().unwrap_or("unknown commit")
    );
    if let Some(lab) = parts
        .iter()
        .find_map(|p| p.detail.get("lab").filter(|l| l.is_object()))
    {
        let node = |n: &str| {
            lab[n]
                .as_i64()
                .map_or("?".into(), |kb| format!("{} MiB", kb / 1024))
        };
        let _ = writeln!(
            s,
            "Lab: L1 kernel {}, {} CPUs, 2 NUMA nodes ({} and {} usable), THP `{}`; host: {}.\n",
            lab["kernel"].as_str().unwrap_or("?"),
            lab["cpus"].as_i64().map_or("?".into(), |c| c.to_string()),
            node("node0_total_kb"),
            node("node1_total_kb"),
            lab["thp"].as_str().unwrap_or("?"),
            meta["host"]["cpu_model"].as_str().unwrap_or("?"),
        );
    }
    let _ = writeln!(s, "## Headline\n\n| key | value |\n| --- | ---: |");
    let json = to_json(parts, generated, meta);
    let mut keys: Vec<String> = REQUIRED_KEYS.iter().map(|k| k.to_string()).collect();
    for (k, _) in parts.iter().flat_map(|p| &p.headline) {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    for k in keys {
        let v = json[&k].as_f64().map_or("not measured".into(), number);
        let _ = writeln!(s, "| `{k}` | {v} |");
    }
    for p in parts {
        let _ = writeln!(
            s,
            "\n## {}\n\nRun {}.\n\n| figure | unit | median | min – max | runs |\n| --- | --- | ---: | ---: | ---: |",
            p.part, p.date
        );
        for f in &p.figures {
            match f.summary() {
                Some(m) => {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} – {} | {} |",
                        cell(&f.label),
                        f.unit,
                        number(m.median),
                        number(m.min),
                        number(m.max),
                        m.n
                    );
                }
                None => {
                    let _ = writeln!(s, "| {} | {} | – | – | 0 |", cell(&f.label), f.unit);
                }
            }
        }
        if !p.notes.is_empty() {
            let _ = writeln!(s);
            for n in &p.notes {
                let _ = writeln!(s, "- {}", n.replace('\n', " "));
            }
        }
    }
    if let Some(plot) = plot {
        let _ = writeln!(
            s,
            "\n## Placement during a move\n\n![placement over time]({plot})"
        );
    }
    s
}

/// Writes `latest.json` and `latest.md` into `dir`.
pub fn write(
    dir: &Path,
    parts: &[PartResult],
    generated: &str,
    meta: &Value,
) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir).map_err(BenchError::io(format!("create {}", dir.display())))?;
    let json = to_json(parts, generated, meta);
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| BenchError::output("report", format!("cannot format the JSON: {e}")))?;
    let path = dir.join("latest.json");
    std::fs::write(&path, text + "\n")
        .map_err(BenchError::io(format!("write {}", path.display())))?;
    let plot = dir
        .join("placement.svg")
        .exists()
        .then_some("placement.svg");
    let path = dir.join("latest.md");
    std::fs::write(&path, to_markdown(parts, generated, meta, plot))
        .map_err(BenchError::io(format!("write {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::figure::Figure;

    fn part(name: &str, key: &str, value: f64) -> PartResult {
        let mut p = PartResult::new(name);
        p.figure(Figure::new(
            &format!("{name}.x"),
            "a | b",
            "ms",
            vec![1.0, 2.0, 30.0],
        ));
        p.figure(Figure::new(
            &format!("{name}.none"),
            "nothing",
            "ms",
            vec![],
        ));
        p.headline(key, Some(value));
        p.note("look");
        p.detail("lab", json!({"kernel": "6.1.0", "cpus": 2, "node0_total_kb": 1514424, "node1_total_kb": 1547704, "thp": "[always] madvise never"}));
        p
    }

    #[test]
    fn json_has_every_required_key_and_each_part() {
        let parts = vec![
            part("boot", "boot_to_init_ms", 1234.5),
            part("extra", "extra_key", 0.5),
        ];
        let j = to_json(&parts, "2025-01-01T00:00:00Z", &json!({"commit": "abc"}));
        for k in REQUIRED_KEYS {
            assert!(j.get(k).is_some(), "{k}");
        }
        assert_eq!(j["boot_to_init_ms"], 1234.5);
        assert!(j["vmm_rss_mib"].is_null());
        assert_eq!(j["extra_key"], 0.5);
        assert_eq!(j["figures"].as_array().unwrap().len(), 4);
        assert_eq!(j["parts"]["boot"]["figures"][0]["median"], 2.0);
    }

    #[test]
    fn markdown_has_a_row_per_figure() {
        let parts = vec![part("boot", "boot_to_init_ms", 1234.6)];
        let md = to_markdown(
            &parts,
            "2025-01-01T00:00:00Z",
            &json!({"commit": "abc"}),
            Some("placement.svg"),
        );
        assert!(
            md.contains("| a \\| b | ms | 2.00 | 1.00 – 30.0 | 3 |"),
            "{md}"
        );
        assert!(md.contains("| nothing | ms | – | – | 0 |"));
        assert!(md.contains("| `boot_to_init_ms` | 1235 |"));
        assert!(md.contains("| `vmm_rss_mib` | not measured |"));
        assert!(md
            .contains("Lab: L1 kernel 6.1.0, 2 CPUs, 2 NUMA nodes (1478 MiB and 1511 MiB usable)"));
        assert!(md.contains("- look"));
        assert!(md.contains("![placement over time](placement.svg)"));
    }

    #[test]
    fn numbers_and_merging() {
        assert_eq!(number(1234.56), "1235");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(1.2345), "1.23");
        assert_eq!(number(0.01234), "0.012");
        assert_eq!(number(0.0), "0.00");
        let order = ["a", "b", "c"];
        let merged = merge(
            vec![part("c", "k", 1.0), part("a", "k", 1.0)],
            part("b", "k", 2.0),
            &order,
        );
        assert_eq!(
            merged.iter().map(|p| p.part.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let replaced = merge(merged, part("b", "k", 3.0), &order);
        assert_eq!(replaced.len(), 3);
        assert_eq!(replaced[1].headline[0].1, 3.0);
    }

    #[test]
    fn reports_are_read_back() {
        let dir = std::env::temp_dir().join(format!("tern-bench-report-{}", std::process::id()));
        let parts = vec![part("boot", "boot_to_init_ms", 1.0)];
        write(&dir, &parts, "now", &json!({})).unwrap();
        assert_eq!(load_parts(&dir.join("latest.json")), parts);
        assert!(std::fs::read_to_string(dir.join("latest.md"))
            .unwrap()
            .contains("## boot"));
        assert!(load_parts(&dir.join("missing.json")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
