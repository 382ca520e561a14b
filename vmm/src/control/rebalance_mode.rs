//! The mode and pace of `POST /v1/rebalance`: which combinations make sense, where lazy mode
//! cannot work (400 with a sentence), and the warning a lazy move gets when its vCPUs may
//! run off the target's CPUs.

use api::model::{RebalanceMode, RebalancePace, RebalancePolicy, RebalanceRequest};
use api::request::{ApiError, ErrorKind};
use balancer::engine::mode::{MoveMode, Pace};
use balancer::idlist::format_id_list;
use balancer::mempolicy::on_touch;
use balancer::topology::HostTopology;
use std::time::Duration;

use super::VmControl;

/// The longest `sweep_after_s`: a day.
pub const MAX_SWEEP_AFTER_S: u64 = 86_400;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, message)
}

/// The engine's mode and pace for `req`, or 400 for a combination that makes no sense.
pub fn mode_and_pace(req: &RebalanceRequest) -> Result<(MoveMode, Pace), ApiError> {
    let mode = req.mode.unwrap_or_default();
    if req.sweep_after_s.is_some() && mode != RebalanceMode::Lazy {
        return Err(bad("\"sweep_after_s\" goes with the lazy mode"));
    }
    if let Some(s) = req.sweep_after_s.filter(|s| *s > MAX_SWEEP_AFTER_S) {
        return Err(bad(format!(
            "\"sweep_after_s\" must be 0 to {MAX_SWEEP_AFTER_S}, not {s}"
        )));
    }
    let pace = match req.pace.unwrap_or_default() {
        RebalancePace::Fixed => Pace::Fixed,
        RebalancePace::Guest if mode != RebalanceMode::Live => {
            return Err(bad(
                "\"pace\": \"guest\" paces live moves; a paused move has no running guest to \
                 protect and a lazy one moves as the guest touches its pages",
            ))
        }
        RebalancePace::Guest => Pace::Guest,
    };
    let mode = match mode {
        RebalanceMode::Live => MoveMode::Live,
        RebalanceMode::Paused => MoveMode::Paused,
        RebalanceMode::Lazy => MoveMode::Lazy {
            sweep_after: req.sweep_after_s.map(Duration::from_secs),
        },
    };
    Ok((mode, pace))
}

impl VmControl {
    /// Refuses a lazy move where it cannot work: another policy than to-node or
    /// follow-vcpus, another method than the default, hugetlbfs backing, NUMA balancing off
    /// or a kernel without migrate-on-touch for mbind. Returns the warning the answer
    /// carries, if any.
    pub(super) fn check_lazy(
        &self,
        req: &RebalanceRequest,
        policy: RebalancePolicy,
        host: &HostTopology,
    ) -> Result<Option<String>, ApiError> {
        if req.mode != Some(RebalanceMode::Lazy) {
            return Ok(None);
        }
        if !matches!(
            policy,
            RebalancePolicy::ToNode | RebalancePolicy::FollowVcpus
        ) {
            return Err(bad(
                "the lazy mode moves each guest node to one host node: use it with to-node or \
                 follow-vcpus",
            ));
        }
        if req.method.is_some() || req.workers.is_some() || req.batch_pages.is_some() {
            return Err(bad(
                "the lazy mode moves pages on touch and sweeps with mbind: leave out \"method\", \
                 \"workers\" and \"batch_pages\"",
            ));
        }
        if self.ram.memory_regions().iter().any(|r| r.hugetlb) {
            return Err(bad(
                "the lazy mode cannot move hugetlbfs pages (the kernel's NUMA balancing leaves \
                 them alone); use the live or paused mode",
            ));
        }
        let probe_node = req
            .host_node
            .or_else(|| host.nodes.iter().find(|n| n.total_bytes > 0).map(|n| n.id))
            .unwrap_or(0);
        on_touch::check(probe_node).map_err(|e| bad(e.to_string()))?;
        Ok(req
            .host_node
            .and_then(|node| self.vcpus_off_node(req.guest_node, node, host)))
    }

    /// A sentence naming the vCPUs of the guest nodes in scope whose affinity lets them
    /// run off `node`'s CPUs, if any.
    fn vcpus_off_node(
        &self,
        guest_node: Option<u32>,
        node: u32,
        host: &HostTopology,
    ) -> Option<String> {
        let cpus = host.node(node)?.cpus.clone();
        let off: Vec<u32> = self
            .plan
            .nodes
            .iter()
            .filter(|n| guest_node.is_none_or(|g| g == n.id))
            .flat_map(|n| n.vcpus.iter().copied())
            .filter(|v| {
                let affinity = self.vcpu_placement(*v, Some(host)).affinity;
                affinity.is_empty() || affinity.iter().any(|c| !cpus.contains(c))
            })
            .collect();
        (!off.is_empty()).then(|| {
            format!(
                "vCPUs {} may run off host node {node}'s CPUs ({}): a page follows only a vCPU \
                 that touches it from there; pin them (PUT /v1/vcpus/{{id}}/affinity with \
                 {{\"host_node\": {node}}}) or sweep with \"sweep_after_s\"",
                format_id_list(&off),
                format_id_list(&cpus)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(mode: Option<RebalanceMode>) -> RebalanceRequest {
        RebalanceRequest {
            policy: Some(RebalancePolicy::ToNode),
            host_node: Some(1),
            mode,
            ..Default::default()
        }
    }

    #[test]
    fn modes_and_paces_that_go_together() {
        assert_eq!(
            mode_and_pace(&req(None)).unwrap(),
            (MoveMode::Live, Pace::Fixed)
        );
        let lazy = RebalanceRequest {
            sweep_after_s: Some(5),
            ..req(Some(RebalanceMode::Lazy))
        };
        assert_eq!(
            mode_and_pace(&lazy).unwrap().0,
            MoveMode::Lazy {
                sweep_after: Some(Duration::from_secs(5))
            }
        );
        let paced = RebalanceRequest {
            pace: Some(RebalancePace::Guest),
            ..req(None)
        };
        assert_eq!(
            mode_and_pace(&paced).unwrap(),
            (MoveMode::Live, Pace::Guest)
        );
    }

    #[test]
    fn combinations_that_make_no_sense_are_refused() {
        let sweep_live = RebalanceRequest {
            sweep_after_s: Some(5),
            ..req(None)
        };
        let too_late = RebalanceRequest {
            sweep_after_s: Some(MAX_SWEEP_AFTER_S + 1),
            ..req(Some(RebalanceMode::Lazy))
        };
        let paced_pause = RebalanceRequest {
            pace: Some(RebalancePace::Guest),
            ..req(Some(RebalanceMode::Paused))
        };
        for r in [sweep_live, too_late, paced_pause] {
            let err = mode_and_pace(&r).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadRequest, "{r:?}");
        }
    }
}
