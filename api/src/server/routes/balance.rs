//! Rebalances (`POST /v1/rebalance`, `GET`/`DELETE /v1/rebalance/{id}`), write heat
//! (`GET`/`PUT /v1/heat`) and automatic balancing (`GET`/`PUT /v1/auto-balance`). Like every
//! handler, each forwards its request to the VMM, which checks it against the VM and the host.

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::Json;

use super::unexpected;
use crate::model::{
    AutoBalanceInfo, AutoBalanceRequest, ErrorBody, HeatInfo, HeatRequest, RebalanceAccepted,
    RebalanceRequest, RebalanceStatus,
};
use crate::request::{ApiError, ErrorKind, VmRequest, VmResponse};
use crate::server::body::JsonBody;
use crate::server::path_id::PathId;
use crate::server::AppState;

/// The sentence for a rebalance request without a policy.
pub const NO_POLICY: &str = "a rebalance needs a \"policy\"";

/// `Location` of a rebalance, when its id fits in a header.
fn location_of(id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("/v1/rebalance/{id}")) {
        headers.insert(LOCATION, value);
    }
    headers
}

fn status_reply(reply: VmResponse) -> Result<Json<RebalanceStatus>, ApiError> {
    match reply {
        VmResponse::Rebalance(status) => Ok(Json(status)),
        other => Err(unexpected(other)),
    }
}

fn heat_reply(reply: VmResponse) -> Result<Json<HeatInfo>, ApiError> {
    match reply {
        VmResponse::Heat(heat) => Ok(Json(heat)),
        other => Err(unexpected(other)),
    }
}

fn auto_reply(reply: VmResponse) -> Result<Json<AutoBalanceInfo>, ApiError> {
    match reply {
        VmResponse::AutoBalance(auto) => Ok(Json(auto)),
        other => Err(unexpected(other)),
    }
}

/// Starts moving guest memory between host nodes while the guest runs.
///
/// Answers at once with the rebalance's id; follow it with `GET /v1/rebalance/{id}`. One
/// rebalance runs at a time.
#[utoipa::path(post, path = "/v1/rebalance", tag = "balance",
    request_body = RebalanceRequest,
    responses(
        (status = 202, description = "Started", body = RebalanceAccepted,
            headers(("Location" = String, description = "The rebalance: /v1/rebalance/{id}"))),
        (status = 400, description = "A malformed body or unknown field, no policy, a policy \
            without the fields it needs, or a host or guest node that does not exist", body = ErrorBody),
        (status = 409, description = "A rebalance is already running", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 KiB", body = ErrorBody),
        (status = 500, description = "The host failed", body = ErrorBody)))]
pub(super) async fn post_rebalance(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RebalanceRequest>,
) -> Result<(StatusCode, HeaderMap, Json<RebalanceAccepted>), ApiError> {
    if req.policy.is_none() {
        return Err(ApiError::new(ErrorKind::BadRequest, NO_POLICY));
    }
    match state.vm.call(VmRequest::StartRebalance(req)).await? {
        VmResponse::RebalanceAccepted(accepted) => Ok((
            StatusCode::ACCEPTED,
            location_of(&accepted.id),
            Json(accepted),
        )),
        other => Err(unexpected(other)),
    }
}

/// A rebalance's state and progress: pages moved, failed (by reason), bytes, time.
#[utoipa::path(get, path = "/v1/rebalance/{id}", tag = "balance",
    params(("id" = String, Path, description = "The rebalance, as `POST /v1/rebalance` named it")),
    responses(
        (status = 200, description = "Its status", body = RebalanceStatus),
        (status = 404, description = "No rebalance has this id", body = ErrorBody),
        (status = 500, description = "The host failed", body = ErrorBody)))]
pub(super) async fn get_rebalance(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<RebalanceStatus>, ApiError> {
    status_reply(state.vm.call(VmRequest::GetRebalance(id)).await?)
}

/// Asks a running rebalance to stop; what moved stays moved.
///
/// Answers with its status after the request (it reads `cancelled` once the mover has
/// stopped).
#[utoipa::path(delete, path = "/v1/rebalance/{id}", tag = "balance",
    params(("id" = String, Path, description = "The rebalance, as `POST /v1/rebalance` named it")),
    responses(
        (status = 200, description = "Its status after the request", body = RebalanceStatus),
        (status = 404, description = "No rebalance has this id", body = ErrorBody),
        (status = 409, description = "The rebalance has already ended", body = ErrorBody),
        (status = 500, description = "The host failed", body = ErrorBody)))]
pub(super) async fn delete_rebalance(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> Result<Json<RebalanceStatus>, ApiError> {
    status_reply(state.vm.call(VmRequest::CancelRebalance(id)).await?)
}

/// Write heat from KVM dirty logging: per guest node, its write rate and hottest chunks.
#[utoipa::path(get, path = "/v1/heat", tag = "balance",
    responses((status = 200, description = "The heat", body = HeatInfo),
        (status = 500, description = "The host failed", body = ErrorBody)))]
pub(super) async fn get_heat(State(state): State<AppState>) -> Result<Json<HeatInfo>, ApiError> {
    heat_reply(state.vm.call(VmRequest::GetHeat).await?)
}

/// Turns heat sampling (KVM dirty logging) on or off; answers with the heat after it.
#[utoipa::path(put, path = "/v1/heat", tag = "balance",
    request_body = HeatRequest,
    responses((status = 200, description = "The heat after the change", body = HeatInfo),
        (status = 400, description = "A malformed body, an unknown field or an interval out of range", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 KiB", body = ErrorBody),
        (status = 500, description = "The host failed", body = ErrorBody)))]
pub(super) async fn put_heat(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<HeatRequest>,
) -> Result<Json<HeatInfo>, ApiError> {
    heat_reply(state.vm.call(VmRequest::SetHeat(req)).await?)
}

/// Automatic balancing: memory follows vCPUs that moved.
///
/// Whether it is on, its interval and rate limit, the rebalances it started and its last
/// decision.
#[utoipa::path(get, path = "/v1/auto-balance", tag = "balance",
    responses((status = 200, description = "Its state", body = AutoBalanceInfo),
        (status = 500, description = "The host failed", body = ErrorBody)))]
pub(super) async fn get_auto_balance(
    State(state): State<AppState>,
) -> Result<Json<AutoBalanceInfo>, ApiError> {
    auto_reply(state.vm.call(VmRequest::GetAutoBalance).await?)
}

/// Turns automatic balancing on or off; answers with its state after it.
#[utoipa::path(put, path = "/v1/auto-balance", tag = "balance",
    request_body = AutoBalanceRequest,
    responses((status = 200, description = "Its state after the change", body = AutoBalanceInfo),
        (status = 400, description = "A malformed body, an unknown field, or an interval or rate out of range", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 KiB", body = ErrorBody),
        (status = 500, description = "The host failed", body = ErrorBody)))]
pub(super) async fn put_auto_balance(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<AutoBalanceRequest>,
) -> Result<Json<AutoBalanceInfo>, ApiError> {
    auto_reply(state.vm.call(VmRequest::SetAutoBalance(req)).await?)
}
