//! Placement: on which host node each page of a range sits, from move_pages(2) in query mode,
//! in batches, sampling every `stride`-th page when a range is larger than the sample budget.

use std::collections::BTreeMap;
use std::io;

use crate::pages::{query_statuses, PageMover};

/// The base page size placement counts in.
pub const PAGE_SIZE: u64 = 4096;
pub use crate::pages::QUERY_BATCH;
/// Default sample budget per range: every page of up to 1 GiB.
pub const DEFAULT_MAX_SAMPLES: u64 = 1 << 18;

/// Where the pages of a range (or of several ranges, merged) sit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Pages in the range.
    pub pages: u64,
    /// Pages actually queried.
    pub sampled: u64,
    /// Queried pages per host node.
    pub on_node: BTreeMap<u32, u64>,
    /// Queried pages not populated yet (-ENOENT or -EFAULT).
    pub absent: u64,
    /// Queried pages in memory whose node the kernel would not tell: pages its automatic NUMA
    /// balancing has made inaccessible for a while (move_pages says -ENOENT), or another error.
    pub unknown: u64,
}

impl Placement {
    /// Adds another range's counts to this one.
    pub fn merge(&mut self, other: &Placement) {
        self.pages += other.pages;
        self.sampled += other.sampled;
        self.absent += other.absent;
        self.unknown += other.unknown;
        for (node, count) in &other.on_node {
            *self.on_node.entry(*node).or_default() += count;
        }
    }

    /// Queried pages that are populated.
    pub fn populated(&self) -> u64 {
        self.on_node.values().sum()
    }

    /// The fraction of the range that was queried (1.0 when every page was).
    pub fn sampled_fraction(&self) -> f64 {
        if self.pages == 0 {
            1.0
        } else {
            self.sampled as f64 / self.pages as f64
        }
    }

    /// Scales a count of queried pages up to the whole range.
    pub fn estimate(&self, sampled_count: u64) -> u64 {
        if self.sampled == 0 {
            return 0;
        }
        ((sampled_count as u128 * self.pages as u128 + self.sampled as u128 / 2)
            / self.sampled as u128) as u64
    }

    /// The share of populated pages on `node`, from 0.0 to 1.0 (0.0 when nothing is populated).
    pub fn share_on(&self, node: u32) -> f64 {
        let populated = self.populated();
        if populated == 0 {
            return 0.0;
        }
        self.on_node.get(&node).copied().unwrap_or(0) as f64 / populated as f64
    }
}

/// Queries the placement of `[addr, addr + len)`, at most `max_samples` pages of it.
pub fn query_placement(
    mover: &dyn PageMover,
    addr: u64,
    len: u64,
    max_samples: u64,
) -> io::Result<Placement> {
    let pages = len / PAGE_SIZE;
    let stride = pages.div_ceil(max_samples.max(1)).max(1);
    let mut placement = Placement {
        pages,
        ..Placement::default()
    };
    let mut batch: Vec<u64> = Vec::with_capacity(QUERY_BATCH);
    let mut page = 0;
    while page < pages {
        batch.clear();
        while page < pages && batch.len() < QUERY_BATCH {
            batch.push(addr + page * PAGE_SIZE);
            page += stride;
        }
        let status = query_statuses(mover, &batch)?;
        let resident = resident_pages(mover, &batch, &status, stride)?;
        for (i, &s) in status.iter().enumerate() {
            match s {
                node if node >= 0 => *placement.on_node.entry(node as u32).or_default() += 1,
                e if e == -libc::ENOENT && resident.get(i) == Some(&true) => placement.unknown += 1,
                e if e == -libc::ENOENT || e == -libc::EFAULT => placement.absent += 1,
                _ => placement.unknown += 1,
            }
        }
        placement.sampled += batch.len() as u64;
    }
    Ok(placement)
}

