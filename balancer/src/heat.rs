//! Write heat: how often each 2 MiB chunk of guest memory is written, from KVM dirty bitmaps.
//!
//! Every sample, each region's dirty bitmap (one bit per 4 KiB page, as `KVM_GET_DIRTY_LOG`
//! returns it) is folded into a score per chunk: `heat = heat * decay + dirty pages of the
//! chunk in this sample`.
//!
//! - Why 2 MiB chunks: a chunk is an x86 huge page (one THP or hugetlb page, or 512 base
//!   pages), the unit the planner and the mover work in, so a score is directly a score of
//!   something that moves. In the bitmap a chunk is exactly 8 `u64` words, so scoring a chunk
//!   is 8 popcounts: recording a sample costs a few instructions per 2 MiB of guest memory.
//! - Why an exponential decay: it keeps one number per chunk (no history), and it forgets at a
//!   known pace. With the default 0.5, a sample weighs half the one after it: at one sample a
//!   second the last three or four seconds make up over 90% of a score, so heat follows what
//!   the guest writes now, while a single idle second does not wipe out a chunk that is hot.
//!   A decay of 1 sums every sample ever taken; 0 keeps only the last one.
//! - Where only some pages were watched (see [`crate::watch`]), a chunk's dirty pages are
//!   estimated from its watched ones; scores stay in the same unit.

use std::time::Duration;

use crate::chunk::PAGES_PER_CHUNK;
use crate::placement::PAGE_SIZE;

/// The decay [`HeatMap::new`] uses when given one outside `[0, 1]`.
pub const DEFAULT_DECAY: f64 = 0.5;
/// Bitmap words per chunk.
const WORDS_PER_CHUNK: usize = (PAGES_PER_CHUNK / 64) as usize;

/// The heat of one region.
#[derive(Clone, Debug, Default, PartialEq)]
struct RegionHeat {
    /// Pages in the region.
    pages: u64,
    /// Score per chunk.
    chunks: Vec<f64>,
    /// Whether this sample already decayed the scores.
    decayed: bool,
    /// Dirty pages recorded in the sample under way (estimated, when only some were watched).
    dirty_now: f64,
    /// Dirty pages of the last closed sample.
    dirty_last: f64,
}

impl RegionHeat {
    fn new(len: u64) -> Self {
        let pages = len / PAGE_SIZE;
        Self {
            pages,
            chunks: vec![0.0; pages.div_ceil(PAGES_PER_CHUNK) as usize],
            ..Self::default()
        }
    }

    fn decay(&mut self, decay: f64) {
        if !self.decayed {
            self.chunks.iter_mut().for_each(|score| *score *= decay);
            self.decayed = true;
        }
    }

    /// Adds the bitmap's dirty pages to the chunks' scores; returns how many there were.
    fn add(&mut self, bitmap: &[u64]) -> u64 {
        let words = (self.pages.div_ceil(64) as usize).min(bitmap.len());
        let bitmap = &bitmap[..words];
        let mut total = 0;
        for (score, words) in self.chunks.iter_mut().zip(bitmap.chunks(WORDS_PER_CHUNK)) {
            let dirty: u64 = words.iter().map(|w| u64::from(w.count_ones())).sum();
            *score += dirty as f64;
            total += dirty;
        }
        // Bits past the region's last page, in its last (partial) word, are not pages.
        let tail_bits = self.pages % 64;
        if let (Some(last), true) = (
            bitmap.last(),
            tail_bits != 0 && words as u64 * 64 > self.pages,
        ) {
            let beyond = u64::from((last >> tail_bits).count_ones());
            if let Some(score) = self.chunks.get_mut((words - 1) / WORDS_PER_CHUNK) {
                *score -= beyond as f64;
            }
            total -= beyond;
        }
        self.dirty_now += total as f64;
        total
    }

    /// Folds in each watched chunk's estimated dirty pages (the share of its watched pages
    /// that are dirty, times its pages): its score decays and takes the estimate; chunks
    /// without a watched page keep their score, so a score is an average over the samples
    /// that observed the chunk. Returns the estimate for the observed chunks.
    fn add_watched(&mut self, bitmap: &[u64], watched: &[u64], decay: f64) -> f64 {
        let mut total = 0.0;
        for (c, score) in self.chunks.iter_mut().enumerate() {
            let first = c * WORDS_PER_CHUNK;
            let pages = (self.pages - c as u64 * PAGES_PER_CHUNK).min(PAGES_PER_CHUNK);
            let (mut seen, mut dirty) = (0u64, 0u64);
            for i in first..first + WORDS_PER_CHUNK {
                let in_chunk = (i - first) as u64 * 64;
                let mask = if pages >= in_chunk + 64 {
                    u64::MAX
                } else if pages > in_chunk {
                    (1u64 << (pages - in_chunk)) - 1
                } else {
                    0
                };
                let w = watched.get(i).copied().unwrap_or(0) & mask;
                seen += u64::from(w.count_ones());
                dirty += u64::from((w & bitmap.get(i).copied().unwrap_or(0)).count_ones());
            }
            if seen > 0 {
                let estimate = dirty as f64 / seen as f64 * pages as f64;
                *score = *score * decay + estimate;
                total += estimate;
            }
        }
        total
    }
}

