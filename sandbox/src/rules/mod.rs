//! What each kind of thread may call: system calls, and for some of them the arguments
//! (ioctl requests, flags, protections, the process a call may act on).

mod api;
pub(crate) mod base;
mod console;
mod main_thread;
mod memory;
mod vcpu;
mod virtio;

use std::collections::BTreeMap;

use seccompiler::{SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};
use syscalls::Sysno;

use crate::kind::FilterKind;

/// What a filter must know about the process it runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// Tern's process id: signals go only to its own threads.
    pub pid: i32,
    /// The signal that kicks a vCPU out of KVM_RUN.
    pub kick_signal: i32,
}

/// One check on one argument: `(argument & mask) == value` on its low 32 bits (every
/// argument tern constrains is an int or a flag word; ioctl requests are 32-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgCheck {
    /// The argument's index, 0 to 5.
    pub index: u8,
    /// The bits compared.
    pub mask: u32,
    /// What they must be.
    pub value: u32,
}

impl ArgCheck {
    /// Argument `index` equals `value`.
    pub const fn eq(index: u8, value: u32) -> Self {
        Self {
            index,
            mask: u32::MAX,
            value,
        }
    }

    /// None of `bits` is set in argument `index`.
    pub const fn none_of(index: u8, bits: u32) -> Self {
        Self {
            index,
            mask: bits,
            value: 0,
        }
    }

    /// All of `bits` are set in argument `index`.
    pub const fn all_of(index: u8, bits: u32) -> Self {
        Self {
            index,
            mask: bits,
            value: bits,
        }
    }

    fn condition(self) -> Result<SeccompCondition, seccompiler::BackendError> {
        let op = if self.mask == u32::MAX {
            SeccompCmpOp::Eq
        } else {
            SeccompCmpOp::MaskedEq(u64::from(self.mask))
        };
        SeccompCondition::new(
            self.index,
            SeccompCmpArgLen::Dword,
            op,
            u64::from(self.value),
        )
    }
}

/// When a call is allowed: always, or when its arguments pass one of some sets of checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allowance {
    /// With any arguments.
    Any,
    /// When every check of at least one set holds.
    When(Vec<Vec<ArgCheck>>),
}

/// The calls one filter allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules(BTreeMap<Sysno, Allowance>);

impl Rules {
    /// Allows `calls` with any arguments.
    pub fn allow(mut self, calls: &[Sysno]) -> Self {
        for call in calls {
            self.0.insert(*call, Allowance::Any);
        }
        self
    }

    /// Allows `call` when all of `checks` hold (in addition to what it allowed before).
    pub fn allow_if(mut self, call: Sysno, checks: &[ArgCheck]) -> Self {
        let checks = checks.to_vec();
        match self.0.get_mut(&call) {
            Some(Allowance::Any) => {}
            Some(Allowance::When(sets)) => {
                if !sets.contains(&checks) {
                    sets.push(checks);
                }
            }
            None => {
                self.0.insert(call, Allowance::When(vec![checks]));
            }
        }
        self
    }

    /// Everything `self` or `other` allows.
    pub fn union(mut self, other: &Rules) -> Self {
        for (call, allowance) in &other.0 {
            self = match allowance {
                Allowance::Any => self.allow(&[*call]),
                Allowance::When(sets) => sets
                    .iter()
                    .fold(self, |rules, checks| rules.allow_if(*call, checks)),
            };
        }
        self
    }

    /// The calls allowed, in system call number order.
    pub fn calls(&self) -> impl Iterator<Item = (Sysno, &Allowance)> {
        self.0.iter().map(|(call, allowance)| (*call, allowance))
    }

    /// What `call` is allowed with, if anything.
    pub fn get(&self, call: Sysno) -> Option<&Allowance> {
        self.0.get(&call)
    }

    /// Whether `call` is allowed with some arguments.
    pub fn allows(&self, call: Sysno) -> bool {
        self.0.contains_key(&call)
    }

