//! Request bodies through the real router: the first byte picks a route that takes a body
//! (and sometimes the wrong method), the rest is the body. The VMM is a stand-in that accepts
//! what reaches it. Every answer must be one of the route's statuses, with a JSON body, and
//! an error one must carry an `error` sentence.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use api::model::{RebalanceAccepted, VmInfo, VmState};
use api::request::{channel, ApiError, ErrorKind, VmHandle, VmRequest, VmResponse};
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const ROUTES: [(&str, &str); 7] = [
    ("PUT", "/v1/actions"),
    ("PUT", "/v1/vcpus/0/affinity"),
    ("POST", "/v1/rebalance"),
    ("PUT", "/v1/heat"),
    ("PUT", "/v1/auto-balance"),
    ("GET", "/v1/vm"),
    ("DELETE", "/v1/actions"),
];

fn vm_info() -> VmInfo {
    VmInfo {
        state: VmState::Running,
        vcpus: 1,
        memory_mib: 16,
        guest_nodes: vec![],
        uptime_ms: 1,
    }
}

/// A VMM that answers the VM's state, accepts rebalances, and refuses the rest with 409.
fn vmm() -> VmHandle {
    static HANDLE: OnceLock<VmHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let (handle, requests) = channel().expect("an eventfd");
            std::thread::spawn(move || loop {
                for p in requests.drain() {
                    let reply = match p.request {
                        VmRequest::GetVm | VmRequest::Action(_) => Ok(VmResponse::Vm(vm_info())),
                        VmRequest::StartRebalance(_) => {
                            Ok(VmResponse::RebalanceAccepted(RebalanceAccepted {
                                id: "rb-1".into(),
                            }))
                        }
                        _ => Err(ApiError::new(ErrorKind::Conflict, "not in the stand-in")),
                    };
                    let _ = p.reply.send(reply);
                }
                std::thread::sleep(Duration::from_micros(20));
            });
            handle
        })
        .clone()
}

/// The application, built once (building its routes and spec is far slower than a request).
fn app() -> axum::Router {
    static APP: OnceLock<axum::Router> = OnceLock::new();
    APP.get_or_init(|| api::server::app(vmm())).clone()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (method, path) = ROUTES[pick as usize % ROUTES.len()];
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_vec()))
        .expect("a request");
    let (status, bytes) = runtime().block_on(async {
        let response = app()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        (status, bytes)
    });
    let allowed: &[u16] = match (method, path) {
        ("DELETE", _) => &[405],
        ("GET", _) => &[200],
        ("POST", _) => &[202, 400, 413],
        (_, "/v1/vcpus/0/affinity") | (_, "/v1/heat") | (_, "/v1/auto-balance") => {
            &[400, 409, 413]
        }
        _ => &[200, 400, 413],
    };
    assert!(
        allowed.contains(&status),
        "{method} {path} answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
    if status >= 400 {
        assert!(
            json["error"].as_str().is_some_and(|s| !s.is_empty()),
            "no error sentence: {json}"
        );
    }
});
