//! Asking every VM on the host at once: each socket gets its own task and its own time limit,
//! so one that never answers costs the survey that limit and nothing more. Per VM it reads
//! `GET /v1/vm`, `/v1/topology`, `/v1/placement` and `/v1/auto-balance` concurrently. A
//! socket that refuses the connection, is not a Tern, answers with an error or not in time is
//! reported with the reason, never fatal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use crate::client::{exchange, ClientError};
use crate::model::{AutoBalanceInfo, PlacementInfo, TopologyInfo, VmInfo};

/// What one VM answered.
#[derive(Clone, Debug, PartialEq)]
pub struct VmAnswers {
    /// `GET /v1/vm`.
    pub vm: VmInfo,
    /// `GET /v1/topology`.
    pub topology: TopologyInfo,
    /// `GET /v1/placement`.
    pub placement: PlacementInfo,
    /// `GET /v1/auto-balance`.
    pub auto: AutoBalanceInfo,
}

/// One socket and what came of asking it.
#[derive(Clone, Debug, PartialEq)]
pub struct Surveyed {
    /// The API socket.
    pub socket: PathBuf,
    /// Its answers, or why there are none, as a sentence fragment ("does not answer within
    /// 5 s").
    pub outcome: Result<VmAnswers, String>,
}

/// Why a request failed, as a fragment following the socket's name.
fn failure(err: ClientError) -> String {
    match err {
        ClientError::Connect(_, e) => format!("refuses connections ({e})"),
        ClientError::Timeout(_, s) => format!("does not answer within {s} s"),
        ClientError::Http(e) => format!("does not speak Tern's API ({e})"),
        ClientError::Runtime(e) => format!("cannot be asked ({e})"),
    }
}

/// `GET path` on `socket`, read as `T`.
pub async fn get<T: DeserializeOwned>(socket: &Path, path: &str) -> Result<T, String> {
    let response = exchange(socket, "GET", path, None).await.map_err(failure)?;
    if !response.is_success() {
        return Err(format!(
            "answered GET {path} with {}: {}",
            response.status,
            response.error_sentence()
        ));
    }
    serde_json::from_str(&response.body)
        .map_err(|e| format!("is not a Tern: its answer to GET {path} does not read ({e})"))
}

async fn ask(socket: &Path) -> Result<VmAnswers, String> {
    let (vm, topology, placement, auto) = tokio::try_join!(
        get::<VmInfo>(socket, "/v1/vm"),
        get::<TopologyInfo>(socket, "/v1/topology"),
        get::<PlacementInfo>(socket, "/v1/placement"),
        get::<AutoBalanceInfo>(socket, "/v1/auto-balance"),
    )?;
    Ok(VmAnswers {
        vm,
        topology,
        placement,
        auto,
    })
}

/// `limit` as people read it: `5 s`, `0.5 s`.
fn seconds(limit: Duration) -> String {
    let s = limit.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// Asks every socket at once, each within `limit`; the answers come back in `sockets`' order.
pub async fn survey(sockets: &[PathBuf], limit: Duration) -> Vec<Surveyed> {
    let mut tasks = JoinSet::new();
    for (index, socket) in sockets.iter().cloned().enumerate() {
        tasks.spawn(async move {
            let outcome = match tokio::time::timeout(limit, ask(&socket)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("does not answer within {}", seconds(limit))),
            };
            (index, Surveyed { socket, outcome })
        });
    }
    let mut answers: Vec<Option<Surveyed>> = vec![None; sockets.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, surveyed)) = joined {
            if let Some(slot) = answers.get_mut(index) {
                *slot = Some(surveyed);
            }
        }
    }
    answers
        .into_iter()
        .zip(sockets)
        .map(|(answer, socket)| {
            answer.unwrap_or_else(|| Surveyed {
                socket: socket.clone(),
                outcome: Err("could not be asked (its task failed)".into()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_seconds() {
        assert_eq!(seconds(Duration::from_secs(5)), "5 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
    }
}
