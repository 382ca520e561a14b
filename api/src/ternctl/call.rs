//! One request to the API and its answer: the call, sending it, reading the answer as JSON,
//! and what a command leaves for ternctl to print.

use serde::de::DeserializeOwned;

use super::error::CtlError;
use crate::client::Client;

/// One HTTP request to the API.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiCall {
    /// `GET`, `PUT`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The path, e.g. `/v1/vcpus/1/affinity`.
    pub path: String,
    /// The JSON body of a `PUT` or `POST`.
    pub body: Option<serde_json::Value>,
}

impl ApiCall {
    fn new(method: &'static str, path: &str, body: Option<serde_json::Value>) -> Self {
        Self {
            method,
            path: path.to_string(),
            body,
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path, None)
    }

    /// `PUT path` with a JSON body.
    pub fn put(path: &str, body: serde_json::Value) -> Self {
        Self::new("PUT", path, Some(body))
    }

    /// `POST path` with a JSON body.
    pub fn post(path: &str, body: serde_json::Value) -> Self {
        Self::new("POST", path, Some(body))
    }

    /// `DELETE path`.
    pub fn delete(path: &str) -> Self {
        Self::new("DELETE", path, None)
    }

    /// `METHOD /path`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Sends `call`: the body of a successful answer, or the server's refusal.
pub fn send(client: &Client, call: &ApiCall) -> Result<String, CtlError> {
    let body = call.body.as_ref().map(|b| b.to_string());
    let response = client.request(call.method, &call.path, body.as_deref().map(str::as_bytes))?;
    if response.is_success() {
        Ok(response.body)
    } else {
        Err(CtlError::Refused(response.error_sentence()))
    }
}

/// The answer to `call` read as `T`.
pub fn parse_answer<T: DeserializeOwned>(call: &ApiCall, body: &str) -> Result<T, CtlError> {
    serde_json::from_str(body).map_err(|source| CtlError::UnexpectedBody {
        request: call.describe(),
        source,
    })
}

/// `text` pretty-printed by serde_json (two spaces per level, keys in the server's order:
/// serde_json's `preserve_order`), ending in a newline. Text that is not JSON comes back as is.
pub fn pretty_json(text: &str) -> String {
    let pretty = serde_json::from_str::<serde_json::Value>(text)
        .and_then(|value| serde_json::to_string_pretty(&value));
    match pretty {
        Ok(pretty) => pretty + "\n",
        Err(_) => text.to_string(),
    }
}

/// What a command leaves: its output, and why it failed if it did (ternctl then exits 1
/// after printing both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// For stdout.
    pub output: String,
    /// For stderr, as `ternctl: <sentence>`.
    pub failure: Option<String>,
}

impl Finished {
    /// A command that succeeded with `output`.
    pub fn success(output: String) -> Self {
        Self {
            output,
            failure: None,
        }
    }
}
