//! Request bodies: the request models of `api/src/model` filled with each field's boundary
//! values (from the ranges the API documents), wrong types, unknown fields, and broken JSON
//! (cut, deeply nested, huge, invalid UTF-8, stray bytes). The action `shutdown` is never
//! written, so the fuzzer cannot end the VM on purpose (see [`super`]).

use super::rng::Rng;

/// Numbers around every documented bound, as JSON text: 0, 1, CPU and node ids, 64 workers,
/// 512 and 65536 batch pages, 10 and 100 ms, 3600000 ms, u32/u64 limits and beyond,
/// negatives, fractions, exponents and 1000 digits.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-0",
    "0.0",
    "-0.0",
    "0.5",
    "1.5",
    "-1.5",
    "1e3",
    "1E-300",
    "1e308",
    "1e309",
    "-1e309",
    "9",
    "10",
    "11",
    "63",
    "64",
    "65",
    "99",
    "100",
    "101",
    "255",
    "256",
    "511",
    "512",
    "513",
    "1000",
    "1024",
    "4095",
    "4096",
    "65535",
    "65536",
    "65537",
    "3599999",
    "3600000",
    "3600001",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "00",
    "01",
    "+1",
    ".5",
    "1.",
    "0x10",
    "NaN",
    "Infinity",
    "-Infinity",
];

/// Strings: valid enum values (never `shutdown`), near misses, unicode, escapes.
const STRINGS: &[&str] = &[
    "pause",
    "resume",
    "Pause",
    "PAUSE",
    "pause ",
    " resume",
    "to-node",
    "follow-vcpus",
    "hot-first",
    "interleave",
    "to_node",
    "ToNode",
    "move-pages",
    "mbind",
    "move_pages",
    "",
    "0",
    "1",
    "true",
    "null",
    "rb-1",
    "\\u0000",
    "\\ud800",
    "\\udfff\\ud800",
    "\\uffff",
    "é",
    "日本語",
    "🦀",
    "\\n\\r\\t",
    "\\\"",
    "\\\\",
    "a\\u0000b",
];

const ACTION_FIELDS: &[&str] = &["action"];
const AFFINITY_FIELDS: &[&str] = &["cpus", "host_node"];
const REBALANCE_FIELDS: &[&str] = &[
    "policy",
    "host_node",
    "host_nodes",
    "guest_node",
    "max_mib_per_s",
    "budget_mib",
    "method",
    "workers",
    "batch_pages",
];
const HEAT_FIELDS: &[&str] = &["enabled", "interval_ms"];
const AUTO_FIELDS: &[&str] = &["enabled", "interval_ms", "max_mib_per_s"];
const STRANGE_FIELDS: &[&str] = &[
    "",
    "Action",
    "now",
    "cpus ",
    "__proto__",
    "é",
    "\\u0061ction",
];

/// The fields of the model a path takes as its body.
pub fn fields_of(template: &str) -> &'static [&'static str] {
    match template {
        "/v1/actions" => ACTION_FIELDS,
        "/v1/vcpus/{id}/affinity" => AFFINITY_FIELDS,
        "/v1/rebalance" => REBALANCE_FIELDS,
        "/v1/heat" => HEAT_FIELDS,
        "/v1/auto-balance" => AUTO_FIELDS,
        _ => &[],
    }
}

fn string(rng: &mut Rng) -> String {
    format!("\"{}\"", rng.pick(STRINGS))
}

/// A value a field of this name would take, or one of the wrong kind.
fn value_for(rng: &mut Rng, field: &str, depth: usize) -> String {
    if rng.chance(15) {
        return any_value(rng, depth);
    }
    match field {
        "action" => format!("\"{}\"", rng.pick(&["pause", "resume"])),
        "policy" => format!(
            "\"{}\"",
            rng.pick(&["to-node", "follow-vcpus", "hot-first", "interleave"])
        ),
        "method" => format!("\"{}\"", rng.pick(&["move-pages", "mbind"])),
        "enabled" => rng.pick(&["true", "false"]).to_string(),
        "cpus" | "host_nodes" => number_list(rng),
        _ => rng.pick(NUMBERS).to_string(),
    }
}

