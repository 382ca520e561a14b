//! `POST /v1/rebalance`, `GET`/`DELETE /v1/rebalance/{id}`, `GET`/`PUT /v1/heat` and
//! `GET`/`PUT /v1/auto-balance`: requests checked against the VM and the host, then handed to
//! the balancer engine.

use std::time::Duration;

use api::model::{
    AutoBalanceHold, AutoBalanceInfo, AutoBalanceRequest, GuestNodeHeat, HeatInfo, HeatRequest,
    HotChunk, MoveMethod, RebalanceAccepted, RebalanceMode, RebalanceOrigin, RebalancePace,
    RebalancePolicy, RebalanceRequest, RebalanceState, RebalanceStatus, RequestOrigin,
};
use api::request::{ApiError, ErrorKind};
use balancer::chunk::CHUNK_BYTES;
use balancer::engine::job::{JobOrigin, JobReport, JobState};
use balancer::engine::mode::{MoveMode, Pace};
use balancer::engine::{EngineError, RebalanceParams};
use balancer::idlist::format_id_list;
use balancer::mover::{Method, DEFAULT_BATCH_PAGES, DEFAULT_MBIND_STEP};
use balancer::pages::SystemPages;
use balancer::placement::query_placement;
use balancer::policy::PolicyRequest;
use balancer::topology::HostTopology;

use super::rebalance_mode::mode_and_pace;
use super::{internal, VmControl};

const MIB: f64 = (1u64 << 20) as f64;
/// Hot chunks listed per guest node.
const HOT_CHUNKS: usize = 8;

/// The most move-pages workers a rebalance may ask for, whatever the host; on a host, at most
/// the CPUs tern may use.
pub const MAX_WORKERS: u32 = 64;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, message)
}

/// The smallest rate limit: one 4 KiB page per second, in MiB/s.
pub const MIN_MIB_PER_S: f64 = 1.0 / 256.0;

/// A rate limit in MiB/s as bytes per second, or 400 for one that is not a number, not
/// positive, or too small to express (below one page per second).
fn rate_limit(rate: Option<f64>) -> Result<Option<u64>, ApiError> {
    let Some(rate) = rate else {
        return Ok(None);
    };
    if !rate.is_finite() || rate < MIN_MIB_PER_S {
        return Err(bad(format!(
            "\"max_mib_per_s\" must be a number of at least {MIN_MIB_PER_S} (one 4 KiB page \
             per second), not {rate}"
        )));
    }
    // Beyond u64 the conversion saturates: a limit no move can reach.
    Ok(Some((rate * MIB) as u64))
}

/// A budget in MiB as bytes, or 400 for 0 or one that overflows.
fn budget_bytes(budget_mib: Option<u64>) -> Result<Option<u64>, ApiError> {
    match budget_mib {
        None => Ok(None),
        Some(0) => Err(bad("\"budget_mib\" must be at least 1")),
        Some(mib) => mib.checked_mul(1 << 20).map(Some).ok_or_else(|| {
            bad(format!(
                "\"budget_mib\" must be at most {}, not {mib}",
                u64::MAX >> 20
            ))
        }),
    }
}

fn engine_error(err: EngineError) -> ApiError {
    let kind = match err {
        EngineError::Busy(_) | EngineError::Ended(_) => ErrorKind::Conflict,
        EngineError::NoSuchJob(_) => ErrorKind::NotFound,
        EngineError::Thread(_) => ErrorKind::Internal,
    };
    ApiError::new(kind, err.to_string())
}

fn policy_name(policy: RebalancePolicy) -> &'static str {
    match policy {
        RebalancePolicy::ToNode => "to-node",
        RebalancePolicy::FollowVcpus => "follow-vcpus",
        RebalancePolicy::HotFirst => "hot-first",
        RebalancePolicy::Interleave => "interleave",
    }
}

fn policy_of_name(name: &str) -> RebalancePolicy {
    match name {
        "to-node" => RebalancePolicy::ToNode,
        "hot-first" => RebalancePolicy::HotFirst,
        "interleave" => RebalancePolicy::Interleave,
        _ => RebalancePolicy::FollowVcpus,
    }
}

