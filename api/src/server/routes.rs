//! The endpoints. Each handler forwards its request to the VMM and turns the answer into a
//! response; the OpenAPI document is generated from these same handlers. Rebalances, heat
//! and automatic balancing are in [`balance`].

mod balance;

pub use self::balance::NO_POLICY;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::JsonBody;
use super::path_id::PathId;
use super::AppState;
use crate::metrics_label::label_every_series;
use crate::model::{
    ActionRequest, AffinityRequest, ErrorBody, PlacementInfo, TopologyInfo, VcpuInfo, VmInfo,
};
use crate::request::{ApiError, ErrorKind, VmRequest, VmResponse};

/// 500 for a reply of the wrong kind (a VMM bug).
fn unexpected(response: VmResponse) -> ApiError {
    ApiError::new(
        ErrorKind::Internal,
        format!("the VMM answered with the wrong kind of reply: {response:?}"),
    )
}

/// The VM's state, vCPUs, memory, guest nodes and uptime.
#[utoipa::path(get, path = "/v1/vm", tag = "vm",
    responses((status = 200, body = VmInfo), (status = 500, body = ErrorBody)))]
async fn get_vm(State(state): State<AppState>) -> Result<Json<VmInfo>, ApiError> {
    match state.vm.call(VmRequest::GetVm).await? {
        VmResponse::Vm(vm) => Ok(Json(vm)),
        other => Err(unexpected(other)),
    }
}

/// Host NUMA nodes (CPUs, memory, distances) and guest nodes (vCPUs, regions, binding).
#[utoipa::path(get, path = "/v1/topology", tag = "vm",
    responses((status = 200, body = TopologyInfo), (status = 500, body = ErrorBody)))]
async fn get_topology(State(state): State<AppState>) -> Result<Json<TopologyInfo>, ApiError> {
    match state.vm.call(VmRequest::GetTopology).await? {
        VmResponse::Topology(t) => Ok(Json(t)),
        other => Err(unexpected(other)),
    }
}

/// Pages per host node for each guest node, and where each vCPU runs.
#[utoipa::path(get, path = "/v1/placement", tag = "vm",
    responses((status = 200, body = PlacementInfo), (status = 500, body = ErrorBody)))]
async fn get_placement(State(state): State<AppState>) -> Result<Json<PlacementInfo>, ApiError> {
    match state.vm.call(VmRequest::GetPlacement).await? {
        VmResponse::Placement(p) => Ok(Json(p)),
        other => Err(unexpected(other)),
    }
}

/// The vCPUs, their threads, host CPUs and affinity.
#[utoipa::path(get, path = "/v1/vcpus", tag = "vcpus",
    responses((status = 200, body = Vec<VcpuInfo>), (status = 500, body = ErrorBody)))]
async fn get_vcpus(State(state): State<AppState>) -> Result<Json<Vec<VcpuInfo>>, ApiError> {
    match state.vm.call(VmRequest::GetVcpus).await? {
        VmResponse::Vcpus(v) => Ok(Json(v)),
        other => Err(unexpected(other)),
    }
}

/// Pins a vCPU's thread to host CPUs, or to every CPU of a host node.
#[utoipa::path(put, path = "/v1/vcpus/{id}/affinity", tag = "vcpus",
    params(("id" = u32, Path, description = "The vCPU")),
    request_body = AffinityRequest,
    responses((status = 200, body = VcpuInfo), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 500, body = ErrorBody)))]
async fn put_affinity(
    State(state): State<AppState>,
    PathId(id): PathId,
    JsonBody(affinity): JsonBody<AffinityRequest>,
) -> Result<Json<VcpuInfo>, ApiError> {
    let vcpu = id
        .parse()
        .map_err(|_| ApiError::new(ErrorKind::NotFound, format!("there is no vCPU '{id}'")))?;
    match state
        .vm
        .call(VmRequest::SetAffinity { vcpu, affinity })
        .await?
    {
        VmResponse::Vcpu(v) => Ok(Json(v)),
        other => Err(unexpected(other)),
    }
}

/// Pauses, resumes or shuts down the VM; answers with the VM's state after it.
#[utoipa::path(put, path = "/v1/actions", tag = "vm",
    request_body = ActionRequest,
    responses((status = 200, body = VmInfo), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 500, body = ErrorBody)))]
async fn put_action(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ActionRequest>,
) -> Result<Json<VmInfo>, ApiError> {
    match state.vm.call(VmRequest::Action(req.action)).await? {
        VmResponse::Vm(vm) => Ok(Json(vm)),
        other => Err(unexpected(other)),
    }
}

/// Metrics in Prometheus text format (series prefixed `tern_`, each labelled `vm`).
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, body = String, content_type = "text/plain; version=0.0.4"), (status = 500, body = ErrorBody)))]
async fn get_metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut metrics = match state.vm.call(VmRequest::Metrics).await? {
        VmResponse::Metrics(m) => m,
        other => return Err(unexpected(other)),
    };
    metrics.text.push_str(&state.requests.render());
    let text = label_every_series(&metrics.text, "vm", &metrics.vm);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

/// Every method and path the server routes, as `METHOD /path` (the spec's paths must be
/// exactly these).
pub const SERVED: [&str; 14] = [
    "GET /v1/vm",
    "GET /v1/topology",
    "GET /v1/placement",
    "GET /v1/vcpus",
    "PUT /v1/vcpus/{id}/affinity",
    "PUT /v1/actions",
    "GET /metrics",
    "POST /v1/rebalance",
    "GET /v1/rebalance/{id}",
    "DELETE /v1/rebalance/{id}",
    "GET /v1/heat",
    "PUT /v1/heat",
    "GET /v1/auto-balance",
    "PUT /v1/auto-balance",
];

/// Every endpoint, with its OpenAPI description.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::frame::base_document())
        .routes(routes!(get_vm))
        .routes(routes!(get_topology))
        .routes(routes!(get_placement))
        .routes(routes!(get_vcpus))
        .routes(routes!(put_affinity))
        .routes(routes!(put_action))
        .routes(routes!(get_metrics))
        .routes(routes!(balance::post_rebalance))
        .routes(routes!(balance::get_rebalance, balance::delete_rebalance))
        .routes(routes!(balance::get_heat, balance::put_heat))
        .routes(routes!(
            balance::get_auto_balance,
            balance::put_auto_balance
        ))
}
