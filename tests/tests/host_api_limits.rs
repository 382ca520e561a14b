#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Slow and greedy API clients against a real tern with a heartbeat guest: hundreds of
//! connections held open, a client that sends a byte a second (head or body), one that never
//! reads its answers and one that idles; none of them stops another client or the guest.
//! Times are printed (they are measured here, not asserted).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tern_tests::host_run::{tern_bin, RunningTern};
use tern_tests::tiny_guest::heartbeat_guest;

/// The server's limits (api/src/server/limits.rs).
const PER_CLIENT: usize = 32;
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

fn start(name: &str) -> RunningTern {
    let tern = RunningTern::start(
        name,
        &heartbeat_guest(),
        &["--memory", "16M", "--vcpus", "2"],
    );
    tern.wait_for_heartbeats(1);
    tern
}

/// Status and JSON body of one answer in `bytes`.
fn answer(bytes: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer in {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("body is not JSON: {text:?}"));
    (status, body)
}

/// Everything the server sends until it closes (or `limit` passes).
fn read_to_close(stream: &mut UnixStream, limit: Duration) -> (Vec<u8>, bool) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (got, false)
            }
            Err(_) => return (got, true),
        }
    }
}

/// Whether the server has sent nothing (and not closed) yet.
fn still_waiting(stream: &mut UnixStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    matches!(stream.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

fn ternctl_vm(sock: &Path) -> (bool, Duration) {
    let ternctl = tern_bin().with_file_name("ternctl");
    let started = Instant::now();
    let out = Command::new(ternctl)
        .args(["--sock", sock.to_str().unwrap(), "--json", "vm"])
        .output()
        .unwrap();
    let ok = out.status.success()
        && serde_json::from_slice::<Value>(&out.stdout).unwrap()["state"] == "running";
    (ok, started.elapsed())
}

#[test]
fn hundreds_of_held_connections_do_not_lock_out_another_client() {
    let tern = start("held");
    let opened = Instant::now();
    let mut conns: Vec<UnixStream> = (0..300)
        .map(|_| {
            let mut s = UnixStream::connect(&tern.sock).unwrap();
            let _ = s.write_all(b"GET /v1/vm HTTP/1.1\r\nHost: x\r\n");
            s
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let mut held = Vec::new();
    let mut refused = 0;
    for mut s in conns.drain(..) {
        if still_waiting(&mut s) {
            held.push(s);
            continue;
        }
        let (bytes, closed) = read_to_close(&mut s, Duration::from_secs(5));
        let (status, body) = answer(&bytes);
        assert_eq!(status, 503, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("32 connections"),
            "{body}"
        );
        assert!(closed, "a refused connection stays open");
        refused += 1;
    }
    println!(
        "held connections: {} of 300 held, {refused} answered 503 and closed",
        held.len()
    );
    // This process may still hold the kept-alive connection its client used at start-up.
    assert!(
        (PER_CLIENT - 1..=PER_CLIENT).contains(&held.len()),
        "{} held",
        held.len()
    );

    // Another client (another process) is served while all that is held.
    let (ok, took) = ternctl_vm(&tern.sock);
    assert!(ok, "ternctl vm failed while 300 connections were open");
    println!("held connections: ternctl vm answered in {took:?} meanwhile");
    assert!(
        opened.elapsed() < HEADER_TIMEOUT && held.iter_mut().all(still_waiting),
        "the held connections were released before the other client was served"
    );
    tern.wait_for_heartbeats(1);

    // The held ones are answered 408 once their heads are late.
    for s in &mut held {
        let (bytes, closed) = read_to_close(s, HEADER_TIMEOUT + Duration::from_secs(5));
        let (status, body) = answer(&bytes);
        assert_eq!(status, 408, "{body}");
        assert!(closed);
    }
    println!(
        "held connections: all answered 408 and closed {:?} after they opened",
        opened.elapsed()
    );
    let (ok, _) = ternctl_vm(&tern.sock);
    assert!(ok);
}

/// Sockets tern has open (its listener, its clients' connections).
fn sockets_of(tern: &RunningTern) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", tern.child.id()))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.unwrap().path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[test]
fn a_client_that_reads_slowly_cannot_keep_its_connection() {
    let tern = start("trickle-reader");
    // Let the start-up client's kept-alive connection time out first.
    thread::sleep(HEADER_TIMEOUT + Duration::from_secs(2));
    let before = sockets_of(&tern);
    let mut s = UnixStream::connect(&tern.sock).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut sent = 0;
    for _ in 0..3000 {
        if s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    assert_eq!(sockets_of(&tern), before + 1);
    // 64 KiB every 2 s (enough that tern's writes never wait 10 s), until tern has let go
    // of the connection (what it sent before stays in this socket's buffer to read).
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while sockets_of(&tern) > before && started.elapsed() < Duration::from_secs(120) {
        if let Ok(n) = s.read(&mut buf) {
            got += n;
        }
        thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(
        sockets_of(&tern),
        before,
        "tern kept the trickling reader's connection for 120 s"
    );
    println!(
        "trickling reader: {sent} requests sent, {got} bytes read at 64 KiB per 2 s, connection \
         closed by tern after {:?}",
        started.elapsed()
    );
    assert_eq!(tern.get("/v1/vm")["state"], "running");
}

/// Sends `head` whole and then `trickle` a byte a second until the server answers; the
/// answer, bytes trickled, and the time it took.
fn trickle(sock: &Path, head: &[u8], trickle: &[u8]) -> (Vec<u8>, usize, Duration) {
    let mut s = UnixStream::connect(sock).unwrap();
    let started = Instant::now();
    s.write_all(head).unwrap();
    let mut sent = 0;
    while sent < trickle.len() && still_waiting(&mut s) {
        s.set_nonblocking(false).unwrap();
        if s.write_all(&trickle[sent..=sent]).is_err() {
            break;
        }
        sent += 1;
        thread::sleep(Duration::from_secs(1));
    }
    let (bytes, closed) = read_to_close(&mut s, Duration::from_secs(5));
    assert!(closed, "the slow client's connection stays open");
    (bytes, sent, started.elapsed())
}

#[test]
fn slow_idle_and_non_reading_clients_are_cut_off_while_others_are_served() {
    let tern = start("slow");
    let sock = tern.sock.clone();

    let slow_head = {
        let sock = sock.clone();
        thread::spawn(move || {
            let request = b"GET /v1/vm HTTP/1.1\r\nHost: localhost\r\nX-Slow: yes\r\n\r\n";
            trickle(&sock, b"", request)
        })
    };
    let slow_body = {
        let sock = sock.clone();
        thread::spawn(move || {
            let head = b"PUT /v1/actions HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n";
            trickle(&sock, head, b"{\"action\": \"pause\"                     }")
        })
    };
    let idle = {
        let sock = sock.clone();
        thread::spawn(move || {
            let mut s = UnixStream::connect(&sock).unwrap();
            s.write_all(b"GET /v1/vm HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let started = Instant::now();
            let (bytes, closed) = read_to_close(&mut s, Duration::from_secs(20));
            (bytes, closed, started.elapsed())
        })
    };
    let non_reader = {
        let sock = sock.clone();
        thread::spawn(move || {
            let mut s = UnixStream::connect(&sock).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut sent = 0;
            for _ in 0..2000 {
                if s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    .is_err()
                {
                    break;
                }
                sent += 1;
            }
            // Never read until well past the write time limit.
            thread::sleep(Duration::from_secs(15));
            let (bytes, closed) = read_to_close(&mut s, Duration::from_secs(3));
            let answers = bytes.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
            (sent, answers, closed)
        })
    };

    // Meanwhile a normal client asks every half second.
    let mut slowest = Duration::ZERO;
    let mut asked = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(16) {
        let t = Instant::now();
        let r = tern.client.get("/v1/vm").unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        slowest = slowest.max(t.elapsed());
        asked += 1;
        thread::sleep(Duration::from_millis(500));
    }
    tern.wait_for_heartbeats(1);
    println!(
        "slow clients: a normal client got {asked} answers meanwhile, the slowest in {slowest:?}"
    );

    let (bytes, sent, took) = slow_head.join().unwrap();
    let (status, body) = answer(&bytes);
    assert_eq!(status, 408, "{body}");
    assert!(sent < 54, "the byte-a-second head was read to its end");
    println!("slow clients: byte-a-second head cut off with 408 after {sent} bytes, {took:?}");

    let (bytes, sent, took) = slow_body.join().unwrap();
    let (status, body) = answer(&bytes);
    assert_eq!(status, 408, "{body}");
    assert!(body["error"].as_str().unwrap().contains("body"), "{body}");
    assert!(sent < 40);
    println!("slow clients: byte-a-second body cut off with 408 after {sent} bytes, {took:?}");

    let (bytes, closed, took) = idle.join().unwrap();
    assert!(closed, "an idle kept-alive connection stays open");
    assert_eq!(answer(&bytes).0, 200);
    assert_eq!(
        bytes.windows(9).filter(|w| w == b"HTTP/1.1 ").count(),
        1,
        "the idle connection got more than its answer"
    );
    println!("slow clients: idle kept-alive connection closed without a word after {took:?}");

    let (sent, answers, closed) = non_reader.join().unwrap();
    assert!(
        closed,
        "the connection of a client that never reads stays open"
    );
    assert!(answers < sent, "every pipelined request was answered");
    println!("slow clients: a client that never read sent {sent} requests, got {answers} answers before the server closed it");
    assert_eq!(tern.get("/v1/vm")["state"], "running");
}
