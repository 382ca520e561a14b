//! Whole requests as raw bytes: methods, paths (every documented template with odd ids, and
//! paths the API does not have), versions, headers (missing, repeated, conflicting, huge,
//! many), bodies ([`super::bodies`]) sent with a length or chunked; some cut short, some
//! pipelined several to a connection.

use super::bodies;
use super::rng::Rng;
use super::spec::Documented;

/// One request as sent.
#[derive(Clone, Debug)]
pub struct RawRequest {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its method as written.
    pub method: String,
    /// Its path as written.
    pub path: String,
    /// Whether it carries a body.
    pub has_body: bool,
    /// Whether something in it is not well-formed HTTP/1.1, or is refused before routing
    /// (a head over 16 KiB): then any documented status is fair.
    pub malformed: bool,
}

/// What one connection carries.
#[derive(Clone, Debug)]
pub struct Case {
    /// The requests, back to back (more than one: pipelined).
    pub requests: Vec<RawRequest>,
    /// Send only this many bytes, then end the sending direction.
    pub cut_at: Option<usize>,
}

impl Case {
    /// The bytes as sent.
    pub fn bytes(&self) -> Vec<u8> {
        let mut all: Vec<u8> = self.requests.iter().flat_map(|r| r.bytes.clone()).collect();
        if let Some(at) = self.cut_at {
            all.truncate(at);
        }
        all
    }
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "Put", "FOO",
    "M-SEARCH", "PROPFIND",
];
const BAD_METHODS: &[&str] = &["", "G T", "GET\0", "GÉT", "(GET)", "GET/"];
const IDS: &[&str] = &[
    "0",
    "1",
    "2",
    "7",
    "99",
    "4294967295",
    "4294967296",
    "-1",
    "+1",
    "01",
    "0x1",
    "1.0",
    "%30",
    "%31",
    "abc",
    "rb-1",
    "rb-2",
    "rb-0",
    "rb-",
    "rb-18446744073709551616",
    "%C3%A9",
    "%FF",
    "%00",
    "%",
    "%zz",
    "..",
    ".",
    "%2e%2e",
    "a%2Fb",
    "🦀",
    "é",
];
const OTHER_PATHS: &[&str] = &[
    "/",
    "",
    "*",
    "/v1",
    "/v1/",
    "/v2/vm",
    "/v1/vm/",
    "/v1/VM",
    "//v1/vm",
    "/v1//vm",
    "/metrics/",
    "/v1/vcpus/0",
    "/v1/vcpus/0/affinity/x",
    "/v1/rebalance/",
    "/v1/actions/x",
    "/v1/heat/1",
    "/openapi.json",
    "/v1/vm/../vm",
    "/./v1/vm",
    "http://localhost/v1/vm",
    "http://[::1]/metrics",
    "/v1/vm#frag",
    "/v1/v%6D",
    "/%76%31/vm",
    "localhost:80",
];
const QUERIES: &[&str] = &["?", "?a=1", "?a=%zz", "?policy=to-node&x", "??", "?é"];
const VERSIONS: &[(&str, bool)] = &[
    ("HTTP/1.0", false),
    ("HTTP/1.2", true),
    ("HTTP/2.0", true),
    ("HTTP/0.9", true),
    ("http/1.1", true),
    ("HTTP/1.1 ", true),
    ("", true),
];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "",
];

fn fill(rng: &mut Rng, template: &str) -> String {
    let mut out = String::new();
    for (i, seg) in template.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if seg.starts_with('{') {
            if rng.chance(5) {
                out.push_str(&"9".repeat(rng.range(30, 3000)));
            } else {
                out.push_str(rng.pick(IDS));
            }
        } else {
            out.push_str(seg);
        }
    }
    out
}

/// The methods a template is documented with.
fn methods_of(spec: &Documented, template: &str) -> Vec<&'static str> {
    ["GET", "PUT", "POST", "DELETE"]
        .into_iter()
        .filter(|m| {
            matches!(
                spec.landing(m, &fill_plain(template)),
                super::spec::Landing::Operation(_)
            )
        })
        .collect()
}

fn fill_plain(template: &str) -> String {
    template.replace("{id}", "0")
}

/// Whether a path (as written) is fine on a request line: an origin path or absolute URI of
/// visible ASCII, no spaces.
fn path_is_wellformed(path: &str) -> bool {
    (path.starts_with('/') || path.starts_with("http://"))
        && path.bytes().all(|b| b.is_ascii_graphic())
}

