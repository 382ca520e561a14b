//! Tern's REST API.
//!
//! - [`model`]: the JSON bodies.
//! - [`request`]: the channel between the API thread and the VMM.
//! - [`server`]: the HTTP server on a Unix socket (axum, on the API thread's own runtime).
//! - [`openapi`]: the OpenAPI document generated from the handlers.
//! - [`cli_error`]: command-line errors as one sentence (tern and ternctl).
//! - [`client`]: an HTTP client over the Unix socket (ternctl, tests).
//! - [`metrics_label`]: the `vm` label on every metrics series.
//! - [`ternctl`]: the command-line client.

pub mod cli_error;
pub mod client;
pub mod metrics_label;
pub mod model;
pub mod openapi;
pub mod request;
pub mod server;
pub mod ternctl;
