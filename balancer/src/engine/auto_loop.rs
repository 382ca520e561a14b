//! Automatic balancing: a thread that looks at where each guest node's vCPUs run every
//! interval and, through the hysteresis of `auto::AutoState`, starts a rate-limited
//! follow-vcpus rebalance of a guest node whose vCPUs settled on another host node, if that
//! node has room for the whole guest node plus a margin (the rule a move's binding follows,
//! `binding::Room`), so that automatic balancing never fills a node to its last page. Guest
//! nodes an operator placed are held (see `auto`); the holds outlive the thread, so turning
//! automatic balancing off and on keeps nothing but what enabling says: enabling releases
//! them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::binding::Room;
use super::job::JobOrigin;
use super::mode::{MoveMode, Pace};
use super::{BalancerInner, RebalanceParams};
use crate::auto::{AutoConfig, AutoState, GuestNodeObservation, Hold};
use crate::mover::{Method, DEFAULT_BATCH_PAGES};
use crate::placement::{query_placement, PAGE_SIZE};
use crate::policy::PolicyRequest;
use crate::topology::HostTopology;
use crate::vcpu_placement::locate_vcpus;

/// Default look interval.
pub const DEFAULT_AUTO_INTERVAL: Duration = Duration::from_secs(2);
/// Default rate limit of automatic moves: 256 MiB/s.
pub const DEFAULT_AUTO_RATE: u64 = 256 << 20;
/// Pages sampled per region to see where a guest node's memory is.
const SAMPLES_PER_REGION: u64 = 4096;

/// Whether the thread should run, and the condition it sleeps on between looks.
#[derive(Debug, Default)]
struct Running {
    enabled: bool,
    thread: Option<JoinHandle<()>>,
}

/// The automatic balancer's settings, decisions, holds and thread.
#[derive(Debug, Default)]
pub struct AutoBalancer {
    interval_ms: AtomicU64,
    rate: AtomicU64,
    started: AtomicU64,
    last_decision: Mutex<Option<String>>,
    state: Mutex<AutoState>,
    running: Mutex<Running>,
    /// Notified when `running.enabled` turns off or the interval changes.
    wake: Condvar,
}

/// A held guest node, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldReport {
    /// The guest node.
    pub guest_node: u32,
    /// Why.
    pub reason: String,
    /// For how long.
    pub held_for: Duration,
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
    /// Guest nodes it leaves alone because an operator placed their memory.
    pub holds: Vec<HoldReport>,
}

