//! Every request that may change the VM (any method but GET and HEAD) is logged at info level
//! with its client's uid and pid (SO_PEERCRED), its method and path, and its status.

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::peer::Peer;

/// The longest path logged; longer ones are cut.
const MAX_LOGGED_PATH: usize = 200;

/// Who sent a request, as logged.
pub fn client_of(request: &Request) -> String {
    match request
        .extensions()
        .get::<Option<Peer>>()
        .copied()
        .flatten()
    {
        Some(peer) => peer.to_string(),
        None => "uid=? pid=?".to_string(),
    }
}

/// Middleware that logs each request that may change the VM, with its outcome.
pub async fn log_changes(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if method == Method::GET || method == Method::HEAD {
        return next.run(request).await;
    }
    let client = client_of(&request);
    let mut path = match request.uri().path() {
        "" => request.uri().to_string(),
        path => path.to_string(),
    };
    if path.len() > MAX_LOGGED_PATH {
        let mut cut = MAX_LOGGED_PATH;
        while !path.is_char_boundary(cut) {
            cut -= 1;
        }
        path.truncate(cut);
        path.push_str("...");
    }
    let response = next.run(request).await;
    log::info!(
        "api: {client} {method} {path} -> {}",
        response.status().as_u16()
    );
    response
}