/// Decaying write heat per region and 2 MiB chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatMap {
    decay: f64,
    regions: Vec<RegionHeat>,
    samples: u64,
    last_interval: Duration,
}

impl HeatMap {
    /// An all-cold map for regions of `region_lens` bytes (indexed like the VM's regions),
    /// keeping `decay` of a score per sample. A decay outside `[0, 1]` (or NaN) becomes
    /// [`DEFAULT_DECAY`].
    pub fn new(region_lens: &[u64], decay: f64) -> Self {
        Self {
            decay: if (0.0..=1.0).contains(&decay) {
                decay
            } else {
                DEFAULT_DECAY
            },
            regions: region_lens
                .iter()
                .map(|len| RegionHeat::new(*len))
                .collect(),
            samples: 0,
            last_interval: Duration::ZERO,
        }
    }

    /// Folds region `region`'s dirty bitmap into the sample under way (bit `i` of word `w` is
    /// page `w * 64 + i`); returns its dirty pages. The first call for a region in a sample
    /// decays its scores; further calls in the same sample only add. Bits past the region's
    /// end are ignored, pages past the bitmap's end count as clean, and an unknown region
    /// records nothing.
    pub fn record(&mut self, region: usize, dirty_bitmap: &[u64]) -> u64 {
        let decay = self.decay;
        let Some(heat) = self.regions.get_mut(region) else {
            return 0;
        };
        heat.decay(decay);
        heat.add(dirty_bitmap)
    }

    /// Like [`record`](Self::record) when only the pages set in `watched` were watched in
    /// this sample (the other bits of `dirty_bitmap` mean nothing), in some of the region's
    /// chunks: each of those gets the share of its watched pages that are dirty, times its
    /// pages, and only those decay (a score averages the samples that observed its chunk).
    /// `share` is the part of the region's chunks a sample observes, for the region's write
    /// rate. Returns the region's estimated dirty pages.
    pub fn record_watched(
        &mut self,
        region: usize,
        dirty_bitmap: &[u64],
        watched: &[u64],
        share: f64,
    ) -> f64 {
        let decay = self.decay;
        let Some(heat) = self.regions.get_mut(region) else {
            return 0.0;
        };
        // The chunks observed decay as they are scored; the others keep their score.
        heat.decayed = true;
        let observed = heat.add_watched(dirty_bitmap, watched, decay);
        let estimate = if share > 0.0 {
            observed / share
        } else {
            observed
        };
        heat.dirty_now += estimate;
        estimate
    }

    /// Closes the sample: regions not recorded in it decay as if clean, each region's dirty
    /// pages become its last sample's, and `interval` (the time the sample covered) is kept
    /// for rates.
    pub fn end_sample(&mut self, interval: Duration) {
        let decay = self.decay;
        for heat in &mut self.regions {
            heat.decay(decay);
            heat.decayed = false;
            heat.dirty_last = std::mem::take(&mut heat.dirty_now);
        }
        self.samples += 1;
        self.last_interval = interval;
    }

    /// Samples closed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Regions the map covers.
    pub fn regions(&self) -> usize {
        self.regions.len()
    }

    /// The score of a chunk (0 for one the map does not cover).
    pub fn heat(&self, region: usize, chunk: u64) -> f64 {
        self.regions
            .get(region)
            .and_then(|r| r.chunks.get(usize::try_from(chunk).ok()?))
            .copied()
            .unwrap_or(0.0)
    }

    /// Dirty pages of a region in the last closed sample (an estimate when only some pages
    /// were watched).
    pub fn dirty_pages_last_sample(&self, region: usize) -> u64 {
        self.regions
            .get(region)
            .map_or(0, |r| r.dirty_last.round() as u64)
    }

    /// Bytes per second written to a region in the last closed sample (0 before the first).
    pub fn write_bytes_per_s(&self, region: usize) -> f64 {
        let seconds = self.last_interval.as_secs_f64();
        if seconds <= 0.0 {
            return 0.0;
        }
        (self.dirty_pages_last_sample(region) * PAGE_SIZE) as f64 / seconds
    }