/// The API form of a job report.
pub fn status_of(report: &JobReport) -> RebalanceStatus {
    let p = &report.progress;
    RebalanceStatus {
        id: report.id.clone(),
        policy: policy_of_name(report.policy),
        origin: match report.origin {
            JobOrigin::Operator => RebalanceOrigin::Operator,
            JobOrigin::Auto => RebalanceOrigin::Auto,
            JobOrigin::HostBalancer => RebalanceOrigin::HostBalancer,
        },
        mode: match report.mode {
            MoveMode::Live => RebalanceMode::Live,
            MoveMode::Paused => RebalanceMode::Paused,
            MoveMode::Lazy { .. } => RebalanceMode::Lazy,
        },
        pace: match report.pace {
            Pace::Fixed => RebalancePace::Fixed,
            Pace::Guest => RebalancePace::Guest,
        },
        state: match report.state {
            JobState::Queued => RebalanceState::Queued,
            JobState::Running => RebalanceState::Running,
            JobState::Done => RebalanceState::Done,
            JobState::Failed => RebalanceState::Failed,
            JobState::Cancelled => RebalanceState::Cancelled,
        },
        pages_total: p.pages_total,
        pages_moved: p.pages_moved,
        pages_failed: p.pages_failed,
        failed_by_reason: p.failed_by_reason.clone(),
        bytes_moved: p.bytes_moved,
        elapsed_ms: p.elapsed.as_millis() as u64,
        paused_ms: report.paused.map(|d| d.as_millis() as u64),
        pace_mib_per_s: report.pace_rate.map(|r| r as f64 / MIB),
        message: report.message.clone(),
    }
}

impl VmControl {
    fn check_host_node(&self, host: &HostTopology, node: u32) -> Result<u32, ApiError> {
        if host.node(node).is_some_and(|n| n.total_bytes > 0) {
            return Ok(node);
        }
        let ids: Vec<u32> = host
            .nodes
            .iter()
            .filter(|n| n.total_bytes > 0)
            .map(|n| n.id)
            .collect();
        Err(bad(format!(
            "host node {node} does not exist or has no memory (this host has memory on nodes {})",
            format_id_list(&ids)
        )))
    }

    fn check_guest_node(&self, node: Option<u32>) -> Result<Option<u32>, ApiError> {
        match node {
            Some(g) if !self.plan.nodes.iter().any(|n| n.id == g) => Err(bad(format!(
                "guest node {g} does not exist (this VM has guest nodes 0-{})",
                self.plan.nodes.len() - 1
            ))),
            other => Ok(other),
        }
    }

    fn policy_request(
        &self,
        req: &RebalanceRequest,
        policy: RebalancePolicy,
        host: &HostTopology,
    ) -> Result<PolicyRequest, ApiError> {
        let guest_node = self.check_guest_node(req.guest_node)?;
        let nodes = |list: &Option<Vec<u32>>| -> Result<Vec<u32>, ApiError> {
            let list = list
                .clone()
                .ok_or_else(|| bad("interleave needs \"host_nodes\""))?;
            if list.is_empty() {
                return Err(bad("\"host_nodes\" is empty"));
            }
            let mut seen = Vec::new();
            for n in list {
                if seen.contains(&n) {
                    return Err(bad(format!("host node {n} is in \"host_nodes\" twice")));
                }
                seen.push(self.check_host_node(host, n)?);
            }
            Ok(seen)
        };
        let base = |req: &RebalanceRequest| -> Result<PolicyRequest, ApiError> {
            match (req.host_node, &req.host_nodes) {
                (Some(_), Some(_)) => Err(bad("give \"host_node\" or \"host_nodes\", not both")),
                (Some(n), None) => Ok(PolicyRequest::ToNode {
                    host_node: self.check_host_node(host, n)?,
                    guest_node,
                }),
                (None, Some(_)) => Ok(PolicyRequest::Interleave {
                    host_nodes: nodes(&req.host_nodes)?,
                    guest_node,
                }),
                (None, None) => Ok(PolicyRequest::FollowVcpus { guest_node }),
            }
        };
        if req.budget_mib.is_some() && policy != RebalancePolicy::HotFirst {
            return Err(bad("\"budget_mib\" goes with the hot-first policy"));
        }
        match policy {
            RebalancePolicy::ToNode => {
                let n = req.host_node.ok_or_else(|| bad("to-node needs \"host_node\""))?;
                Ok(PolicyRequest::ToNode { host_node: self.check_host_node(host, n)?, guest_node })
            }
            RebalancePolicy::FollowVcpus if req.host_node.is_some() || req.host_nodes.is_some() => {
                Err(bad("follow-vcpus chooses the host nodes itself; leave out \"host_node\" and \"host_nodes\""))
            }
            RebalancePolicy::FollowVcpus => Ok(PolicyRequest::FollowVcpus { guest_node }),
            RebalancePolicy::Interleave => Ok(PolicyRequest::Interleave { host_nodes: nodes(&req.host_nodes)?, guest_node }),
            RebalancePolicy::HotFirst => Ok(PolicyRequest::HotFirst {
                base: Box::new(base(req)?),
                budget_bytes: budget_bytes(req.budget_mib)?,
            }),
        }
    }