/// One look at every guest node: where its vCPUs run, where its memory is, its pins.
pub(crate) fn observe(inner: &BalancerInner, host: &HostTopology) -> Vec<GuestNodeObservation> {
    let threads = inner.view.vcpu_threads();
    let vcpus = locate_vcpus(&threads, host);
    let mut nodes: BTreeMap<u32, GuestNodeObservation> = BTreeMap::new();
    for (v, thread) in vcpus.iter().zip(&threads) {
        let obs = nodes
            .entry(v.guest_node)
            .or_insert_with(|| GuestNodeObservation {
                guest_node: v.guest_node,
                ..GuestNodeObservation::default()
            });
        obs.vcpu_nodes.push(v.host_node);
        obs.pins += thread.pins;
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

/// Room on `node` for `guest_node`'s memory: its size less the bytes already there (from a
/// sample of each region), with the node's margin, as a move's binding would need it.
pub(crate) fn room_for(
    inner: &BalancerInner,
    host: &HostTopology,
    guest_node: u32,
    node: u32,
) -> Room {
    let mut need = 0u64;
    let mut hugetlb = false;
    for region in inner
        .view
        .regions()
        .into_iter()
        .filter(|r| r.guest_node == guest_node)
    {
        let there = query_placement(
            inner.mover.as_ref(),
            region.host_addr,
            region.len,
            SAMPLES_PER_REGION,
        )
        .map_or(0, |p| {
            p.estimate(p.on_node.get(&node).copied().unwrap_or(0)) * PAGE_SIZE
        });
        need += region.len.saturating_sub(there);
        hugetlb |= region.hugetlb;
    }
    Room::on(host, node, need, hugetlb)
}

/// One look: decide, remember the decision, start at most one move, and only into a host
/// node with room for the whole guest node plus its margin.
fn look(inner: &Arc<BalancerInner>, config: &AutoConfig) {
    if inner.running_job().is_some() {
        return;
    }
    let Ok(host) = inner.host.topology() else {
        return;
    };
    let now = Instant::now();
    let observed = observe(inner, &host);
    let moves = {
        let Ok(mut state) = inner.auto.state.lock() else {
            return;
        };
        let (moves, notes) = state.observe(now, &observed, config);
        if let (Some(note), Ok(mut last)) = (notes.last(), inner.auto.last_decision.lock()) {
            *last = Some(note.clone());
        }
        moves
    };
    for m in moves {
        let room = room_for(inner, &host, m.guest_node, m.target);
        if !room.fits() {
            if let Ok(mut last) = inner.auto.last_decision.lock() {
                *last = Some(format!(
                    "guest node {} stays: {}",
                    m.guest_node,
                    room.shortfall("it may need there")
                ));
            }
            continue;
        }
        let params = automatic_move(m.guest_node, inner.auto.rate());
        if inner.start(params, "follow-vcpus", JobOrigin::Auto).is_ok() {
            if let Ok(mut state) = inner.auto.state.lock() {
                state.moved(m.guest_node, now);
            }
            inner.auto.started.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
}

/// The move automatic balancing starts for `guest_node`: live, one worker, paced by the
/// guest under `rate` (bytes per second).
pub(crate) fn automatic_move(guest_node: u32, rate: u64) -> RebalanceParams {
    RebalanceParams {
        policy: PolicyRequest::FollowVcpus {
            guest_node: Some(guest_node),
        },
        method: Method::MovePages {
            batch_pages: DEFAULT_BATCH_PAGES,
            workers: 1,
        },
        rate_limit: Some(rate),
        mode: MoveMode::Live,
        pace: Pace::Guest,
    }
}

fn auto_loop(inner: Weak<BalancerInner>) {
    let config = AutoConfig::default();
    let mut last = None;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if !strong.auto.sleep_after(last) {
            return;
        }
        last = Some(Instant::now());
        look(&strong, &config);
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

    fn rate(&self) -> u64 {
        match self.rate.load(Ordering::Relaxed) {
            0 => DEFAULT_AUTO_RATE,
            r => r,
        }
    }

    /// Sleeps while enabled until an interval has passed since the look at `last` (at once
    /// when there was none); returns whether it is still enabled. The interval is read again
    /// whenever the thread is woken, so a shorter one set during a long sleep takes effect
    /// at once.
    fn sleep_after(&self, last: Option<Instant>) -> bool {
        let Ok(mut running) = self.running.lock() else {
            return false;
        };
        while running.enabled {
            let Some(last) = last else {
                return true;
            };
            let left = (last + self.interval()).saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            running = match self.wake.wait_timeout(running, left) {
                Ok((guard, _)) => guard,
                Err(_) => return false,
            };
        }
        false
    }

    /// Its state now.
    pub fn report(&self) -> AutoReport {
        let now = Instant::now();
        AutoReport {
            enabled: self.running.lock().map(|r| r.enabled).unwrap_or(false),
            interval: self.interval(),
            rate: self.rate(),
            rebalances_started: self.started.load(Ordering::Relaxed),
            last_decision: self.last_decision.lock().ok().and_then(|d| d.clone()),
            holds: self
                .state
                .lock()
                .map(|s| s.holds())
                .unwrap_or_default()
                .into_iter()
                .map(|h: Hold| HoldReport {
                    guest_node: h.guest_node,
                    held_for: now.saturating_duration_since(h.since),
                    reason: h.reason,
                })
                .collect(),
        }
    }

    /// Holds `guest_node`: an operator placed its memory.
    pub(crate) fn hold(&self, guest_node: u32, reason: String, pins: u64, vcpu_node: Option<u32>) {
        if let Ok(mut state) = self.state.lock() {
            state.hold(guest_node, reason, Instant::now(), pins, vcpu_node);
        }
    }

    /// Turns it on (with new settings; enabling releases every hold) or off. Turning it off
    /// stops and joins its thread.
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
        if let Some(r) = rate.filter(|r| *r > 0) {
            self.rate.store(r, Ordering::Relaxed);
        }
        if enabled {
            if let Ok(mut state) = self.state.lock() {
                state.release_all();
            }
        }
        let Ok(mut running) = self.running.lock() else {
            return Err(std::io::Error::other(
                "the auto balancer's lock is poisoned",
            ));
        };
        running.enabled = enabled;
        self.wake.notify_all();
        match (enabled, running.thread.take()) {
            (true, None) => {
                let weak = Arc::downgrade(inner);
                let spawned = std::thread::Builder::new()
                    .name("auto-balance".into())
                    .spawn(move || {
                        sandbox::enter(sandbox::ThreadKind::AutoBalance);
                        auto_loop(weak)
                    });
                match spawned {
                    Ok(handle) => running.thread = Some(handle),
                    Err(e) => {
                        running.enabled = false;
                        return Err(e);
                    }
                }
            }
            (true, Some(handle)) => running.thread = Some(handle),
            (false, Some(handle)) => {
                drop(running);
                let _ = handle.join();
            }
            (false, None) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shorter_interval_ends_the_long_sleep_it_was_set_during() {
        let auto = Arc::new(AutoBalancer::default());
        auto.interval_ms.store(3_600_000, Ordering::Relaxed);
        auto.running.lock().unwrap().enabled = true;
        let sleeper = Arc::clone(&auto);
        let (done, slept) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(sleeper.sleep_after(Some(Instant::now()))));
        std::thread::sleep(Duration::from_millis(50));
        auto.interval_ms.store(100, Ordering::Relaxed);
        auto.wake.notify_all();
        let woke = slept.recv_timeout(Duration::from_secs(20));
        auto.running.lock().unwrap().enabled = false;
        auto.wake.notify_all();
        assert_eq!(woke, Ok(true), "the sleep went on for the old interval");
    }

    #[test]
    fn the_first_look_comes_at_once_and_turning_off_ends_the_sleep() {
        let auto = Arc::new(AutoBalancer::default());
        auto.running.lock().unwrap().enabled = true;
        assert!(auto.sleep_after(None));
        auto.interval_ms.store(3_600_000, Ordering::Relaxed);
        let sleeper = Arc::clone(&auto);
        let slept = std::thread::spawn(move || sleeper.sleep_after(Some(Instant::now())));
        std::thread::sleep(Duration::from_millis(50));
        auto.running.lock().unwrap().enabled = false;
        auto.wake.notify_all();
        assert!(!slept.join().unwrap());
    }
}
