//! NUMA memory policies on ranges of Tern's address space: mbind(2), the guard through
//! which a rebalance changes them ([`guard`]), and whether pages can follow on touch
//! ([`on_touch`]).

pub mod guard;
pub mod on_touch;

use std::io;

/// MPOL_DEFAULT: the task's policy (usually local allocation).
const MPOL_DEFAULT: i32 = 0;
/// MPOL_PREFERRED: the given node first, others when it is full.
const MPOL_PREFERRED: i32 = 1;
/// MPOL_BIND: only the given nodes.
const MPOL_BIND: i32 = 2;
/// MPOL_INTERLEAVE: round-robin over the given nodes.
const MPOL_INTERLEAVE: i32 = 3;
/// MPOL_LOCAL: the node of the CPU that faults.
const MPOL_LOCAL: i32 = 4;

/// Mode flag: with MPOL_BIND, the kernel's NUMA balancing migrates a page to the node of
/// the CPU that touches it, if that node is one of the bound nodes (Linux 5.15+ for mbind).
pub const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;

/// mbind flag: fail if pages already present violate the policy.
pub const MPOL_MF_STRICT: u32 = 1;
/// mbind flag: move pages mapped only by this process to satisfy the policy.
pub const MPOL_MF_MOVE: u32 = 2;

/// Bits in the node masks Tern passes: more nodes than any host has.
const MASK_WORDS: usize = 16;

/// Where a range's pages may be allocated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemPolicy {
    /// The kernel's default (local to the faulting CPU, and open to the kernel's automatic
    /// NUMA balancing).
    Default,
    /// Local to the faulting CPU, as an explicit policy: the same placement as the default,
    /// but the kernel's automatic NUMA balancing leaves the range alone.
    Local,
    /// Only on this node; allocation fails rather than spill over.
    Bind(u32),
    /// On this node while it has room, elsewhere after.
    Preferred(u32),
    /// Only on this node, and pages elsewhere migrate here when a CPU of this node touches
    /// them (MPOL_BIND | MPOL_F_NUMA_BALANCING: the kernel's NUMA-balancing hinting faults).
    BindOnTouch(u32),
    /// Round-robin over these nodes, page by page.
    Interleave(Vec<u32>),
}

impl MemPolicy {
    /// The node the policy points at, for bind and preferred.
    pub fn node(&self) -> Option<u32> {
        match self {
            Self::Bind(n) | Self::Preferred(n) | Self::BindOnTouch(n) => Some(*n),
            Self::Default | Self::Local | Self::Interleave(_) => None,
        }
    }

    /// A short name: default, local, bind, preferred, bind-on-touch or interleave.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Local => "local",
            Self::Bind(_) => "bind",
            Self::Preferred(_) => "preferred",
            Self::BindOnTouch(_) => "bind-on-touch",
            Self::Interleave(_) => "interleave",
        }
    }

    fn mode_and_mask(&self) -> io::Result<(i32, [u64; MASK_WORDS])> {
        let mut mask = [0u64; MASK_WORDS];
        let nodes: &[u32] = match self {
            Self::Default => return Ok((MPOL_DEFAULT, mask)),
            Self::Local => return Ok((MPOL_LOCAL, mask)),
            Self::Bind(n) | Self::Preferred(n) | Self::BindOnTouch(n) => std::slice::from_ref(n),
            Self::Interleave(nodes) => nodes,
        };
        for &node in nodes {
            let word = mask
                .get_mut(node as usize / 64)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
            *word |= 1 << (node % 64);
        }
        let mode = match self {
            Self::Bind(_) => MPOL_BIND,
            Self::Preferred(_) => MPOL_PREFERRED,
            Self::BindOnTouch(_) => MPOL_BIND | MPOL_F_NUMA_BALANCING,
            _ => MPOL_INTERLEAVE,
        };
        Ok((mode, mask))
    }
}

/// Sets `policy` on `[addr, addr + len)`, which must be page-aligned and mapped by this
/// process. `flags` may ask the kernel to move pages already there (MPOL_MF_MOVE) and to
/// fail if any cannot be placed (MPOL_MF_STRICT).
pub fn set_policy(addr: u64, len: u64, policy: &MemPolicy, flags: u32) -> io::Result<()> {
    let (mode, mask) = policy.mode_and_mask()?;
    let mask_ptr = if mode == MPOL_DEFAULT {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    let maxnode = if mode == MPOL_DEFAULT {
        0
    } else {
        (MASK_WORDS * 64 + 1) as u64
    };
    // SAFETY: mbind only changes the policy (and with MPOL_MF_MOVE the placement) of pages in
    // a range this process maps; it reads `maxnode - 1` bits from `mask`, which holds
    // exactly that many. Bad addresses are reported as EFAULT/EINVAL, not touched.
    let ret = unsafe { libc::syscall(libc::SYS_mbind, addr, len, mode, mask_ptr, maxnode, flags) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_to_node_0_and_back_to_default() {
        let mapping = crate::anon_map::AnonMapping::new(1 << 20).unwrap();
        let addr = mapping.addr();
        set_policy(addr, 1 << 20, &MemPolicy::Bind(0), 0).unwrap();
        set_policy(addr, 1 << 20, &MemPolicy::Preferred(0), MPOL_MF_MOVE).unwrap();
        set_policy(addr, 1 << 20, &MemPolicy::Local, 0).unwrap();
        set_policy(addr, 1 << 20, &MemPolicy::Interleave(vec![0]), MPOL_MF_MOVE).unwrap();
        set_policy(addr, 1 << 20, &MemPolicy::Default, 0).unwrap();
    }

    #[test]
    fn a_node_the_host_lacks_is_an_error() {
        let mapping = crate::anon_map::AnonMapping::new(1 << 20).unwrap();
        let addr = mapping.addr();
        let err = set_policy(addr, 1 << 20, &MemPolicy::Bind(63), 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(
            set_policy(addr, 1 << 20, &MemPolicy::Bind(5000), 0)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn names_and_nodes() {
        assert_eq!(MemPolicy::Bind(3).node(), Some(3));
        assert_eq!(MemPolicy::Interleave(vec![0, 1]).node(), None);
        assert_eq!(MemPolicy::Preferred(1).name(), "preferred");
    }
}