fn number_list(rng: &mut Rng) -> String {
    let n: usize = rng.pick(&[0, 1, 1, 2, 3, 8, 300]);
    let items: Vec<&str> = (0..n)
        .map(|_| {
            rng.pick(&[
                "0",
                "0",
                "1",
                "2",
                "-1",
                "4096",
                "4294967296",
                "0.5",
                "\"0\"",
            ])
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// Any JSON value, of any kind.
fn any_value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 5 } else { 7 }) {
        0 => rng.pick(NUMBERS).to_string(),
        1 => string(rng),
        2 => rng.pick(&["true", "false", "null"]).to_string(),
        3 => number_list(rng),
        4 => format!("\"{}\"", "x".repeat(rng.range(0, 3000))),
        5 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| any_value(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => object(rng, &[], depth + 1),
    }
}

/// An object with some of `fields` (and maybe strangers), duplicated or not.
fn object(rng: &mut Rng, fields: &[&str], depth: usize) -> String {
    let mut members = Vec::new();
    for field in fields {
        if rng.chance(60) {
            members.push(format!("\"{field}\":{}", value_for(rng, field, depth)));
        }
    }
    if rng.chance(10) {
        let field = rng.pick(STRANGE_FIELDS);
        members.push(format!("\"{field}\":{}", any_value(rng, depth)));
    }
    if rng.chance(5) && !members.is_empty() {
        let again = members[rng.below(members.len())].clone();
        members.push(again);
    }
    let sep = rng.pick(&[",", ",", ", ", " ,\n\t"]);
    format!("{{{}}}", members.join(sep))
}

/// A body for `template`: mostly its model with edge values, sometimes broken.
pub fn body(rng: &mut Rng, template: &str) -> Vec<u8> {
    let fields = fields_of(template);
    let valid = object(rng, fields, 0).into_bytes();
    let text = match rng.below(20) {
        0 => Vec::new(),
        1 => cut(rng, valid),
        2 => nested(rng),
        3 => huge(rng),
        4 => random_bytes(rng),
        5 => any_value(rng, 0).into_bytes(),
        6 => {
            let mut v = valid;
            let tails: [&[u8]; 6] = [b"x", b"}", b" {}", b"\0", b"\xff", b"\n\n"];
            v.extend_from_slice(rng.pick(&tails));
            v
        }
        7 => {
            let mut v = b"\xef\xbb\xbf".to_vec();
            v.extend(valid);
            v
        }
        8 => mutate(rng, valid),
        _ => valid,
    };
    never_shutdown(text)
}

fn cut(rng: &mut Rng, text: Vec<u8>) -> Vec<u8> {
    let at = rng.below(text.len().max(1));
    text[..at].to_vec()
}

/// Arrays or objects nested deeper than serde_json's limit (128), or just under it.
fn nested(rng: &mut Rng) -> Vec<u8> {
    let depth: usize = rng.pick(&[127, 128, 129, 1000, 5000]);
    let (open, close) = if rng.chance(50) {
        ("[", "]")
    } else {
        ("{\"a\":", "}")
    };
    let mut text = open.repeat(depth);
    text.push('1');
    if rng.chance(70) {
        text.push_str(&close.repeat(depth));
    }
    text.into_bytes()
}

/// Bodies from just under the 16 KiB limit to 8 times over it.
fn huge(rng: &mut Rng) -> Vec<u8> {
    let size: usize = rng.pick(&[
        16 * 1024 - 1,
        16 * 1024,
        16 * 1024 + 1,
        64 * 1024,
        128 * 1024,
    ]);
    let mut text = b"{\"action\":\"pause\",\"pad\":\"".to_vec();
    text.resize(size.saturating_sub(2).max(text.len()), b'x');
    text.extend_from_slice(b"\"}");
    text
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    (0..rng.range(1, 200))
        .map(|_| (rng.next_u64() & 0xff) as u8)
        .collect()
}

/// Flips, drops or repeats a few bytes.
fn mutate(rng: &mut Rng, mut text: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.range(1, 4) {
        if text.is_empty() {
            break;
        }
        let at = rng.below(text.len());
        match rng.below(3) {
            0 => text[at] = (rng.next_u64() & 0xff) as u8,
            1 => {
                text.remove(at);
            }
            _ => {
                let b = text[at];
                text.insert(at, b);
            }
        }
    }
    text
}

/// The body with every `shutdown` spelled otherwise, so no request can stop the VM (also
/// when JSON escapes would spell it).
pub fn never_shutdown(text: Vec<u8>) -> Vec<u8> {
    let needle = b"shutdown";
    let mut out = text;
    while let Some(at) = out.windows(needle.len()).position(|w| w == needle) {
        out[at] = b'S';
    }
    if serde_json::from_slice::<serde_json::Value>(&out).is_ok_and(|v| names_shutdown(&v)) {
        return b"{\"action\":\"Shutdown\"}".to_vec();
    }
    out
}

fn names_shutdown(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s == "shutdown",
        serde_json::Value::Array(items) => items.iter().any(names_shutdown),
        serde_json::Value::Object(map) => map.values().any(names_shutdown),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_never_name_shutdown_and_vary() {
        let mut rng = Rng::new(1);
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let b = body(&mut rng, "/v1/actions");
            assert!(!b.windows(8).any(|w| w == b"shutdown"));
            kinds.insert(serde_json::from_slice::<serde_json::Value>(&b).is_ok());
        }
        assert_eq!(kinds.len(), 2, "both valid and broken JSON");
        assert_eq!(
            never_shutdown(b"{\"action\":\"shutdown\"}".to_vec()),
            b"{\"action\":\"Shutdown\"}".to_vec()
        );
        assert_eq!(
            never_shutdown(b"{\"action\":\"\\u0073hutdown\"}".to_vec()),
            b"{\"action\":\"Shutdown\"}".to_vec()
        );
    }
}
