//! The host's side of the soak: splits the moves over lab runs (each a fresh L1 and tern,
//! THP and 4 KiB pages taking turns), carries the driver into L1, runs each with the lab's
//! retries and reads back what the driver printed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::case::Backing;
use super::records::{
    parse_records, Failure, FailureKind, MoveRecord, RunRecord, MOVE_PREFIX, RUN_PREFIX,
};
use crate::{run_with_retries, LabError, LabSpec};

/// Memory per L1 node, MiB.
pub const L1_NODE_MIB: u32 = 1024;
/// Time a lab run allows per move, beyond its fixed part.
const PER_MOVE: Duration = Duration::from_secs(20);
/// The fixed part of a run's time in L1: the guest's boot, its last checks and shutdown.
const RUN_FIXED: Duration = Duration::from_secs(120);
/// The most time the driver of one lab run starts moves in: a lab run holds the machine's lab
/// lock, and moves of 4 KiB pages are slow in the lab (see the README), so a run of them ends
/// with fewer moves and the next run makes the rest.
const RUN_MOST: Duration = Duration::from_secs(20 * 60);
/// What a lab run needs beyond the driver's time: L1's boot, the guest's boot, a last move
/// that may take its full time, the end.
const LAB_EXTRA: Duration = Duration::from_secs(900);

/// The VM each lab run boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestShape {
    /// Memory per guest node (two of them, one vCPU each), MiB.
    pub node_mib: u64,
    /// Memory the workload on each guest CPU checks, MiB.
    pub workload_mib: u64,
}

impl Default for GuestShape {
    fn default() -> Self {
        Self {
            node_mib: 160,
            workload_mib: 32,
        }
    }
}

/// Moves per lab run at most, by backing: a move of 4 KiB pages costs several times one of
/// huge pages in the lab (see the README's Reliability section), so its runs are shorter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSizes {
    /// Moves per THP-backed run.
    pub thp: u32,
    /// Moves per run of 4 KiB pages.
    pub base: u32,
}

impl RunSizes {
    /// Moves per run of `backing`, at least one.
    pub fn of(self, backing: Backing) -> u32 {
        match backing {
            Backing::Thp => self.thp,
            Backing::Base => self.base,
        }
        .max(1)
    }
}

impl Default for RunSizes {
    fn default() -> Self {
        Self { thp: 150, base: 50 }
    }
}

/// A soak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoakPlan {
    /// Moves in all.
    pub moves: u32,
    /// Moves per lab run at most.
    pub per_run: RunSizes,
    /// The seed; lab run k deals its moves from `seed + k`.
    pub seed: u64,
    /// The VM.
    pub shape: GuestShape,
    /// The tern-soak binary carried into L1 (it is the driver there).
    pub driver: PathBuf,
    /// Names the lab runs' logs (`<name>-<run>`).
    pub name: String,
    /// Echo L1's console.
    pub echo: bool,
}

/// How one lab run went.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// The run's number.
    pub run: u32,
    /// How guest memory was backed.
    pub backing: Backing,
    /// What the driver said of it, if it got that far.
    pub record: Option<RunRecord>,
    /// Its moves.
    pub moves: Vec<MoveRecord>,
    /// Lab retries it needed.
    pub retries: u32,
    /// Failures of the lab run itself (the lab gave up, the driver said nothing).
    pub failures: Vec<Failure>,
    /// Its console log.
    pub log: PathBuf,
    /// Wall time, s.
    pub wall_s: f64,
}

/// A whole soak.
#[derive(Clone, Debug, PartialEq)]
pub struct SoakResult {
    /// What was asked.
    pub plan: SoakPlan,
    /// Its lab runs.
    pub runs: Vec<RunOutcome>,
    /// Wall time, s.
    pub duration_s: f64,
}

impl SoakResult {
    /// Every move, in order.
    pub fn moves(&self) -> impl Iterator<Item = &MoveRecord> {
        self.runs.iter().flat_map(|r| r.moves.iter())
    }

    /// Every failure: of moves, of runs in L1 and of lab runs.
    pub fn failures(&self) -> Vec<&Failure> {
        let moves = self.moves().filter_map(|m| m.failure.as_ref());
        let runs = self.runs.iter().flat_map(|r| {
            r.record
                .iter()
                .flat_map(|rec| rec.failures.iter())
                .chain(r.failures.iter())
        });
        moves.chain(runs).collect()
    }

    /// Words the guests found corrupted.
    pub fn bad_words(&self) -> u64 {
        self.runs
            .iter()
            .filter_map(|r| r.record.as_ref())
            .map(|r| r.bad_words.max(r.err_lines))
            .sum()
    }

    /// Lab retries.
    pub fn lab_retries(&self) -> u32 {
        self.runs.iter().map(|r| r.retries).sum()
    }
}

/// The driver's time limit and the lab run's, for `moves` moves.
pub fn run_limits(moves: u32) -> (Duration, Duration) {
    let driver = (RUN_FIXED + PER_MOVE * moves).min(RUN_MOST);
    (driver, driver + LAB_EXTRA)
}

/// The script L1 runs: the driver, for run `run`.
fn script(plan: &SoakPlan, run: u32, moves: u32, deadline: Duration) -> String {
    format!(
        "tern-soak l1 --run {run} --moves {moves} --seed {} --backing {} --deadline-s {} \
         --node-mib {} --workload-mib {}\n",
        plan.seed.wrapping_add(u64::from(run)),
        Backing::of_run(run).name(),
        deadline.as_secs(),
        plan.shape.node_mib,
        plan.shape.workload_mib
    )
}

