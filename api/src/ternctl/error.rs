//! What can go wrong once the command line is understood; each reaches the user as
//! `ternctl: <sentence>` and exit status 1.

use crate::client::ClientError;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The socket could not be reached, or the exchange broke off.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server refused the request: its error sentence.
    #[error("{0}")]
    Refused(String),
    /// The server answered with a body ternctl cannot read.
    #[error("the answer to {request} is not what ternctl expects: {source}")]
    UnexpectedBody {
        /// `METHOD /path`.
        request: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
}
