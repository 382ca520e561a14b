//! Following a rebalance to its end: its status read every [`POLL_INTERVAL`] and shown as
//! progress, until it is done, failed or cancelled.

use std::io::Write;
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
pub fn follow<W: Write>(
    fetch: &mut dyn FnMut() -> Result<(RebalanceStatus, String), CtlError>,
    progress: &mut Progress<W>,
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
        let mut pauses = 0;
        let mut progress = Progress::new(Vec::new(), true);
        let ended = follow(&mut fetch, &mut progress, &mut || pauses += 1).unwrap();
        assert_eq!((reads, pauses), (3, 2));
        assert_eq!(ended.status, status(Done, 262_144, 1000));
        assert!(ended.body.contains(r#""state":"done""#), "{}", ended.body);
        let drawn = String::from_utf8(progress.into_inner()).unwrap();
        assert_eq!(drawn.matches('\r').count(), 3, "{drawn:?}");
        assert!(drawn.contains("  50%  512 MiB/1 GiB  "), "{drawn:?}");
        assert!(drawn.ends_with("\x1b[K\n"), "{drawn:?}");
    }

    #[test]
    fn a_failed_read_ends_the_wait() {
        let mut fetch = || Err(CtlError::Refused("there is no rebalance rb-9".into()));
        let mut progress = Progress::new(Vec::new(), true);
        let err = follow(&mut fetch, &mut progress, &mut || {}).unwrap_err();
        assert_eq!(err.to_string(), "there is no rebalance rb-9");
        assert!(progress.into_inner().is_empty());
        let mut reads = 0;
        let mut fetch = || {
            reads += 1;
            match reads {
                1 => Ok((status(Running, 0, 0), String::new())),
                _ => Err(CtlError::Refused("the VMM is not answering".into())),
            }
        };
        let mut progress = Progress::new(Vec::new(), true);
        assert!(follow(&mut fetch, &mut progress, &mut || {}).is_err());
        let drawn = String::from_utf8(progress.into_inner()).unwrap();
        assert!(drawn.ends_with("failed 0\x1b[K\n"), "{drawn:?}");
    }
}
