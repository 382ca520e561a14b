//! Automatic balancing: a thread that looks at where each guest node's vCPUs run every
//! interval and, through the hysteresis of `auto::AutoState`, starts a rate-limited
//! follow-vcpus rebalance of a guest node whose vCPUs settled on another host node.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{BalancerInner, RebalanceParams};
use crate::auto::{AutoConfig, AutoState, GuestNodeObservation};
use crate::mover::{Method, DEFAULT_BATCH_PAGES};
use crate::placement::query_placement;
use crate::policy::PolicyRequest;
use crate::topology::HostTopology;
use crate::vcpu_placement::locate_vcpus;

/// Default look interval.
pub const DEFAULT_AUTO_INTERVAL: Duration = Duration::from_secs(2);
/// Default rate limit of automatic moves: 256 MiB/s.
pub const DEFAULT_AUTO_RATE: u64 = 256 << 20;
/// Pages sampled per region to see where a guest node's memory is.
const SAMPLES_PER_REGION: u64 = 4096;

/// The automatic balancer's settings and counters.
#[derive(Debug, Default)]
pub struct AutoBalancer {
    enabled: AtomicBool,
    interval_ms: AtomicU64,
    rate: AtomicU64,
    started: AtomicU64,
    last_decision: Mutex<Option<String>>,
    thread: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

/// What the automatic balancer reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoReport {
    /// On or off.
    pub enabled: bool,
    /// Look interval.
    pub interval: Duration,
    /// Rate limit in bytes/s.
    pub rate: u64,
    /// Rebalances it started.
    pub rebalances_started: u64,
    /// Its last decision.
    pub last_decision: Option<String>,
}

fn observe(inner: &BalancerInner, host: &HostTopology) -> Vec<GuestNodeObservation> {
    let vcpus = locate_vcpus(&inner.view.vcpu_threads(), host);
    let mut nodes: BTreeMap<u32, GuestNodeObservation> = BTreeMap::new();
    for v in &vcpus {
        nodes
            .entry(v.guest_node)
            .or_insert_with(|| GuestNodeObservation {
                guest_node: v.guest_node,
                vcpu_nodes: Vec::new(),
                memory_on: Vec::new(),
            })
            .vcpu_nodes
            .push(v.host_node);
    }
    for region in inner.view.regions() {
        let Some(obs) = nodes.get_mut(&region.guest_node) else {
            continue;
        };
        let Ok(p) = query_placement(
            inner.mover.as_ref(),
            region.host_addr,
            region.len,
            SAMPLES_PER_REGION,
        ) else {
            continue;
        };
        for (node, count) in &p.on_node {
            match obs.memory_on.iter_mut().find(|(n, _)| n == node) {
                Some((_, c)) => *c += count,
                None => obs.memory_on.push((*node, *count)),
            }
        }
    }
    nodes.into_values().collect()
}

fn auto_loop(inner: Weak<BalancerInner>, stop: Arc<AtomicBool>) {
    let mut state = AutoState::new();
    let config = AutoConfig::default();
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
        let Some(inner) = inner.upgrade() else { return };
        if Instant::now() < next {
            continue;
        }
        next = Instant::now() + inner.auto.interval();
        if inner.running_job().is_some() {
            continue;
        }
        let Ok(host) = HostTopology::read() else {
            continue;
        };
        let now = Instant::now();
        let (moves, notes) = state.observe(now, &observe(&inner, &host), &config);
        if let (Some(note), Ok(mut last)) = (notes.last(), inner.auto.last_decision.lock()) {
            *last = Some(note.clone());
        }
        for m in moves {
            let params = RebalanceParams {
                policy: PolicyRequest::FollowVcpus {
                    guest_node: Some(m.guest_node),
                },
                method: Method::MovePages {
                    batch_pages: DEFAULT_BATCH_PAGES,
                    workers: 1,
                },
                rate_limit: Some(inner.auto.rate.load(Ordering::Relaxed)),
            };
            if inner.start(params, "follow-vcpus").is_ok() {
                state.moved(m.guest_node, now);
                inner.auto.started.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
}

impl AutoBalancer {
    /// The look interval.
    pub fn interval(&self) -> Duration {
        match self.interval_ms.load(Ordering::Relaxed) {
            0 => DEFAULT_AUTO_INTERVAL,
            ms => Duration::from_millis(ms),
        }
    }

    /// Its state now.
    pub fn report(&self) -> AutoReport {
        AutoReport {
            enabled: self.enabled.load(Ordering::SeqCst),
            interval: self.interval(),
            rate: match self.rate.load(Ordering::Relaxed) {
                0 => DEFAULT_AUTO_RATE,
                r => r,
            },
            rebalances_started: self.started.load(Ordering::Relaxed),
            last_decision: self.last_decision.lock().ok().and_then(|d| d.clone()),
        }
    }

    /// Turns it on (with new settings) or off.
    pub(crate) fn set(
        &self,
        inner: &Arc<BalancerInner>,
        enabled: bool,
        interval: Option<Duration>,
        rate: Option<u64>,
    ) -> std::io::Result<()> {
        if let Some(i) = interval {
            self.interval_ms
                .store(i.as_millis().max(100) as u64, Ordering::Relaxed);
        }
        self.rate.store(
            rate.filter(|r| *r > 0).unwrap_or(DEFAULT_AUTO_RATE),
            Ordering::Relaxed,
        );
        let Ok(mut thread) = self.thread.lock() else {
            return Err(std::io::Error::other(
                "the auto balancer's lock is poisoned",
            ));
        };
        self.enabled.store(enabled, Ordering::SeqCst);
        match (enabled, thread.is_some()) {
            (true, false) => {
                let stop = Arc::new(AtomicBool::new(false));
                let (weak, flag) = (Arc::downgrade(inner), stop.clone());
                let handle = std::thread::Builder::new()
                    .name("auto-balance".into())
                    .spawn(move || auto_loop(weak, flag))?;
                *thread = Some((stop, handle));
            }
            (false, true) => {
                if let Some((stop, handle)) = thread.take() {
                    stop.store(true, Ordering::SeqCst);
                    let _ = handle.join();
                }
            }
            _ => {}
        }
        Ok(())
    }
}
