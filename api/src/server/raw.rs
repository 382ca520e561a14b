//! Whole HTTP/1.1 error answers as bytes, for what the server answers outside axum: a refused
//! connection (503), a request head that did not come in time (408), and a request hyper
//! cannot parse (400, 414, 431). Each carries the same `{"error": "..."}` body as every other
//! error, and closes the connection.

use std::os::fd::AsRawFd;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::net::UnixStream;

use crate::model::ErrorBody;

/// The most a closing connection reads and drops.
pub const LINGER_BYTES: usize = 256 * 1024;

/// The bytes of an error answer that closes the connection.
pub fn error_response(status: StatusCode, message: &str) -> Vec<u8> {
    let body = serde_json::to_vec(&ErrorBody {
        error: message.to_string(),
    })
    .unwrap_or_else(|_| b"{\"error\":\"\"}".to_vec());
    let mut bytes = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

/// The sentence for an answer hyper gives by itself to a request it cannot parse.
pub fn parse_error_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::URI_TOO_LONG => "the request's URI is too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request's head is too large (at most 16 KiB and 100 header fields)"
        }
        _ => "the request is not valid HTTP/1.1 (its request line, method, URI, version or a header is malformed)",
    }
}

/// The status of an answer hyper wrote by itself for a request it could not parse (400, 414
/// or 431 without a content type: every answer of the API's own has one), if `bytes` starts
/// one.
pub fn hyper_parse_error(bytes: &[u8]) -> Option<StatusCode> {
    let rest = bytes.strip_prefix(b"HTTP/1.1 ")?;
    let status = match rest.get(..4)? {
        b"400 " => StatusCode::BAD_REQUEST,
        b"414 " => StatusCode::URI_TOO_LONG,
        b"431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    (!head.contains("\r\ncontent-type:")).then_some(status)
}

/// Writes `bytes` to `stream` within `limit` (a client that does not read gets nothing).
pub async fn send(stream: &UnixStream, bytes: &[u8], limit: Duration) {
    let write_all = async {
        let mut sent = 0;
        while sent < bytes.len() {
            if stream.writable().await.is_err() {
                return;
            }
            match stream.try_write(&bytes[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(limit, write_all).await;
}

/// Closes `stream` gently: ends the answer (shutdown of the write side), then reads and
/// drops what the client still sends, for at most `limit` and [`LINGER_BYTES`]. Closing a
/// Unix socket with unread bytes makes the client's next read fail with ECONNRESET, which
/// could swallow the answer before the client reads it.
pub async fn linger(stream: &UnixStream, limit: Duration) {
    // SAFETY: shutdown(2) on a socket this stream owns, open while `stream` lives; it only
    // ends the sending direction.
    unsafe { libc::shutdown(stream.as_raw_fd(), libc::SHUT_WR) };
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            if stream.readable().await.is_err() {
                return;
            }
            match stream.try_read(&mut buf) {
                Ok(0) => return,
                Ok(n) => dropped += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(limit, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_is_json_and_closes() {
        let bytes = error_response(StatusCode::SERVICE_UNAVAILABLE, "full \"now\"");
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let parsed: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.error, "full \"now\"");
    }

    #[test]
    fn hyper_answers_are_told_from_the_apis_own() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(hyper_parse_error(hyper), Some(StatusCode::BAD_REQUEST));
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            hyper_parse_error(big),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(hyper_parse_error(ours), None);
        assert_eq!(hyper_parse_error(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(hyper_parse_error(b"HTTP/1.1 400 Bad Req"), None);
    }
}