    /// The rules in seccompiler's form.
    pub fn to_seccompiler(
        &self,
    ) -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
        let mut map = BTreeMap::new();
        for (call, allowance) in &self.0 {
            let rules = match allowance {
                Allowance::Any => Vec::new(),
                Allowance::When(sets) => sets
                    .iter()
                    .map(|checks| {
                        let conditions = checks
                            .iter()
                            .map(|check| check.condition())
                            .collect::<Result<Vec<_>, _>>()?;
                        SeccompRule::new(conditions)
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            map.insert(i64::from(call.id()), rules);
        }
        Ok(map)
    }
}

/// What threads of `kind` themselves call (not counting the threads they start).
pub fn own_rules(kind: FilterKind, ctx: &Context) -> Rules {
    let every = base::every_thread(ctx);
    match kind {
        FilterKind::Main => every.union(&main_thread::main(ctx)),
        FilterKind::Vcpu => every.union(&vcpu::vcpu()),
        FilterKind::ConsoleOut => every.union(&console::console_out()),
        FilterKind::Api => every.union(&api::api()),
        FilterKind::ApiWorker => every.union(&api::api_worker()),
        FilterKind::VirtioDisk => every.union(&virtio::disk()),
        FilterKind::VirtioNet => every.union(&virtio::net()),
        FilterKind::Balancer => every.union(&memory::balancer(ctx)),
        FilterKind::Mover => every.union(&memory::mover()),
        FilterKind::Heat => every.union(&memory::heat()),
        FilterKind::AutoBalance => every.union(&memory::auto_balance()),
    }
}

/// Everything a thread of `kind` may call: its own calls and, since the threads it starts
/// run under its filter too, everything they may call.
pub fn rules(kind: FilterKind, ctx: &Context) -> Rules {
    kind.spawns()
        .iter()
        .fold(own_rules(kind, ctx), |rules, child| {
            rules.union(&self::rules(*child, ctx))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Context = Context {
        pid: 100,
        kick_signal: 34,
    };

    #[test]
    fn a_union_keeps_any_over_checks_and_merges_checks() {
        let a = Rules::default()
            .allow(&[Sysno::read])
            .allow_if(Sysno::ioctl, &[ArgCheck::eq(1, 1)]);
        let b = Rules::default()
            .allow_if(Sysno::read, &[ArgCheck::eq(0, 0)])
            .allow_if(Sysno::ioctl, &[ArgCheck::eq(1, 2)])
            .allow_if(Sysno::ioctl, &[ArgCheck::eq(1, 1)]);
        let both = a.union(&b);
        assert_eq!(both.0[&Sysno::read], Allowance::Any);
        assert_eq!(
            both.0[&Sysno::ioctl],
            Allowance::When(vec![vec![ArgCheck::eq(1, 1)], vec![ArgCheck::eq(1, 2)]])
        );
    }

    #[test]
    fn a_parent_allows_everything_its_children_may_call() {
        for parent in FilterKind::ALL {
            let allowed = rules(parent, &CTX);
            for child in parent.spawns() {
                for (call, allowance) in rules(*child, &CTX).calls() {
                    assert!(
                        allowed.allows(call),
                        "{} starts {} but does not allow {call}",
                        parent.name(),
                        child.name()
                    );
                    if let (Allowance::When(sets), Some(Allowance::When(parent_sets))) =
                        (allowance, allowed.0.get(&call))
                    {
                        assert!(sets.iter().all(|s| parent_sets.contains(s)));
                    }
                }
            }
        }
    }

    #[test]
    fn only_threads_that_start_threads_may_clone_and_no_thread_may_open_a_socket() {
        for kind in FilterKind::ALL {
            let allowed = rules(kind, &CTX);
            assert_eq!(
                allowed.allows(Sysno::clone),
                !kind.spawns().is_empty(),
                "{}",
                kind.name()
            );
            for call in [Sysno::socket, Sysno::execve, Sysno::fork, Sysno::ptrace] {
                assert!(!allowed.allows(call), "{} allows {call}", kind.name());
            }
        }
    }

    #[test]
    fn every_filter_compiles() {
        for kind in FilterKind::ALL {
            let map = rules(kind, &CTX).to_seccompiler().unwrap();
            assert!(!map.is_empty());
        }
    }
}
