//! The kinds of threads tern runs, and which filter each one gets.

use std::fmt;

/// A thread of tern, as its filter and its reports know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadKind {
    /// The main thread: the event loop (console input, API requests, signals) and shutdown.
    Main,
    /// The thread of vCPU N (`vcpuN`).
    Vcpu(u8),
    /// The guest console's writer (`console-out`).
    ConsoleOut,
    /// The API server (`api`).
    Api,
    /// The API's slow-request worker (`api-worker`).
    ApiWorker,
    /// The worker of virtio-blk disk N (`virtio-diskN`).
    VirtioDisk(u8),
    /// The worker of virtio-net device N (`virtio-netN`).
    VirtioNet(u8),
    /// A rebalance job (`balancer`).
    Balancer,
    /// One of a rebalance's page-moving workers (`mover`).
    Mover,
    /// The heat sampler (`heat`).
    Heat,
    /// The automatic balancer (`auto-balance`).
    AutoBalance,
}

impl ThreadKind {
    /// The filter this thread gets.
    pub fn filter(self) -> FilterKind {
        match self {
            Self::Main => FilterKind::Main,
            Self::Vcpu(_) => FilterKind::Vcpu,
            Self::ConsoleOut => FilterKind::ConsoleOut,
            Self::Api => FilterKind::Api,
            Self::ApiWorker => FilterKind::ApiWorker,
            Self::VirtioDisk(_) => FilterKind::VirtioDisk,
            Self::VirtioNet(_) => FilterKind::VirtioNet,
            Self::Balancer => FilterKind::Balancer,
            Self::Mover => FilterKind::Mover,
            Self::Heat => FilterKind::Heat,
            Self::AutoBalance => FilterKind::AutoBalance,
        }
    }
}

impl fmt::Display for ThreadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vcpu(index) => write!(f, "vcpu{index}"),
            Self::VirtioDisk(index) => write!(f, "virtio-disk{index}"),
            Self::VirtioNet(index) => write!(f, "virtio-net{index}"),
            other => f.write_str(other.filter().name()),
        }
    }
}

/// One filter per kind of thread (every vCPU gets the same one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FilterKind {
    /// The main thread's.
    Main,
    /// Every vCPU thread's.
    Vcpu,
    /// The console writer's.
    ConsoleOut,
    /// The API server's.
    Api,
    /// The API's slow-request worker's.
    ApiWorker,
    /// Every virtio-blk worker's.
    VirtioDisk,
    /// Every virtio-net worker's.
    VirtioNet,
    /// A rebalance job's.
    Balancer,
    /// A page-moving worker's.
    Mover,
    /// The heat sampler's.
    Heat,
    /// The automatic balancer's.
    AutoBalance,
}

impl FilterKind {
    /// Every filter, in the order of the README's table.
    pub const ALL: [FilterKind; 11] = [
        Self::Main,
        Self::Vcpu,
        Self::ConsoleOut,
        Self::Api,
        Self::ApiWorker,
        Self::VirtioDisk,
        Self::VirtioNet,
        Self::Balancer,
        Self::Mover,
        Self::Heat,
        Self::AutoBalance,
    ];

    /// The name of its threads (`vcpu` for `vcpu0`, `vcpu1`, ..., `virtio-disk` for
    /// `virtio-disk0`, ...); also what
    /// `TERN_SECCOMP_SELFTEST` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Main => "main",
            Self::Vcpu => "vcpu",
            Self::ConsoleOut => "console-out",
            Self::Api => "api",
            Self::ApiWorker => "api-worker",
            Self::VirtioDisk => "virtio-disk",
            Self::VirtioNet => "virtio-net",
            Self::Balancer => "balancer",
            Self::Mover => "mover",
            Self::Heat => "heat",
            Self::AutoBalance => "auto-balance",
        }
    }

    /// The filter named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kinds of threads this kind starts after its own filter is in place. A thread
    /// inherits its parent's filters and adds its own, so a call passes only if every one of
    /// them allows it: a parent's filter must allow all that its children need.
    pub fn spawns(self) -> &'static [FilterKind] {
        match self {
            Self::Main => &[Self::Balancer],
            Self::ApiWorker => &[Self::Heat, Self::AutoBalance],
            Self::AutoBalance => &[Self::Balancer],
            Self::Balancer => &[Self::Mover, Self::Heat],
            Self::Vcpu
            | Self::ConsoleOut
            | Self::Api
            | Self::VirtioDisk
            | Self::VirtioNet
            | Self::Mover
            | Self::Heat => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_named_as_tern_names_them() {
        assert_eq!(ThreadKind::Vcpu(3).to_string(), "vcpu3");
        assert_eq!(ThreadKind::AutoBalance.to_string(), "auto-balance");
        assert_eq!(ThreadKind::VirtioDisk(1).to_string(), "virtio-disk1");
        assert_eq!(ThreadKind::VirtioNet(0).filter(), FilterKind::VirtioNet);
        assert_eq!(ThreadKind::Main.filter(), FilterKind::Main);
        for kind in FilterKind::ALL {
            assert_eq!(FilterKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(FilterKind::from_name("vcpu0"), None);
    }
}
