//! Synthetic inputs for the policies' tests: regions chunk by chunk, a host, vCPUs, heat.

use super::VcpuLocation;
use crate::chunk::{ChunkPlacement, RegionChunks, CHUNK_BYTES, PAGES_PER_CHUNK};
use crate::guest::MemoryRegion;
use crate::mempolicy::MemPolicy;
use crate::topology::{HostNode, HostTopology};

/// Host address of region `index`: 1 GiB apart, so regions never touch.
pub fn host_base(index: usize) -> u64 {
    0x7f00_0000_0000 + (index as u64) * (1 << 30)
}

/// Region `index` of guest node `guest_node` at guest address `index` GiB, with these chunks.
pub fn region(index: usize, guest_node: u32, chunks: Vec<ChunkPlacement>) -> RegionChunks {
    region_at(index, guest_node, index as u64 * (1 << 30), chunks)
}

/// Region `index` at a chosen guest address.
pub fn region_at(
    index: usize,
    guest_node: u32,
    guest_addr: u64,
    chunks: Vec<ChunkPlacement>,
) -> RegionChunks {
    RegionChunks {
        region: index,
        info: MemoryRegion {
            guest_node,
            guest_addr,
            len: chunks.len() as u64 * CHUNK_BYTES,
            host_addr: host_base(index),
            policy: MemPolicy::Bind(0),
            hugetlb: false,
        },
        chunks,
    }
}

/// A chunk entirely on `node`.
pub fn on(node: u32) -> ChunkPlacement {
    split(&[(node, PAGES_PER_CHUNK as u32)])
}

/// A chunk with these pages per node; the rest absent.
pub fn split(pages: &[(u32, u32)]) -> ChunkPlacement {
    let populated: u32 = pages.iter().map(|(_, p)| p).sum();
    ChunkPlacement {
        on_node: pages.to_vec(),
        absent: PAGES_PER_CHUNK as u32 - populated,
    }
}

/// A chunk never touched.
pub fn empty() -> ChunkPlacement {
    split(&[])
}

/// A host with nodes `0..count`, two CPUs each.
pub fn host(count: u32) -> HostTopology {
    HostTopology {
        nodes: (0..count)
            .map(|id| HostNode {
                id,
                cpus: vec![2 * id, 2 * id + 1],
                total_bytes: 8 << 30,
                free_bytes: 4 << 30,
                free_huge_pages_2m: 0,
                distances: (0..count)
                    .map(|to| if to == id { 10 } else { 21 })
                    .collect(),
            })
            .collect(),
    }
}

/// vCPU `vcpu` of guest node `guest_node`, running on `host_node`.
pub fn vcpu(vcpu: u32, guest_node: u32, host_node: Option<u32>) -> VcpuLocation {
    VcpuLocation {
        vcpu,
        guest_node,
        host_node,
    }
}
