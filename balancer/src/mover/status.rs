//! What a page's move_pages status means for the mover.

use crate::pages::STATUS_UNSET;

/// How the mover treats one page after a move_pages call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageOutcome {
    /// On the target now.
    Moved,
    /// Busy or contended (-EBUSY, -EAGAIN): try again later.
    Retry(&'static str),
    /// The target node is full (-ENOMEM): stop the move.
    TargetFull,
    /// Not populated (any more): nothing to move (-ENOENT, -EFAULT).
    NotPopulated,
    /// Cannot be moved: shared with another process (-EACCES), or another error.
    Failed(&'static str),
    /// The kernel never wrote this page's status: it gave up before reaching it (move_pages
    /// returned a positive count), so where the page is must be asked.
    Unreached,
}

/// Failure reason of pages the kernel gave up on, and that were still not on the target
/// after the mover's retries.
pub const NOT_MIGRATED: &str = "NOT_MIGRATED";
/// Failure reason of pages the guest faulted in during the move that landed off the target
/// (it had no room then) and that were still there after the mover's last look.
pub const FAULTED_OFF_TARGET: &str = "FAULTED_OFF_TARGET";

/// The name of an errno, for reports.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EBUSY => "EBUSY",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::EINVAL => "EINVAL",
        libc::ENODEV => "ENODEV",
        libc::EPERM => "EPERM",
        libc::E2BIG => "E2BIG",
        _ => "EOTHER",
    }
}

/// Classifies the status of a page asked to move to `target`.
pub fn classify(status: i32, target: u32) -> PageOutcome {
    if status == STATUS_UNSET {
        return PageOutcome::Unreached;
    }
    if status >= 0 {
        return if status as u32 == target {
            PageOutcome::Moved
        } else {
            PageOutcome::Failed("NOT_MOVED")
        };
    }
    match -status {
        libc::EBUSY => PageOutcome::Retry("EBUSY"),
        libc::EAGAIN => PageOutcome::Retry("EAGAIN"),
        libc::ENOMEM => PageOutcome::TargetFull,
        libc::ENOENT | libc::EFAULT => PageOutcome::NotPopulated,
        errno => PageOutcome::Failed(errno_name(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_what_the_mover_does() {
        assert_eq!(classify(1, 1), PageOutcome::Moved);
        assert_eq!(classify(0, 1), PageOutcome::Failed("NOT_MOVED"));
        assert_eq!(classify(-libc::EBUSY, 1), PageOutcome::Retry("EBUSY"));
        assert_eq!(classify(-libc::EAGAIN, 1), PageOutcome::Retry("EAGAIN"));
        assert_eq!(classify(-libc::ENOMEM, 1), PageOutcome::TargetFull);
        assert_eq!(classify(-libc::EFAULT, 1), PageOutcome::NotPopulated);
        assert_eq!(classify(-libc::ENOENT, 1), PageOutcome::NotPopulated);
        assert_eq!(classify(-libc::EACCES, 1), PageOutcome::Failed("EACCES"));
        assert_eq!(classify(-9999, 1), PageOutcome::Failed("EOTHER"));
        assert_eq!(classify(STATUS_UNSET, 0), PageOutcome::Unreached);
        assert_eq!(classify(STATUS_UNSET, 1), PageOutcome::Unreached);
    }
}
