//! A case on a raw Unix-socket connection: its bytes written as they are, the answers read
//! and split by hand (status line, headers, a body by length or chunked), nothing of a
//! well-behaved HTTP client in between.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::generate::Case;

/// One answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// Its headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a connection went.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The final answers read (1xx skipped), in order.
    pub answers: Vec<Answer>,
    /// Whether the server closed the connection (as opposed to us giving up waiting).
    pub closed: bool,
    /// Whether we waited the whole time limit for what was missing.
    pub timed_out: bool,
    /// Bytes that could not be read as an answer, if any.
    pub garbage: Option<String>,
}

/// Sends `case` to the socket at `sock` and reads up to one answer per request, waiting at
/// most `limit` in all.
pub fn exchange(sock: &Path, case: &Case, limit: Duration) -> std::io::Result<Exchange> {
    let mut stream = UnixStream::connect(sock)?;
    stream.set_write_timeout(Some(limit))?;
    // A server that answers early (413) may stop reading; what it did not read is its choice.
    let _ = stream.write_all(&case.bytes());
    if case.cut_at.is_some() {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let heads: Vec<bool> = case.requests.iter().map(|r| r.method == "HEAD").collect();
    let deadline = Instant::now() + limit;
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    let mut closed = false;
    let mut timed_out = false;
    let mut chunk = [0u8; 65536];
    loop {
        while answers.len() < heads.len() {
            match parse(&buf, heads[answers.len()], closed) {
                Parsed::Answer(answer, used) => {
                    buf.drain(..used);
                    if answer.status >= 200 {
                        answers.push(answer);
                    }
                }
                Parsed::Incomplete => break,
                Parsed::Garbage(why) => {
                    return Ok(Exchange {
                        answers,
                        closed,
                        timed_out,
                        garbage: Some(why),
                    })
                }
            }
        }
        if answers.len() == heads.len() || closed {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => closed = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                timed_out = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => closed = true,
        }
    }
    let garbage = (answers.len() < heads.len() && !buf.is_empty())
        .then(|| format!("an answer cut short: {}", String::from_utf8_lossy(&buf)));
    Ok(Exchange {
        answers,
        closed,
        timed_out,
        garbage,
    })
}

enum Parsed {
    Answer(Answer, usize),
    Incomplete,
    Garbage(String),
}

fn parse(buf: &[u8], head_request: bool, closed: bool) -> Parsed {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Parsed::Incomplete;
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/1."), status) else {
        return Parsed::Garbage(format!("not a status line: {status_line:?}"));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let answer = |body: Vec<u8>| Answer {
        status,
        headers: headers.clone(),
        body,
    };
    let start = end + 4;
    if head_request || status < 200 || status == 204 || status == 304 {
        return Parsed::Answer(answer(Vec::new()), start);
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse::<usize>());
    match length {
        Some(Ok(len)) if buf.len() >= start + len => {
            Parsed::Answer(answer(buf[start..start + len].to_vec()), start + len)
        }
        Some(Ok(_)) => Parsed::Incomplete,
        Some(Err(_)) => Parsed::Garbage(format!("a bad content-length in {head:?}")),
        None if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) =>
        {
            dechunk(&buf[start..]).map_or(Parsed::Incomplete, |(body, used)| {
                Parsed::Answer(answer(body), start + used)
            })
        }
        None if closed => Parsed::Answer(answer(buf[start..].to_vec()), buf.len()),
        None => Parsed::Incomplete,
    }
}

fn dechunk(mut buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let total = buf.len();
    let mut body = Vec::new();
    loop {
        let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&buf[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        buf = &buf[line_end + 2..];
        if size == 0 {
            let end = buf.windows(2).position(|w| w == b"\r\n")?;
            return Some((body, total - buf.len() + end + 2));
        }
        if buf.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&buf[..size]);
        buf = &buf[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_split_by_length_and_chunks() {
        let two = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let Parsed::Answer(a, used) = parse(two, false, false) else {
            panic!()
        };
        assert_eq!(a.status, 100);
        let rest = &two[used..];
        let Parsed::Answer(b, used) = parse(rest, false, false) else {
            panic!()
        };
        assert_eq!((b.status, b.body.as_slice()), (200, &b"{}"[..]));
        let Parsed::Answer(c, _) = parse(&rest[used..], false, false) else {
            panic!()
        };
        assert_eq!((c.status, c.body.as_slice()), (404, &b"{}"[..]));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\n", false, false),
            Parsed::Incomplete
        ));
        assert!(matches!(
            parse(b"SSH-2.0\r\n\r\n", false, false),
            Parsed::Garbage(_)
        ));
    }
}
