//! The console writer: waits for room on stdout (poll) and writes the guest's output there,
//! gathering small writes (a short sleep); its descriptor is closed at the end.

use syscalls::Sysno;

use super::Rules;

/// The console writer's own calls.
pub fn console_out() -> Rules {
    Rules::default().allow(&[Sysno::poll, Sysno::clock_nanosleep, Sysno::close])
}
