//! The application against a fake VMM: routing, JSON errors, body limits, and the OpenAPI
//! document against the committed file and the routes served. Rebalances, heat and
//! automatic balancing: [`balance`].

mod balance;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::app;
use crate::model::{Action, VmInfo, VmState};
use crate::request::{
    channel, ApiError, ErrorKind, MetricsText, VmRequest, VmRequests, VmResponse,
};

fn vm_info(state: VmState) -> VmInfo {
    VmInfo {
        name: "vm-1".into(),
        state,
        vcpus: 1,
        memory_mib: 256,
        guest_nodes: vec![],
        uptime_ms: 5,
        devices: Vec::new(),
    }
}

/// A VMM that answers GetVm, pauses once, refuses other actions with 409 and affinity with
/// 404, answers the balancing requests as [`balance::answer`] does, and the rest with 500.
fn fake_vmm(requests: VmRequests) {
    std::thread::spawn(move || loop {
        for p in requests.drain() {
            if let Some(reply) = balance::answer(&p.request) {
                if p.reply.send(reply).is_err() {
                    return;
                }
                continue;
            }
            let reply = match p.request {
                VmRequest::GetVm => Ok(VmResponse::Vm(vm_info(VmState::Running))),
                VmRequest::Action(Action::Pause) => Ok(VmResponse::Vm(vm_info(VmState::Paused))),
                VmRequest::Action(_) => {
                    Err(ApiError::new(ErrorKind::Conflict, "the VM is not paused"))
                }
                VmRequest::Metrics => Ok(VmResponse::Metrics(MetricsText {
                    vm: "vm-1".into(),
                    text: "tern_vcpus 1\n".into(),
                })),
                VmRequest::SetAffinity { vcpu, .. } => Err(ApiError::new(
                    ErrorKind::NotFound,
                    format!("there is no vCPU {vcpu}"),
                )),
                _ => Err(ApiError::new(ErrorKind::Internal, "not in the fake")),
            };
            if p.reply.send(reply).is_err() {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    });
}

/// The response to one request, served by a fresh fake VMM.
async fn respond(method: &str, uri: &str, body: &[u8]) -> axum::response::Response {
    let (handle, requests) = channel().unwrap();
    fake_vmm(requests);
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_vec()))
        .unwrap();
    app(handle).oneshot(request).await.unwrap()
}

async fn send(method: &str, uri: &str, body: &[u8]) -> (StatusCode, String) {
    let response = respond(method, uri, body).await;
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn error_of(body: &str) -> String {
    serde_json::from_str::<crate::model::ErrorBody>(body)
        .unwrap_or_else(|_| panic!("not a JSON error: {body}"))
        .error
}

#[test]
fn answers_from_the_vmm() {
    let (status, body) = run(send("GET", "/v1/vm", b""));
    assert_eq!(status, StatusCode::OK);
    let vm: VmInfo = serde_json::from_str(&body).unwrap();
    assert_eq!(vm.state, VmState::Running);
    let (status, body) = run(send("PUT", "/v1/actions", br#"{"action":"pause"}"#));
    assert_eq!(
        (status, body.contains("\"paused\"")),
        (StatusCode::OK, true),
        "{body}"
    );
}

#[test]
fn bad_requests_get_json_errors_with_their_status() {
    let cases: [(&str, &str, &[u8], StatusCode, &str); 9] = [
        (
            "GET",
            "/v1/nothing",
            b"",
            StatusCode::NOT_FOUND,
            "there is no /v1/nothing",
        ),
        (
            "DELETE",
            "/v1/vm",
            b"",
            StatusCode::METHOD_NOT_ALLOWED,
            "/v1/vm does not take DELETE",
        ),
        (
            "PUT",
            "/v1/actions",
            b"{not json",
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            "PUT",
            "/v1/actions",
            br#"{"action":"pause","force":true}"#,
            StatusCode::BAD_REQUEST,
            "unknown field `force`",
        ),
        (
            "PUT",
            "/v1/vcpus/0/affinity",
            br#"{"cpus":"zero"}"#,
            StatusCode::BAD_REQUEST,
            "invalid type: string",
        ),
        (
            "PUT",
            "/v1/actions",
            br#"{"action":"explode"}"#,
            StatusCode::BAD_REQUEST,
            "unknown variant `explode`",
        ),
        (
            "PUT",
            "/v1/actions",
            br#"{"action":"resume"}"#,
            StatusCode::CONFLICT,
            "the VM is not paused",
        ),
        (
            "PUT",
            "/v1/vcpus/9/affinity",
            br#"{"cpus":[0]}"#,
            StatusCode::NOT_FOUND,
            "there is no vCPU 9",
        ),
        (
            "PUT",
            "/v1/vcpus/x/affinity",
            br#"{"cpus":[0]}"#,
            StatusCode::NOT_FOUND,
            "there is no vCPU 'x'",
        ),
    ];
    for (method, uri, body, want_status, want_text) in cases {
        let (status, text) = run(send(method, uri, body));
        assert_eq!(status, want_status, "{method} {uri}: {text}");
        let error = error_of(&text);
        assert!(error.contains(want_text), "{method} {uri}: {error}");
    }
}

#[test]
fn a_100_kb_body_is_refused() {
    let big = format!(r#"{{"action":"pause","pad":"{}"}}"#, "x".repeat(100 * 1024));
    let (status, text) = run(send("PUT", "/v1/actions", big.as_bytes()));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(error_of(&text).contains("larger than 16384 bytes"));
}

#[test]
fn metrics_add_the_request_counters_and_label_every_series_with_the_vm() {
    let (status, text) = run(send("GET", "/metrics", b""));
    assert_eq!(status, StatusCode::OK);
    assert!(text.starts_with("tern_vcpus{vm=\"vm-1\"} 1\n"), "{text}");
    assert!(
        text.contains("# TYPE tern_api_requests_total counter"),
        "{text}"
    );
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!samples.is_empty(), "{text}");
    assert!(samples.iter().all(|l| l.contains("{vm=\"vm-1\"")), "{text}");
}

#[test]
fn the_committed_spec_is_the_generated_one() {
    let committed = include_str!("../../openapi.json");
    let generated = crate::openapi::document_json().unwrap();
    assert!(
        committed == generated,
        "api/openapi.json is stale: regenerate it with `cargo run -p api --bin tern-openapi > api/openapi.json`"
    );
}

#[test]
fn every_path_in_the_spec_is_served_and_nothing_else() {
    let doc = crate::openapi::document();
    let mut seen = Vec::new();
    for (path, item) in doc.paths.paths.iter() {
        let uri = path.replace("{id}", "0");
        let methods: Vec<&str> = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(m, _)| m)
        .collect();
        assert!(!methods.is_empty(), "{path} has no method");
        for method in methods {
            let (status, text) = run(send(method, &uri, b"{}"));
            let not_routed = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND && text.contains("in this API"));
            assert!(
                !not_routed,
                "{method} {path} is in the spec but not served: {status} {text}"
            );
            seen.push(format!("{method} {path}"));
        }
    }
    seen.sort();
    let served = super::routes::SERVED;
    let mut served: Vec<String> = served.iter().map(|s| s.to_string()).collect();
    served.sort();
    assert_eq!(seen, served, "the spec and the served routes differ");
}
