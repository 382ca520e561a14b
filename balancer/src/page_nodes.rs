//! A snapshot of where each page of a region was at one query: the plan's query, kept so that
//! the move that follows need not query every page again (a query of every 4 KiB page costs
//! about as much as migrating the memory when it is made of huge pages).

/// Per page of a range, the host node it was on, or [`PageNodes::ABSENT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageNodes {
    host_addr: u64,
    nodes: Vec<u8>,
}

impl PageNodes {
    /// Not populated (or on a node this snapshot cannot name, see [`record`](Self::record)).
    pub const ABSENT: u8 = u8::MAX;
    const PAGE: u64 = 4096;

    /// An empty snapshot of the range starting at `host_addr`, for `pages` pages.
    pub fn with_capacity(host_addr: u64, pages: u64) -> Self {
        Self {
            host_addr,
            nodes: Vec::with_capacity(usize::try_from(pages).unwrap_or(0)),
        }
    }

    /// Appends the next page's move_pages status. Returns false for a node number the
    /// snapshot cannot hold (254 or more), after which it must not be used.
    pub fn record(&mut self, status: i32) -> bool {
        match u8::try_from(status) {
            Ok(node) if node < Self::ABSENT - 1 => {
                self.nodes.push(node);
                true
            }
            _ if status < 0 => {
                self.nodes.push(Self::ABSENT);
                true
            }
            _ => false,
        }
    }

    /// Whether it covers `[addr, addr + len)`.
    pub fn covers(&self, addr: u64, len: u64) -> bool {
        addr >= self.host_addr
            && addr + len <= self.host_addr + self.nodes.len() as u64 * Self::PAGE
    }

    /// What it says of the page at `addr` (None outside the snapshot).
    pub fn at(&self, addr: u64) -> Option<u8> {
        let index = addr.checked_sub(self.host_addr)? / Self::PAGE;
        self.nodes.get(usize::try_from(index).ok()?).copied()
    }

    /// Records a later query's status for the page at `addr` (ignored outside the snapshot, or
    /// for a node number it cannot hold, which is then kept as absent).
    pub fn update(&mut self, addr: u64, status: i32) {
        let Some(index) = addr
            .checked_sub(self.host_addr)
            .and_then(|i| usize::try_from(i / Self::PAGE).ok())
        else {
            return;
        };
        if let Some(slot) = self.nodes.get_mut(index) {
            *slot = match u8::try_from(status) {
                Ok(node) if node < Self::ABSENT - 1 => node,
                _ => Self::ABSENT,
            };
        }
    }

    /// The populated pages of `[addr, addr + len)` not on `target`, in address order (nothing
    /// if the snapshot does not cover the range).
    pub fn pending(&self, addr: u64, len: u64, target: u32) -> Vec<u64> {
        if !self.covers(addr, len) {
            return Vec::new();
        }
        let first = ((addr - self.host_addr) / Self::PAGE) as usize;
        let count = (len / Self::PAGE) as usize;
        self.nodes[first..first + count]
            .iter()
            .enumerate()
            .filter(|(_, n)| **n != Self::ABSENT && u32::from(**n) != target)
            .map(|(i, _)| addr + i as u64 * Self::PAGE)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_pages_of_a_covered_range() {
        let mut s = PageNodes::with_capacity(0x10000, 6);
        for status in [0, 1, -libc::ENOENT, 0, 1, -libc::EFAULT] {
            assert!(s.record(status));
        }
        assert!(s.covers(0x10000, 6 * 4096));
        assert!(!s.covers(0x10000, 7 * 4096));
        assert!(!s.covers(0xf000, 4096));
        assert_eq!(s.pending(0x10000, 6 * 4096, 1), vec![0x10000, 0x13000]);
        assert_eq!(s.pending(0x11000, 4 * 4096, 0), vec![0x11000, 0x14000]);
        assert!(s.pending(0x10000, 7 * 4096, 0).is_empty());
    }

    #[test]
    fn later_queries_update_single_pages() {
        let mut s = PageNodes::with_capacity(0x10000, 3);
        for status in [-libc::ENOENT, 0, -libc::ENOENT] {
            assert!(s.record(status));
        }
        s.update(0x10000, 1);
        s.update(0x12000, -libc::EFAULT);
        s.update(0x13000, 1);
        s.update(0xf000, 1);
        assert_eq!(s.at(0x10000), Some(1));
        assert_eq!(s.at(0x12000), Some(PageNodes::ABSENT));
        assert_eq!(s.at(0x13000), None);
        assert_eq!(s.pending(0x10000, 3 * 4096, 0), vec![0x10000]);
    }

    #[test]
    fn a_node_too_large_to_hold_is_refused() {
        let mut s = PageNodes::with_capacity(0, 1);
        assert!(!s.record(300));
        assert!(!s.record(254));
        assert!(s.record(253));
    }
}
