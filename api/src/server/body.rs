//! A JSON request body whose every failure is a JSON error: malformed JSON, a wrong type, an
//! unknown field (400), a body over the size limit (413), or one that does not arrive within
//! [`BODY_TIMEOUT`] (408). Any content type is accepted.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::limits::BODY_TIMEOUT;
use crate::request::{ApiError, ErrorKind};

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A body parsed as `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let read = tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state));
        let bytes = read.await.map_err(|_| {
            ApiError::new(
                ErrorKind::Timeout,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
        })?;
        let bytes = bytes.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorKind::TooLarge,
                    format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::new(
                    ErrorKind::BadRequest,
                    format!("cannot read the request body: {e}"),
                )
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            let message = if e.is_syntax() || e.is_eof() {
                format!("the request body is not valid JSON: {e}")
            } else {
                format!("invalid request body: {e}")
            };
            ApiError::new(ErrorKind::BadRequest, message)
        })
    }
}
