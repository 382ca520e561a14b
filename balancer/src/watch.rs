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

use crate::chunk::PAGES_PER_CHUNK;

/// Pages watched per observed 2 MiB chunk by default.
pub const DEFAULT_PAGES_PER_CHUNK: u32 = 1;
/// Each chunk is observed once in this many intervals by default (a quarter of the chunks
/// per interval, in turn): at one sample a second, 128 faults per GiB of guest memory.
pub const DEFAULT_EVERY: u32 = 4;

/// A bitmap (one bit per 4 KiB page, like KVM's dirty log) of the pages of a region of
/// `pages` pages to watch in interval `interval`: in one chunk of every `every`, in turn,
/// `per_chunk` pages (all of a chunk's pages if it has fewer), at offsets spread over the
/// chunk and moved each time.
pub fn watch_set(pages: u64, interval: u64, per_chunk: u32, every: u32) -> Vec<u64> {
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
        let offset = mix(chunk, interval) % stride;
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

/// A well-spread hash of (chunk, interval) (splitmix64's finaliser), so that the watched
/// offsets of neighbouring chunks and intervals are unrelated.
fn mix(chunk: u64, interval: u64) -> u64 {
    let mut z = chunk
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(interval.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn counts_only_pages_of_the_region() {
        assert_eq!(count(&[u64::MAX, u64::MAX], 70), 70);
        assert_eq!(count(&[0b1011], 64), 3);
        assert_eq!(count(&[], 10), 0);
    }
}
