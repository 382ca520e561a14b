#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The REST API against a real tern on this host's KVM, with a guest that writes a heartbeat
//! to the console forever: every endpoint, pause and resume seen in the heartbeats, vCPU
//! affinity seen in /proc, bad requests refused while the VM keeps running, shutdown, and
//! the socket's own rules.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use api::client::Client;
use serde_json::{json, Value};
use tern_tests::host_run::{tern_bin, RunningTern};
use tern_tests::tiny_guest::heartbeat_guest;

/// tern with a heartbeat guest, 2 vCPUs and 16 MiB.
fn start(name: &str) -> RunningTern {
    RunningTern::start(
        name,
        &heartbeat_guest(),
        &["--memory", "16M", "--vcpus", "2"],
    )
}

fn allowed_cpus(pid: u32, tid: i64) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn every_endpoint_answers() {
    let tern = start("endpoints");
    tern.wait_for_heartbeats(1);
    let vm = tern.get("/v1/vm");
    assert_eq!(
        (
            vm["state"].as_str(),
            vm["vcpus"].as_u64(),
            vm["memory_mib"].as_u64()
        ),
        (Some("running"), Some(2), Some(16))
    );
    assert_eq!(vm["name"], json!("api"), "named after its socket");
    assert_eq!(vm["guest_nodes"][0]["vcpus"], json!([0, 1]));

    let topo = tern.get("/v1/topology");
    let host_nodes = std::fs::read_dir("/sys/devices/system/node")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("node")
        })
        .count();
    assert_eq!(topo["host_nodes"].as_array().unwrap().len(), host_nodes);
    assert_eq!(
        topo["guest_nodes"][0]["regions"][0]["guest_end"],
        json!(16 << 20)
    );

    let placement = tern.get("/v1/placement");
    assert_eq!(placement["page_size"], json!(4096));
    assert_eq!(placement["guest_nodes"][0]["pages"], json!(4096));
    assert!(
        placement["guest_nodes"][0]["host_nodes"][0]["pages"]
            .as_u64()
            .unwrap()
            > 0,
        "{placement}"
    );
    assert_eq!(placement["vcpus"].as_array().unwrap().len(), 2);

    let vcpus = tern.get("/v1/vcpus");
    assert_eq!(vcpus.as_array().unwrap().len(), 2);
    assert!(tern.vcpu_tid(0) > 0);
    assert!(vcpus[0]["exits"].as_u64().unwrap() > 0);

    let metrics = tern.client.get("/metrics").unwrap();
    assert_eq!(metrics.status, 200);
    // Placement and metrics, which query guest memory, are answered by the VMM's worker
    // thread, not by its main thread.
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", tern.child.id()))
        .unwrap()
        .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
        .collect();
    assert!(
        threads.iter().any(|c| c.trim() == "api-worker"),
        "{threads:?}"
    );
    for series in [
        "tern_vcpu_exits_total{vm=\"api\",vcpu=\"0\",reason=\"io_out\"}",
        "tern_guest_memory_resident_pages{vm=\"api\",guest_node=\"0\",host_node=\"0\"}",
        "tern_api_requests_total{vm=\"api\",status=\"200\"}",
        "tern_vcpus{vm=\"api\"} 2",
    ] {
        assert!(
            metrics.body.contains(series),
            "no {series} in\n{}",
            metrics.body
        );
    }
}

#[test]
fn a_named_vm_shows_its_name_and_labels_every_series_with_it() {
    let tern = RunningTern::start(
        "named",
        &heartbeat_guest(),
        &["--memory", "16M", "--name", "web-7"],
    );
    tern.wait_for_heartbeats(1);
    assert_eq!(tern.get("/v1/vm")["name"], json!("web-7"));
    let metrics = tern.client.get("/metrics").unwrap().body;
    let samples: Vec<&str> = metrics.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(samples.len() > 10, "{metrics}");
    for line in samples {
        assert!(line.contains("{vm=\"web-7\""), "{line}");
    }
}

