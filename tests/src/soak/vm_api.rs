//! The API calls the driver makes, over the api crate's client: each either gives what was
//! asked or says in one sentence which request failed and how.

use std::path::Path;

use api::client::{Client, Response};
use api::model::{RebalanceAccepted, RebalanceStatus, TopologyInfo, VcpuInfo};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::case::PinPlace;

/// A request that did not give what was asked.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {why}")]
pub struct ApiError {
    method: &'static str,
    path: String,
    why: String,
}

impl ApiError {
    fn new(method: &'static str, path: &str, why: impl Into<String>) -> Self {
        Self {
            method,
            path: path.to_string(),
            why: why.into(),
        }
    }
}

/// tern's API.
#[derive(Debug)]
pub struct VmApi {
    client: Client,
}

impl VmApi {
    /// A client for the socket at `socket`.
    pub fn new(socket: &Path) -> Result<Self, ApiError> {
        let client =
            Client::new(socket).map_err(|e| ApiError::new("CONNECT", "", e.to_string()))?;
        Ok(Self { client })
    }

    /// Sends a request and returns the response whatever its status.
    pub fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, ApiError> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.client
            .request(method, path, bytes.as_deref())
            .map_err(|e| ApiError::new(method, path, e.to_string()))
    }

    /// Sends a request that must succeed and parses its body.
    fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let response = self.send(method, path, body)?;
        if !response.is_success() {
            return Err(ApiError::new(
                method,
                path,
                format!("{}: {}", response.status, response.error_sentence()),
            ));
        }
        serde_json::from_str(&response.body).map_err(|e| {
            ApiError::new(
                method,
                path,
                format!("unreadable answer ({e}): {}", response.body),
            )
        })
    }

    /// `POST /v1/rebalance`: the new rebalance's id.
    pub fn rebalance(&self, request: &Value) -> Result<String, ApiError> {
        let accepted: RebalanceAccepted = self.call("POST", "/v1/rebalance", Some(request))?;
        Ok(accepted.id)
    }

    /// `GET /v1/rebalance/{id}`.
    pub fn status(&self, id: &str) -> Result<RebalanceStatus, ApiError> {
        self.call("GET", &format!("/v1/rebalance/{id}"), None)
    }

    /// `DELETE /v1/rebalance/{id}`: the HTTP status (2xx cancelled, 409 already ended).
    pub fn cancel(&self, id: &str) -> Result<u16, ApiError> {
        Ok(self
            .send("DELETE", &format!("/v1/rebalance/{id}"), None)?
            .status)
    }

    /// `PUT /v1/actions` with `action` (`pause`, `resume`, `shutdown`).
    pub fn action(&self, action: &str) -> Result<(), ApiError> {
        let _: Value = self.call("PUT", "/v1/actions", Some(&json!({ "action": action })))?;
        Ok(())
    }

    /// `PUT /v1/vcpus/{vcpu}/affinity`.
    pub fn pin(&self, vcpu: u32, place: PinPlace, host_cpus: &[u32]) -> Result<(), ApiError> {
        let body = match place {
            PinPlace::Node(n) => json!({ "host_node": n }),
            PinPlace::Anywhere => json!({ "cpus": host_cpus }),
        };
        let _: Value = self.call("PUT", &format!("/v1/vcpus/{vcpu}/affinity"), Some(&body))?;
        Ok(())
    }

    /// `GET /v1/topology`.
    pub fn topology(&self) -> Result<TopologyInfo, ApiError> {
        self.call("GET", "/v1/topology", None)
    }

    /// `GET /v1/vcpus`.
    pub fn vcpus(&self) -> Result<Vec<VcpuInfo>, ApiError> {
        self.call("GET", "/v1/vcpus", None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_is_one_sentence_naming_the_request() {
        let api = VmApi::new(Path::new("/nonexistent/tern.sock")).unwrap();
        let e = api.status("rb-1").unwrap_err().to_string();
        assert!(
            e.starts_with("GET /v1/rebalance/rb-1: cannot connect to"),
            "{e}"
        );
    }
}
