//! A rebalance's live progress, drawn by indicatif on one line of stderr:
//! `[#########-----------]  45%  1.2 GiB/2.6 GiB  350 MiB/s  failed 0`. Where stderr is not
//! a terminal indicatif draws nothing (the final status says it all).

use std::collections::VecDeque;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

use crate::model::{RebalanceState, RebalanceStatus};
use crate::ternctl::render::rebalance::{average_rate, PAGE_BYTES};
use crate::ternctl::units::{format_bytes, format_rate};

/// The line: a bar of 20 cells (`#` done, `-` to do), then the figures.
const TEMPLATE: &str = "[{bar:20}] {msg}";
const BAR_CHARS: &str = "#-";
/// The bar's length: the plan in thousandths.
const BAR_STEPS: u64 = 1000;
/// The rate shown is measured over about this much of the rebalance's time.
const RATE_WINDOW_MS: u64 = 2000;

/// The share of the plan handled (moved or failed), 0 to 1; a done rebalance is whole.
pub fn handled_fraction(status: &RebalanceStatus) -> f64 {
    if status.state == RebalanceState::Done {
        return 1.0;
    }
    if status.pages_total == 0 {
        return 0.0;
    }
    let handled = status.pages_moved.saturating_add(status.pages_failed);
    (handled as f64 / status.pages_total as f64).min(1.0)
}

/// The figures after the bar: percent (rounded down, so 100% means all), bytes moved of the
/// plan's, rate (`queued` before the start, `-` before any is known), failed pages.
pub fn figures(status: &RebalanceStatus, rate: Option<f64>) -> String {
    let rate = match (status.state, rate) {
        (RebalanceState::Queued, _) => "queued".to_string(),
        (_, Some(rate)) => format_rate(rate),
        (_, None) => "-".to_string(),
    };
    format!(
        "{:>3}%  {}/{}  {rate}  failed {}",
        (handled_fraction(status) * 100.0) as u64,
        format_bytes(status.bytes_moved),
        format_bytes(status.pages_total.saturating_mul(PAGE_BYTES)),
        status.pages_failed
    )
}

/// The recent rate of a rebalance, from its successive statuses (by the server's clock).
#[derive(Clone, Debug, Default)]
pub struct RateMeter {
    /// (elapsed ms, bytes moved), oldest first, covering about [`RATE_WINDOW_MS`].
    samples: VecDeque<(u64, u64)>,
}

impl RateMeter {
    /// Adds a status.
    pub fn add(&mut self, status: &RebalanceStatus) {
        let sample = (status.elapsed_ms, status.bytes_moved);
        if self.samples.back().is_some_and(|last| last.0 >= sample.0) {
            self.samples.pop_back();
        }
        self.samples.push_back(sample);
        while self.samples.len() > 2 && self.samples[1].0 + RATE_WINDOW_MS <= status.elapsed_ms {
            self.samples.pop_front();
        }
    }

    /// Bytes per second over the window, or over the whole run while the window is short.
    pub fn rate(&self, status: &RebalanceStatus) -> Option<f64> {
        match (self.samples.front(), self.samples.back()) {
            (Some(first), Some(last)) if last.0 >= first.0 + RATE_WINDOW_MS / 4 => {
                let bytes = last.1.saturating_sub(first.1) as f64;
                Some(bytes * 1000.0 / (last.0 - first.0) as f64)
            }
            _ => average_rate(status),
        }
    }
}

/// A rebalance's progress bar and the meter of its rate.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    /// Where the bar is drawn from the first status on (until then it is hidden, so a
    /// rebalance that cannot be read leaves no empty bar).
    target: Option<ProgressDrawTarget>,
    meter: RateMeter,
}

impl Progress {
    /// Progress on stderr, drawn only if it is a terminal.
    pub fn on_stderr() -> Self {
        Self::new(ProgressDrawTarget::stderr())
    }

    /// Progress drawn on `target`.
    pub fn new(target: ProgressDrawTarget) -> Self {
        let style = ProgressStyle::with_template(TEMPLATE)
            .map(|style| style.progress_chars(BAR_CHARS))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        // Dropped unfinished, the bar stays as it is rather than jumping to full.
        let bar = ProgressBar::with_draw_target(Some(BAR_STEPS), ProgressDrawTarget::hidden())
            .with_style(style)
            .with_finish(ProgressFinish::Abandon);
        Self {
            bar,
            target: Some(target),
            meter: RateMeter::default(),
        }
    }

    /// Moves the bar to `status`'s share; the figures to write after it.
    fn advance(&mut self, status: &RebalanceStatus, rate: Option<f64>) -> String {
        if let Some(target) = self.target.take() {
            self.bar.set_draw_target(target);
        }
        self.bar
            .set_position((handled_fraction(status) * BAR_STEPS as f64) as u64);
        figures(status, rate)
    }

