//! Tern's NUMA balancer.
//!
//! - [`idlist`]: lists of CPUs or nodes in the kernel's `0-3,6` notation.
//! - [`topology`]: the host's NUMA nodes, their CPUs, memory and distances, from sysfs.
//! - [`mempolicy`]: NUMA memory policies on address ranges (mbind(2)), and their owner
//!   while a rebalance runs.
//! - [`host`]: the host's topology as the engine sees it.
//! - [`mover`]: moves guest pages to a target node (move_pages or mbind), live progress.
//! - [`pages`]: move_pages(2), behind the [`pages::PageMover`] seam.
//! - [`placement`]: which host node each page of a range sits on.
//! - [`vcpu_placement`]: where vCPU threads run (host CPU, node, affinity).
//! - [`guest`]: the narrow view of a VM the balancer works on.
//! - [`chunk`]: 2 MiB chunks, the unit of plans, and their placement.
//! - [`heat`]: write heat per 2 MiB chunk, from KVM dirty bitmaps, decaying per sample.
//! - [`policy`]: policies that turn placement, heat and vCPU locations into a plan of moves.
//! - [`auto`]: the decisions of automatic balancing (memory follows vCPUs, with hysteresis).

pub mod anon_map;
pub mod auto;
pub mod chunk;
pub mod engine;
pub mod error;
pub mod guest;
pub mod heat;
pub mod host;
pub mod idlist;
pub mod mempolicy;
pub mod mover;
pub mod page_nodes;
pub mod pages;
pub mod placement;
pub mod policy;
pub mod topology;
pub mod vcpu_placement;
pub mod watch;

pub use error::Error;
