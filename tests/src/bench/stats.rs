//! Medians and ranges of repeated measurements.

/// The median, minimum and maximum of a set of samples, and how many there were.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The middle sample (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples.
    pub n: usize,
}

impl Summary {
    /// Summarises the finite values of `samples`; `None` if there are none.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut values: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: values[0],
            max: values[n - 1],
            n,
        })
    }
}

/// The median of the finite values of `samples`.
pub fn median(samples: &[f64]) -> Option<f64> {
    Summary::of(samples).map(|s| s.median)
}

/// A distribution-free 95% confidence interval of the median of `samples` (finite values
/// only): the order statistics `k` and `n + 1 - k` (1-based, sorted), with `k` the largest
/// rank such that a Binomial(n, 1/2) falls below it with probability at most 2.5% (the sign
/// test's interval). `None` for fewer than 6 samples, where no such interval reaches 95%.
pub fn median_ci95(samples: &[f64]) -> Option<(f64, f64)> {
    let mut values: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    // P(X <= j) for X ~ Binomial(n, 1/2), accumulated in log space to stay finite.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0f64;
    let mut below = 0.0;
    let mut k = 0;
    for j in 0..n {
        if j > 0 {
            ln_choose += ((n - j + 1) as f64).ln() - (j as f64).ln();
        }
        below += (ln_choose + ln_half_n).exp();
        if below > 0.025 {
            break;
        }
        k = j + 1;
    }
    (k >= 1 && 2 * k <= n).then(|| (values[k - 1], values[n - k]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_and_even_counts() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (3.0, 1.0, 5.0, 3));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
    }

    #[test]
    fn the_median_interval_uses_the_sign_tests_ranks() {
        // n = 10: P(X <= 1) = 11/1024 <= 2.5% < P(X <= 2) = 56/1024, so ranks 2 and 9.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(median_ci95(&ten), Some((2.0, 9.0)));
        // n = 6: P(X = 0) = 1/64 <= 2.5%: the extremes.
        assert_eq!(
            median_ci95(&[6.0, 1.0, 5.0, 2.0, 4.0, 3.0]),
            Some((1.0, 6.0))
        );
        // n = 5: even the extremes cover only 93.75%.
        assert_eq!(median_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
        // n = 100: ranks 40 and 61.
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(median_ci95(&hundred), Some((40.0, 61.0)));
        assert_eq!(median_ci95(&[]), None);
    }

    #[test]
    fn ignores_values_that_are_not_numbers() {
        let s = Summary::of(&[f64::NAN, 2.0, f64::INFINITY, 4.0]).unwrap();
        assert_eq!((s.median, s.n), (3.0, 2));
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[f64::NAN]).is_none());
    }
}
