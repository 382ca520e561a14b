//! A rebalance's live progress on a terminal, redrawn in place on one line:
//! `[#########-----------]  45%  1.2 GiB/2.6 GiB  350 MiB/s  failed 0`. Where the output is
//! not a terminal it draws nothing (the final status says it all).

use std::collections::VecDeque;
use std::io::Write;

use crate::model::{RebalanceState, RebalanceStatus};
use crate::ternctl::render::rebalance::{average_rate, PAGE_BYTES};
use crate::ternctl::units::{format_bytes, format_rate};

/// Characters in the bar, brackets aside.
pub const BAR_WIDTH: usize = 20;
/// The rate shown is measured over about this much of the rebalance's time.
const RATE_WINDOW_MS: u64 = 2000;
/// Back to the start of the line, and erase to its end.
const CARRIAGE_RETURN: &str = "\r";
const ERASE_TO_END: &str = "\x1b[K";

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

/// `[#####-----]`: `fraction` of `width` cells filled (rounded down, so a full bar means all).
pub fn bar(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0) * width as f64) as usize).min(width);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

/// One progress line: bar, percent, bytes moved of the plan's, rate (`queued` before the
/// start, `-` before any is known), failed pages.
pub fn progress_line(status: &RebalanceStatus, rate: Option<f64>) -> String {
    let fraction = handled_fraction(status);
    let rate = match (status.state, rate) {
        (RebalanceState::Queued, _) => "queued".to_string(),
        (_, Some(rate)) => format_rate(rate),
        (_, None) => "-".to_string(),
    };
    format!(
        "{} {:>3}%  {}/{}  {rate}  failed {}",
        bar(fraction, BAR_WIDTH),
        (fraction * 100.0) as u64,
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

/// Where progress goes: a terminal (`live`) gets the line redrawn; anything else nothing.
#[derive(Debug)]
pub struct Progress<W: Write> {
    out: W,
    live: bool,
    meter: RateMeter,
    /// Whether a line is drawn and not ended.
    drawn: bool,
}

impl<W: Write> Progress<W> {
    /// Progress written to `out`, drawn only if `live`.
    pub fn new(out: W, live: bool) -> Self {
        Self {
            out,
            live,
            meter: RateMeter::default(),
            drawn: false,
        }
    }

    /// Shows a status of a rebalance still under way.
    pub fn show(&mut self, status: &RebalanceStatus) {
        self.meter.add(status);
        let line = progress_line(status, self.meter.rate(status));
        self.draw(&format!("{CARRIAGE_RETURN}{line}{ERASE_TO_END}"));
        self.drawn = true;
    }

    /// Shows the last status (the average rate of the whole run) and ends the line.
    pub fn finish(&mut self, status: &RebalanceStatus) {
        let line = progress_line(status, average_rate(status));
        self.draw(&format!("{CARRIAGE_RETURN}{line}{ERASE_TO_END}\n"));
        self.drawn = false;
    }

    /// Ends a line left drawn, so that what follows (an error) starts on its own line.
    pub fn interrupt(&mut self) {
        if self.drawn {
            self.draw("\n");
            self.drawn = false;
        }
    }

    /// Progress is a courtesy: a terminal that cannot be written to does not stop the wait.
    fn draw(&mut self, text: &str) {
        if self.live {
            let _ = self
                .out
                .write_all(text.as_bytes())
                .and_then(|()| self.out.flush());
        }
    }

    /// The writer (for tests).
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ternctl::render::rebalance::tests::status;
    use RebalanceState::{Done, Queued, Running};

    const MIB_PAGES: u64 = 256;

    #[test]
    fn bars_fill_in_whole_cells() {
        assert_eq!(bar(0.0, 10), "[----------]");
        assert_eq!(bar(0.45, 20), "[#########-----------]");
        assert_eq!(bar(0.999, 10), "[#########-]");
        assert_eq!(bar(1.0, 4), "[####]");
        assert_eq!(bar(7.0, 4), "[####]");
        assert_eq!(bar(f64::NAN, 4), "[----]");
    }

    #[test]
    fn a_line_shows_share_bytes_rate_and_failures() {
        let mut running = status(Running, 118_000, 1000);
        running.pages_failed = 0;
        assert_eq!(
            progress_line(&running, Some(350.0 * 1048576.0)),
            "[#########-----------]  45%  460.9 MiB/1 GiB  350 MiB/s  failed 0"
        );
        assert_eq!(
            progress_line(&status(Queued, 0, 0), None),
            "[--------------------]   0%  0 B/1 GiB  queued  failed 0"
        );
        assert_eq!(
            progress_line(&status(Running, 0, 0), None),
            "[--------------------]   0%  0 B/1 GiB  -  failed 0"
        );
        let mut done = status(Done, 262_100, 2000);
        done.pages_failed = 44;
        assert_eq!(
            progress_line(&done, average_rate(&done)),
            "[####################] 100%  1023.8 MiB/1 GiB  512 MiB/s  failed 44"
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

    #[test]
    fn a_terminal_gets_the_line_redrawn_and_anything_else_nothing() {
        let mut live = Progress::new(Vec::new(), true);
        live.show(&status(Running, 0, 0));
        live.finish(&status(Done, 262_144, 1000));
        let text = String::from_utf8(live.into_inner()).unwrap();
        assert_eq!(
            text,
            "\r[--------------------]   0%  0 B/1 GiB  -  failed 0\x1b[K\
             \r[####################] 100%  1 GiB/1 GiB  1.0 GiB/s  failed 0\x1b[K\n"
        );
        let mut cut = Progress::new(Vec::new(), true);
        cut.interrupt();
        cut.show(&status(Running, 0, 0));
        cut.interrupt();
        cut.interrupt();
        let text = String::from_utf8(cut.into_inner()).unwrap();
        assert!(text.ends_with("failed 0\x1b[K\n"), "{text:?}");
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        let mut quiet = Progress::new(Vec::new(), false);
        quiet.show(&status(Running, 10, 10));
        quiet.finish(&status(Done, 10, 10));
        assert!(quiet.into_inner().is_empty());
    }
}
