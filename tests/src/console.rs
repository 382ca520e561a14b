//! Reading L1's console: cleaning raw lines and telling markers, script output and L1
//! kernel trouble apart.

use crate::l1init::{ALIVE_MARKER, BROKEN_MARKER, EXIT_MARKER, READY_MARKER, SCRIPT_PREFIX};

/// What one console line means to the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// L1 is set up and about to run the script.
    Ready,
    /// L1's periodic sign of life while the script runs.
    Alive,
    /// The script ended with this status.
    Exit(i32),
    /// L1's init could not set up the lab.
    Broken(String),
    /// L1's kernel reported a soft lockup: L1 will not recover.
    SoftLockup,
    /// L1's kernel panicked.
    Panic,
    /// L1's kernel printed an Oops or a BUG.
    Oops,
    /// A line the script printed (the prefix removed).
    Script(String),
    /// Anything else (kernel messages, firmware).
    Other,
}

/// Removes terminal escape sequences, carriage returns and other control characters.
pub fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // CSI: parameters, then one final byte in @..~.
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Classifies one cleaned line.
pub fn classify(line: &str) -> Event {
    if let Some(rest) = line.strip_prefix(SCRIPT_PREFIX) {
        return Event::Script(rest.to_string());
    }
    if line == SCRIPT_PREFIX.trim_end() {
        return Event::Script(String::new());
    }
    if let Some(pos) = line.find(EXIT_MARKER) {
        let rest = &line[pos + EXIT_MARKER.len()..];
        if let Some(n) = rest.trim().strip_prefix("status=") {
            return Event::Exit(n.trim().parse().unwrap_or(-1));
        }
    }
    if line.contains(READY_MARKER) {
        return Event::Ready;
    }
    if line == ALIVE_MARKER {
        return Event::Alive;
    }
    if let Some(pos) = line.find(BROKEN_MARKER) {
        return Event::Broken(line[pos + BROKEN_MARKER.len()..].trim().to_string());
    }
    if line.contains("soft lockup") {
        return Event::SoftLockup;
    }
    if line.contains("Kernel panic") {
        return Event::Panic;
    }
    if line.contains("Oops:") || line.contains("BUG:") || line.contains("general protection fault")
    {
        return Event::Oops;
    }
    Event::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_firmware_escapes() {
        assert_eq!(
            clean("\u{1b}c\u{1b}[?7l\u{1b}[2JTERN-LAB-READY uptime=4.1\r"),
            "TERN-LAB-READY uptime=4.1"
        );
        assert_eq!(clean("a\tb\u{7}"), "a\tb");
    }

    #[test]
    fn markers() {
        assert_eq!(classify("TERN-LAB-READY uptime=3.99"), Event::Ready);
        assert_eq!(classify("TERN-LAB-EXIT status=0"), Event::Exit(0));
        assert_eq!(classify("TERN-LAB-EXIT status=17"), Event::Exit(17));
        assert_eq!(classify("TERN-LAB-ALIVE"), Event::Alive);
        assert_eq!(
            classify("| TERN-LAB-ALIVE"),
            Event::Script("TERN-LAB-ALIVE".into())
        );
        assert_eq!(
            classify("TERN-LAB-BROKEN insmod kvm.ko failed"),
            Event::Broken("insmod kvm.ko failed".into())
        );
    }

    #[test]
    fn script_lines_are_never_l1_trouble() {
        assert_eq!(classify("| hello"), Event::Script("hello".into()));
        assert_eq!(classify("|"), Event::Script(String::new()));
        assert_eq!(
            classify("| [ 3.1] Kernel panic - not syncing: VFS"),
            Event::Script("[ 3.1] Kernel panic - not syncing: VFS".into())
        );
        assert_eq!(
            classify("| TERN-LAB-EXIT status=0"),
            Event::Script("TERN-LAB-EXIT status=0".into())
        );
    }

    #[test]
    fn l1_kernel_trouble() {
        assert_eq!(
            classify("[   88.1] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [tern:91]"),
            Event::SoftLockup
        );
        assert_eq!(
            classify("[    5.0] Kernel panic - not syncing: Attempted to kill init!"),
            Event::Panic
        );
        assert_eq!(classify("[    5.0] Oops: 0000 [#1] SMP NOPTI"), Event::Oops);
        assert_eq!(
            classify("[    5.0] BUG: kernel NULL pointer dereference, address: 0"),
            Event::Oops
        );
        assert_eq!(
            classify("[    5.0] kvm: Nested Virtualization enabled"),
            Event::Other
        );
    }
}
