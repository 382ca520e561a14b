//! Which pages the heat sampler watches in an interval.
//!
//! Watching a page costs the guest one write fault the first time it writes the page in the
//! interval (KVM write-protects it to notice). Watching every page makes a guest that keeps
//! rewriting its memory take a fault per page per interval: in the lab that cut a write-heavy
//! workload to a tenth of its speed. So, where KVM lets Tern choose which pages to re-protect
//! (manual dirty-log protect), the sampler watches a few pages per 2 MiB chunk, at offsets
//! that change every interval, and only a share of the chunks in each interval, in turn:
//! whether the watched pages were written estimates the share of the chunk the guest writes,
//! and the decaying score averages the estimates over the intervals that observed the chunk.
//! The guest then pays at most `per_chunk` faults per observed chunk per interval, whatever
//! it writes.
//!
//! The guest is hostile: if it knew which page of a chunk is watched, it could write just that
//! page to make the chunk look hot (or avoid it to look cold) and steer the balancer. So the
//! offsets come from a keyed hash (SipHash, from std's `RandomState`, whose 128-bit key the OS
//! draws with getrandom(2)) under a key drawn once per tern process, that is per VM, and never
//! shown to anyone. Seeing some watched pages (through the timing of its write faults) tells
//! the guest nothing about the next ones. Which chunks take their turn in an interval stays a
//! plain rotation: it says when a chunk is looked at, not where.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use crate::chunk::PAGES_PER_CHUNK;

/// Pages watched per observed 2 MiB chunk by default.
pub const DEFAULT_PAGES_PER_CHUNK: u32 = 1;
/// Each chunk is observed once in this many observations (a quarter of the chunks per
/// observation, in turn): at one observation a second, 128 faults per GiB of guest memory per
/// second.
pub const DEFAULT_EVERY: u32 = 4;

/// The secret behind the watched offsets.
#[derive(Clone, Debug)]
pub struct WatchKey(RandomState);

impl WatchKey {
    /// A fresh key from the OS's random source.
    pub fn random() -> Self {
        Self(RandomState::new())
    }

    /// The keyed hash of (chunk, interval).
    fn draw(&self, chunk: u64, interval: u64) -> u64 {
        self.0.hash_one((chunk, interval))
    }
}

/// This process's key: drawn at first use, the same for the VM's whole life.
pub fn vm_key() -> &'static WatchKey {
    static KEY: OnceLock<WatchKey> = OnceLock::new();
    KEY.get_or_init(WatchKey::random)
}

/// A bitmap (one bit per 4 KiB page, like KVM's dirty log) of the pages of a region of
/// `pages` pages to watch in interval `interval`: in one chunk of every `every`, in turn,
/// `per_chunk` pages (all of a chunk's pages if it has fewer), at offsets spread over the
/// chunk and moved each time, drawn under the VM's key ([`vm_key`]).
pub fn watch_set(pages: u64, interval: u64, per_chunk: u32, every: u32) -> Vec<u64> {
    watch_set_keyed(vm_key(), pages, interval, per_chunk, every)
}

/// [`watch_set`] under `key`.
pub fn watch_set_keyed(
    key: &WatchKey,
    pages: u64,
    interval: u64,
    per_chunk: u32,
    every: u32,
) -> Vec<u64> {
    let mut bits = vec![0u64; pages.div_ceil(64) as usize];
    let per_chunk = u64::from(per_chunk.max(1));
    let every = u64::from(every.max(1));
    for chunk in 0..pages.div_ceil(PAGES_PER_CHUNK) {
        if !(chunk + interval).is_multiple_of(every) {
            continue;
        }
        let first = chunk * PAGES_PER_CHUNK;
        let len = PAGES_PER_CHUNK.min(pages - first);
        let picks = per_chunk.min(len);
        let stride = len / picks;
        let offset = key.draw(chunk, interval) % stride;
        for k in 0..picks {
            let page = first + k * stride + offset;
            bits[(page / 64) as usize] |= 1 << (page % 64);
        }
    }
    bits
}

