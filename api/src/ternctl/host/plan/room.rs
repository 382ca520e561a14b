//! Whether a host node has room for a guest node: the rule the engine follows before it binds
//! a guest node to a node (`balancer::engine::binding`), host-wide. The guest node may fault
//! in all of its size there, so it needs its size less what it already has there; other guest
//! nodes tied to that node may still fault in what they have not yet; and the node keeps a
//! margin of 1/16 of its memory, at least 64 MiB.

use balancer::engine::binding::bind_margin;

use super::state::{At, HostState};
use crate::ternctl::units::format_bytes;

/// A host node's room for one guest node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// The host node.
    pub node: u32,
    /// Its free bytes (counting what guest nodes leaving it would free).
    pub free: u64,
    /// What other guest nodes tied to it may still fault in there.
    pub reserved: u64,
    /// What the guest node needs there: its size less what it has there.
    pub need: u64,
    /// What the node keeps free.
    pub margin: u64,
}

impl Room {
    /// Whether the need, the reserve and the margin fit in the free memory.
    pub fn fits(&self) -> bool {
        self.free
            >= self
                .need
                .saturating_add(self.reserved)
                .saturating_add(self.margin)
    }

    /// `host node N has F free[, R of it promised to other guest nodes tied there], room for
    /// (or less than) the X it needs plus a M margin`.
    pub fn sentence(&self) -> String {
        let promised = if self.reserved > 0 {
            format!(
                " ({} of it promised to guest nodes tied there)",
                format_bytes(self.reserved)
            )
        } else {
            String::new()
        };
        let verdict = if self.fits() { "room for" } else { "less than" };
        format!(
            "host node {} has {} free{promised}, {verdict} the {} it needs plus a {} margin",
            self.node,
            format_bytes(self.free),
            format_bytes(self.need),
            format_bytes(self.margin)
        )
    }
}

/// `node`'s room for the guest node at `at`, once the guest nodes in `leaving` have moved
/// all their memory off it.
pub fn room(state: &HostState, node: u32, at: At, leaving: &[At]) -> Room {
    let (free, total) = state.node(node).map_or((0, 0), |n| (n.free, n.total));
    let need = state
        .guest(at)
        .map_or(0, |g| g.size.saturating_sub(g.on_node(node)));
    let freed: u64 = leaving
        .iter()
        .filter_map(|l| state.guest(*l))
        .map(|g| g.on_node(node))
        .sum();
    let reserved = state
        .guests()
        .filter(|(other, g)| *other != at && !leaving.contains(other) && g.home == Some(node))
        .map(|(_, g)| g.size.saturating_sub(g.populated()))
        .sum();
    Room {
        node,
        free: free.saturating_add(freed),
        reserved,
        need,
        margin: bind_margin(total),
    }
}
