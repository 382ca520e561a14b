//! A test hook: `TERN_SECCOMP_SELFTEST=<kind>` (main, vcpu, console-out, api, balancer,
//! mover, heat, auto-balance) makes each thread of that kind call socket(2), which no filter
//! allows, right after it installed its filter. The host and lab tests use it to see each
//! filter stop tern with its report.

use crate::kind::{FilterKind, ThreadKind};

/// The variable's name.
pub const VARIABLE: &str = "TERN_SECCOMP_SELFTEST";

/// The kind of thread the variable names, if it is set and not empty.
pub fn target() -> Option<FilterKind> {
    let value = std::env::var(VARIABLE).ok().filter(|v| !v.is_empty())?;
    let kind = FilterKind::from_name(&value);
    if kind.is_none() {
        log::warn!("{VARIABLE}={value} names no kind of thread; it is ignored");
    }
    kind
}

/// Makes the forbidden call if `kind` is the target.
pub fn run_if_target(kind: ThreadKind, target: Option<FilterKind>) {
    if target != Some(kind.filter()) {
        return;
    }
    // SAFETY: socket(2) with constant arguments; a descriptor it returns (with the filters
    // off or logging) is closed at once.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}
