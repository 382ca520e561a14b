//! How a rebalance moves pages (its mode) and how fast (its pace).

use std::time::Duration;

/// How a rebalance moves pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MoveMode {
    /// The mover moves every page while the guest runs.
    #[default]
    Live,
    /// The vCPUs are paused, the mover moves every page, the vCPUs run again.
    Paused,
    /// The guest node's memory is bound to the target with migrate-on-touch, and the guest's
    /// own accesses move its pages; what is left after `sweep_after` (if given) is moved
    /// live.
    Lazy {
        /// When to move what is left.
        sweep_after: Option<Duration>,
    },
}

impl MoveMode {
    /// `live`, `paused` or `lazy`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Paused => "paused",
            Self::Lazy { .. } => "lazy",
        }
    }
}

/// How the mover's speed is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// As fast as it can, or at the fixed rate limit.
    #[default]
    Fixed,
    /// From the vCPUs' run-queue delay, under the rate limit if there is one.
    Guest,
}
