//! The OpenAPI document: generated from the handlers, committed as `api/openapi.json`.

use utoipa::openapi::path::Operation;
pub mod frame;

use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use crate::server::limits::{
    BODY_TIMEOUT, HEADER_TIMEOUT, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT,
};

fn error_response(description: String) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// The answers any operation may get from the server's limits on hostile clients.
fn add_limit_statuses(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    responses.entry("408".into()).or_insert_with(|| {
        error_response(format!(
            "The request's head did not arrive within {} s of the server waiting for it, or its \
             body within {} s of the handler reading it; the connection is closed",
            HEADER_TIMEOUT.as_secs(),
            BODY_TIMEOUT.as_secs()
        ))
    });
    responses.entry("503".into()).or_insert_with(|| {
        error_response(format!(
            "The API already serves {MAX_CONNECTIONS} connections, or {MAX_CONNECTIONS_PER_CLIENT} \
             of this client's process (the connection is closed); or, for requests that query \
             guest memory (placement, metrics, heat, topology, the heat and auto-balance \
             switches), the VMM's queue of such requests is full"
        ))
    });
}

/// The full document, as the server serves it.
pub fn document() -> OpenApi {
    let mut doc = crate::server::routes::api_routes().split_for_parts().1;
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_limit_statuses(operation);
        }
    }
    doc
}

/// The document as pretty JSON with a trailing newline (the form committed).
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut text = document().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
