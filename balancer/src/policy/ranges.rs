//! Move ranges: a plan's chunk moves as contiguous host address ranges, the mover's tasks.
//! Adjacent chunks of one region with the same target merge into one range, so a plan that
//! moves a whole region becomes a single range; the plan's order is kept.

use super::Plan;
use crate::chunk::{RegionChunks, CHUNK_BYTES};

/// A contiguous host range to move, merged from adjacent chunk moves of one region with the
/// same target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveRange {
    /// The region ([`RegionChunks::region`]).
    pub region: usize,
    /// Host address of the first byte.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// The host node it goes to.
    pub target: u32,
    /// Populated pages in it not on the target.
    pub pages: u64,
}

/// Host address and length of chunk `chunk` of `region`, if the region has it.
fn chunk_span(region: &RegionChunks, chunk: u64) -> Option<(u64, u64)> {
    let offset = chunk.checked_mul(CHUNK_BYTES)?;
    if chunk >= region.chunks.len() as u64 || offset >= region.info.len {
        return None;
    }
    Some((region.chunk_addr(chunk), region.chunk_len(chunk)))
}

/// The plan's moves as ranges, in the plan's order: a move joins the range before it only if
/// both are in the same region, go to the same node and touch in memory. Moves naming a
/// region or chunk `regions` lacks (none, for a plan made from `regions`) are skipped.
pub fn move_ranges(plan: &Plan, regions: &[RegionChunks]) -> Vec<MoveRange> {
    let mut ranges: Vec<MoveRange> = Vec::new();
    for m in &plan.moves {
        let Some((addr, len)) = regions
            .iter()
            .find(|r| r.region == m.region)
            .and_then(|r| chunk_span(r, m.chunk))
        else {
            continue;
        };
        match ranges.last_mut() {
            Some(last)
                if last.region == m.region
                    && last.target == m.target
                    && last.addr + last.len == addr =>
            {
                last.len += len;
                last.pages += m.pages;
            }
            _ => ranges.push(MoveRange {
                region: m.region,
                addr,
                len,
                target: m.target,
                pages: m.pages,
            }),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{host_base, on, region, split};
    use super::super::ChunkMove;
    use super::*;

    fn mv(region: usize, chunk: u64, target: u32, pages: u64) -> ChunkMove {
        ChunkMove {
            region,
            chunk,
            target,
            pages,
        }
    }

    fn plan_of(moves: Vec<ChunkMove>) -> Plan {
        Plan {
            moves,
            targets: Vec::new(),
        }
    }

    fn regions() -> Vec<RegionChunks> {
        let mut short = region(1, 0, vec![on(0), split(&[(0, 10)])]);
        short.info.len = CHUNK_BYTES + CHUNK_BYTES / 4;
        vec![region(0, 0, vec![on(0); 6]), short]
    }

    #[test]
    fn merges_chunks_adjacent_in_the_plan_and_in_memory() {
        let plan = plan_of(vec![
            mv(0, 0, 1, 512),
            mv(0, 1, 1, 512),
            mv(0, 2, 1, 512),
            mv(0, 4, 1, 512),
            mv(1, 0, 1, 512),
            mv(1, 1, 1, 10),
        ]);
        let ranges = move_ranges(&plan, &regions());
        let base = host_base(0);
        assert_eq!(
            ranges,
            vec![
                MoveRange {
                    region: 0,
                    addr: base,
                    len: 3 * CHUNK_BYTES,
                    target: 1,
                    pages: 1536
                },
                MoveRange {
                    region: 0,
                    addr: base + 4 * CHUNK_BYTES,
                    len: CHUNK_BYTES,
                    target: 1,
                    pages: 512
                },
                MoveRange {
                    region: 1,
                    addr: host_base(1),
                    len: CHUNK_BYTES + CHUNK_BYTES / 4,
                    target: 1,
                    pages: 522
                },
            ]
        );
    }

    #[test]
    fn different_targets_and_plan_order_keep_ranges_apart() {
        let plan = plan_of(vec![
            mv(0, 0, 1, 512),
            mv(0, 1, 2, 512),
            mv(0, 3, 1, 512),
            mv(0, 2, 1, 512),
        ]);
        let ranges = move_ranges(&plan, &regions());
        let spans: Vec<(u64, u64, u32)> = ranges
            .iter()
            .map(|r| {
                (
                    (r.addr - host_base(0)) / CHUNK_BYTES,
                    r.len / CHUNK_BYTES,
                    r.target,
                )
            })
            .collect();
        // Chunk 2 follows chunk 3 in the plan: touching in memory, but not in plan order.
        assert_eq!(spans, vec![(0, 1, 1), (1, 1, 2), (3, 1, 1), (2, 1, 1)]);
    }

    #[test]
    fn regions_that_touch_in_memory_stay_apart() {
        let mut first = region(0, 0, vec![on(0)]);
        let mut second = region(1, 0, vec![on(0)]);
        first.info.host_addr = 0x4000_0000;
        second.info.host_addr = 0x4000_0000 + CHUNK_BYTES;
        let plan = plan_of(vec![mv(0, 0, 1, 512), mv(1, 0, 1, 512)]);
        assert_eq!(move_ranges(&plan, &[first, second]).len(), 2);
    }

    #[test]
    fn moves_outside_the_regions_are_skipped() {
        let plan = plan_of(vec![mv(7, 0, 1, 512), mv(1, 2, 1, 512), mv(0, 5, 1, 512)]);
        let ranges = move_ranges(&plan, &regions());
        assert_eq!(ranges.len(), 1);
        assert_eq!(ranges[0].addr, host_base(0) + 5 * CHUNK_BYTES);
        assert!(move_ranges(&Plan::default(), &regions()).is_empty());
    }
}
