//! How much console output the guest may send: an optional rate (a token bucket holding at
//! most one second's worth) and an optional total over the VM's life. What goes over is
//! dropped, never delayed: delaying would only fill the buffer and stall nothing useful.

use std::time::Instant;

/// The guest's console output allowance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitSettings {
    /// Bytes per second, averaged; bursts up to one second's worth pass at once.
    pub bytes_per_s: Option<u64>,
    /// Bytes over the VM's whole life.
    pub total_bytes: Option<u64>,
}

/// Why bytes were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over the rate.
    Rate,
    /// Over the total.
    Total,
}

/// The allowance as it is being used.
#[derive(Debug)]
pub struct OutputLimit {
    settings: LimitSettings,
    /// Bytes the rate still allows now.
    tokens: f64,
    /// When `tokens` was last refilled.
    refilled: Option<Instant>,
    /// Bytes let through so far.
    passed: u64,
}

impl OutputLimit {
    /// A fresh allowance (a full bucket).
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            settings,
            tokens: settings.bytes_per_s.unwrap_or(0) as f64,
            refilled: None,
            passed: 0,
        }
    }

    /// How many of `len` bytes offered at `now` may pass, and why the rest may not.
    pub fn admit(&mut self, len: usize, now: Instant) -> (usize, Option<Refusal>) {
        let mut allowed = len as u64;
        let mut refusal = None;
        if let Some(total) = self.settings.total_bytes {
            let left = total.saturating_sub(self.passed);
            if allowed > left {
                allowed = left;
                refusal = Some(Refusal::Total);
            }
        }
        if let Some(rate) = self.settings.bytes_per_s {
            let elapsed = self.refilled.map_or(0.0, |then| {
                now.saturating_duration_since(then).as_secs_f64()
            });
            self.refilled = Some(now);
            self.tokens = (self.tokens + elapsed * rate as f64).min(rate as f64);
            let whole = self.tokens.floor() as u64;
            if allowed > whole {
                allowed = whole;
                refusal = refusal.or(Some(Refusal::Rate));
            }
            self.tokens -= allowed as f64;
        }
        self.passed += allowed;
        (allowed as usize, refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn no_settings_let_everything_through() {
        let mut limit = OutputLimit::new(LimitSettings::default());
        assert_eq!(limit.admit(1 << 20, Instant::now()), (1 << 20, None));
    }

    #[test]
    fn the_total_is_never_exceeded() {
        let mut limit = OutputLimit::new(LimitSettings {
            total_bytes: Some(10),
            ..Default::default()
        });
        let now = Instant::now();
        assert_eq!(limit.admit(6, now), (6, None));
        assert_eq!(limit.admit(6, now), (4, Some(Refusal::Total)));
        assert_eq!(limit.admit(1, now), (0, Some(Refusal::Total)));
    }

    #[test]
    fn the_rate_allows_a_second_s_burst_then_refills_with_time() {
        let mut limit = OutputLimit::new(LimitSettings {
            bytes_per_s: Some(100),
            ..Default::default()
        });
        let t0 = Instant::now();
        assert_eq!(limit.admit(150, t0), (100, Some(Refusal::Rate)));
        assert_eq!(limit.admit(1, t0), (0, Some(Refusal::Rate)));
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!(limit.admit(100, t1), (25, Some(Refusal::Rate)));
        // A long pause refills only up to one second's worth.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(limit.admit(1000, t2), (100, Some(Refusal::Rate)));
    }

    #[test]
    fn over_a_long_run_the_rate_holds() {
        let mut limit = OutputLimit::new(LimitSettings {
            bytes_per_s: Some(1000),
            ..Default::default()
        });
        let t0 = Instant::now();
        let passed: usize = (0..10_000)
            .map(|ms| limit.admit(64, t0 + Duration::from_millis(ms)).0)
            .sum();
        // 10 s at 1000 B/s, plus the first second's burst.
        assert!((10_000..=11_000).contains(&passed), "{passed}");
    }

    #[test]
    fn the_total_is_reported_before_the_rate() {
        let mut limit = OutputLimit::new(LimitSettings {
            bytes_per_s: Some(5),
            total_bytes: Some(3),
        });
        assert_eq!(limit.admit(10, Instant::now()), (3, Some(Refusal::Total)));
    }
}