/// One request; `pipelined` keeps it well-formed HTTP/1.1 without `Connection: close`.
pub fn request(rng: &mut Rng, spec: &Documented, pipelined: bool) -> RawRequest {
    let templates: Vec<String> = spec.templates().into_iter().collect();
    let mut malformed = false;
    let (template, mut path) = if rng.chance(85) {
        let t = templates[rng.below(templates.len())].clone();
        let p = fill(rng, &t);
        (t, p)
    } else {
        (String::new(), rng.pick(OTHER_PATHS).to_string())
    };
    if rng.chance(5) {
        path.push_str(rng.pick(QUERIES));
    }
    let method = if !template.is_empty() && rng.chance(80) {
        rng.pick(&methods_of(spec, &template)).to_string()
    } else if !pipelined && rng.chance(3) {
        malformed = true;
        rng.pick(BAD_METHODS).to_string()
    } else {
        rng.pick(METHODS).to_string()
    };
    let (version, odd_version) = if !pipelined && rng.chance(4) {
        rng.pick(VERSIONS)
    } else {
        ("HTTP/1.1", false)
    };
    malformed |= odd_version || !path_is_wellformed(&path);
    if pipelined && malformed {
        return request(rng, spec, pipelined);
    }

    let takes_body = matches!(method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE");
    let body = if !bodies::fields_of(&template).is_empty() && takes_body || rng.chance(3) {
        Some(bodies::body(rng, &template))
    } else {
        None
    };

    let mut head = format!("{method} {path} {version}\r\n");
    let mut headers: Vec<String> = Vec::new();
    if rng.chance(90) {
        headers.push("Host: localhost".into());
    }
    let chunked = body.is_some() && rng.chance(10);
    // HTTP/1.0 has no chunked transfer coding.
    malformed |= chunked && version != "HTTP/1.1";
    let has_body = body.is_some();
    if let Some(body) = &body {
        if rng.chance(80) {
            headers.push(format!("Content-Type: {}", rng.pick(CONTENT_TYPES)));
        }
        if chunked {
            headers.push("Transfer-Encoding: chunked".into());
        } else {
            headers.push(format!("Content-Length: {}", body.len()));
        }
    }
    if !pipelined {
        malformed |= odd_headers(rng, &mut headers, body.as_ref().map(Vec::len));
    } else if rng.chance(10) {
        headers.push("Connection: keep-alive".into());
    }
    for h in &headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some(body) = body {
        if chunked {
            bytes.extend(chunk(rng, &body));
        } else {
            bytes.extend(body);
        }
    }
    RawRequest {
        bytes,
        method,
        path,
        has_body,
        malformed,
    }
}

/// Adds headers a hostile client might; whether they make the request malformed.
fn odd_headers(rng: &mut Rng, headers: &mut Vec<String>, body: Option<usize>) -> bool {
    if !rng.chance(25) {
        return false;
    }
    match rng.below(14) {
        0 => headers.push("Connection: close".into()),
        1 => headers.push("Expect: 100-continue".into()),
        2 => {
            headers.push(format!("X-Long: {}", "v".repeat(rng.range(100, 20_000))));
            return true;
        }
        3 => {
            (0..rng.range(50, 150)).for_each(|i| headers.push(format!("X-{i}: {i}")));
            return true;
        }
        4 => headers.push("X-Bytes: caf\u{e9} \u{1f980}".into()),
        5 => headers.push("Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings".into()),
        6 => {
            headers.push("Bad Header: x".into());
            return true;
        }
        7 => {
            headers.push("Content-Length: 3".into());
            return true;
        }
        8 => {
            headers.push("Content-Length: -1".into());
            return true;
        }
        9 => {
            headers.push("Transfer-Encoding: gzip, chunked".into());
            return true;
        }
        10 => {
            headers.push(": empty".into());
            return true;
        }
        11 => {
            headers.push("X-Fold: a\r\n  folded".into());
            return true;
        }
        12 => {
            if let Some(len) = body {
                headers.push(format!("Content-Length: {len}"));
            }
            return true;
        }
        _ => {
            headers.push("Content-Length: 99999999999999999999".into());
            return true;
        }
    }
    false
}

/// `body` in chunks of random sizes, with a well-formed end.
fn chunk(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = rng.range(1, rest.len().min(4096));
        out.extend(format!("{n:x}\r\n").into_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// One connection's worth: mostly one request; some pipelined; some cut short.
pub fn case(rng: &mut Rng, spec: &Documented) -> Case {
    match rng.below(20) {
        0 | 1 => Case {
            requests: (0..rng.range(2, 5))
                .map(|_| request(rng, spec, true))
                .collect(),
            cut_at: None,
        },
        2 => {
            let r = request(rng, spec, false);
            let at = rng.range(1, r.bytes.len().max(1));
            Case {
                requests: vec![r],
                cut_at: Some(at),
            }
        }
        _ => Case {
            requests: vec![request(rng, spec, false)],
            cut_at: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_cover_pipelines_cuts_and_every_template() {
        let spec = Documented::committed();
        let mut rng = Rng::new(42);
        let (mut pipelined, mut cut, mut malformed) = (0, 0, 0);
        let mut paths = std::collections::BTreeSet::new();
        for _ in 0..3000 {
            let c = case(&mut rng, &spec);
            pipelined += usize::from(c.requests.len() > 1);
            cut += usize::from(c.cut_at.is_some());
            malformed += c.requests.iter().filter(|r| r.malformed).count();
            for r in &c.requests {
                for t in spec.templates() {
                    if super::super::spec::matches_template(&t, &r.path) {
                        paths.insert(t);
                    }
                }
            }
            if c.requests.len() > 1 {
                assert!(c.requests.iter().all(|r| !r.malformed));
            }
        }
        assert!(
            pipelined > 100 && cut > 50 && malformed > 50,
            "{pipelined} {cut} {malformed}"
        );
        assert_eq!(paths, spec.templates());
    }
}
