//! The OpenAPI document: generated from the handlers, committed as `api/openapi.json`.

use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

/// The document's frame (title, version, description); the routes add the paths.
pub fn base_document() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Tern API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Inspect and control a Tern microVM over its Unix socket (tern --api-sock PATH). \
                     Errors are {\"error\": \"<sentence>\"} with 400, 404, 405, 409, 413 or 500.",
                ))
                .build(),
        )
        .build()
}

/// The full document, as the server serves it.
pub fn document() -> OpenApi {
    crate::server::routes::api_routes().split_for_parts().1
}

/// The document as pretty JSON with a trailing newline (the form committed).
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut text = document().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