/// For a batch with -ENOENT pages, whether each page of the batch is in memory; empty when
/// no page said -ENOENT.
fn resident_pages(
    mover: &dyn PageMover,
    batch: &[u64],
    status: &[i32],
    stride: u64,
) -> io::Result<Vec<bool>> {
    let (Some(&first), true) = (batch.first(), status.contains(&-libc::ENOENT)) else {
        return Ok(Vec::new());
    };
    let span = (batch.len() as u64 - 1) * stride + 1;
    let mut bytes = vec![0u8; span as usize];
    mover.resident(first, &mut bytes)?;
    Ok((0..batch.len())
        .map(|i| bytes[i * stride as usize] & 1 == 1)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers queries from a table: page index -> status; records the batch sizes.
    struct FakePages {
        base: u64,
        status_of: Box<dyn Fn(u64) -> i32 + Send + Sync>,
        resident_of: Box<dyn Fn(u64) -> bool + Send + Sync>,
        batches: Mutex<Vec<usize>>,
    }

    impl PageMover for FakePages {
        fn move_pages(
            &self,
            pages: &[u64],
            nodes: Option<&[i32]>,
            status: &mut [i32],
        ) -> io::Result<usize> {
            assert!(nodes.is_none());
            self.batches.lock().unwrap().push(pages.len());
            for (p, s) in pages.iter().zip(status.iter_mut()) {
                *s = (self.status_of)((p - self.base) / PAGE_SIZE);
            }
            Ok(0)
        }

        fn resident(&self, addr: u64, resident: &mut [u8]) -> io::Result<()> {
            for (i, r) in resident.iter_mut().enumerate() {
                *r = u8::from((self.resident_of)(
                    (addr - self.base) / PAGE_SIZE + i as u64,
                ));
            }
            Ok(())
        }
    }

    fn fake(status_of: impl Fn(u64) -> i32 + Send + Sync + 'static) -> FakePages {
        FakePages {
            base: 0x7f00_0000_0000,
            status_of: Box::new(status_of),
            resident_of: Box::new(|_| false),
            batches: Mutex::default(),
        }
    }

    #[test]
    fn counts_every_page_in_batches() {
        let pages = fake(|i| {
            if i < 3000 {
                0
            } else if i < 4000 {
                1
            } else {
                -libc::ENOENT
            }
        });
        let p = query_placement(&pages, pages.base, 5000 * PAGE_SIZE, DEFAULT_MAX_SAMPLES).unwrap();
        assert_eq!(
            (p.pages, p.sampled, p.absent, p.unknown),
            (5000, 5000, 1000, 0)
        );
        assert_eq!(p.on_node, BTreeMap::from([(0, 3000), (1, 1000)]));
        assert_eq!(
            *pages.batches.lock().unwrap(),
            vec![1024, 1024, 1024, 1024, 904]
        );
        assert!((p.share_on(0) - 0.75).abs() < 1e-9);
        assert_eq!(p.sampled_fraction(), 1.0);
    }

    #[test]
    fn samples_large_ranges_with_a_stride() {
        let pages = fake(|i| if i % 2 == 0 { 1 } else { 0 });
        let p = query_placement(&pages, pages.base, 10_000 * PAGE_SIZE, 1000).unwrap();
        assert_eq!(p.sampled, 1000);
        assert!((p.sampled_fraction() - 0.1).abs() < 1e-9);
        // Stride 10 hits only even pages.
        assert_eq!(p.on_node, BTreeMap::from([(1, 1000)]));
        assert_eq!(p.estimate(1000), 10_000);
    }

    #[test]
    fn other_errors_are_unknown_and_call_failures_propagate() {
        let pages = fake(|i| if i == 0 { -libc::EACCES } else { -libc::EFAULT });
        let p = query_placement(&pages, pages.base, 2 * PAGE_SIZE, 10).unwrap();
        assert_eq!((p.unknown, p.absent, p.populated()), (1, 1, 0));
        assert_eq!(p.share_on(0), 0.0);

        struct Broken;
        impl PageMover for Broken {
            fn move_pages(&self, _: &[u64], _: Option<&[i32]>, _: &mut [i32]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(libc::EPERM))
            }
            fn resident(&self, _: u64, _: &mut [u8]) -> io::Result<()> {
                Err(io::Error::from_raw_os_error(libc::EPERM))
            }
        }
        assert!(query_placement(&Broken, 0, PAGE_SIZE, 10).is_err());
    }

    #[test]
    fn resident_pages_without_a_node_are_unknown_not_absent() {
        let mut pages = fake(|i| if i < 10 { 0 } else { -libc::ENOENT });
        pages.resident_of = Box::new(|i| i < 15);
        let p = query_placement(&pages, pages.base, 20 * PAGE_SIZE, 100).unwrap();
        assert_eq!((p.populated(), p.unknown, p.absent), (10, 5, 5));
        // With a stride the residency of the sampled pages is used.
        let p = query_placement(&pages, pages.base, 20 * PAGE_SIZE, 5).unwrap();
        assert_eq!(
            (p.sampled, p.populated(), p.unknown, p.absent),
            (5, 3, 1, 1)
        );
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Placement {
            pages: 10,
            sampled: 10,
            on_node: BTreeMap::from([(0, 4)]),
            absent: 6,
            unknown: 0,
        };
        let b = Placement {
            pages: 5,
            sampled: 5,
            on_node: BTreeMap::from([(0, 1), (1, 4)]),
            absent: 0,
            unknown: 0,
        };
        a.merge(&b);
        assert_eq!((a.pages, a.sampled, a.absent), (15, 15, 6));
        assert_eq!(a.on_node, BTreeMap::from([(0, 5), (1, 4)]));
    }
}
