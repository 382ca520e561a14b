//! The body of every error response.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error, as one sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}
