//! The one-line records benchmark scripts print: `REC <kind> key=value ... [:: <JSON>]`.
//! Values have no spaces; the optional JSON payload (a ternctl answer squeezed onto one line)
//! comes last, after ` :: `.

use std::collections::BTreeMap;

use serde_json::Value;

/// The prefix of every record line.
pub const PREFIX: &str = "REC ";

/// One record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Its kind, the first word.
    pub kind: String,
    /// Its `key=value` fields.
    pub fields: BTreeMap<String, String>,
    /// Its JSON payload, if it had one that parses.
    pub json: Option<Value>,
    /// The payload's text, if any (kept when it does not parse).
    pub raw_json: Option<String>,
}

impl Record {
    /// Parses a script line; `None` unless it is a record.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.trim_end_matches('\r').strip_prefix(PREFIX)?;
        let (head, payload) = match rest.split_once(" :: ") {
            Some((h, p)) => (h, Some(p.trim())),
            None => (rest, None),
        };
        let mut words = head.split_whitespace();
        let kind = words.next()?.to_string();
        let fields = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Self {
            kind,
            fields,
            json: payload.and_then(|p| serde_json::from_str(p).ok()),
            raw_json: payload.map(String::from),
        })
    }

    /// Field `key` as text.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// Field `key` as a number.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok()
    }

    /// Field `key` as an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key)?.parse().ok()
    }
}

/// Every record of `kind` among `lines`, in order.
pub fn records<'a>(lines: impl Iterator<Item = &'a str>, kind: &str) -> Vec<Record> {
    lines
        .filter_map(Record::parse)
        .filter(|r| r.kind == kind)
        .collect()
}

/// The `FACT key=value` lines scripts print about L1 (kernel, nodes, THP mode), as JSON.
pub fn facts<'a>(lines: impl Iterator<Item = &'a str>) -> Value {
    let mut map = serde_json::Map::new();
    for r in lines.filter_map(Record::parse).filter(|r| r.kind == "fact") {
        for (k, v) in r.fields {
            let value = v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(v.replace('_', " ")));
            map.insert(k, value);
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_payload() {
        let r =
            Record::parse("REC move round=2 start=10.50 status=0 :: {\"a\": [1, 2]}\r").unwrap();
        assert_eq!(r.kind, "move");
        assert_eq!(r.int("round"), Some(2));
        assert_eq!(r.num("start"), Some(10.5));
        assert_eq!(r.json.unwrap()["a"][1], 2);
        let bare = Record::parse("REC window mode=off").unwrap();
        assert_eq!(
            (bare.get("mode"), bare.json.clone(), bare.raw_json.clone()),
            (Some("off"), None, None)
        );
        let broken = Record::parse("REC x :: {nope").unwrap();
        assert_eq!(
            (broken.json, broken.raw_json.as_deref()),
            (None, Some("{nope"))
        );
        assert!(Record::parse("HB pass=1").is_none());
    }

    #[test]
    fn selects_by_kind_and_reads_facts() {
        let text = "REC a n=1\nREC b n=2\nREC a n=3\nREC fact kernel=6.1.0 node0_kb=100 thp=always_madvise\n";
        let a = records(text.lines(), "a");
        assert_eq!(
            a.iter().map(|r| r.int("n")).collect::<Vec<_>>(),
            [Some(1), Some(3)]
        );
        let f = facts(text.lines());
        assert_eq!(f["kernel"], "6.1.0");
        assert_eq!(f["node0_kb"], 100);
        assert_eq!(f["thp"], "always madvise");
    }
}
