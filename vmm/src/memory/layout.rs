//! Where guest RAM goes in guest-physical space: each guest node's memory follows the previous
//! one, and a node that would cross the 32-bit MMIO hole is split around it.

use crate::arch::layout::{MMIO_GAP_END, MMIO_GAP_START};

/// A contiguous piece of guest RAM that belongs to one guest NUMA node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RamRange {
    /// The guest node that owns it.
    pub guest_node: u32,
    /// First guest-physical address.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
}

impl RamRange {
    /// One past the last guest-physical address.
    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}

/// Lays out guest nodes of the given sizes (bytes), in node order.
pub fn ram_layout(node_sizes: &[u64]) -> Vec<RamRange> {
    let mut ranges = Vec::new();
    let mut cursor = 0u64;
    for (node, &size) in node_sizes.iter().enumerate() {
        let mut left = size;
        while left > 0 {
            if cursor == MMIO_GAP_START {
                cursor = MMIO_GAP_END;
            }
            let room = if cursor < MMIO_GAP_START {
                MMIO_GAP_START - cursor
            } else {
                u64::MAX
            };
            let size = left.min(room);
            ranges.push(RamRange {
                guest_node: node as u32,
                start: cursor,
                size,
            });
            cursor += size;
            left -= size;
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn r(guest_node: u32, start: u64, size: u64) -> RamRange {
        RamRange {
            guest_node,
            start,
            size,
        }
    }

    #[test]
    fn small_guest_is_one_range() {
        assert_eq!(ram_layout(&[256 * MIB]), vec![r(0, 0, 256 * MIB)]);
    }

    #[test]
    fn memory_that_reaches_the_hole_is_split_around_it() {
        assert_eq!(
            ram_layout(&[4 * GIB]),
            vec![r(0, 0, 3 * GIB), r(0, 4 * GIB, GIB)]
        );
        assert_eq!(ram_layout(&[3 * GIB]), vec![r(0, 0, 3 * GIB)]);
    }

    #[test]
    fn nodes_follow_each_other_and_the_hole_splits_the_one_across_it() {
        let layout = ram_layout(&[2 * GIB, 2 * GIB, 512 * MIB]);
        assert_eq!(
            layout,
            vec![
                r(0, 0, 2 * GIB),
                r(1, 2 * GIB, GIB),
                r(1, 4 * GIB, GIB),
                r(2, 5 * GIB, 512 * MIB)
            ]
        );
    }

    #[test]
    fn node_starting_at_the_hole_moves_above_it() {
        let layout = ram_layout(&[3 * GIB, GIB]);
        assert_eq!(layout, vec![r(0, 0, 3 * GIB), r(1, 4 * GIB, GIB)]);
        assert!(layout
            .iter()
            .all(|x| x.end() <= MMIO_GAP_START || x.start >= MMIO_GAP_END));
    }
}
