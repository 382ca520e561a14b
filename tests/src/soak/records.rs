//! What the driver in L1 reports, one JSON line each, and the host reads back: a record per
//! move (`SOAK-MOVE {...}`) and one per lab run (`SOAK-RUN {...}`).

use std::collections::BTreeMap;

use api::model::RebalanceStatus;
use serde::{Deserialize, Serialize};

use super::case::{Backing, Fault, Method, Policy};

/// The prefix of a move's record.
pub const MOVE_PREFIX: &str = "SOAK-MOVE ";
/// The prefix of a lab run's record.
pub const RUN_PREFIX: &str = "SOAK-RUN ";

/// Why the soak failed somewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The guest crashed (a triple fault or a crash it reported) after it was ready.
    GuestCrash,
    /// tern ended while it should have run, without the guest crashing.
    TernDied,
    /// A move that no fault should have stopped ended failed or cancelled, or one stopped by a
    /// fault ended in a state that fault does not explain.
    MoveFailedUnexpectedly,
    /// A completed move left less than 99% of the populated pages where it should have.
    PlacementMiss,
    /// A move that stopped early left its accounting or the memory policies inconsistent.
    Inconsistent,
    /// The API refused or did not answer a request that should have worked.
    ApiError,
    /// A move that did not end in time.
    MoveStuck,
    /// The guest's workload stopped reporting while the VM ran.
    GuestStalled,
    /// The guest never got ready.
    GuestNotReady,
    /// A lab run failed for the lab's reasons more often than it is retried.
    LabFailed,
    /// The driver could not do its work (setup, a host file it needs).
    DriverError,
    /// Guest memory was not backed as asked: huge pages under `--memory-backing anon`, or
    /// none under `thp`.
    WrongBacking,
}

impl FailureKind {
    /// Every kind, in report order.
    pub const ALL: [FailureKind; 12] = [
        FailureKind::GuestCrash,
        FailureKind::TernDied,
        FailureKind::MoveFailedUnexpectedly,
        FailureKind::PlacementMiss,
        FailureKind::Inconsistent,
        FailureKind::ApiError,
        FailureKind::MoveStuck,
        FailureKind::GuestStalled,
        FailureKind::GuestNotReady,
        FailureKind::LabFailed,
        FailureKind::DriverError,
        FailureKind::WrongBacking,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::GuestCrash => "guest_crash",
            FailureKind::TernDied => "tern_died",
            FailureKind::MoveFailedUnexpectedly => "move_failed_unexpectedly",
            FailureKind::PlacementMiss => "placement_miss",
            FailureKind::Inconsistent => "inconsistent",
            FailureKind::ApiError => "api_error",
            FailureKind::MoveStuck => "move_stuck",
            FailureKind::GuestStalled => "guest_stalled",
            FailureKind::GuestNotReady => "guest_not_ready",
            FailureKind::LabFailed => "lab_failed",
            FailureKind::DriverError => "driver_error",
            FailureKind::WrongBacking => "wrong_backing",
        }
    }
}

/// One failure, with what was seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Its kind.
    pub kind: FailureKind,
    /// What happened, in words (status JSON, placement seen, tern's last lines).
    pub detail: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// Where the guest's populated pages were after a move, seen from the host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeenPlacement {
    /// Populated pages per host node (move_pages query).
    pub pages_on: BTreeMap<u32, u64>,
    /// Pages not populated.
    pub absent: u64,
    /// Pages the query answered with another error.
    pub unreadable: u64,
    /// numa_maps' pages per node over the same VMAs, as a second opinion.
    pub numa_maps_on: BTreeMap<u32, u64>,
    /// The share the check looked at: of the target (or the smaller interleave share, or for
    /// a hot-first move cut by its budget, the pages that arrived per page moved).
    pub share: f64,
}

