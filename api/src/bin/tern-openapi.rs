//! Prints Tern's OpenAPI document (the committed `api/openapi.json` is this output).

use std::process::ExitCode;

fn main() -> ExitCode {
    match api::openapi::document_json() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("tern-openapi: {err}");
            ExitCode::FAILURE
        }
    }
}
