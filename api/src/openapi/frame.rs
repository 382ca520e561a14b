//! The OpenAPI document's frame: title, version and the description every client reads
//! first. The routes add the paths (see the parent module).

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
                     Errors are {\"error\": \"<sentence>\"} with 400, 404, 405, 408, 409, 413, 414, \
                     431, 500 or 503. Before any route, a request that is not HTTP/1.1 gets 400, a \
                     URI that is too long 414 and a head over 16 KiB 431, each closing the \
                     connection; every operation may get 408 and 503 (see their descriptions).",
                ))
                .build(),
        )
        .build()
}
