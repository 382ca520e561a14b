//! A connection's socket as hyper sees it. A write that waits longer than
//! [`WRITE_TIMEOUT`] fails, so a client that never reads its answers cannot hold the server;
//! an answer hyper writes by itself for a request it cannot parse (400, 414, 431, without a
//! body) goes out as a JSON error like every other; and it notes whether a request has
//! started to arrive since the last answer, so that a head that never completes can be
//! answered 408 while an idle kept-alive connection is just closed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tokio::time::Sleep;

use super::counters::RequestCounters;
use super::limits::WRITE_TIMEOUT;
use super::raw::{error_response, hyper_parse_error, parse_error_message};

/// An answer of ours written in place of one of hyper's.
#[derive(Debug)]
struct Replacement {
    bytes: Vec<u8>,
    sent: usize,
    /// How many bytes of hyper's it stands for.
    replaces: usize,
}

/// The socket of one connection, shared with the task that serves it (which may still answer
/// 408 once hyper gave up on the connection).
#[derive(Debug)]
pub struct ConnIo {
    stream: Arc<UnixStream>,
    request_started: Arc<AtomicBool>,
    counters: RequestCounters,
    write_stalled: Option<Pin<Box<Sleep>>>,
    replacement: Option<Replacement>,
}

impl ConnIo {
    /// `stream` for hyper; `request_started` is set when bytes arrive and cleared when an
    /// answer starts; answers written in place of hyper's are counted in `counters`.
    pub fn new(
        stream: Arc<UnixStream>,
        request_started: Arc<AtomicBool>,
        counters: RequestCounters,
    ) -> Self {
        Self {
            stream,
            request_started,
            counters,
            write_stalled: None,
            replacement: None,
        }
    }

    /// Pending until the socket takes some of `bytes`; fails once it has taken none for
    /// [`WRITE_TIMEOUT`].
    fn poll_send(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.stream.poll_write_ready(cx) {
                Poll::Ready(Ok(())) => match self.stream.try_write(bytes) {
                    Ok(n) => {
                        self.write_stalled = None;
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Poll::Ready(Err(e)),
                },
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    let stalled = self
                        .write_stalled
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_TIMEOUT)));
                    ready!(stalled.as_mut().poll(cx));
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client has not read its answer in time",
                    )));
                }
            }
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.stream.poll_read_ready(cx))?;
            match this.stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    if n > 0 {
                        this.request_started.store(true, Ordering::Relaxed);
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.request_started.store(false, Ordering::Relaxed);
        if this.replacement.is_none() {
            if let Some(status) = hyper_parse_error(buf) {
                this.counters.count(status.as_u16());
                this.replacement = Some(Replacement {
                    bytes: error_response(status, parse_error_message(status)),
                    sent: 0,
                    replaces: buf.len(),
                });
            }
        }
        let Some(mut replacement) = this.replacement.take() else {
            return this.poll_send(cx, buf);
        };
        while replacement.sent < replacement.bytes.len() {
            match this.poll_send(cx, &replacement.bytes[replacement.sent..]) {
                Poll::Ready(Ok(n)) => replacement.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    this.replacement = Some(replacement);
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(replacement.replaces))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The socket closes when the last holder drops it, right after hyper is done.
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn hypers_bodiless_400_goes_out_as_json() {
        runtime().block_on(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let counters = RequestCounters::default();
            let mut io = ConnIo::new(
                Arc::new(a),
                Arc::new(AtomicBool::new(false)),
                counters.clone(),
            );
            let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
            assert_eq!(io.write(hyper).await.unwrap(), hyper.len());
            drop(io);
            let mut got = String::new();
            b.read_to_string(&mut got).await.unwrap();
            assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
            assert!(got.ends_with("\"}"), "{got}");
            assert!(counters.render().contains("status=\"400\"} 1"));
        });
    }

    #[test]
    fn reads_mark_a_request_started_and_writes_clear_it() {
        runtime().block_on(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let started = Arc::new(AtomicBool::new(false));
            let mut io = ConnIo::new(Arc::new(a), started.clone(), RequestCounters::default());
            b.write_all(b"GET").await.unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(io.read(&mut buf).await.unwrap(), 3);
            assert!(started.load(Ordering::Relaxed));
            io.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
            assert!(!started.load(Ordering::Relaxed));
        });
    }

    #[test]
    fn a_client_that_never_reads_fails_the_write_after_the_timeout() {
        runtime().block_on(async {
            let (a, _b) = UnixStream::pair().unwrap();
            let mut io = ConnIo::new(
                Arc::new(a),
                Arc::new(AtomicBool::new(false)),
                RequestCounters::default(),
            );
            let chunk = vec![0u8; 64 * 1024];
            let started = tokio::time::Instant::now();
            let err = loop {
                if let Err(e) = io.write(&chunk).await {
                    break e;
                }
            };
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert!(started.elapsed() >= WRITE_TIMEOUT);
        });
    }
}