    /// Checks and starts a rebalance.
    pub fn start_rebalance(&self, req: &RebalanceRequest) -> Result<RebalanceAccepted, ApiError> {
        let policy = req
            .policy
            .ok_or_else(|| bad("a rebalance needs a \"policy\""))?;
        let host =
            HostTopology::read().map_err(|e| internal("cannot read the host topology", e))?;
        let request = self.policy_request(req, policy, &host)?;
        let rate_limit = rate_limit(req.max_mib_per_s)?;
        let (mode, pace) = mode_and_pace(req)?;
        let warning = self.check_lazy(req, policy, &host)?;
        let workers = req.workers.unwrap_or(1);
        let max_workers = (self.usable_cpus.len() as u32).clamp(1, MAX_WORKERS);
        if !(1..=max_workers).contains(&workers) {
            return Err(bad(format!(
                "\"workers\" must be 1 to {max_workers} (the CPUs tern may use, at most {MAX_WORKERS}), not {workers}"
            )));
        }
        let batch = req.batch_pages.unwrap_or(DEFAULT_BATCH_PAGES as u32);
        if !(1..=65536).contains(&batch) {
            return Err(bad(format!(
                "\"batch_pages\" must be 1 to 65536, not {batch}"
            )));
        }
        let method = match req.method.unwrap_or(MoveMethod::MovePages) {
            MoveMethod::MovePages => Method::MovePages {
                batch_pages: batch as usize,
                workers: workers as usize,
            },
            MoveMethod::Mbind => Method::Mbind {
                step: DEFAULT_MBIND_STEP,
            },
        };
        let params = RebalanceParams {
            policy: request,
            method,
            rate_limit,
            mode,
            pace,
        };
        let origin = match req.origin.unwrap_or(RequestOrigin::Operator) {
            RequestOrigin::Operator => JobOrigin::Operator,
            RequestOrigin::HostBalancer => JobOrigin::HostBalancer,
        };
        let report = self
            .balancer
            .start_as(params, policy_name(policy), origin)
            .map_err(engine_error)?;
        Ok(RebalanceAccepted {
            id: report.id,
            warning,
        })
    }

    /// A rebalance's status.
    pub fn rebalance_status(&self, id: &str) -> Result<RebalanceStatus, ApiError> {
        self.balancer
            .report(id)
            .map(|r| status_of(&r))
            .map_err(engine_error)
    }

    /// Cancels a running rebalance.
    pub fn cancel_rebalance(&self, id: &str) -> Result<RebalanceStatus, ApiError> {
        self.balancer
            .cancel(id)
            .map(|r| status_of(&r))
            .map_err(engine_error)
    }

