//! The API server: axum on a current-thread tokio runtime confined to its own thread
//! (`api`), listening on a Unix socket, talking to the VMM only through a [`VmHandle`].
//! Hostile clients are bounded by [`limits`]: connections in all and per client, and time
//! limits on request heads, bodies and unread answers.

pub mod audit;
pub mod body;
pub mod conn_io;
pub mod connections;
pub mod counters;
pub mod error;
pub mod limits;
pub mod path_id;
pub mod peer;
pub mod raw;
pub mod routes;
pub mod socket;

#[cfg(test)]
mod app_tests;

use std::io;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::sync::oneshot;

use self::counters::RequestCounters;
use crate::request::VmHandle;

/// How long a stopping server's thread is waited for (connections get
/// [`connections::CONNECTION_GRACE`] of it to finish).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The VMM.
    pub vm: VmHandle,
    /// Requests served, by status.
    pub requests: RequestCounters,
}

/// The whole application: the routes, 404 and 405 as JSON errors, the body limit, the
/// request counters and the log of requests that change the VM.
pub fn app(vm: VmHandle) -> Router {
    app_counting(vm, RequestCounters::default())
}

/// The application, counting its answers in `requests`.
pub fn app_counting(vm: VmHandle, requests: RequestCounters) -> Router {
    let (router, _openapi) = routes::api_routes().split_for_parts();
    router
        .fallback(error::no_such_path)
        .method_not_allowed_fallback(error::wrong_method)
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(audit::log_changes))
        .layer(axum::middleware::from_fn_with_state(
            requests.clone(),
            counters::count_requests,
        ))
        .with_state(AppState { vm, requests })
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    thread: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    path: PathBuf,
}

/// Starts serving `listener` (bound at `path`) on a thread named `api`.
pub fn start(listener: UnixListener, path: PathBuf, vm: VmHandle) -> io::Result<ApiServer> {
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    log::error!("the API cannot start its runtime: {err}");
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::UnixListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(err) => {
                        log::error!("the API cannot use its socket: {err}");
                        return;
                    }
                };
                let requests = RequestCounters::default();
                let app = app_counting(vm, requests.clone());
                connections::serve(listener, app, requests, stopped).await;
            });
        })?;
    Ok(ApiServer {
        thread: Some(thread),
        stop: Some(stop),
        path,
    })
}

impl ApiServer {
    /// Stops accepting, lets requests in flight finish (up to a grace period), and removes
    /// the socket file.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + STOP_GRACE;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                log::warn!("the API thread did not stop in time; leaving it");
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}
