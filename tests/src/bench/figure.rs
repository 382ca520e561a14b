//! A measured figure (its samples, unit and summary) and what one benchmark part produces.

use serde_json::{json, Map, Value};

use super::stats::Summary;

/// One figure of the report: repeated samples of one quantity.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// A stable key, e.g. `migration.tern_best_mib_s`.
    pub key: String,
    /// What it is, in words, for the table.
    pub label: String,
    /// Its unit, e.g. `MiB/s`.
    pub unit: String,
    /// Every sample, in the order measured.
    pub samples: Vec<f64>,
}

impl Figure {
    /// A figure.
    pub fn new(key: &str, label: impl Into<String>, unit: &str, samples: Vec<f64>) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            unit: unit.into(),
            samples,
        }
    }

    /// Median, range and count of the samples.
    pub fn summary(&self) -> Option<Summary> {
        Summary::of(&self.samples)
    }

    /// The median, if there is any sample.
    pub fn median(&self) -> Option<f64> {
        self.summary().map(|s| s.median)
    }

    /// As JSON: key, label, unit, median, min, max, n and the samples.
    pub fn to_json(&self) -> Value {
        let s = self.summary();
        json!({
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "median": s.map(|s| s.median),
            "min": s.map(|s| s.min),
            "max": s.map(|s| s.max),
            "n": s.map_or(0, |s| s.n),
            "samples": self.samples,
        })
    }

    /// Reads back [`Figure::to_json`]; `None` if `v` is not such an object.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            key: v.get("key")?.as_str()?.into(),
            label: v.get("label")?.as_str()?.into(),
            unit: v.get("unit")?.as_str()?.into(),
            samples: v
                .get("samples")?
                .as_array()?
                .iter()
                .filter_map(Value::as_f64)
                .collect(),
        })
    }
}

/// What one benchmark part produced.
#[derive(Clone, Debug, PartialEq)]
pub struct PartResult {
    /// The part's name (see [`super::Part`]).
    pub part: String,
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// Its figures, in report order.
    pub figures: Vec<Figure>,
    /// The report's top-level keys this part gives, with their values.
    pub headline: Vec<(String, f64)>,
    /// Observations worth a reader's attention (printed under the table).
    pub notes: Vec<String>,
    /// Everything else: per-run samples, lab facts, raw statuses.
    pub detail: Value,
}

impl PartResult {
    /// An empty result for `part`, dated now.
    pub fn new(part: &str) -> Self {
        Self {
            part: part.into(),
            date: super::clock::utc_now(),
            figures: Vec::new(),
            headline: Vec::new(),
            notes: Vec::new(),
            detail: Value::Object(Map::new()),
        }
    }

    /// Adds a figure.
    pub fn figure(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    /// Sets a top-level key (skipped when `value` is `None` or not finite).
    pub fn headline(&mut self, key: &str, value: Option<f64>) {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.headline.push((key.into(), v));
        }
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Sets `detail[key]`.
    pub fn detail(&mut self, key: &str, value: Value) {
        if let Value::Object(map) = &mut self.detail {
            map.insert(key.into(), value);
        }
    }

    /// The figure with `key`.
    pub fn find(&self, key: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.key == key)
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        let headline: Map<String, Value> = self
            .headline
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "part": self.part,
            "date": self.date,
            "figures": self.figures.iter().map(Figure::to_json).collect::<Vec<_>>(),
            "headline": headline,
            "notes": self.notes,
            "detail": self.detail,
        })
    }

    /// Reads back [`PartResult::to_json`]; `None` if `v` is not such an object.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            part: v.get("part")?.as_str()?.into(),
            date: v.get("date")?.as_str()?.into(),
            figures: v
                .get("figures")?
                .as_array()?
                .iter()
                .filter_map(Figure::from_json)
                .collect(),
            headline: v
                .get("headline")?
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect(),
            notes: v
                .get("notes")?
                .as_array()?
                .iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect(),
            detail: v.get("detail").cloned().unwrap_or(Value::Null),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_survives_its_json() {
        let mut part = PartResult::new("boot");
        part.figure(Figure::new(
            "boot.tern_ms",
            "tern",
            "ms",
            vec![3.0, 1.0, 2.0],
        ));
        part.headline("boot_to_init_ms", Some(2.0));
        part.headline("skipped", None);
        part.headline("skipped_too", Some(f64::NAN));
        part.note("fast");
        part.detail("runs", json!([1, 2]));
        let json = part.to_json();
        assert_eq!(json["figures"][0]["median"], 2.0);
        assert_eq!(json["figures"][0]["n"], 3);
        assert_eq!(json["headline"]["boot_to_init_ms"], 2.0);
        assert!(json["headline"].get("skipped").is_none());
        assert_eq!(PartResult::from_json(&json), Some(part));
        assert!(PartResult::from_json(&json!({"part": 1})).is_none());
    }

    #[test]
    fn an_empty_figure_has_no_median() {
        let f = Figure::new("k", "l", "u", vec![]);
        assert_eq!(f.median(), None);
        assert_eq!(f.to_json()["n"], 0);
        assert!(f.to_json()["median"].is_null());
    }
}