    /// Write heat per guest node.
    pub fn heat_info(&self) -> HeatInfo {
        let state = self.balancer.heat_state();
        let regions = self.ram.memory_regions();
        let mut guest_nodes = Vec::new();
        if let Some(guard) = self.balancer.heat().map() {
            if let Some(map) = guard.as_ref() {
                for node in &self.plan.nodes {
                    let indices: Vec<usize> = (0..regions.len())
                        .filter(|i| regions[*i].guest_node == node.id)
                        .collect();
                    let rate: f64 = indices.iter().map(|i| map.write_bytes_per_s(*i)).sum();
                    let hottest = map
                        .hottest(&indices, HOT_CHUNKS)
                        .into_iter()
                        .map(|(r, chunk, heat)| {
                            let region = &regions[r];
                            let host_node = query_placement(
                                &SystemPages,
                                region.host_addr + chunk * CHUNK_BYTES,
                                CHUNK_BYTES.min(region.len - chunk * CHUNK_BYTES),
                                512,
                            )
                            .ok()
                            .and_then(|p| {
                                p.on_node.iter().max_by_key(|(_, c)| **c).map(|(n, _)| *n)
                            });
                            HotChunk {
                                guest_addr: region.guest_addr + chunk * CHUNK_BYTES,
                                host_node,
                                heat,
                            }
                        })
                        .collect();
                    guest_nodes.push(GuestNodeHeat {
                        id: node.id,
                        write_mib_per_s: rate / MIB,
                        hottest,
                    });
                }
            }
        }
        HeatInfo {
            sampling: state.running,
            interval_ms: state.interval.as_millis() as u64,
            chunk_bytes: CHUNK_BYTES,
            samples: state.samples,
            guest_nodes,
        }
    }

    /// Turns heat sampling on or off.
    pub fn set_heat(&self, req: &HeatRequest) -> Result<HeatInfo, ApiError> {
        if let Some(ms) = req.interval_ms.filter(|ms| !(10..=3_600_000).contains(ms)) {
            return Err(bad(format!(
                "\"interval_ms\" must be 10 to 3600000, not {ms}"
            )));
        }
        self.balancer
            .set_heat(req.enabled, req.interval_ms.map(Duration::from_millis))
            .map_err(|e| internal("cannot switch dirty logging", e))?;
        Ok(self.heat_info())
    }

    /// Automatic balancing's state.
    pub fn auto_info(&self) -> AutoBalanceInfo {
        let r = self.balancer.auto();
        AutoBalanceInfo {
            enabled: r.enabled,
            interval_ms: r.interval.as_millis() as u64,
            max_mib_per_s: r.rate as f64 / MIB,
            rebalances_started: r.rebalances_started,
            last_decision: r.last_decision,
            holds: r
                .holds
                .into_iter()
                .map(|h| AutoBalanceHold {
                    guest_node: h.guest_node,
                    reason: h.reason,
                    held_s: h.held_for.as_secs(),
                })
                .collect(),
        }
    }

    /// Turns automatic balancing on or off.
    pub fn set_auto(&self, req: &AutoBalanceRequest) -> Result<AutoBalanceInfo, ApiError> {
        if let Some(ms) = req.interval_ms.filter(|ms| !(100..=3_600_000).contains(ms)) {
            return Err(bad(format!(
                "\"interval_ms\" must be 100 to 3600000, not {ms}"
            )));
        }
        let rate = rate_limit(req.max_mib_per_s)?;
        self.balancer
            .set_auto(
                req.enabled,
                req.interval_ms.map(Duration::from_millis),
                rate,
            )
            .map_err(|e| internal("cannot switch automatic balancing", e))?;
        Ok(self.auto_info())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_too_small_to_express_are_refused_not_taken_as_no_limit() {
        for rate in [
            0.0,
            -1.0,
            1e-9,
            f64::NAN,
            f64::INFINITY,
            MIN_MIB_PER_S / 2.0,
        ] {
            let err = rate_limit(Some(rate)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadRequest, "{rate}");
            assert!(err.message.contains("one 4 KiB page"), "{}", err.message);
        }
        assert_eq!(rate_limit(Some(MIN_MIB_PER_S)).unwrap(), Some(4096));
        assert_eq!(rate_limit(Some(128.0)).unwrap(), Some(128 << 20));
        assert_eq!(rate_limit(Some(1e300)).unwrap(), Some(u64::MAX));
        assert_eq!(rate_limit(None).unwrap(), None);
    }

    #[test]
    fn budgets_that_overflow_or_are_empty_are_refused() {
        assert_eq!(budget_bytes(Some(3)).unwrap(), Some(3 << 20));
        assert_eq!(
            budget_bytes(Some(u64::MAX >> 20)).unwrap(),
            Some((u64::MAX >> 20) << 20)
        );
        for mib in [0, (u64::MAX >> 20) + 1, u64::MAX] {
            let err = budget_bytes(Some(mib)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadRequest, "{mib}");
        }
    }
}