#[test]
fn pause_and_resume_show_in_the_heartbeats() {
    let tern = start("pause");
    tern.wait_for_heartbeats(2);
    let r = tern.put("/v1/actions", json!({"action": "pause"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["state"],
        json!("paused")
    );
    let frozen = tern.heartbeats();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(tern.heartbeats(), frozen, "the guest ran while paused");
    assert_eq!(tern.get("/v1/vm")["state"], json!("paused"));
    let again = tern.put("/v1/actions", json!({"action": "pause"}));
    assert_eq!(
        (again.status, again.error_sentence().as_str()),
        (409, "the VM is already paused")
    );

    let r = tern.put("/v1/actions", json!({"action": "resume"}));
    assert_eq!(r.status, 200, "{}", r.body);
    tern.wait_for_heartbeats(2);
    let again = tern.put("/v1/actions", json!({"action": "resume"}));
    assert_eq!(
        (again.status, again.error_sentence().as_str()),
        (409, "the VM is not paused")
    );
}

#[test]
fn affinity_is_applied_to_the_vcpu_thread() {
    let tern = start("affinity");
    let pid = tern.child.id();
    let tid = tern.vcpu_tid(1);
    assert_eq!(tern.get("/v1/vcpus")[1]["affinity_source"], json!("none"));
    let r = tern.put("/v1/vcpus/1/affinity", json!({"cpus": [0]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let vcpu: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (&vcpu["affinity"], &vcpu["affinity_source"]),
        (&json!([0]), &json!("pin"))
    );
    assert_eq!(allowed_cpus(pid, tid), "0");
    let node0 = std::fs::read_to_string("/sys/devices/system/node/node0/cpulist").unwrap();
    let r = tern.put("/v1/vcpus/1/affinity", json!({"host_node": 0}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(allowed_cpus(pid, tid), node0.trim());
    // Only vCPU 1 moved.
    assert_ne!(allowed_cpus(pid, tern.vcpu_tid(0)), "");
}

/// The CPUs this test process may use, as a list and as the kernel writes it.
fn own_cpus() -> (Vec<u32>, String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let text = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string();
    let cpus = text
        .split(',')
        .flat_map(|part| {
            let (first, last) = part.split_once('-').unwrap_or((part, part));
            first.parse::<u32>().unwrap()..=last.parse::<u32>().unwrap()
        })
        .collect();
    (cpus, text)
}

#[test]
fn vcpus_are_pinned_at_launch_and_tern_threads_run_on_vmm_cpus() {
    let (cpus, all) = own_cpus();
    if cpus.len() < 2 {
        println!("skipped: this test may use only CPUs {all}");
        return;
    }
    let (a, b) = (cpus[0], cpus[1]);
    let node0 = format!("node=0,vcpus=0,memory=8M,host-cpus={a}");
    let tern = RunningTern::start(
        "pinned",
        &heartbeat_guest(),
        &[
            "--numa",
            &node0,
            "--numa",
            "node=1,vcpus=1,memory=8M,host-cpus=any",
            "--vmm-cpus",
            &b.to_string(),
        ],
    );
    tern.wait_for_heartbeats(1);
    // Threads started later, from the API: heat sampling and automatic balancing.
    let (status, _) = tern.call("PUT", "/v1/heat", Some(json!({"enabled": true})));
    assert_eq!(status, 200);
    let (status, _) = tern.call("PUT", "/v1/auto-balance", Some(json!({"enabled": true})));
    assert_eq!(status, 200);
    // A new thread names itself once it runs, so on a busy host it may still carry the name of
    // the thread that spawned it for a moment.
    let named = |threads: &[(String, String)]| {
        ["heat", "auto-balance"]
            .iter()
            .all(|want| threads.iter().any(|(n, _)| n == want))
    };
    let mut threads = tern.thread_affinities();
    for _ in 0..100 {
        if named(&threads) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        threads = tern.thread_affinities();
    }
    println!("threads and their Cpus_allowed_list: {threads:?}");
    let of = |name: &str| {
        threads
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
            .unwrap_or_else(|| panic!("no thread {name}: {threads:?}"))
    };
    assert_eq!(of("vcpu0"), a.to_string(), "pinned by host-cpus");
    assert_eq!(of("vcpu1"), all, "unpinned: every CPU, not --vmm-cpus");
    for name in ["tern", "api", "console-out", "heat", "auto-balance"] {
        assert_eq!(
            of(name),
            b.to_string(),
            "{name} is one of tern's own threads"
        );
    }
    for (name, cpus) in threads.iter().filter(|(n, _)| !n.starts_with("vcpu")) {
        assert_eq!(cpus, &b.to_string(), "{name}");
    }

    let vcpus = tern.get("/v1/vcpus");
    assert_eq!(
        (&vcpus[0]["affinity_source"], &vcpus[0]["affinity"]),
        (&json!("launch"), &json!([a]))
    );
    assert_eq!(vcpus[1]["affinity_source"], json!("none"), "{vcpus}");
    let r = tern.put("/v1/vcpus/0/affinity", json!({"cpus": [b]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let vcpu0: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (&vcpu0["affinity_source"], &vcpu0["affinity"]),
        (&json!("pin"), &json!([b]))
    );
    let vcpus = tern.get("/v1/vcpus");
    assert_eq!(vcpus[0]["affinity_source"], json!("pin"));
    assert_eq!(vcpus[1]["affinity_source"], json!("none"));
}

#[test]
fn bad_requests_get_their_status_and_the_vm_keeps_running() {
    let tern = start("bad");
    tern.wait_for_heartbeats(1);
    let big = format!(
        "{{\"action\":\"pause\",\"pad\":\"{}\"}}",
        "x".repeat(100_000)
    );
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "PUT",
            "/v1/actions",
            b"{\"action\":".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "PUT",
            "/v1/actions",
            br#"{"action":"pause","now":1}"#.to_vec(),
            400,
            "unknown field `now`",
        ),
        (
            "PUT",
            "/v1/vcpus/0/affinity",
            br#"{"cpus":"all"}"#.to_vec(),
            400,
            "invalid type",
        ),
        (
            "PUT",
            "/v1/actions",
            big.into_bytes(),
            413,
            "larger than 16384 bytes",
        ),
        (
            "PUT",
            "/v1/vcpus/7/affinity",
            br#"{"cpus":[0]}"#.to_vec(),
            404,
            "there is no vCPU 7",
        ),
        (
            "PUT",
            "/v1/vcpus/0/affinity",
            br#"{"cpus":[4096]}"#.to_vec(),
            400,
            "host CPU 4096 does not exist",
        ),
        (
            "PUT",
            "/v1/vcpus/0/affinity",
            br#"{"host_node":63}"#.to_vec(),
            400,
            "host node 63 does not exist",
        ),
        (
            "PUT",
            "/v1/vcpus/0/affinity",
            br#"{"cpus":[0],"host_node":0}"#.to_vec(),
            400,
            "either \"cpus\" or \"host_node\"",
        ),
        (
            "POST",
            "/v1/vm",
            b"".to_vec(),
            405,
            "/v1/vm does not take POST",
        ),
        (
            "GET",
            "/v1/actions",
            b"".to_vec(),
            405,
            "/v1/actions does not take GET",
        ),
        ("GET", "/v1/nope", b"".to_vec(), 404, "there is no /v1/nope"),
    ];
    for (method, path, body, status, sentence) in cases {
        let r = tern.client.request(method, path, Some(&body)).unwrap();
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        let error: Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {}", r.body));
        assert!(
            error["error"].as_str().unwrap().contains(sentence),
            "{method} {path}: {error}"
        );
    }
    assert_eq!(tern.get("/v1/vm")["state"], json!("running"));
    tern.wait_for_heartbeats(2);
    let metrics = tern.client.get("/metrics").unwrap().body;
    assert!(
        metrics.contains("tern_api_requests_total{vm=\"api\",status=\"400\"} 6"),
        "{metrics}"
    );
}

#[test]
fn requests_that_change_the_vm_are_logged_with_the_clients_uid_and_pid() {
    let tern = RunningTern::start_logging(
        "audit",
        &heartbeat_guest(),
        &["--memory", "16M", "--vcpus", "2"],
        "info",
    );
    tern.wait_for_heartbeats(1);
    assert_eq!(
        tern.put("/v1/actions", json!({"action": "pause"})).status,
        200
    );
    assert_eq!(
        tern.put("/v1/actions", json!({"action": "pause"})).status,
        409
    );
    assert_eq!(
        tern.put("/v1/vcpus/9/affinity", json!({"cpus": [0]}))
            .status,
        404
    );
    assert_eq!(
        tern.put("/v1/actions", json!({"action": "resume"})).status,
        200
    );
    tern.get("/v1/vm");
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let who = format!("api: uid={uid} pid={}", std::process::id());
    let log = tern.log();
    for line in [
        format!("{who} PUT /v1/actions -> 200"),
        format!("{who} PUT /v1/actions -> 409"),
        format!("{who} PUT /v1/vcpus/9/affinity -> 404"),
    ] {
        assert!(log.contains(&line), "no {line:?} in\n{log}");
    }
    assert_eq!(log.matches(&who).count(), 4, "{log}");
    assert!(!log.contains("GET /v1/vm"), "{log}");
}

#[test]
fn shutdown_ends_tern_with_status_0_and_removes_the_socket() {
    let mut tern = start("shutdown");
    let mode = std::fs::metadata(&tern.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let r = tern.put("/v1/actions", json!({"action": "shutdown"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["state"],
        json!("shutting-down")
    );
    assert_eq!(tern.wait_exit(), 0);
    assert!(!tern.sock.exists(), "the socket file was left behind");
}

#[test]
fn a_live_socket_is_refused_and_a_stale_one_replaced() {
    let mut first = start("socket");
    let kernel = first.dir.join("guest.elf");
    let second = Command::new(tern_bin())
        .args([
            "--kernel",
            kernel.to_str().unwrap(),
            "--api-sock",
            first.sock.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("is already listening on"), "{err}");
    // The first one is untouched by the attempt.
    assert_eq!(first.get("/v1/vm")["state"], json!("running"));

    // Killed without a chance to clean up, it leaves a stale socket; a new tern replaces it.
    first.child.kill().unwrap();
    first.wait_exit();
    assert!(first.sock.exists());
    let dir = first.dir.clone();
    let sock = first.sock.clone();
    let mut again = Command::new(tern_bin())
        .args([
            "--kernel",
            kernel.to_str().unwrap(),
            "--memory",
            "16M",
            "--api-sock",
            sock.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let client = Client::new(&sock).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get("/v1/vm").is_err() {
        assert!(
            Instant::now() < deadline,
            "the second tern did not take over the stale socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = again.kill();
    let _ = again.wait();
    drop(first);
    let _ = std::fs::remove_dir_all(dir);
}
