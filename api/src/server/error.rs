//! Errors as HTTP responses: the status from the error's class, the body `{"error": "..."}`.

use axum::http::header::CONNECTION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::model::ErrorBody;
use crate::request::{ApiError, ErrorKind};

/// The HTTP status of an error class.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.kind);
        let body = Json(ErrorBody {
            error: self.message,
        });
        if self.kind == ErrorKind::Timeout {
            // The rest of a late body may still come: the connection cannot be reused.
            ([(CONNECTION, "close")], (status, body)).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

/// 404 for a path the API does not have.
pub async fn no_such_path(uri: axum::http::Uri) -> ApiError {
    let path = match uri.path() {
        "" => uri.to_string(),
        path => path.to_string(),
    };
    ApiError::new(
        ErrorKind::NotFound,
        format!("there is no {path} in this API"),
    )
}

/// 405 for a method a path does not take.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let body = ErrorBody {
        error: format!("{} does not take {method}", uri.path()),
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
