//! What each command asks of the API, and how its answer becomes ternctl's output.

use serde::de::DeserializeOwned;
use serde_json::json;

use super::call::{pretty_json, send, ApiCall, Finished};
use super::cli::{Command, PinTarget};
use super::commands_balance;
use super::error::CtlError;
use super::follow;
use super::render;
use crate::client::Client;
use crate::model::{Action, PlacementInfo, TopologyInfo, VcpuInfo, VmInfo};

fn action_call(action: Action) -> ApiCall {
    ApiCall::put("/v1/actions", json!({ "action": action }))
}

/// The request behind `command` (bodies as in `AffinityRequest` and `ActionRequest`); none
/// for `host`, which asks many sockets (`super::host`).
pub fn api_call(command: &Command) -> Option<ApiCall> {
    Some(match command {
        Command::Vm => ApiCall::get("/v1/vm"),
        Command::Topology => ApiCall::get("/v1/topology"),
        Command::Placement => ApiCall::get("/v1/placement"),
        Command::Vcpus => ApiCall::get("/v1/vcpus"),
        Command::Metrics => ApiCall::get("/metrics"),
        Command::Pin { vcpu, target } => {
            let path = format!("/v1/vcpus/{vcpu}/affinity");
            match target {
                PinTarget {
                    cpus: Some(cpus), ..
                } => ApiCall::put(&path, json!({ "cpus": cpus })),
                PinTarget { node, .. } => ApiCall::put(&path, json!({ "host_node": node })),
            }
        }
        Command::Pause => action_call(Action::Pause),
        Command::Resume => action_call(Action::Resume),
        Command::Shutdown => action_call(Action::Shutdown),
        Command::Balance(command) => commands_balance::api_call(command),
        Command::Host(_) => return None,
    })
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(body)
}

/// The human-readable output for `command`'s successful answer `body`.
pub fn render_answer(command: &Command, body: &str) -> Result<String, serde_json::Error> {
    Ok(match command {
        Command::Vm => render::vm::render_vm(&parse::<VmInfo>(body)?),
        Command::Topology => render::topology::render_topology(&parse::<TopologyInfo>(body)?),
        Command::Placement => render::placement::render_placement(&parse::<PlacementInfo>(body)?),
        Command::Vcpus => render::vcpus::render_vcpus(&parse::<Vec<VcpuInfo>>(body)?),
        Command::Pin { target, .. } => {
            render::vcpus::render_pinned(&parse::<VcpuInfo>(body)?, target.node)
        }
        Command::Pause => render::vm::render_action_done(Action::Pause, &parse(body)?),
        Command::Resume => render::vm::render_action_done(Action::Resume, &parse(body)?),
        Command::Shutdown => render::vm::render_action_done(Action::Shutdown, &parse(body)?),
        Command::Metrics => body.to_string(),
        Command::Balance(command) => commands_balance::render_answer(command, body)?,
        Command::Host(_) => body.to_string(),
    })
}