    /// The `n` hottest chunks of `regions` as (region, chunk, heat), hottest first (equal
    /// heat in region then chunk order); cold chunks (heat 0) are left out.
    pub fn hottest(&self, regions: &[usize], n: usize) -> Vec<(usize, u64, f64)> {
        let mut wanted = regions.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut hot: Vec<(usize, u64, f64)> = wanted
            .iter()
            .filter_map(|r| Some((*r, self.regions.get(*r)?)))
            .flat_map(|(r, heat)| {
                heat.chunks
                    .iter()
                    .enumerate()
                    .filter(|(_, score)| **score > 0.0)
                    .map(move |(c, score)| (r, c as u64, *score))
            })
            .collect();
        hot.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        hot.truncate(n);
        hot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::CHUNK_BYTES;

    const MIB: u64 = 1 << 20;

    /// A bitmap for `pages` pages with the given pages dirty.
    fn bitmap(pages: u64, dirty: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let mut words = vec![0u64; pages.div_ceil(64) as usize];
        for p in dirty {
            words[(p / 64) as usize] |= 1 << (p % 64);
        }
        words
    }

    #[test]
    fn counts_dirty_pages_per_chunk() {
        let mut map = HeatMap::new(&[3 * CHUNK_BYTES], 0.5);
        let bits = bitmap(1536, (0..10).chain([512, 600, 1535]));
        assert_eq!(map.record(0, &bits), 13);
        map.end_sample(Duration::from_secs(1));
        assert_eq!(map.heat(0, 0), 10.0);
        assert_eq!(map.heat(0, 1), 2.0);
        assert_eq!(map.heat(0, 2), 1.0);
        assert_eq!(map.samples(), 1);
    }

    #[test]
    fn heat_decays_per_sample() {
        let mut map = HeatMap::new(&[CHUNK_BYTES], 0.5);
        let all = vec![u64::MAX; 8];
        map.record(0, &all);
        map.end_sample(Duration::from_secs(1));
        assert_eq!(map.heat(0, 0), 512.0);
        map.record(0, &bitmap(512, []));
        map.end_sample(Duration::from_secs(1));
        assert_eq!(map.heat(0, 0), 256.0);
        map.record(0, &bitmap(512, 0..4));
        map.end_sample(Duration::from_secs(1));
        assert_eq!(map.heat(0, 0), 132.0);
    }

    #[test]
    fn a_region_left_out_of_a_sample_decays_as_clean() {
        let mut map = HeatMap::new(&[CHUNK_BYTES, CHUNK_BYTES], 0.5);
        map.record(0, &[1; 8]);
        map.record(1, &[1; 8]);
        map.end_sample(Duration::from_secs(1));
        map.record(0, &[1; 8]);
        map.end_sample(Duration::from_secs(1));
        assert_eq!((map.heat(0, 0), map.heat(1, 0)), (12.0, 4.0));
        assert_eq!(map.dirty_pages_last_sample(1), 0);
    }

    #[test]
    fn two_records_in_one_sample_add_up_and_decay_once() {
        let mut map = HeatMap::new(&[CHUNK_BYTES], 0.5);
        map.record(0, &[0xff; 8]);
        map.end_sample(Duration::from_secs(1));
        map.record(0, &[1; 8]);
        map.record(0, &[1; 8]);
        map.end_sample(Duration::from_secs(1));
        assert_eq!(map.heat(0, 0), 64.0 / 2.0 + 16.0);
        assert_eq!(map.dirty_pages_last_sample(0), 16);
    }

    #[test]
    fn a_short_bitmap_leaves_the_rest_clean_and_a_long_one_is_cut() {
        // 1.5 chunks: 768 pages, 12 words.
        let mut map = HeatMap::new(&[CHUNK_BYTES + CHUNK_BYTES / 2], 1.0);
        assert_eq!(map.record(0, &[u64::MAX; 3]), 192);
        assert_eq!((map.heat(0, 0), map.heat(0, 1)), (192.0, 0.0));
        assert_eq!(map.record(0, &[u64::MAX; 40]), 768);
        assert_eq!((map.heat(0, 0), map.heat(0, 1)), (192.0 + 512.0, 256.0));
    }

    #[test]
    fn bits_past_the_last_page_of_a_partial_word_are_ignored() {
        // 100 pages: the second word holds pages 64-99 in its low 36 bits.
        let mut map = HeatMap::new(&[100 * PAGE_SIZE], 1.0);
        assert_eq!(map.record(0, &[u64::MAX, u64::MAX, u64::MAX]), 100);
        assert_eq!(map.heat(0, 0), 100.0);
        assert_eq!(map.record(0, &[0, 1 << 40]), 0);
        assert_eq!(map.heat(0, 0), 100.0);
    }

    #[test]
    fn unknown_regions_and_chunks_are_cold() {
        let mut map = HeatMap::new(&[CHUNK_BYTES], 0.5);
        assert_eq!(map.record(5, &[u64::MAX]), 0);
        assert_eq!(map.heat(5, 0), 0.0);
        assert_eq!(map.heat(0, 9), 0.0);
        assert_eq!(map.dirty_pages_last_sample(5), 0);
        assert_eq!(map.write_bytes_per_s(5), 0.0);
        assert_eq!(map.regions(), 1);
    }

    #[test]
    fn write_rate_of_the_last_sample() {
        let mut map = HeatMap::new(&[4 * CHUNK_BYTES], 0.5);
        assert_eq!(map.write_bytes_per_s(0), 0.0);
        map.record(0, &[u64::MAX; 32]);
        map.end_sample(Duration::from_millis(500));
        assert_eq!(map.dirty_pages_last_sample(0), 2048);
        assert_eq!(map.write_bytes_per_s(0), (16 * MIB) as f64);
        map.end_sample(Duration::from_secs(1));
        assert_eq!(map.write_bytes_per_s(0), 0.0);
    }

    #[test]
    fn hottest_chunks_first_and_only_warm_ones() {
        let mut map = HeatMap::new(&[3 * CHUNK_BYTES, 2 * CHUNK_BYTES, CHUNK_BYTES], 1.0);
        map.record(0, &bitmap(1536, (0..3).chain(1024..1030)));
        map.record(1, &bitmap(1024, (0..3).chain(512..520)));
        map.record(2, &bitmap(512, 0..100));
        map.end_sample(Duration::from_secs(1));
        assert_eq!(
            map.hottest(&[1, 0, 1, 7], 10),
            vec![(1, 1, 8.0), (0, 2, 6.0), (0, 0, 3.0), (1, 0, 3.0)]
        );
        assert_eq!(map.hottest(&[0, 1, 2], 2), vec![(2, 0, 100.0), (1, 1, 8.0)]);
        assert!(map.hottest(&[], 5).is_empty());
    }

    #[test]
    fn a_decay_out_of_range_falls_back_to_the_default() {
        for decay in [f64::NAN, -1.0, 1.5] {
            let mut map = HeatMap::new(&[CHUNK_BYTES], decay);
            map.record(0, &[1; 8]);
            map.end_sample(Duration::from_secs(1));
            map.end_sample(Duration::from_secs(1));
            assert_eq!(map.heat(0, 0), 8.0 * DEFAULT_DECAY, "{decay}");
        }
        let mut last_only = HeatMap::new(&[CHUNK_BYTES], 0.0);
        last_only.record(0, &[1; 8]);
        last_only.end_sample(Duration::from_secs(1));
        last_only.record(0, &[3; 8]);
        assert_eq!(last_only.heat(0, 0), 16.0);
    }

    #[test]
    fn watched_pages_estimate_each_chunk() {
        // Two chunks and a short third of 100 pages; 4 pages watched in each of the first
        // two, 2 in the third. Every bit is set, as after dirty logging was switched on:
        // only the watched ones count.
        let mut map = HeatMap::new(&[2 * CHUNK_BYTES + 100 * PAGE_SIZE], 0.5);
        let watched = bitmap(1124, [0, 100, 200, 300, 512, 600, 700, 800, 1024, 1100]);
        let mut dirty = vec![u64::MAX; 18];
        // Chunk 0: all 4 watched dirty; chunk 1: one of 4; chunk 2: one of 2.
        for p in [600u64, 700, 800, 1100] {
            dirty[(p / 64) as usize] &= !(1 << (p % 64));
        }
        let total = map.record_watched(0, &dirty, &watched, 1.0);
        assert_eq!(
            (map.heat(0, 0), map.heat(0, 1), map.heat(0, 2)),
            (512.0, 128.0, 50.0)
        );
        assert_eq!(total, 690.0);
        map.end_sample(Duration::from_secs(2));
        assert_eq!(map.dirty_pages_last_sample(0), 690);
        assert_eq!(map.write_bytes_per_s(0), 690.0 * 4096.0 / 2.0);
        // Only the chunks observed decay and score; a third of them stands for the region.
        assert_eq!(
            map.record_watched(0, &dirty, &bitmap(1124, [0]), 1.0 / 3.0),
            1536.0
        );
        map.end_sample(Duration::from_secs(1));
        assert_eq!(
            (map.heat(0, 0), map.heat(0, 1), map.heat(0, 2)),
            (768.0, 128.0, 50.0)
        );
        assert_eq!(map.dirty_pages_last_sample(0), 1536);
    }
}
