//! The README's table of what each kind of thread may call, made from the rules themselves
//! (a test keeps the README's copy equal to it).

use syscalls::Sysno;

use crate::ioctls;
use crate::kind::FilterKind;
use crate::rules::{base, own_rules, Allowance, ArgCheck, Context, Rules};

/// What threads of `kind` do, for the table.
fn purpose(kind: FilterKind) -> &'static str {
    match kind {
        FilterKind::Main => {
            "event loop: console input, the API's quick requests (vCPUs, affinity, pause, \
             rebalances), signals; shutdown"
        }
        FilterKind::Vcpu => {
            "pins itself (launch pinning); KVM_RUN; port I/O and MMIO to the devices (a virtio \
             driver's start and reset reach its worker over a channel); pause; the kick signal"
        }
        FilterKind::ConsoleOut => "writes the guest's console output to stdout",
        FilterKind::Api => {
            "HTTP on the API socket (tokio, epoll); each client's uid and pid (SO_PEERCRED)"
        }
        FilterKind::ApiWorker => {
            "the API's slow requests: placement, metrics, topology, heat and automatic \
             balancing switched"
        }
        FilterKind::VirtioDisk => {
            "a virtio-blk disk's queue: reads, writes and flushes its image into guest memory"
        }
        FilterKind::VirtioNet => {
            "a virtio-net device's queues: frames between its tap and guest memory"
        }
        FilterKind::Balancer => {
            "a rebalance: topology, placement, moves; starts movers, a paced move's `pacer` (under this filter) and, for hot-first, heat; a paused move kicks the vCPUs"
        }
        FilterKind::Mover => "moves one slice of a rebalance's pages",
        FilterKind::Heat => "reads and re-arms KVM dirty logs every interval",
        FilterKind::AutoBalance => "watches where vCPUs run; starts follow-vcpus rebalances",
    }
}

fn value_of(checks: &[ArgCheck], index: u8) -> Option<u32> {
    checks
        .iter()
        .find(|c| c.index == index && c.mask == u32::MAX)
        .map(|c| c.value)
}

/// How one allowed call is shown: its name and, when its arguments are checked, what they
/// may be.
fn call_text(call: Sysno, allowance: &Allowance, ctx: &Context) -> String {
    let Allowance::When(sets) = allowance else {
        return match call {
            Sysno::clone3 => "clone3 (answered ENOSYS, so glibc uses clone)".to_string(),
            _ => call.name().to_string(),
        };
    };
    let note = match call {
        Sysno::futex => "wait and wake".to_string(),
        Sysno::mmap | Sysno::mprotect => "not executable".to_string(),
        Sysno::madvise => "MADV_DONTNEED".to_string(),
        Sysno::clone => "threads only".to_string(),
        Sysno::seccomp => "a filter for itself".to_string(),
        Sysno::openat => "read-only".to_string(),
        Sysno::move_pages => "own process".to_string(),
        Sysno::accept4 => "non-blocking, close-on-exec".to_string(),
        Sysno::getsockopt => "SO_PEERCRED".to_string(),
        Sysno::sched_setaffinity => "itself only".to_string(),
        Sysno::prctl => sets
            .iter()
            .filter_map(|s| value_of(s, 0))
            .map(|option| match option as i32 {
                libc::PR_SET_NAME => "PR_SET_NAME",
                libc::PR_SET_NO_NEW_PRIVS => "PR_SET_NO_NEW_PRIVS",
                _ => "?",
            })
            .collect::<Vec<_>>()
            .join(", "),
        Sysno::tgkill => sets
            .iter()
            .filter_map(|s| value_of(s, 2))
            .map(|signal| match signal as i32 {
                libc::SIGABRT => "SIGABRT to itself",
                s if s == ctx.kick_signal => "the kick signal to its threads",
                _ => "?",
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => "some arguments".to_string(),
    };
    format!("{} ({note})", call.name())
}

/// The ioctl requests `sets` allow, by name (`on stdin` when the descriptor is checked).
fn ioctl_names(sets: &[Vec<ArgCheck>]) -> Vec<String> {
    sets.iter()
        .filter_map(|checks| {
            let name = ioctls::name(value_of(checks, 1)?);
            Some(match value_of(checks, 0) {
                Some(0) => format!("{name} (stdin)"),
                _ => name.to_string(),
            })
        })
        .collect()
}

/// What `rules` allows beyond `every` (the calls every thread may make).
fn beyond(rules: &Rules, every: &Rules) -> Vec<(Sysno, Allowance)> {
    rules
        .calls()
        .filter_map(|(call, allowance)| match (allowance, every.get(call)) {
            (_, Some(Allowance::Any)) => None,
            (Allowance::When(sets), Some(Allowance::When(common))) => {
                let extra: Vec<_> = sets
                    .iter()
                    .filter(|s| !common.contains(s))
                    .cloned()
                    .collect();
                (!extra.is_empty()).then_some((call, Allowance::When(extra)))
            }
            _ => Some((call, allowance.clone())),
        })
        .collect()
}

fn row(thread: &str, purpose: &str, rules: &[(Sysno, Allowance)], ctx: &Context) -> String {
    let mut calls: Vec<String> = rules
        .iter()
        .filter(|(call, _)| *call != Sysno::ioctl)
        .map(|(call, allowance)| call_text(*call, allowance, ctx))
        .collect();
    calls.sort();
    let ioctls = rules
        .iter()
        .find(|(call, _)| *call == Sysno::ioctl)
        .map_or_else(Vec::new, |(_, allowance)| match allowance {
            Allowance::Any => vec!["any".to_string()],
            Allowance::When(sets) => ioctl_names(sets),
        });
    let or_none = |items: Vec<String>| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    };
    format!(
        "| {thread} | {purpose} | {} | {} |\n",
        or_none(calls),
        or_none(ioctls)
    )
}

/// The table, in Markdown.
pub fn markdown(ctx: &Context) -> String {
    let every = base::every_thread(ctx);
    let mut table = String::from(
        "| thread | what it does | system calls allowed | ioctls allowed |\n| --- | --- | --- | --- |\n",
    );
    let all: Vec<_> = every.calls().map(|(c, a)| (c, a.clone())).collect();
    table.push_str(&row(
        "every thread",
        "locks, memory for the allocator, signals, stderr, its end (and the SIGSYS report)",
        &all,
        ctx,
    ));
    for kind in FilterKind::ALL {
        let thread = match kind {
            FilterKind::Main => "`tern` (main)".to_string(),
            FilterKind::Vcpu => "`vcpu0`, `vcpu1`, ...".to_string(),
            FilterKind::VirtioDisk => "`virtio-disk0`, `virtio-disk1`, ...".to_string(),
            FilterKind::VirtioNet => "`virtio-net0`, `virtio-net1`, ...".to_string(),
            other => format!("`{}`", other.name()),
        };
        let mut purpose = purpose(kind).to_string();
        if !kind.spawns().is_empty() {
            let children: Vec<_> = kind
                .spawns()
                .iter()
                .map(|k| format!("`{}`", k.name()))
                .collect();
            purpose.push_str(&format!(
                "; also all that the threads it starts ({}) may call",
                children.join(", ")
            ));
        }
        table.push_str(&row(
            &thread,
            &purpose,
            &beyond(&own_rules(kind, ctx), &every),
            ctx,
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_shows_the_filters_as_they_are() {
        let ctx = Context {
            pid: 1,
            kick_signal: libc::SIGRTMIN(),
        };
        let table = markdown(&ctx);
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        assert!(
            readme.contains(&table),
            "README.md's table of the seccomp filters is out of date; it should read:\n{table}"
        );
    }
}
