//! Following a rebalance to its end: its status read every [`POLL_INTERVAL`] and shown as
//! progress, until it is done, failed or cancelled.

use std::time::Duration;

use super::error::CtlError;
use super::progress::Progress;
use super::render::rebalance::has_ended;
use crate::model::RebalanceStatus;

/// How often a rebalance's status is read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The status a rebalance ended with, and the body it came in (for `--json`).
#[derive(Clone, Debug, PartialEq)]
pub struct Ended {
    /// The last status.
    pub status: RebalanceStatus,
    /// The server's JSON for it.
    pub body: String,
}

/// Reads the status with `fetch` until the rebalance has ended, showing each on `progress`
/// and calling `pause` between reads. A failed read ends the wait with its error.
pub fn follow(
    fetch: &mut dyn FnMut() -> Result<(RebalanceStatus, String), CtlError>,
    progress: &mut Progress,
    pause: &mut dyn FnMut(),
) -> Result<Ended, CtlError> {
    loop {
        let (status, body) = fetch().inspect_err(|_| progress.interrupt())?;
        if has_ended(status.state) {
            progress.finish(&status);
            return Ok(Ended { status, body });
        }
        progress.show(&status);
        pause();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RebalanceState::{Done, Failed, Queued, Running};
    use crate::ternctl::progress::tests::on_screen;
    use crate::ternctl::render::rebalance::tests::status;

    #[test]
    fn reads_until_the_end_pausing_between_reads() {
        let mut script = vec![
            status(Queued, 0, 0),
            status(Running, 131_072, 500),
            status(Done, 262_144, 1000),
            status(Failed, 0, 0),
        ]
        .into_iter();
        let mut reads = 0;
        let mut fetch = || {
            reads += 1;
            let s = script.next().unwrap();
            Ok((s.clone(), serde_json::to_string(&s).unwrap()))
        };
        let (mut progress, screen) = on_screen();
        let mut seen = Vec::new();
        let ended = follow(&mut fetch, &mut progress, &mut || {
            seen.push(screen.contents())
        })
        .unwrap();
        assert_eq!((reads, seen.len()), (3, 2));
        assert_eq!(ended.status, status(Done, 262_144, 1000));
        assert!(ended.body.contains(r#""state":"done""#), "{}", ended.body);
        assert!(seen[0].contains("   0%  0 B/1 GiB  queued  "), "{seen:?}");
        assert!(seen[1].contains("  50%  512 MiB/1 GiB  "), "{seen:?}");
        assert!(
            screen
                .contents()
                .starts_with("[####################] 100%  1 GiB/1 GiB  "),
            "{}",
            screen.contents()
        );
    }

    #[test]
    fn a_failed_read_ends_the_wait() {
        let mut fetch = || Err(CtlError::Refused("there is no rebalance rb-9".into()));
        let (mut progress, screen) = on_screen();
        let err = follow(&mut fetch, &mut progress, &mut || {}).unwrap_err();
        assert_eq!(err.to_string(), "there is no rebalance rb-9");
        assert_eq!(screen.contents(), "");
        let mut reads = 0;
        let mut fetch = || {
            reads += 1;
            match reads {
                1 => Ok((status(Running, 0, 0), String::new())),
                _ => Err(CtlError::Refused("the VMM is not answering".into())),
            }
        };
        let (mut progress, screen) = on_screen();
        let err = follow(&mut fetch, &mut progress, &mut || {}).unwrap_err();
        assert_eq!(err.to_string(), "the VMM is not answering");
        assert_eq!(
            screen.contents(),
            "[--------------------]   0%  0 B/1 GiB  -  failed 0"
        );
    }
}
