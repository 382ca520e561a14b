//! Where some pages of a task are after the mover addressed them, by a query: on the
//! target, gone, or still elsewhere.

use super::MoveTask;
use crate::pages::{query_statuses, PageMover};

/// What a query said of some pages of a task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fates {
    /// Pages asked about.
    pub asked: u64,
    /// On the task's target.
    pub arrived: u64,
    /// Not mapped or not populated any more.
    pub vanished: u64,
}

impl Fates {
    /// Queries `pages` (if the query fails, every page counts as left).
    pub fn of(mover: &dyn PageMover, task: &MoveTask, pages: &[u64]) -> Self {
        let asked = pages.len() as u64;
        if pages.is_empty() {
            return Self::default();
        }
        let Ok(statuses) = query_statuses(mover, pages) else {
            return Self {
                asked,
                ..Self::default()
            };
        };
        let count = |f: &dyn Fn(i32) -> bool| statuses.iter().filter(|s| f(**s)).count() as u64;
        Self {
            asked,
            arrived: count(&|s| s >= 0 && s as u32 == task.target),
            vanished: count(&|s| s == -libc::ENOENT || s == -libc::EFAULT),
        }
    }

    /// Pages not on the target that are still there.
    pub fn left(&self) -> u64 {
        self.asked - self.arrived - self.vanished
    }
}