/// Runs `command` against the API: its output (`json`: the body as the server sent it, JSON
/// pretty-printed), or why it failed. A rebalance followed to its end fails if it does.
pub fn run(client: &Client, command: &Command, json: bool) -> Result<Finished, CtlError> {
    if let Some(following) = follow::following(command) {
        return follow::follow(client, following, json);
    }
    let Some(call) = api_call(command) else {
        return Err(CtlError::Refused(
            "ternctl host asks the sockets of a directory, not one API".into(),
        ));
    };
    let body = send(client, &call)?;
    let output = match (json, command) {
        (_, Command::Metrics) => body,
        (true, _) => pretty_json(&body),
        (false, _) => render_answer(command, &body).map_err(|source| CtlError::UnexpectedBody {
            request: call.describe(),
            source,
        })?,
    };
    Ok(Finished::success(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionRequest, AffinityRequest};

    fn pin(cpus: Option<Vec<u32>>, node: Option<u32>) -> Command {
        Command::Pin {
            vcpu: 1,
            target: PinTarget { cpus, node },
        }
    }

    #[test]
    fn reads_are_gets_of_their_paths() {
        let paths = [
            (Command::Vm, "/v1/vm"),
            (Command::Topology, "/v1/topology"),
            (Command::Placement, "/v1/placement"),
            (Command::Vcpus, "/v1/vcpus"),
            (Command::Metrics, "/metrics"),
        ];
        for (command, path) in paths {
            assert_eq!(api_call(&command), Some(ApiCall::get(path)));
        }
    }

    #[test]
    fn pin_bodies_are_affinity_requests() {
        let call = api_call(&pin(Some(vec![0, 1, 3]), None)).unwrap();
        assert_eq!(call.describe(), "PUT /v1/vcpus/1/affinity");
        let body: AffinityRequest = serde_json::from_value(call.body.unwrap()).unwrap();
        assert_eq!((body.cpus, body.host_node), (Some(vec![0, 1, 3]), None));
        let call = api_call(&pin(None, Some(1))).unwrap();
        let body: AffinityRequest = serde_json::from_value(call.body.unwrap()).unwrap();
        assert_eq!((body.cpus, body.host_node), (None, Some(1)));
    }

    #[test]
    fn actions_are_action_requests() {
        let cases = [
            (Command::Pause, Action::Pause),
            (Command::Resume, Action::Resume),
            (Command::Shutdown, Action::Shutdown),
        ];
        for (command, action) in cases {
            let call = api_call(&command).unwrap();
            assert_eq!(call.describe(), "PUT /v1/actions");
            let body: ActionRequest = serde_json::from_value(call.body.unwrap()).unwrap();
            assert_eq!(body.action, action);
        }
    }

    #[test]
    fn json_is_indented_with_the_keys_in_the_servers_order() {
        let text =
            r#"{"state":"running","vcpus":2,"empty":[],"nodes":[{"id":0,"x":null}],"o":{ }}"#;
        assert_eq!(
            pretty_json(text),
            "{\n  \"state\": \"running\",\n  \"vcpus\": 2,\n  \"empty\": [],\n  \"nodes\": [\n    {\n      \"id\": 0,\n      \"x\": null\n    }\n  ],\n  \"o\": {}\n}\n"
        );
        let text = r#"{"error":"a, b: {c} [d] \"e\" \\"}"#;
        assert_eq!(
            pretty_json(text),
            "{\n  \"error\": \"a, b: {c} [d] \\\"e\\\" \\\\\"\n}\n"
        );
        assert_eq!(pretty_json("tern_vcpus 1\n"), "tern_vcpus 1\n");
    }

    #[test]
    fn numbers_the_server_writes_come_back_as_written() {
        // The server writes its numbers with serde_json: u64, i64 and shortest round-trip
        // f64s, which read back into the same value and so print the same.
        let numbers = serde_json::json!([
            0.8333333333333334,
            12.46,
            1e-7,
            1.7976931348623157e308,
            5e-324,
            u64::MAX,
            i64::MIN,
            0.0,
            -0.0,
            2000
        ]);
        let text = serde_json::to_string(&numbers).unwrap();
        let pretty = pretty_json(&text);
        let written: Vec<&str> = text.trim_matches(['[', ']']).split(',').collect();
        let printed: Vec<&str> = pretty
            .lines()
            .filter(|l| !l.starts_with(['[', ']']))
            .map(|l| l.trim().trim_end_matches(','))
            .collect();
        assert_eq!(printed, written);
        assert_eq!(written[0], "0.8333333333333334");
        assert_eq!(written[5], u64::MAX.to_string());
    }

    #[test]
    fn answers_that_do_not_fit_the_model_are_errors() {
        assert!(render_answer(&Command::Vm, r#"{"state":"asleep"}"#).is_err());
        assert!(render_answer(&Command::Vcpus, "{}").is_err());
        assert_eq!(render_answer(&Command::Metrics, "m 1\n").unwrap(), "m 1\n");
    }
}
