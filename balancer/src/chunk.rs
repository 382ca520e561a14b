//! Chunks: the unit the balancer plans in. Guest memory is cut into 2 MiB chunks (the size of
//! an x86 huge page, so a chunk is one THP or hugetlb page, and 512 base pages otherwise);
//! for each chunk the balancer knows how many of its pages sit on which host node.

use std::io;

use crate::guest::MemoryRegion;
use crate::page_nodes::PageNodes;
use crate::pages::{query_each, PageMover};
use crate::placement::PAGE_SIZE;

/// Bytes per chunk.
pub const CHUNK_BYTES: u64 = 2 << 20;
/// Base pages per chunk.
pub const PAGES_PER_CHUNK: u64 = CHUNK_BYTES / PAGE_SIZE;

/// Where one chunk's pages are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkPlacement {
    /// Populated pages per host node, in node order.
    pub on_node: Vec<(u32, u32)>,
    /// Pages not populated.
    pub absent: u32,
}

impl ChunkPlacement {
    /// Populated pages.
    pub fn populated(&self) -> u64 {
        self.on_node.iter().map(|(_, n)| u64::from(*n)).sum()
    }

    /// Populated pages on `node`.
    pub fn pages_on(&self, node: u32) -> u64 {
        self.on_node
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(0, |(_, c)| u64::from(*c))
    }

    /// Populated pages not on `node`: what moving the chunk to `node` moves.
    pub fn pages_off(&self, node: u32) -> u64 {
        self.populated() - self.pages_on(node)
    }

    /// The node holding most of its populated pages (the lowest such node on a tie).
    pub fn dominant_node(&self) -> Option<u32> {
        self.on_node
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(n, _)| *n)
    }

    fn add(&mut self, node: u32) {
        match self.on_node.iter_mut().find(|(n, _)| *n == node) {
            Some((_, count)) => *count += 1,
            None => {
                self.on_node.push((node, 1));
                self.on_node.sort_unstable();
            }
        }
    }
}

/// The chunks of one guest memory region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionChunks {
    /// The region's index in the VM's region list.
    pub region: usize,
    /// The region.
    pub info: MemoryRegion,
    /// Its chunks in address order (the last one may be shorter).
    pub chunks: Vec<ChunkPlacement>,
}

impl RegionChunks {
    /// Host address of chunk `index`.
    pub fn chunk_addr(&self, index: u64) -> u64 {
        self.info.host_addr + index * CHUNK_BYTES
    }

    /// Length of chunk `index`.
    pub fn chunk_len(&self, index: u64) -> u64 {
        (self.info.len - index * CHUNK_BYTES).min(CHUNK_BYTES)
    }
}

/// Queries every page of `region` (move_pages in query mode) and counts them per chunk.
pub fn query_region_chunks(
    mover: &dyn PageMover,
    region_index: usize,
    region: &MemoryRegion,
) -> io::Result<RegionChunks> {
    query_region(mover, region_index, region, &|| false).map(|(chunks, _)| chunks)
}

/// Like [`query_region_chunks`], and also keeps where each page was (`None` if a node number
/// was too large to keep). `stop` is asked between query batches (an `Interrupted` error
/// when it says so).
pub fn query_region(
    mover: &dyn PageMover,
    region_index: usize,
    region: &MemoryRegion,
    stop: &dyn Fn() -> bool,
) -> io::Result<(RegionChunks, Option<PageNodes>)> {
    let pages = region.len / PAGE_SIZE;
    let mut chunks = vec![ChunkPlacement::default(); pages.div_ceil(PAGES_PER_CHUNK) as usize];
    let mut snapshot = Some(PageNodes::with_capacity(region.host_addr, pages));
    query_each(mover, region.host_addr, pages, stop, |page, _, status| {
        let chunk = &mut chunks[(page / PAGES_PER_CHUNK) as usize];
        if status >= 0 {
            chunk.add(status as u32);
        } else {
            chunk.absent += 1;
        }
        if snapshot.as_mut().is_some_and(|s| !s.record(status)) {
            snapshot = None;
        }
    })?;
    Ok((
        RegionChunks {
            region: region_index,
            info: region.clone(),
            chunks,
        },
        snapshot,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempolicy::MemPolicy;

    struct Striped;

    impl PageMover for Striped {
        fn move_pages(
            &self,
            pages: &[u64],
            _: Option<&[i32]>,
            status: &mut [i32],
        ) -> io::Result<usize> {
            for (p, s) in pages.iter().zip(status.iter_mut()) {
                let page = (p - 0x4000_0000) / PAGE_SIZE;
                // Chunk 0 on node 0, chunk 1 half on node 1 half absent, chunk 2 on node 1.
                *s = match page / PAGES_PER_CHUNK {
                    0 => 0,
                    1 if page.is_multiple_of(2) => 1,
                    1 => -libc::ENOENT,
                    _ => 1,
                };
            }
            Ok(0)
        }

        fn resident(&self, _: u64, r: &mut [u8]) -> io::Result<()> {
            r.fill(0);
            Ok(())
        }
    }

    #[test]
    fn counts_pages_per_chunk() {
        let region = MemoryRegion {
            guest_node: 0,
            guest_addr: 0,
            len: 2 * CHUNK_BYTES + CHUNK_BYTES / 2,
            host_addr: 0x4000_0000,
            policy: MemPolicy::Default,
            hugetlb: false,
        };
        let rc = query_region_chunks(&Striped, 3, &region).unwrap();
        assert_eq!(rc.chunks.len(), 3);
        assert_eq!(rc.chunks[0].on_node, vec![(0, 512)]);
        assert_eq!((rc.chunks[1].pages_on(1), rc.chunks[1].absent), (256, 256));
        assert_eq!(rc.chunks[2].populated(), 256);
        assert_eq!(rc.chunk_len(2), CHUNK_BYTES / 2);
        assert_eq!(rc.chunk_addr(1), 0x4000_0000 + CHUNK_BYTES);
        assert_eq!(rc.chunks[0].pages_off(1), 512);
        assert_eq!(rc.chunks[1].dominant_node(), Some(1));
    }

    #[test]
    fn dominant_node_prefers_the_lower_node_on_a_tie() {
        let c = ChunkPlacement {
            on_node: vec![(0, 5), (1, 5)],
            absent: 0,
        };
        assert_eq!(c.dominant_node(), Some(0));
        assert_eq!(ChunkPlacement::default().dominant_node(), None);
    }
}