/// One move and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoveRecord {
    /// The lab run.
    pub run: u32,
    /// The move's number in the run.
    pub index: u32,
    /// How guest memory was backed.
    pub backing: Backing,
    /// How pages moved.
    pub method: Method,
    /// The plan.
    pub policy: Policy,
    /// The fault dealt.
    pub fault: Fault,
    /// The target host node.
    pub target: u32,
    /// The hot-first budget, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mib: Option<u64>,
    /// What the fault did, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_effect: Option<String>,
    /// When the fault fired, ms after the move was asked for (None: it never did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_fired_at_ms: Option<u64>,
    /// The rebalance's last status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RebalanceStatus>,
    /// From the POST to the end, ms.
    pub wall_ms: u64,
    /// The whole step, preparation and checks included, ms.
    #[serde(default)]
    pub step_ms: u64,
    /// Where the pages were afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<SeenPlacement>,
    /// What went wrong, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Things worth knowing that are not failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl MoveRecord {
    /// The rebalance's end state by name (`none` if it never got one).
    pub fn state_name(&self) -> &'static str {
        use api::model::RebalanceState as S;
        match self.status.as_ref().map(|s| s.state) {
            Some(S::Done) => "done",
            Some(S::Failed) => "failed",
            Some(S::Cancelled) => "cancelled",
            Some(S::Running) => "running",
            Some(S::Queued) => "queued",
            None => "none",
        }
    }

    /// Bytes the move reported moved.
    pub fn bytes_moved(&self) -> u64 {
        self.status.as_ref().map_or(0, |s| s.bytes_moved)
    }
}

/// One lab run of the driver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's number.
    pub run: u32,
    /// How guest memory was backed (by name).
    pub backing: String,
    /// The seed its moves were dealt from.
    pub seed: u64,
    /// Moves asked for.
    pub moves_asked: u32,
    /// Moves made.
    pub moves_done: u32,
    /// Words the guest's workload found wrong (summed over its passes).
    pub bad_words: u64,
    /// `ERR` lines the workload printed.
    pub err_lines: u64,
    /// The workload's heartbeats seen.
    pub heartbeats: u64,
    /// Passes completed per guest CPU.
    pub passes: Vec<u64>,
    /// Largest gap between two heartbeats of one guest CPU, ms of guest time.
    pub largest_gap_ms: u64,
    /// AnonHugePages of guest memory once the workload ran, MiB.
    pub anon_huge_mib: u64,
    /// tern's exit status (None if it did not exit by itself).
    pub tern_exit: Option<i32>,
    /// The run's own wall time, s.
    pub duration_s: f64,
    /// Failures that were not a single move's (the guest, tern, setup).
    pub failures: Vec<Failure>,
    /// Things worth knowing.
    pub notes: Vec<String>,
}

/// Prints `record` as one line with `prefix`.
pub fn print_record<T: Serialize>(prefix: &str, record: &T) {
    match serde_json::to_string(record) {
        Ok(json) => println!("{prefix}{json}"),
        Err(e) => println!("{prefix}{{\"unprintable\": \"{e}\"}}"),
    }
}

/// The records with `prefix` among `lines` that parse; the number that did not goes second.
pub fn parse_records<'a, T: serde::de::DeserializeOwned>(
    lines: impl Iterator<Item = &'a str>,
    prefix: &str,
) -> (Vec<T>, usize) {
    let mut records = Vec::new();
    let mut bad = 0;
    for line in lines.filter_map(|l| l.trim_end_matches('\r').strip_prefix(prefix)) {
        match serde_json::from_str(line) {
            Ok(r) => records.push(r),
            Err(_) => bad += 1,
        }
    }
    (records, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_record_survives_the_console() {
        let record = MoveRecord {
            run: 1,
            index: 3,
            backing: Backing::Base,
            method: Method::Mbind,
            policy: Policy::HotFirst,
            fault: Fault::TargetFull,
            target: 0,
            budget_mib: Some(64),
            fault_effect: Some("reserved 300 MiB".into()),
            fault_fired_at_ms: Some(0),
            status: None,
            wall_ms: 812,
            step_ms: 1500,
            placement: Some(SeenPlacement {
                pages_on: [(0, 10), (1, 990)].into(),
                share: 0.99,
                ..Default::default()
            }),
            failure: Some(Failure::new(FailureKind::PlacementMiss, "0.98 on node 0")),
            notes: vec![],
        };
        let mut line = String::from(MOVE_PREFIX);
        line.push_str(&serde_json::to_string(&record).unwrap());
        let text = format!("noise\n{line}\r\nSOAK-MOVE {{broken\n");
        let (records, bad): (Vec<MoveRecord>, _) = parse_records(text.lines(), MOVE_PREFIX);
        assert_eq!(records, vec![record]);
        assert_eq!(bad, 1);
        assert!(line.contains("\"backing\":\"4k\""), "{line}");
        assert!(line.contains("\"fault\":\"target-full\""), "{line}");
        assert!(line.contains("\"kind\":\"placement_miss\""), "{line}");
        assert_eq!(records[0].state_name(), "none");
    }
}
