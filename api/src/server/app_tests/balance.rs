//! Rebalances, heat and automatic balancing against the fake VMM: statuses, the `Location`
//! of a started rebalance, the policy check made before the VMM is asked, and the errors.

use std::collections::BTreeMap;

use axum::http::header::LOCATION;
use axum::http::StatusCode;

use super::{error_of, respond, run, send};
use crate::model::{
    AutoBalanceInfo, GuestNodeHeat, HeatInfo, HotChunk, RebalanceAccepted, RebalanceMode,
    RebalanceOrigin, RebalancePace, RebalancePolicy, RebalanceState, RebalanceStatus,
};
use crate::request::{ApiError, ErrorKind, VmReply, VmRequest, VmResponse};
use crate::server::routes::NO_POLICY;

fn status(id: &str, state: RebalanceState) -> RebalanceStatus {
    RebalanceStatus {
        id: id.into(),
        policy: RebalancePolicy::FollowVcpus,
        origin: RebalanceOrigin::Operator,
        mode: RebalanceMode::Live,
        pace: RebalancePace::Fixed,
        state,
        pages_total: 1024,
        pages_moved: 512,
        pages_failed: 1,
        failed_by_reason: BTreeMap::from([("EBUSY".to_string(), 1)]),
        bytes_moved: 512 * 4096,
        elapsed_ms: 40,
        paused_ms: None,
        pace_mib_per_s: None,
        message: None,
    }
}

fn heat(sampling: bool, interval_ms: u64) -> HeatInfo {
    HeatInfo {
        sampling,
        interval_ms,
        chunk_bytes: 2 << 20,
        samples: 3,
        guest_nodes: vec![GuestNodeHeat {
            id: 0,
            write_mib_per_s: 1.5,
            hottest: vec![HotChunk {
                guest_addr: 0x20_0000,
                host_node: Some(0),
                heat: 7.0,
            }],
        }],
    }
}

fn auto(enabled: bool) -> AutoBalanceInfo {
    AutoBalanceInfo {
        enabled,
        interval_ms: 2000,
        max_mib_per_s: 256.0,
        rebalances_started: 0,
        last_decision: None,
        holds: Vec::new(),
    }
}

/// The fake VMM's answer to a balancing request (None for the others). rb-1 is running,
/// rb-0 has ended, nothing else exists; an interleave is refused as if rb-1 were running,
/// host node 7 does not exist, and a request without a policy must never get here.
pub(super) fn answer(request: &VmRequest) -> Option<VmReply> {
    let err = |kind, message: String| Err(ApiError::new(kind, message));
    Some(match request {
        VmRequest::StartRebalance(req) => match (req.policy, req.host_node) {
            (None, _) => err(ErrorKind::Internal, "the VMM got no policy".into()),
            (Some(RebalancePolicy::Interleave), _) => err(
                ErrorKind::Conflict,
                "rebalance rb-1 is still running; cancel it or wait for it to end".into(),
            ),
            (_, Some(7)) => err(ErrorKind::BadRequest, "host node 7 does not exist".into()),
            _ => Ok(VmResponse::RebalanceAccepted(RebalanceAccepted {
                id: "rb-2".into(),
                warning: None,
            })),
        },
        VmRequest::GetRebalance(id) if id == "rb-1" => {
            Ok(VmResponse::Rebalance(status(id, RebalanceState::Running)))
        }
        VmRequest::CancelRebalance(id) if id == "rb-1" => {
            Ok(VmResponse::Rebalance(status(id, RebalanceState::Cancelled)))
        }
        VmRequest::CancelRebalance(id) if id == "rb-0" => err(
            ErrorKind::Conflict,
            format!("rebalance {id} has already ended"),
        ),
        VmRequest::GetRebalance(id) | VmRequest::CancelRebalance(id) => {
            err(ErrorKind::NotFound, format!("there is no rebalance {id}"))
        }
        VmRequest::GetHeat => Ok(VmResponse::Heat(heat(false, 1000))),
        VmRequest::SetHeat(req) => Ok(VmResponse::Heat(heat(
            req.enabled,
            req.interval_ms.unwrap_or(1000),
        ))),
        VmRequest::GetAutoBalance => Ok(VmResponse::AutoBalance(auto(false))),
        VmRequest::SetAutoBalance(req) => Ok(VmResponse::AutoBalance(auto(req.enabled))),
        _ => return None,
    })
}

