//! Reading `ternctl --json placement` (GET /v1/placement): pages per host node over all
//! guest nodes.

use serde_json::Value;

/// Pages of guest memory on each host node, summed over the guest nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPages {
    /// The page size the counts are in, in bytes.
    pub page_size: u64,
    /// (host node, pages), in the order the answer lists them.
    pub on: Vec<(u64, u64)>,
    /// Pages never touched.
    pub absent: u64,
    /// Pages whose node the kernel would not tell.
    pub unknown: u64,
}

impl HostPages {
    /// Reads a placement answer; `None` if it is not one.
    pub fn from_json(v: &Value) -> Option<Self> {
        let mut pages = Self {
            page_size: v.get("page_size")?.as_u64()?,
            ..Self::default()
        };
        for g in v.get("guest_nodes")?.as_array()? {
            for h in g.get("host_nodes")?.as_array()? {
                let (node, n) = (h.get("host_node")?.as_u64()?, h.get("pages")?.as_u64()?);
                match pages.on.iter_mut().find(|(m, _)| *m == node) {
                    Some((_, count)) => *count += n,
                    None => pages.on.push((node, n)),
                }
            }
            pages.absent += g.get("absent").and_then(Value::as_u64).unwrap_or(0);
            pages.unknown += g.get("unknown").and_then(Value::as_u64).unwrap_or(0);
        }
        Some(pages)
    }

    /// Pages on host node `node`.
    pub fn on_node(&self, node: u64) -> u64 {
        self.on
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(0, |(_, p)| *p)
    }

    /// Populated pages (on any node).
    pub fn populated(&self) -> u64 {
        self.on.iter().map(|(_, p)| p).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_guest_nodes_per_host_node() {
        let v: Value = serde_json::from_str(
            r#"{"page_size":4096,"guest_nodes":[
                {"id":0,"host_nodes":[{"host_node":0,"pages":10},{"host_node":1,"pages":5}],"absent":1,"unknown":0},
                {"id":1,"host_nodes":[{"host_node":1,"pages":7}],"absent":2,"unknown":3}],"vcpus":[]}"#,
        )
        .unwrap();
        let p = HostPages::from_json(&v).unwrap();
        assert_eq!((p.on_node(0), p.on_node(1), p.on_node(2)), (10, 12, 0));
        assert_eq!(
            (p.populated(), p.absent, p.unknown, p.page_size),
            (22, 3, 3, 4096)
        );
        assert!(HostPages::from_json(&serde_json::json!({"error": "x"})).is_none());
    }
}