    /// Shows a status of a rebalance still under way.
    pub fn show(&mut self, status: &RebalanceStatus) {
        self.meter.add(status);
        let figures = self.advance(status, self.meter.rate(status));
        self.bar.set_message(figures);
    }

    /// Shows the last status (the average rate of the whole run) and leaves the line as it is.
    pub fn finish(&mut self, status: &RebalanceStatus) {
        let figures = self.advance(status, average_rate(status));
        self.bar.abandon_with_message(figures);
    }

    /// Leaves the line as it is, so that what follows (an error) starts on its own line.
    pub fn interrupt(&mut self) {
        self.bar.abandon();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use indicatif::InMemoryTerm;

    use super::*;
    use crate::ternctl::render::rebalance::tests::status;
    use RebalanceState::{Done, Queued, Running};

    const MIB_PAGES: u64 = 256;

    /// Progress drawn on an 80-column screen in memory.
    pub(crate) fn on_screen() -> (Progress, InMemoryTerm) {
        let screen = InMemoryTerm::new(4, 80);
        let progress = Progress::new(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        (progress, screen)
    }

    #[test]
    fn the_template_is_valid() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn figures_show_share_bytes_rate_and_failures() {
        let mut running = status(Running, 118_000, 1000);
        running.pages_failed = 0;
        assert_eq!(
            figures(&running, Some(350.0 * 1048576.0)),
            " 45%  460.9 MiB/1 GiB  350 MiB/s  failed 0"
        );
        assert_eq!(
            figures(&status(Queued, 0, 0), None),
            "  0%  0 B/1 GiB  queued  failed 0"
        );
        assert_eq!(
            figures(&status(Running, 262_143, 0), None),
            " 99%  1024.0 MiB/1 GiB  -  failed 0"
        );
        let mut done = status(Done, 262_100, 2000);
        done.pages_failed = 44;
        assert_eq!(
            figures(&done, average_rate(&done)),
            "100%  1023.8 MiB/1 GiB  512 MiB/s  failed 44"
        );
    }

    #[test]
    fn the_bar_fills_in_whole_cells_and_is_full_only_when_done() {
        let (mut progress, screen) = on_screen();
        progress.show(&status(Queued, 0, 0));
        assert_eq!(
            screen.contents(),
            "[--------------------]   0%  0 B/1 GiB  queued  failed 0"
        );
        progress.show(&status(Running, 118_000, 1000));
        assert_eq!(
            screen.contents(),
            "[#########-----------]  45%  460.9 MiB/1 GiB  461 MiB/s  failed 0"
        );
        progress.show(&status(Running, 262_143, 1500));
        assert!(
            screen
                .contents()
                .starts_with("[###################-]  99%  "),
            "{}",
            screen.contents()
        );
        progress.finish(&status(Done, 262_144, 2000));
        assert_eq!(
            screen.contents(),
            "[####################] 100%  1 GiB/1 GiB  512 MiB/s  failed 0"
        );
    }

    #[test]
    fn a_rebalance_that_stops_short_keeps_its_bar() {
        let (mut progress, screen) = on_screen();
        progress.show(&status(Running, 65_536, 500));
        progress.finish(&status(RebalanceState::Cancelled, 65_536, 1000));
        assert_eq!(
            screen.contents(),
            "[#####---------------]  25%  256 MiB/1 GiB  256 MiB/s  failed 0"
        );
        let (mut progress, screen) = on_screen();
        progress.show(&status(Running, 65_536, 500));
        drop(progress);
        assert!(
            screen
                .contents()
                .starts_with("[#####---------------]  25%  "),
            "{}",
            screen.contents()
        );
        let (mut progress, screen) = on_screen();
        progress.interrupt();
        drop(progress);
        assert_eq!(screen.contents(), "");
        let (mut progress, screen) = on_screen();
        progress.show(&status(Running, 0, 0));
        progress.interrupt();
        assert_eq!(
            screen.contents(),
            "[--------------------]   0%  0 B/1 GiB  -  failed 0"
        );
    }

    #[test]
    fn the_rate_follows_the_last_seconds() {
        let mut meter = RateMeter::default();
        let at = |ms: u64, mib: u64| status(Running, mib * MIB_PAGES, ms);
        meter.add(&at(100, 0));
        assert_eq!(meter.rate(&at(100, 0)), Some(0.0));
        // 100 MiB/s for 2 s, then 400 MiB/s: the window forgets the slow start.
        for step in 1..=20 {
            meter.add(&at(100 + step * 100, step * 10));
        }
        let rate = |meter: &RateMeter, s| meter.rate(&s).unwrap() / 1048576.0;
        assert_eq!(rate(&meter, at(2100, 200)), 100.0);
        for step in 1..=30 {
            meter.add(&at(2100 + step * 100, 200 + step * 40));
        }
        assert_eq!(rate(&meter, at(5100, 1400)), 400.0);
    }
}
