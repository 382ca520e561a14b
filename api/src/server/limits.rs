//! What one client may hold of the server: connections (in all, and per client process), and
//! how long a connection may take to send a request's head or body or to read its answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections served at once; one more is answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections one client process (by its pid) may hold at once; one more is answered 503.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 32;
/// How long the server waits for a request's whole head, from the moment it is ready for
/// one: on a new connection, and between requests on a kept-alive one (the idle time).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a handler waits for a request's whole body; then 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may wait for a client that does not read its answers; then the
/// connection is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may last: then it is closed after the answer in progress, which
/// gets the VMM's reply time and [`WRITE_TIMEOUT`] more (40 s), so a client that reads its
/// answers slowly cannot keep a connection for ever.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(30);
/// How long the server tries to hand a refused or timed-out client its JSON answer.
pub const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest request head (request line and header fields) the server reads; beyond it,
/// 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most bytes the server buffers from one connection at a time.
pub const MAX_BUFFER_BYTES: usize = 64 * 1024;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Every connection slot is taken.
    #[error("the API serves at most {MAX_CONNECTIONS} connections at once; try again later")]
    Full,
    /// This client holds its share.
    #[error(
        "this client already holds {MAX_CONNECTIONS_PER_CLIENT} connections to the API; close one first"
    )]
    ClientFull,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<Option<i32>, usize>,
}

/// Counts open connections, in all and per client process.
#[derive(Clone, Debug, Default)]
pub struct ConnectionLimiter {
    counts: Arc<Mutex<Counts>>,
}

/// A connection slot, given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    counts: Arc<Mutex<Counts>>,
    client: Option<i32>,
}

impl ConnectionLimiter {
    /// A slot for a connection of `client` (its pid, if known), or why there is none.
    pub fn admit(&self, client: Option<i32>) -> Result<ConnectionSlot, Refusal> {
        let mut counts = self.counts.lock().map_err(|_| Refusal::Full)?;
        if counts.total >= MAX_CONNECTIONS {
            return Err(Refusal::Full);
        }
        let mine = counts.per_client.entry(client).or_default();
        if *mine >= MAX_CONNECTIONS_PER_CLIENT {
            return Err(Refusal::ClientFull);
        }
        *mine += 1;
        counts.total += 1;
        Ok(ConnectionSlot {
            counts: self.counts.clone(),
            client,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().map_or(0, |c| c.total)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.total = counts.total.saturating_sub(1);
            if let Some(mine) = counts.per_client.get_mut(&self.client) {
                *mine = mine.saturating_sub(1);
                if *mine == 0 {
                    counts.per_client.remove(&self.client);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_gets_its_share_and_others_still_get_in() {
        let limiter = ConnectionLimiter::default();
        let greedy: Vec<_> = (0..MAX_CONNECTIONS_PER_CLIENT)
            .map(|_| limiter.admit(Some(7)).unwrap())
            .collect();
        assert_eq!(limiter.admit(Some(7)).unwrap_err(), Refusal::ClientFull);
        let other = limiter.admit(Some(8)).unwrap();
        assert_eq!(limiter.open(), MAX_CONNECTIONS_PER_CLIENT + 1);
        drop(greedy);
        assert_eq!(limiter.open(), 1);
        let _again = limiter.admit(Some(7)).unwrap();
        drop(other);
        assert_eq!(limiter.open(), 1);
    }

    #[test]
    fn the_total_is_bounded_across_clients() {
        let limiter = ConnectionLimiter::default();
        let slots: Vec<_> = (0..MAX_CONNECTIONS)
            .map(|i| {
                limiter
                    .admit(Some((i / MAX_CONNECTIONS_PER_CLIENT) as i32))
                    .unwrap()
            })
            .collect();
        assert_eq!(limiter.admit(Some(-1)).unwrap_err(), Refusal::Full);
        drop(slots);
        assert!(limiter.admit(Some(-1)).is_ok());
    }
}
