//! Reading `GET /v1/placement` answers (as `ternctl --json placement` prints them).

use serde_json::Value;

/// Populated pages of guest node `guest_node` on host node `host_node` / all its populated
/// pages (0 of 0 reads as 0).
pub fn share_on(placement: &Value, guest_node: usize, host_node: u64) -> f64 {
    let Some(host_nodes) = placement["guest_nodes"][guest_node]["host_nodes"].as_array() else {
        return 0.0;
    };
    let pages = |h: &Value| h["pages"].as_u64().unwrap_or(0);
    let total: u64 = host_nodes.iter().map(pages).sum();
    let on: u64 = host_nodes
        .iter()
        .filter(|h| h["host_node"].as_u64() == Some(host_node))
        .map(pages)
        .sum();
    on as f64 / total.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_a_guest_node() {
        let placement = serde_json::json!({"guest_nodes": [{"host_nodes": [
            {"host_node": 0, "pages": 1}, {"host_node": 1, "pages": 3}]}]});
        assert_eq!(share_on(&placement, 0, 1), 0.75);
        assert_eq!(share_on(&placement, 0, 2), 0.0);
        assert_eq!(share_on(&placement, 1, 0), 0.0);
    }
}
