//! A fuzzer for the REST API: seeded cases of raw requests ([`generate`], [`bodies`]) sent
//! over raw Unix-socket connections ([`wire`]) to a real tern running a guest, each answer
//! checked against the statuses `api/openapi.json` documents for its route ([`spec`]) and
//! for a JSON error body; tern must stay alive and its guest running.
//!
//! Requests that legitimately change the VM are sent too, and undone: the action `shutdown`
//! is never written (a body that would name it is rewritten, so tern ending is always a
//! finding); every few hundred cases and at the end the VM is resumed if a case paused it,
//! and at the end vCPU affinity is put back, heat sampling and automatic balancing turned off,
//! and every rebalance a case started is cancelled.

pub mod bodies;
pub mod generate;
pub mod restore;
pub mod rng;
pub mod spec;
pub mod wire;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;

use self::generate::{Case, RawRequest};
use self::restore::Restorer;
use self::rng::Rng;
use self::spec::{Documented, Landing};
use self::wire::{Answer, Exchange};
use crate::host_run::RunningTern;

/// How a run goes.
#[derive(Clone, Debug)]
pub struct FuzzConfig {
    /// The seed; the same seed sends the same requests.
    pub seed: u64,
    /// Requests to send (at least; a case may hold several).
    pub requests: u64,
    /// Replay only this case.
    pub only_case: Option<u64>,
    /// How long a case may wait for its answers before it counts as a hang.
    pub answer_limit: Duration,
    /// Cases between checks that tern is alive (and resumes).
    pub check_every: u64,
}

impl FuzzConfig {
    /// `requests` requests from `seed`.
    pub fn new(seed: u64, requests: u64) -> Self {
        Self {
            seed,
            requests,
            only_case: None,
            answer_limit: Duration::from_secs(20),
            check_every: 250,
        }
    }
}

/// Something wrong the fuzzer saw.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The case (replay it with the seed and this number).
    pub case: u64,
    /// What was wrong.
    pub what: String,
    /// The bytes sent (escaped, cut at 600 bytes).
    pub sent: String,
}

/// What a run did and saw.
#[derive(Clone, Debug, Default)]
pub struct FuzzReport {
    /// The seed.
    pub seed: u64,
    /// Cases (connections) run.
    pub cases: u64,
    /// Requests sent.
    pub requests: u64,
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests left unanswered where that is allowed (after an answer that closes).
    pub unanswered_after_close: u64,
    /// What was wrong.
    pub findings: Vec<Finding>,
    /// What was undone.
    pub restored: BTreeMap<&'static str, u64>,
    /// Wall time.
    pub elapsed: Duration,
}

impl FuzzReport {
    /// A few lines for a person.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "api fuzz: seed {} ({} to replay), {} requests in {} cases in {:.1} s\n",
            self.seed,
            replay_hint(self.seed),
            self.requests,
            self.cases,
            self.elapsed.as_secs_f64()
        );
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let _ = writeln!(text, "api fuzz: statuses {}", statuses.join(", "));
        let _ = writeln!(
            text,
            "api fuzz: unanswered after a closing answer: {}; restored: {:?}",
            self.unanswered_after_close, self.restored
        );
        for f in &self.findings {
            let _ = writeln!(
                text,
                "api fuzz: FINDING case {}: {}\n    sent: {}",
                f.case, f.what, f.sent
            );
        }
        let _ = writeln!(text, "api fuzz: {} findings", self.findings.len());
        text
    }
}

/// How to replay a seed.
pub fn replay_hint(seed: u64) -> String {
    format!("TERN_FUZZ_SEED={seed}, or tern-api-fuzz --seed {seed}")
}

/// The bytes of a case, printable.
fn escaped(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(600)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if bytes.len() > 600 {
        format!("{shown}... ({} bytes)", bytes.len())
    } else {
        shown
    }
}

/// A tern to fuzz: a heartbeat guest with 2 vCPUs and 16 MiB, its heartbeats flowing.
pub fn start_target(name: &str) -> RunningTern {
    let tern = RunningTern::start(
        name,
        &crate::tiny_guest::heartbeat_guest(),
        &["--memory", "16M", "--vcpus", "2"],
    );
    tern.wait_for_heartbeats(1);
    tern
}

