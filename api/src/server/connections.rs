//! The accept loop: each connection is admitted against the limits (or answered 503 and
//! closed), tagged with its client's credentials, and served by hyper's HTTP/1.1 with a time
//! limit on each request head (which is also the idle time between requests), on each
//! stalled write, and on the connection's whole life. On stop, connections are asked to finish and given a short grace.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::conn_io::ConnIo;
use super::counters::RequestCounters;
use super::limits::{
    ConnectionLimiter, ConnectionSlot, HEADER_TIMEOUT, MAX_BUFFER_BYTES, MAX_CONNECTION_AGE,
    MAX_HEAD_BYTES, REFUSAL_WRITE_TIMEOUT, WRITE_TIMEOUT,
};
use super::peer::Peer;
use super::raw::{error_response, linger, send};
use crate::request::VMM_REPLY_TIMEOUT;

/// How long connections get to finish when the server stops.
pub const CONNECTION_GRACE: Duration = Duration::from_millis(1500);
/// How long the loop waits after accept(2) failed (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What every connection's task shares.
#[derive(Clone, Debug)]
struct Shared {
    app: Router,
    counters: RequestCounters,
    shutdown: watch::Receiver<bool>,
}

/// Serves `listener` until `stop` fires.
pub async fn serve(
    listener: UnixListener,
    app: Router,
    counters: RequestCounters,
    mut stop: oneshot::Receiver<()>,
) {
    let limiter = ConnectionLimiter::default();
    let (shutdown, shutdown_seen) = watch::channel(false);
    let shared = Shared {
        app,
        counters,
        shutdown: shutdown_seen,
    };
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let peer = Peer::of(&stream);
                    match limiter.admit(peer.and_then(|p| p.pid)) {
                        Ok(slot) => {
                            tasks.spawn(connection(stream, peer, slot, shared.clone()));
                        }
                        Err(refusal) => {
                            shared.counters.count(StatusCode::SERVICE_UNAVAILABLE.as_u16());
                            log::debug!("API connection refused: {refusal}");
                            let answer =
                                error_response(StatusCode::SERVICE_UNAVAILABLE, &refusal.to_string());
                            tasks.spawn(async move {
                                send(&stream, &answer, REFUSAL_WRITE_TIMEOUT).await;
                                linger(&stream, REFUSAL_WRITE_TIMEOUT).await;
                            });
                        }
                    }
                }
                Err(err) => {
                    log::warn!("the API cannot accept a connection: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    let _ = shutdown.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(CONNECTION_GRACE, drain).await.is_err() {
        log::debug!("API connections still open at stop are dropped");
    }
}

/// The answer to a request hyper gave up on without answering it: its head came too slowly
/// (408), it is HTTP/2, or it ended before its head did (400). Other failures (the client went
/// away, a write timed out) get none.
fn unanswered(err: &hyper::Error) -> Option<(StatusCode, String)> {
    if err.is_timeout() {
        Some((
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request's head did not arrive within {} s",
                HEADER_TIMEOUT.as_secs()
            ),
        ))
    } else if err.is_parse_version_h2() {
        Some((
            StatusCode::BAD_REQUEST,
            "this API speaks HTTP/1.1 only, not HTTP/2".to_string(),
        ))
    } else if err.is_incomplete_message() {
        Some((
            StatusCode::BAD_REQUEST,
            "the request ended before its head did".to_string(),
        ))
    } else {
        None
    }
}

/// Serves one connection until it closes, fails or times out.
async fn connection(
    stream: UnixStream,
    peer: Option<Peer>,
    slot: ConnectionSlot,
    mut shared: Shared,
) {
    let stream = Arc::new(stream);
    let request_started = Arc::new(AtomicBool::new(false));
    let io = ConnIo::new(
        stream.clone(),
        request_started.clone(),
        shared.counters.clone(),
    );
    let service = TowerToHyperService::new(shared.app.layer(Extension(peer)));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_BUFFER_BYTES)
        .max_header_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = shared.shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
        _ = tokio::time::sleep(MAX_CONNECTION_AGE) => {
            log::debug!("an API connection reached its age limit");
            conn.as_mut().graceful_shutdown();
            // Time for a request in progress to get the VMM's answer and write it.
            let grace = VMM_REPLY_TIMEOUT + WRITE_TIMEOUT;
            match tokio::time::timeout(grace, conn.as_mut()).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(err) = result {
        let who = peer.map_or_else(|| "an unknown client".to_string(), |p| p.to_string());
        log::debug!("API connection of {who} ended: {err}");
        // Bytes came in since the last answer and nobody answered them.
        if request_started.load(Ordering::Relaxed) {
            if let Some((status, message)) = unanswered(&err) {
                shared.counters.count(status.as_u16());
                send(
                    &stream,
                    &error_response(status, &message),
                    REFUSAL_WRITE_TIMEOUT,
                )
                .await;
            }
        }
    }
    linger(&stream, REFUSAL_WRITE_TIMEOUT).await;
    drop(slot);
}