/// Pages set in `bitmap` among the first `pages`.
pub fn count(bitmap: &[u64], pages: u64) -> u64 {
    bitmap
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let first = i as u64 * 64;
            let valid = pages.saturating_sub(first).min(64);
            let mask = if valid == 64 {
                u64::MAX
            } else {
                (1u64 << valid) - 1
            };
            u64::from((w & mask).count_ones())
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_observations_watch_each_chunk_once() {
        // A 1 GiB region (512 chunks): 128 pages per observation, 512 in four.
        let pages = 1u64 << 18;
        let each: Vec<u64> = (1..=4)
            .map(|i| {
                count(
                    &watch_set(pages, i, DEFAULT_PAGES_PER_CHUNK, DEFAULT_EVERY),
                    pages,
                )
            })
            .collect();
        assert_eq!(each, [128, 128, 128, 128]);
    }

    fn pages_of(bits: &[u64]) -> Vec<u64> {
        (0..bits.len() as u64 * 64)
            .filter(|p| bits[(p / 64) as usize] & (1 << (p % 64)) != 0)
            .collect()
    }

    #[test]
    fn one_page_per_chunk_inside_each_chunk() {
        let set = pages_of(&watch_set(3 * 512, 7, 1, 1));
        assert_eq!(set.len(), 3);
        for (chunk, page) in set.iter().enumerate() {
            assert_eq!(page / 512, chunk as u64, "{set:?}");
        }
    }

    #[test]
    fn several_pages_per_chunk_are_spread_over_it() {
        let set = pages_of(&watch_set(512, 0, 4, 1));
        assert_eq!(set.len(), 4);
        for (k, page) in set.iter().enumerate() {
            assert_eq!(page / 128, k as u64, "one in each quarter: {set:?}");
        }
    }

    #[test]
    fn offsets_move_between_intervals_and_cover_the_chunk() {
        let seen: std::collections::BTreeSet<u64> = (0..4096)
            .flat_map(|i| pages_of(&watch_set(512, i, 1, 1)))
            .collect();
        // 4096 draws from 512 offsets leave almost none unseen.
        assert!(seen.len() > 500, "{} offsets seen", seen.len());
    }

    #[test]
    fn a_short_last_chunk_and_a_tiny_region() {
        // 600 pages: a full chunk and one of 88 pages.
        let set = pages_of(&watch_set(600, 3, 1, 1));
        assert_eq!(set.len(), 2);
        assert!(set[1] >= 512 && set[1] < 600, "{set:?}");
        // Fewer pages than asked for: all of them.
        assert_eq!(pages_of(&watch_set(3, 0, 8, 1)), vec![0, 1, 2]);
    }

    #[test]
    fn chunks_take_turns() {
        // 8 chunks, every fourth observed: 2 per interval, each chunk once in 4.
        let mut seen = [0; 8];
        for interval in 0..4 {
            let set = pages_of(&watch_set(8 * 512, interval, 1, 4));
            assert_eq!(set.len(), 2);
            for p in set {
                seen[(p / 512) as usize] += 1;
            }
        }
        assert_eq!(seen, [1; 8]);
    }

    #[test]
    fn two_keys_choose_different_pages() {
        let (a, b) = (WatchKey::random(), WatchKey::random());
        // 64 chunks over 16 intervals: 1024 draws from 512 offsets each.
        let differ = (0..16)
            .filter(|&i| {
                watch_set_keyed(&a, 64 * 512, i, 1, 1) != watch_set_keyed(&b, 64 * 512, i, 1, 1)
            })
            .count();
        assert_eq!(
            differ, 16,
            "every interval's choice differs between the keys"
        );
        let same: usize = (0..16)
            .map(|i| {
                let (x, y) = (
                    pages_of(&watch_set_keyed(&a, 64 * 512, i, 1, 1)),
                    pages_of(&watch_set_keyed(&b, 64 * 512, i, 1, 1)),
                );
                x.iter().zip(&y).filter(|(p, q)| p == q).count()
            })
            .sum();
        // Two independent keys agree on a chunk's page about once in 512.
        assert!(same < 16, "{same} of 1024 pages agree");
    }

    #[test]
    fn one_key_chooses_the_same_pages_every_time_it_is_asked() {
        let key = WatchKey::random();
        assert_eq!(
            watch_set_keyed(&key, 4096, 9, 2, 1),
            watch_set_keyed(&key, 4096, 9, 2, 1)
        );
        assert_eq!(watch_set(4096, 9, 2, 1), watch_set(4096, 9, 2, 1));
    }

    #[test]
    fn counts_only_pages_of_the_region() {
        assert_eq!(count(&[u64::MAX, u64::MAX], 70), 70);
        assert_eq!(count(&[0b1011], 64), 3);
        assert_eq!(count(&[], 10), 0);
    }
}
