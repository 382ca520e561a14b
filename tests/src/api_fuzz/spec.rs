//! What the API documents: each operation's statuses, read from `api/openapi.json`, and the
//! statuses any request may get before it reaches a route (README, API section).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Statuses a request may get before routing: not HTTP/1.1 (400), URI too long (414), head
/// too large (431), head too slow (408), too many connections (503).
pub const BEFORE_ROUTING: [u16; 5] = [400, 408, 414, 431, 503];

/// The documented statuses, per operation.
#[derive(Clone, Debug)]
pub struct Documented {
    /// (method, path template) → statuses.
    operations: BTreeMap<(String, String), BTreeSet<u16>>,
}

/// Where a request lands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Landing {
    /// An operation: its statuses.
    Operation(BTreeSet<u16>),
    /// A path the API has, but not with this method: 405.
    WrongMethod,
    /// A path the API does not have: 404.
    NoSuchPath,
}

impl Documented {
    /// The committed spec.
    pub fn committed() -> Self {
        Self::parse(include_str!("../../../api/openapi.json"))
    }

    /// A spec's operations; an unreadable spec has none.
    pub fn parse(text: &str) -> Self {
        let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let mut operations = BTreeMap::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (path, item) in paths {
                for method in ["get", "put", "post", "delete"] {
                    if let Some(responses) = item[method]["responses"].as_object() {
                        let statuses = responses.keys().filter_map(|k| k.parse().ok()).collect();
                        operations.insert((method.to_uppercase(), path.clone()), statuses);
                    }
                }
            }
        }
        Self { operations }
    }

    /// The path templates.
    pub fn templates(&self) -> BTreeSet<String> {
        self.operations.keys().map(|(_, p)| p.clone()).collect()
    }

    /// Where `method path` lands (HEAD as GET; the query and fragment are not part of the
    /// path, nor the scheme and authority of an absolute URI).
    pub fn landing(&self, method: &str, path: &str) -> Landing {
        let path = origin_path(path);
        let method = if method == "HEAD" { "GET" } else { method };
        let mut found = false;
        for ((m, template), statuses) in &self.operations {
            if matches_template(template, path) {
                found = true;
                if m == method {
                    return Landing::Operation(statuses.clone());
                }
            }
        }
        if found {
            Landing::WrongMethod
        } else {
            Landing::NoSuchPath
        }
    }

    /// Every status documented anywhere.
    pub fn all_statuses(&self) -> BTreeSet<u16> {
        let mut all: BTreeSet<u16> = self.operations.values().flatten().copied().collect();
        all.extend(BEFORE_ROUTING);
        all.extend([404, 405]);
        all
    }
}

/// The path part of a request target: `http://host/p?q#f` and `/p?q#f` give `/p`.
pub fn origin_path(target: &str) -> &str {
    let target = target.split(['?', '#']).next().unwrap_or("");
    match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => target,
    }
}

/// Whether `path` fills `template` (`{x}` matches one non-empty segment).
pub fn matches_template(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_spec_routes_requests() {
        let spec = Documented::committed();
        assert!(spec.templates().contains("/v1/vcpus/{id}/affinity"));
        match spec.landing("PUT", "/v1/vcpus/abc/affinity") {
            Landing::Operation(s) => assert!(s.contains(&404) && s.contains(&400)),
            other => panic!("{other:?}"),
        }
        assert_eq!(spec.landing("POST", "/v1/vm"), Landing::WrongMethod);
        assert_eq!(spec.landing("GET", "/v1/vm/"), Landing::NoSuchPath);
        assert_eq!(spec.landing("GET", "/v1/rebalance/"), Landing::NoSuchPath);
        assert!(matches!(
            spec.landing("HEAD", "/metrics?x=1"),
            Landing::Operation(_)
        ));
        assert_eq!(origin_path("http://[::1]/metrics#x"), "/metrics");
        assert_eq!(origin_path("http://localhost"), "/");
    }
}
