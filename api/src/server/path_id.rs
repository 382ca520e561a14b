//! The `{id}` segment of a path, as text. One that is not UTF-8 once percent-decoded names
//! nothing the API has: 404, as a JSON error like every other.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::request::{ApiError, ErrorKind};

/// A path's `{id}`.
#[derive(Debug)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let path = parts.uri.path().to_string();
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|_| {
                ApiError::new(
                    ErrorKind::NotFound,
                    format!("there is no {path} in this API"),
                )
            })
    }
}
