//! `ternctl auto`: automatic balancing's state.

use crate::model::AutoBalanceInfo;
use crate::ternctl::table::Table;
use crate::ternctl::units::format_mib_per_s;

/// `key  value` lines: on or off, interval, rate limit, rebalances started, last decision.
pub fn render_auto_balance(auto: &AutoBalanceInfo) -> String {
    let mut table = Table::untitled();
    for (key, value) in [
        (
            "auto-balance",
            if auto.enabled { "on" } else { "off" }.to_string(),
        ),
        ("interval", format!("{} ms", auto.interval_ms)),
        ("rate limit", format_mib_per_s(auto.max_mib_per_s)),
        ("rebalances started", auto.rebalances_started.to_string()),
        (
            "last decision",
            auto.last_decision.clone().unwrap_or_else(|| "-".into()),
        ),
    ] {
        table.row(vec![key.to_string(), value]);
    }
    for hold in &auto.holds {
        table.row(vec![
            format!("holds guest node {}", hold.guest_node),
            format!("{} ({} s)", hold.reason, hold.held_s),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_key_value_lines() {
        let mut auto = AutoBalanceInfo {
            enabled: true,
            interval_ms: 2000,
            max_mib_per_s: 256.0,
            rebalances_started: 3,
            last_decision: Some("guest node 1 follows its vCPUs to host node 0 (rb-3)".into()),
            holds: Vec::new(),
        };
        assert_eq!(
            render_auto_balance(&auto),
            "\
auto-balance        on
interval            2000 ms
rate limit          256 MiB/s
rebalances started  3
last decision       guest node 1 follows its vCPUs to host node 0 (rb-3)
"
        );
        auto.enabled = false;
        auto.last_decision = None;
        auto.max_mib_per_s = 0.5;
        let text = render_auto_balance(&auto);
        assert!(text.starts_with("auto-balance        off\n"), "{text}");
        assert!(text.contains("rate limit          0.5 MiB/s\n"), "{text}");
        assert!(text.ends_with("last decision       -\n"), "{text}");
    }
}
