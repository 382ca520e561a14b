//! A small HTTP/1.1 client over the API's Unix socket (hyper), for ternctl and the tests.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;

/// How long a request may take: a little more than the server gives the VMM.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(35);

/// The largest answer read: far beyond any answer of Tern's, and a bound on what a socket
/// that is not Tern's can make a client hold.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("cannot connect to {0} (is tern running with --api-sock?): {1}")]
    Connect(PathBuf, #[source] std::io::Error),
    /// No answer in time.
    #[error("no answer from {0} within {1} s")]
    Timeout(PathBuf, u64),
    /// The runtime could not start.
    #[error("cannot start the client runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The HTTP exchange failed.
    #[error("the request failed: {0}")]
    Http(String),
}

/// A response: its status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `error` sentence of an error body, or the body itself.
    pub fn error_sentence(&self) -> String {
        serde_json::from_str::<crate::model::ErrorBody>(&self.body)
            .map(|b| b.error)
            .unwrap_or_else(|_| self.body.trim().to_string())
    }
}

/// A client for one socket. Each request uses a new connection.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    /// A client for the socket at `socket`.
    pub fn new(socket: &Path) -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        Ok(Self {
            socket: socket.to_path_buf(),
            runtime,
        })
    }

    /// Sends `method path` with an optional body (raw bytes, sent as JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, ClientError> {
        self.runtime
            .block_on(exchange(&self.socket, method, path, body))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, None)
    }

    /// `PUT path` with a JSON body.
    pub fn put_json(&self, path: &str, body: &serde_json::Value) -> Result<Response, ClientError> {
        self.request("PUT", path, Some(body.to_string().as_bytes()))
    }
}

/// Sends `method path` with an optional body on a new connection to `socket` (for callers
/// with a runtime of their own, e.g. to ask many sockets at once).
pub async fn exchange(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Response, ClientError> {
    let http = |e: &dyn std::error::Error| {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        ClientError::Http(text)
    };
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| ClientError::Connect(socket.to_path_buf(), e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    let driver = tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
        .map_err(|e| http(&e))?;
    let response = sender.send_request(request).await.map_err(|e| http(&e))?;
    let status = response.status().as_u16();
    let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| http(e.as_ref()))?
        .to_bytes();
    driver.abort();
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
