//! `ternctl rebalance`, `wait`, `status` and `cancel`: a rebalance started, and its status.

use crate::model::{
    RebalanceAccepted, RebalanceMode, RebalancePace, RebalancePolicy, RebalanceState,
    RebalanceStatus,
};
use crate::ternctl::table::Table;
use crate::ternctl::units::{format_bytes, format_rate, format_share, format_uptime};

/// The size of the pages a rebalance counts (the API counts 4 KiB pages).
pub const PAGE_BYTES: u64 = 4096;

/// The policy as the API spells it.
pub fn policy_name(policy: RebalancePolicy) -> &'static str {
    match policy {
        RebalancePolicy::ToNode => "to-node",
        RebalancePolicy::FollowVcpus => "follow-vcpus",
        RebalancePolicy::HotFirst => "hot-first",
        RebalancePolicy::Interleave => "interleave",
    }
}

/// The state as the API spells it.
pub fn state_name(state: RebalanceState) -> &'static str {
    match state {
        RebalanceState::Queued => "queued",
        RebalanceState::Running => "running",
        RebalanceState::Done => "done",
        RebalanceState::Failed => "failed",
        RebalanceState::Cancelled => "cancelled",
    }
}

/// Whether a rebalance in `state` has ended (it will not change any more).
pub fn has_ended(state: RebalanceState) -> bool {
    matches!(
        state,
        RebalanceState::Done | RebalanceState::Failed | RebalanceState::Cancelled
    )
}

/// Its average rate in bytes per second, once time has passed.
pub fn average_rate(status: &RebalanceStatus) -> Option<f64> {
    (status.elapsed_ms > 0).then(|| status.bytes_moved as f64 * 1000.0 / status.elapsed_ms as f64)
}

/// The mode as the API spells it.
pub fn mode_name(mode: RebalanceMode) -> &'static str {
    match mode {
        RebalanceMode::Live => "live",
        RebalanceMode::Paused => "paused",
        RebalanceMode::Lazy => "lazy",
    }
}

/// `rebalance rb-1 started`, and its warning on a line of its own.
pub fn render_started(accepted: &RebalanceAccepted) -> String {
    match &accepted.warning {
        Some(warning) => format!("rebalance {} started\nwarning: {warning}\n", accepted.id),
        None => format!("rebalance {} started\n", accepted.id),
    }
}

/// Pages that failed, with their reasons: `12 failed (EAGAIN 2, EBUSY 10)`.
fn failures(status: &RebalanceStatus) -> String {
    let reasons: Vec<String> = status
        .failed_by_reason
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(reason, count)| format!("{reason} {count}"))
        .collect();
    if reasons.is_empty() {
        format!("{} failed", status.pages_failed)
    } else {
        format!("{} failed ({})", status.pages_failed, reasons.join(", "))
    }
}

/// The status as `key  value` lines: id and policy, state, pages, bytes, time and rate, and
/// the message if there is one.
pub fn render_status(status: &RebalanceStatus) -> String {
    let rate = average_rate(status).map_or(String::new(), |r| format!(" ({})", format_rate(r)));
    let mut table = Table::untitled();
    let mut line = |key: &str, value: String| table.row(vec![key.to_string(), value]);
    let how = match status.mode {
        RebalanceMode::Live => String::new(),
        mode => format!(", {}", mode_name(mode)),
    };
    line(
        "rebalance",
        format!("{} ({}{how})", status.id, policy_name(status.policy)),
    );
    line("state", state_name(status.state).to_string());
    line(
        "pages",
        format!(
            "{}/{} moved ({}), {}",
            status.pages_moved,
            status.pages_total,
            format_share(status.pages_moved, status.pages_total),
            failures(status)
        ),
    );
    line("bytes", format_bytes(status.bytes_moved));
    line(
        "elapsed",
        format!("{}{rate}", format_uptime(status.elapsed_ms)),
    );
    if let Some(ms) = status.paused_ms {
        line("paused", format_uptime(ms));
    }
    if let (RebalancePace::Guest, Some(rate)) = (status.pace, status.pace_mib_per_s) {
        line(
            "pace",
            format!("guest, now {}", format_rate(rate * f64::from(1 << 20))),
        );
    }
    if let Some(message) = &status.message {
        line("message", message.clone());
    }
    table.render()
}

