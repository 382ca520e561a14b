//! SIGINT and SIGTERM for `ternctl host balance`: caught (tokio's signal streams) so that a
//! move it started is cancelled before it exits, never left without an owner.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// The signals that stop the host balancer, and whether one came.
#[derive(Debug)]
pub struct Stop {
    interrupt: Signal,
    terminate: Signal,
    /// The signal that came, if one did.
    pub by: Option<&'static str>,
}

impl Stop {
    /// Catches SIGINT and SIGTERM from now on.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            by: None,
        })
    }

    /// Waits for SIGINT or SIGTERM (at once if one already came) and notes which.
    pub async fn wait(&mut self) {
        if self.by.is_some() {
            return;
        }
        let by = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        self.by = Some(by);
    }

    /// Whether a signal came.
    pub fn requested(&self) -> bool {
        self.by.is_some()
    }
}