/// Runs lab run `run` with `moves` moves.
fn lab_run(plan: &SoakPlan, run: u32, moves: u32) -> RunOutcome {
    let (deadline, timeout) = run_limits(moves);
    let spec = LabSpec::new(
        format!("{}-{run}", plan.name),
        script(plan, run, moves, deadline),
    )
    .with_nodes(2)
    .with_node_mib(L1_NODE_MIB)
    .requiring_tern()
    .carry_binary(&plan.driver)
    .with_timeout(timeout)
    .with_echo(plan.echo);
    let started = Instant::now();
    let mut outcome = RunOutcome {
        run,
        backing: Backing::of_run(run),
        record: None,
        moves: Vec::new(),
        retries: 0,
        failures: Vec::new(),
        log: PathBuf::new(),
        wall_s: 0.0,
    };
    match run_with_retries(&spec) {
        Ok(out) => {
            outcome.retries = out.attempts.saturating_sub(1);
            outcome.log = out.log.clone();
            let (moves, bad_moves) = parse_records(out.script_lines(), MOVE_PREFIX);
            let (runs, _) = parse_records::<RunRecord>(out.script_lines(), RUN_PREFIX);
            outcome.moves = moves;
            outcome.record = runs.into_iter().next();
            if bad_moves > 0 {
                outcome.failures.push(Failure::new(
                    FailureKind::DriverError,
                    format!(
                        "{bad_moves} move records did not parse (console {})",
                        out.log.display()
                    ),
                ));
            }
            if outcome.record.is_none() || out.status != 0 {
                outcome.failures.push(Failure::new(
                    FailureKind::DriverError,
                    format!(
                        "the driver ended with status {} {} (console {})",
                        out.status,
                        if outcome.record.is_some() {
                            "after its report"
                        } else {
                            "without a report"
                        },
                        out.log.display()
                    ),
                ));
            }
        }
        Err(LabError::Lab(f)) => {
            outcome.retries = f.attempt.saturating_sub(1);
            outcome.log = f.log.clone();
            outcome
                .failures
                .push(Failure::new(FailureKind::LabFailed, f.to_string()));
        }
        Err(e) => outcome
            .failures
            .push(Failure::new(FailureKind::DriverError, e.to_string())),
    }
    outcome.wall_s = started.elapsed().as_secs_f64();
    outcome
}

/// Runs the soak, calling `progress` with a line after each lab run.
pub fn run_soak(plan: &SoakPlan, mut progress: impl FnMut(&str)) -> SoakResult {
    let started = Instant::now();
    // A run that makes no move (the lab gave up, the guest never got ready) is not tried
    // forever: the soak ends after this many in a row.
    let max_idle_runs = 2;
    let mut runs = Vec::new();
    let mut done = 0u32;
    let mut idle = 0;
    let mut run = 0u32;
    while done < plan.moves && idle < max_idle_runs {
        let moves = plan.per_run.of(Backing::of_run(run)).min(plan.moves - done);
        let outcome = lab_run(plan, run, moves);
        let made = outcome.moves.len() as u32;
        done += made;
        idle = if made == 0 { idle + 1 } else { 0 };
        let failures = outcome.moves.iter().filter(|m| m.failure.is_some()).count()
            + outcome.failures.len()
            + outcome.record.as_ref().map_or(0, |r| r.failures.len());
        progress(&format!(
            "soak: run {run} ({}): {made} of {moves} moves in {:.0} s, {failures} failures, {} lab retries, \
             {done}/{} moves so far (console {})",
            outcome.backing.name(),
            outcome.wall_s,
            outcome.retries,
            plan.moves,
            outcome.log.display()
        ));
        runs.push(outcome);
        run += 1;
    }
    SoakResult {
        plan: plan.clone(),
        runs,
        duration_s: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_has_time_for_its_moves_and_the_lab() {
        let (driver, lab) = run_limits(10);
        assert_eq!(driver, Duration::from_secs(320));
        assert!(lab > driver + Duration::from_secs(300));
        assert_eq!(run_limits(1000).0, RUN_MOST);
    }

    #[test]
    fn runs_of_4k_pages_are_shorter_and_none_is_empty() {
        let sizes = RunSizes::default();
        assert!(sizes.of(Backing::Base) < sizes.of(Backing::Thp));
        let (thp, base) = (sizes.of(Backing::of_run(0)), sizes.of(Backing::of_run(1)));
        assert_eq!(
            5 * (thp + base),
            1000,
            "make soak's 1000 moves are five runs of each"
        );
        assert_eq!(RunSizes { thp: 0, base: 0 }.of(Backing::Thp), 1);
    }

    #[test]
    fn the_script_runs_the_driver_with_the_runs_seed_and_backing() {
        let plan = SoakPlan {
            moves: 10,
            per_run: RunSizes { thp: 5, base: 5 },
            seed: 100,
            shape: GuestShape::default(),
            driver: "/x/tern-soak".into(),
            name: "soak".into(),
            echo: false,
        };
        let s = script(&plan, 3, 5, Duration::from_secs(200));
        assert_eq!(
            s,
            "tern-soak l1 --run 3 --moves 5 --seed 103 --backing 4k --deadline-s 200 --node-mib 160 --workload-mib 32\n"
        );
    }
}