#[test]
fn a_started_rebalance_is_202_with_its_id_and_location() {
    let response = run(respond(
        "POST",
        "/v1/rebalance",
        br#"{"policy":"to-node","host_node":1,"max_mib_per_s":100.5,"method":"mbind"}"#,
    ));
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        response.headers().get(LOCATION).unwrap(),
        "/v1/rebalance/rb-2"
    );
    let (code, body) = run(send(
        "POST",
        "/v1/rebalance",
        br#"{"policy":"to-node","host_node":1,"guest_node":0,"origin":"host-balancer"}"#,
    ));
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    let (_, body) = run(send("POST", "/v1/rebalance", br#"{"policy":"hot-first"}"#));
    let accepted: RebalanceAccepted = serde_json::from_str(&body).unwrap();
    assert_eq!(accepted.id, "rb-2");
}

#[test]
fn a_rebalance_can_be_read_and_cancelled() {
    let (code, body) = run(send("GET", "/v1/rebalance/rb-1", b""));
    assert_eq!(code, StatusCode::OK, "{body}");
    let running: RebalanceStatus = serde_json::from_str(&body).unwrap();
    assert_eq!(running, status("rb-1", RebalanceState::Running));
    let (code, body) = run(send("DELETE", "/v1/rebalance/rb-1", b""));
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body.contains(r#""state":"cancelled""#), "{body}");
}

#[test]
fn heat_and_auto_balance_are_read_and_switched() {
    let (code, body) = run(send("GET", "/v1/heat", b""));
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<HeatInfo>(&body).unwrap(),
        heat(false, 1000)
    );
    let (code, body) = run(send(
        "PUT",
        "/v1/heat",
        br#"{"enabled":true,"interval_ms":250}"#,
    ));
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<HeatInfo>(&body).unwrap(),
        heat(true, 250)
    );
    let (code, body) = run(send("GET", "/v1/auto-balance", b""));
    assert_eq!(
        (
            code,
            serde_json::from_str::<AutoBalanceInfo>(&body).unwrap()
        ),
        (StatusCode::OK, auto(false))
    );
    let on = br#"{"enabled":true,"interval_ms":500,"max_mib_per_s":64}"#;
    let (code, body) = run(send("PUT", "/v1/auto-balance", on));
    assert_eq!(
        (
            code,
            serde_json::from_str::<AutoBalanceInfo>(&body).unwrap()
        ),
        (StatusCode::OK, auto(true))
    );
}

#[test]
fn bad_balancing_requests_get_json_errors_with_their_status() {
    let cases: [(&str, &str, &[u8], StatusCode, &str); 13] = [
        (
            "POST",
            "/v1/rebalance",
            b"{}",
            StatusCode::BAD_REQUEST,
            NO_POLICY,
        ),
        (
            "POST",
            "/v1/rebalance",
            br#"{"host_node":1}"#,
            StatusCode::BAD_REQUEST,
            NO_POLICY,
        ),
        (
            "POST",
            "/v1/rebalance",
            br#"{"policy":"to-node","speed":3}"#,
            StatusCode::BAD_REQUEST,
            "unknown field `speed`",
        ),
        (
            "POST",
            "/v1/rebalance",
            br#"{"policy":"sideways"}"#,
            StatusCode::BAD_REQUEST,
            "unknown variant `sideways`",
        ),
        (
            "POST",
            "/v1/rebalance",
            br#"{"policy":"to-node","host_node":1,"origin":"auto"}"#,
            StatusCode::BAD_REQUEST,
            "unknown variant `auto`, expected `operator` or `host-balancer`",
        ),
        (
            "POST",
            "/v1/rebalance",
            br#"{"policy":"to-node","host_node":7}"#,
            StatusCode::BAD_REQUEST,
            "host node 7 does not exist",
        ),
        (
            "POST",
            "/v1/rebalance",
            br#"{"policy":"interleave","host_nodes":[0,1]}"#,
            StatusCode::CONFLICT,
            "rebalance rb-1 is still running",
        ),
        (
            "GET",
            "/v1/rebalance/rb-9",
            b"",
            StatusCode::NOT_FOUND,
            "there is no rebalance rb-9",
        ),
        (
            "DELETE",
            "/v1/rebalance/rb-9",
            b"",
            StatusCode::NOT_FOUND,
            "there is no rebalance rb-9",
        ),
        (
            "DELETE",
            "/v1/rebalance/rb-0",
            b"",
            StatusCode::CONFLICT,
            "rebalance rb-0 has already ended",
        ),
        (
            "GET",
            "/v1/rebalance",
            b"",
            StatusCode::METHOD_NOT_ALLOWED,
            "/v1/rebalance does not take GET",
        ),
        (
            "PUT",
            "/v1/heat",
            br#"{"enabled":true,"every":5}"#,
            StatusCode::BAD_REQUEST,
            "unknown field `every`",
        ),
        (
            "PUT",
            "/v1/auto-balance",
            b"{}",
            StatusCode::BAD_REQUEST,
            "missing field `enabled`",
        ),
    ];
    for (method, uri, body, want_status, want_text) in cases {
        let (status, text) = run(send(method, uri, body));
        assert_eq!(status, want_status, "{method} {uri}: {text}");
        let error = error_of(&text);
        assert!(error.contains(want_text), "{method} {uri}: {error}");
    }
    let (status, text) = run(send("POST", "/v1/rebalance", b"{}"));
    assert_eq!(
        (status, error_of(&text)),
        (StatusCode::BAD_REQUEST, NO_POLICY.to_string())
    );
}

#[test]
fn a_100_kb_rebalance_body_is_refused() {
    let big = format!(
        r#"{{"policy":"to-node","pad":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    let (status, text) = run(send("POST", "/v1/rebalance", big.as_bytes()));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
}
