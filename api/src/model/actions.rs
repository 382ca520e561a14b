//! `PUT /v1/actions`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What to do with the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Hold every vCPU outside KVM_RUN.
    Pause,
    /// Let the vCPUs run again.
    Resume,
    /// Stop the VM; tern exits 0.
    Shutdown,
}

/// An action request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// The action.
    pub action: Action,
}
