#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The balancer's API on this host's KVM with a guest that keeps writing one 2 MiB chunk:
//! heat sampling through KVM dirty logging finds that chunk; rebalances run to their end (on
//! a one-node host every page is already in place), bad requests are refused, automatic
//! balancing turns on and off, and the metrics count it all.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tern_tests::host_run::RunningTern;
use tern_tests::tiny_guest::writer_guest;

/// Waits until rebalance `id` ends; its status.
fn wait_done(tern: &RunningTern, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, job) = tern.call("GET", &format!("/v1/rebalance/{id}"), None);
        assert_eq!(status, 200, "{job}");
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "rebalance {id} never ended: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn heat_rebalances_and_auto_balancing_through_the_api() {
    let tern = RunningTern::start("balance", &writer_guest(), &["--memory", "16M"]);

    let (status, heat) = tern.call(
        "PUT",
        "/v1/heat",
        Some(json!({"enabled": true, "interval_ms": 200})),
    );
    assert_eq!(
        (status, heat["sampling"].as_bool()),
        (200, Some(true)),
        "{heat}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let heat = loop {
        let (_, heat) = tern.call("GET", "/v1/heat", None);
        if heat["samples"].as_u64().unwrap_or(0) >= 3
            && !heat["guest_nodes"][0]["hottest"]
                .as_array()
                .unwrap()
                .is_empty()
        {
            break heat;
        }
        assert!(Instant::now() < deadline, "no heat found: {heat}");
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("heat: {heat}");
    assert_eq!(heat["chunk_bytes"], json!(2 << 20));
    assert_eq!(
        heat["guest_nodes"][0]["hottest"][0]["guest_addr"],
        json!(0x20_0000),
        "the written chunk is the hottest"
    );
    let (_, metrics) = (0, tern.client.get("/metrics").unwrap().body);
    assert!(
        metrics.contains("tern_balancer_heat_sampling{vm=\"api\"} 1"),
        "{metrics}"
    );
    let (status, heat) = tern.call("PUT", "/v1/heat", Some(json!({"enabled": false})));
    assert_eq!(
        (status, heat["sampling"].as_bool()),
        (200, Some(false)),
        "{heat}"
    );

    let (status, accepted) = tern.call(
        "POST",
        "/v1/rebalance",
        Some(json!({"policy": "to-node", "host_node": 0})),
    );
    assert_eq!(status, 202, "{accepted}");
    let job = wait_done(&tern, accepted["id"].as_str().unwrap());
    assert_eq!(
        (job["state"].as_str(), job["pages_moved"].as_u64()),
        (Some("done"), Some(0)),
        "{job}"
    );
    let (status, again) = tern.call(
        "DELETE",
        &format!("/v1/rebalance/{}", accepted["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 409, "{again}");

    let (status, accepted) = tern.call(
        "POST",
        "/v1/rebalance",
        Some(json!({"policy": "hot-first", "host_node": 0, "budget_mib": 4})),
    );
    assert_eq!(status, 202, "{accepted}");
    let job = wait_done(&tern, accepted["id"].as_str().unwrap());
    assert_eq!(job["state"], "done", "{job}");

    for (body, sentence) in [
        (
            json!({"policy": "to-node", "host_node": 7}),
            "host node 7 does not exist",
        ),
        (json!({"policy": "to-node"}), "to-node needs \"host_node\""),
        (
            json!({"policy": "interleave", "host_nodes": []}),
            "\"host_nodes\" is empty",
        ),
        (json!({"host_node": 0}), "needs a \"policy\""),
        (
            json!({"policy": "to-node", "host_node": 0, "speed": 1}),
            "unknown field `speed`",
        ),
        (
            json!({"policy": "follow-vcpus", "guest_node": 3}),
            "guest node 3 does not exist",
        ),
        (
            json!({"policy": "to-node", "host_node": 0, "budget_mib": 1}),
            "\"budget_mib\" goes with the hot-first policy",
        ),
    ] {
        let (status, error) = tern.call("POST", "/v1/rebalance", Some(body.clone()));
        assert_eq!(status, 400, "{body}: {error}");
        assert!(
            error["error"].as_str().unwrap().contains(sentence),
            "{body}: {error}"
        );
    }
    let (status, _) = tern.call("GET", "/v1/rebalance/rb-99", None);
    assert_eq!(status, 404);

    let (status, auto) = tern.call(
        "PUT",
        "/v1/auto-balance",
        Some(json!({"enabled": true, "interval_ms": 200})),
    );
    assert_eq!(
        (
            status,
            auto["enabled"].as_bool(),
            auto["interval_ms"].as_u64()
        ),
        (200, Some(true), Some(200)),
        "{auto}"
    );
    std::thread::sleep(Duration::from_millis(800));
    let (_, auto) = tern.call("GET", "/v1/auto-balance", None);
    assert_eq!(
        auto["rebalances_started"],
        json!(0),
        "nothing to move on one node: {auto}"
    );
    let (status, accepted) = tern.call(
        "POST",
        "/v1/rebalance",
        Some(json!({"policy": "to-node", "host_node": 0, "origin": "host-balancer"})),
    );
    assert_eq!(status, 202, "{accepted}");
    let job = wait_done(&tern, accepted["id"].as_str().unwrap());
    assert_eq!(
        (job["state"].as_str(), job["origin"].as_str()),
        (Some("done"), Some("host-balancer")),
        "{job}"
    );
    let (_, auto) = tern.call("GET", "/v1/auto-balance", None);
    assert_eq!(
        auto["holds"],
        json!([]),
        "the host balancer's move holds nothing: {auto}"
    );
    let (status, auto) = tern.call("PUT", "/v1/auto-balance", Some(json!({"enabled": false})));
    assert_eq!((status, auto["enabled"].as_bool()), (200, Some(false)));

    let metrics = tern.client.get("/metrics").unwrap().body;
    assert!(
        metrics.contains("tern_balancer_rebalances_total{vm=\"api\"} 3"),
        "{metrics}"
    );
    assert_eq!(tern.call("GET", "/v1/vm", None).1["state"], "running");
}
