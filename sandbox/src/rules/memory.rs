//! The balancer's threads, which move and watch guest memory: a rebalance job, its page
//! moving workers, the heat sampler (KVM dirty logs) and the automatic balancer.

use syscalls::Sysno;

use super::base::{read_host_files, spawn_threads};
use super::{ArgCheck, Context, Rules};
use crate::ioctls::{request, KVM_CLEAR_DIRTY_LOG, KVM_GET_DIRTY_LOG, KVM_SET_USER_MEMORY_REGION};

/// Where tern's own pages are: move_pages on its own process only (pid 0), mincore.
pub fn query_own_pages() -> Rules {
    Rules::default()
        .allow(&[Sysno::mincore])
        .allow_if(Sysno::move_pages, &[ArgCheck::eq(0, 0)])
}

/// Moving tern's own pages: move_pages (own process), mbind (which only acts on the caller's
/// memory); sleeping for a rate limit or a retry.
fn move_own_pages() -> Rules {
    query_own_pages().allow(&[Sysno::mbind, Sysno::clock_nanosleep])
}

/// Reading the dirty log and re-arming pages.
fn read_dirty_log() -> Rules {
    Rules::default()
        .allow_if(
            Sysno::ioctl,
            &[ArgCheck::eq(1, request(KVM_GET_DIRTY_LOG()))],
        )
        .allow_if(
            Sysno::ioctl,
            &[ArgCheck::eq(1, request(KVM_CLEAR_DIRTY_LOG()))],
        )
}

/// Turning dirty logging on or off (the memory slots' flags) and reading the first log.
pub fn toggle_dirty_log() -> Rules {
    read_dirty_log().allow_if(
        Sysno::ioctl,
        &[ArgCheck::eq(1, request(KVM_SET_USER_MEMORY_REGION()))],
    )
}

/// Where the vCPU threads run: their affinity, and their last CPU from /proc.
pub fn locate_vcpus() -> Rules {
    read_host_files().allow(&[Sysno::sched_getaffinity])
}

/// A rebalance job: reads the host's topology and where pages and vCPUs are, moves pages,
/// starts its workers (and a paced move's pacer, which reads the vCPU threads' schedstat
/// under the job's own filter) and, for hot-first, heat sampling (toggling dirty logging);
/// a paused move kicks tern's own vCPU threads out of KVM_RUN, with the kick signal only.
pub fn balancer(ctx: &Context) -> Rules {
    move_own_pages()
        .union(&locate_vcpus())
        .union(&toggle_dirty_log())
        .union(&spawn_threads())
        .allow_if(
            Sysno::tgkill,
            &[
                ArgCheck::eq(0, ctx.pid as u32),
                ArgCheck::eq(2, ctx.kick_signal as u32),
            ],
        )
}

/// A worker moving one slice of a rebalance's pages.
pub fn mover() -> Rules {
    move_own_pages()
}

/// The heat sampler: reads and clears the dirty log every interval; waits on a condition
/// variable between samples.
pub fn heat() -> Rules {
    read_dirty_log()
}

/// The automatic balancer: looks where vCPUs run and where memory is (move_pages in query
/// mode), and starts rebalance jobs.
pub fn auto_balance() -> Rules {
    locate_vcpus()
        .union(&query_own_pages())
        .union(&spawn_threads())
}