/// Runs the fuzzer against `tern` (a running tern with a guest whose console it reads).
pub fn run(tern: &mut RunningTern, config: &FuzzConfig) -> FuzzReport {
    let spec = Documented::committed();
    let started = Instant::now();
    let mut report = FuzzReport {
        seed: config.seed,
        ..FuzzReport::default()
    };
    let mut restorer = Restorer::capture(tern);
    let mut index = config.only_case.unwrap_or(0);
    loop {
        let done = match config.only_case {
            Some(only) => index > only,
            None => report.requests >= config.requests,
        };
        if done {
            break;
        }
        let mut rng = Rng::for_case(config.seed, index);
        let case = generate::case(&mut rng, &spec);
        report.cases += 1;
        report.requests += case.requests.len() as u64;
        match wire::exchange(&tern.sock, &case, config.answer_limit) {
            Ok(exchange) => check(&spec, index, &case, &exchange, &mut report, &mut restorer),
            Err(err) => report.findings.push(Finding {
                case: index,
                what: format!("cannot reach the API: {err}"),
                sent: escaped(&case.bytes()),
            }),
        }
        if let Some(what) = index
            .is_multiple_of(config.check_every)
            .then(|| restorer.check_alive(tern, &mut report.restored))
            .flatten()
        {
            report.findings.push(Finding {
                case: index,
                what,
                sent: escaped(&case.bytes()),
            });
            break;
        }
        index += 1;
    }
    if let Some(what) = restorer.check_alive(tern, &mut report.restored) {
        report.findings.push(Finding {
            case: index,
            what,
            sent: String::new(),
        });
    } else {
        restorer.undo(tern, &mut report.restored);
    }
    report.elapsed = started.elapsed();
    report
}

/// The statuses a request may get.
fn allowed(spec: &Documented, request: &RawRequest, cut: bool) -> Vec<u16> {
    if request.malformed || cut {
        return spec.all_statuses().into_iter().collect();
    }
    match spec.landing(&request.method, &request.path) {
        Landing::Operation(statuses) => statuses.into_iter().collect(),
        Landing::WrongMethod => vec![405],
        Landing::NoSuchPath => vec![404],
    }
}

/// What is wrong with one answer, if anything.
fn wrong_answer(
    spec: &Documented,
    request: &RawRequest,
    cut: bool,
    answer: &Answer,
) -> Option<String> {
    let allowed = allowed(spec, request, cut);
    let answered = |what: String| {
        format!(
            "{} {} answered {} {what}: {:?}",
            request.method,
            request.path,
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
    };
    if !allowed.contains(&answer.status) {
        return Some(answered(format!("(documented: {allowed:?})")));
    }
    if request.method == "HEAD" {
        // No body to a HEAD request, when the server saw it as one.
        return None;
    }
    let json: Option<Value> = serde_json::from_slice(&answer.body).ok();
    if answer.status >= 400 {
        let sentence = json.as_ref().and_then(|j| j["error"].as_str());
        if sentence.is_none_or(str::is_empty) {
            return Some(answered("without a JSON error body".into()));
        }
    } else if spec::origin_path(&request.path) != "/metrics" && json.is_none() {
        return Some(answered("with a body that is not JSON".into()));
    }
    None
}

fn check(
    spec: &Documented,
    index: u64,
    case: &Case,
    exchange: &Exchange,
    report: &mut FuzzReport,
    restorer: &mut Restorer,
) {
    let cut = case.cut_at.is_some();
    let mut finding = |what: String| {
        report.findings.push(Finding {
            case: index,
            what,
            sent: escaped(&case.bytes()),
        })
    };
    for (request, answer) in case.requests.iter().zip(&exchange.answers) {
        *report.statuses.entry(answer.status).or_default() += 1;
        restorer.note(request, answer);
        if let Some(what) = wrong_answer(spec, request, cut, answer) {
            finding(what);
        }
    }
    if let Some(garbage) = &exchange.garbage {
        finding(garbage.clone());
    }
    let missing = case.requests.len() - exchange.answers.len();
    if missing == 0 {
        return;
    }
    // After an error, a `connection: close`, or a body the route may not have read (hyper
    // then cannot find the next request's start), the server may close the connection.
    let answered = exchange.answers.len();
    let closing = exchange.answers.last().is_some_and(|a| {
        a.status >= 400
            || a.header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || case.requests[answered - 1].has_body
    });
    if closing && !exchange.timed_out {
        report.unanswered_after_close += missing as u64;
    } else if exchange.timed_out {
        finding(format!(
            "no answer to {missing} of {} requests within the time limit (a hang)",
            case.requests.len()
        ));
    } else {
        finding(format!(
            "the connection closed with {missing} of {} requests unanswered",
            case.requests.len()
        ));
    }
}
