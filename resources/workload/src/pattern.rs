//! The memory pattern: every 64-bit word is a function of its index and the pass number,
//! so a word that kept an older pass's value (a stale page) or that holds another
//! index's value (a misplaced page) is caught.

/// The value word `index` holds after pass `pass` has written it.
#[inline]
pub fn word(index: u64, pass: u64) -> u64 {
    // splitmix64's finalizer over a mix of index and pass: cheap, and no two
    // (index, pass) pairs that matter here collide in practice.
    let mut z = index
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(pass.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One word that did not hold what it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The word's index in the region.
    pub index: u64,
    /// What it should have held.
    pub expected: u64,
    /// What it held.
    pub found: u64,
}

/// Writes pass `pass`'s values into every word of `words`, which start at word `first`.
pub fn fill(words: &mut [u64], first: u64, pass: u64) {
    for (i, w) in words.iter_mut().enumerate() {
        *w = word(first + i as u64, pass);
    }
}

/// Checks that every word holds pass `pass - 1`'s value and rewrites it with pass `pass`'s.
/// Returns the number of wrong words; the first ones (up to `report.capacity()` minus its
/// length) are pushed onto `report`.
pub fn verify_and_rewrite(
    words: &mut [u64],
    first: u64,
    pass: u64,
    report: &mut Vec<Mismatch>,
) -> u64 {
    let mut errors = 0;
    for (i, w) in words.iter_mut().enumerate() {
        let index = first + i as u64;
        let expected = word(index, pass.wrapping_sub(1));
        let found = *w;
        if found != expected {
            errors += 1;
            if report.len() < report.capacity() {
                report.push(Mismatch {
                    index,
                    expected,
                    found,
                });
            }
        }
        *w = word(index, pass);
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_depend_on_index_and_pass() {
        assert_ne!(word(0, 0), word(1, 0));
        assert_ne!(word(0, 0), word(0, 1));
        assert_ne!(word(512, 3), word(0, 3));
        assert_eq!(word(77, 5), word(77, 5));
    }

    #[test]
    fn one_page_of_words_is_unique_across_passes() {
        let mut seen = std::collections::HashSet::new();
        for pass in 0..4 {
            for i in 0..4096 {
                assert!(seen.insert(word(i, pass)));
            }
        }
    }

    #[test]
    fn clean_passes_find_nothing() {
        let mut v = vec![0u64; 1024];
        fill(&mut v, 0, 0);
        let mut report = Vec::with_capacity(4);
        for pass in 1..4 {
            assert_eq!(verify_and_rewrite(&mut v, 0, pass, &mut report), 0);
        }
        assert!(report.is_empty());
        assert_eq!(v[10], word(10, 3));
    }

    #[test]
    fn stale_and_misplaced_words_are_found() {
        let mut v = vec![0u64; 2048];
        fill(&mut v, 0, 0);
        let mut report = Vec::with_capacity(2);
        assert_eq!(verify_and_rewrite(&mut v, 0, 1, &mut report), 0);
        // A stale page: words 512.. still hold pass 0's values.
        fill(&mut v[512..1024], 512, 0);
        // A misplaced page: words 1536.. hold the values of words 1024..
        let page: Vec<u64> = v[1024..1536].to_vec();
        v[1536..2048].copy_from_slice(&page);
        let errors = verify_and_rewrite(&mut v, 0, 2, &mut report);
        assert_eq!(errors, 1024);
        assert_eq!(report.len(), 2);
        assert_eq!(
            report[0],
            Mismatch {
                index: 512,
                expected: word(512, 1),
                found: word(512, 0)
            }
        );
    }

    #[test]
    fn an_offset_slice_checks_its_own_indices() {
        let mut v = vec![0u64; 64];
        fill(&mut v, 1000, 7);
        let mut report = Vec::new();
        assert_eq!(verify_and_rewrite(&mut v, 1000, 8, &mut report), 0);
        assert_eq!(verify_and_rewrite(&mut v, 0, 9, &mut report), 64);
    }
}