/// Why a rebalance that ended counts as a failure (ternctl exits 1), or None if it is done.
pub fn failure_sentence(status: &RebalanceStatus) -> Option<String> {
    let what = match status.state {
        RebalanceState::Failed => "failed",
        RebalanceState::Cancelled => "was cancelled",
        _ => return None,
    };
    Some(match &status.message {
        Some(message) => format!("rebalance {} {what}: {message}", status.id),
        None => format!("rebalance {} {what}", status.id),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use crate::model::RebalanceOrigin;

    use super::*;

    /// A to-node rebalance of 1 GiB, `moved` of 262144 pages moved in `elapsed_ms`.
    pub(crate) fn status(state: RebalanceState, moved: u64, elapsed_ms: u64) -> RebalanceStatus {
        RebalanceStatus {
            id: "rb-1".into(),
            policy: RebalancePolicy::ToNode,
            origin: RebalanceOrigin::Operator,
            mode: RebalanceMode::Live,
            pace: RebalancePace::Fixed,
            state,
            pages_total: 262_144,
            pages_moved: moved,
            pages_failed: 0,
            failed_by_reason: BTreeMap::new(),
            bytes_moved: moved * PAGE_BYTES,
            elapsed_ms,
            paused_ms: None,
            pace_mib_per_s: None,
            message: None,
        }
    }

    #[test]
    fn a_paused_or_paced_rebalance_says_so() {
        let mut paused = status(RebalanceState::Done, 262_144, 2_000);
        paused.mode = RebalanceMode::Paused;
        paused.paused_ms = Some(1_500);
        let text = render_status(&paused);
        assert!(text.contains("rb-1 (to-node, paused)"), "{text}");
        assert!(text.contains("paused     1.5s"), "{text}");
        let mut paced = status(RebalanceState::Running, 1, 2_000);
        paced.pace = RebalancePace::Guest;
        paced.pace_mib_per_s = Some(80.0);
        let text = render_status(&paced);
        assert!(text.contains("pace       guest, now 80"), "{text}");
    }

    #[test]
    fn a_done_rebalance_shows_pages_bytes_and_rate() {
        assert_eq!(
            render_status(&status(RebalanceState::Done, 262_144, 2_000)),
            "\
rebalance  rb-1 (to-node)
state      done
pages      262144/262144 moved (100.0%), 0 failed
bytes      1 GiB
elapsed    2.0s (512 MiB/s)
"
        );
        assert_eq!(failure_sentence(&status(RebalanceState::Done, 1, 1)), None);
        assert_eq!(
            render_started(&RebalanceAccepted {
                id: "rb-7".into(),
                warning: None
            }),
            "rebalance rb-7 started\n"
        );
        assert_eq!(
            render_started(&RebalanceAccepted {
                id: "rb-8".into(),
                warning: Some("vCPUs 0-1 may run off host node 1's CPUs".into())
            }),
            "rebalance rb-8 started\nwarning: vCPUs 0-1 may run off host node 1's CPUs\n"
        );
    }

    #[test]
    fn failures_show_their_reasons_and_the_message() {
        let mut failed = status(RebalanceState::Failed, 131_072, 0);
        failed.policy = RebalancePolicy::Interleave;
        failed.pages_failed = 12;
        failed.failed_by_reason = BTreeMap::from([
            ("EBUSY".to_string(), 10),
            ("EAGAIN".to_string(), 2),
            ("ENOMEM".to_string(), 0),
        ]);
        failed.message = Some("host node 1 ran out of memory".into());
        assert_eq!(
            render_status(&failed),
            "\
rebalance  rb-1 (interleave)
state      failed
pages      131072/262144 moved (50.0%), 12 failed (EAGAIN 2, EBUSY 10)
bytes      512 MiB
elapsed    0.0s
message    host node 1 ran out of memory
"
        );
        assert_eq!(
            failure_sentence(&failed).unwrap(),
            "rebalance rb-1 failed: host node 1 ran out of memory"
        );
        let cancelled = status(RebalanceState::Cancelled, 5, 10);
        assert_eq!(
            failure_sentence(&cancelled).unwrap(),
            "rebalance rb-1 was cancelled"
        );
    }

    #[test]
    fn names_and_ends() {
        assert_eq!(policy_name(RebalancePolicy::FollowVcpus), "follow-vcpus");
        assert_eq!(policy_name(RebalancePolicy::HotFirst), "hot-first");
        let ended: Vec<bool> = [
            RebalanceState::Queued,
            RebalanceState::Running,
            RebalanceState::Done,
            RebalanceState::Failed,
            RebalanceState::Cancelled,
        ]
        .into_iter()
        .map(has_ended)
        .collect();
        assert_eq!(ended, [false, false, true, true, true]);
        assert_eq!(state_name(RebalanceState::Queued), "queued");
        for policy in [
            RebalancePolicy::ToNode,
            RebalancePolicy::FollowVcpus,
            RebalancePolicy::HotFirst,
            RebalancePolicy::Interleave,
        ] {
            assert_eq!(
                serde_json::to_string(&policy).unwrap(),
                format!("\"{}\"", policy_name(policy))
            );
        }
        for state in [
            RebalanceState::Queued,
            RebalanceState::Running,
            RebalanceState::Done,
            RebalanceState::Failed,
            RebalanceState::Cancelled,
        ] {
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{}\"", state_name(state))
            );
        }
    }
}
