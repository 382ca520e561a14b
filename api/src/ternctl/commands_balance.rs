//! What the balancing commands ask of the API and how their answers read. (`rebalance`
//! without `--no-wait` and `wait` follow the rebalance: [`super::follow`].)

use serde::de::DeserializeOwned;
use serde_json::json;

use super::call::ApiCall;
use super::cli_balance::{AutoSwitch, BalanceCommand, HeatArgs, RebalanceArgs};
use super::render::{auto_balance, heat, rebalance};
use crate::model::{AutoBalanceRequest, HeatRequest, RebalanceRequest};

/// The body of `POST /v1/rebalance` for `ternctl rebalance`.
pub fn rebalance_request(args: &RebalanceArgs) -> RebalanceRequest {
    RebalanceRequest {
        policy: Some(args.policy.into()),
        host_node: args.node,
        host_nodes: args.nodes.clone(),
        guest_node: args.guest_node,
        max_mib_per_s: args.max_mib_per_s,
        budget_mib: args.budget_mib,
        method: args.method.map(Into::into),
        workers: args.workers,
        batch_pages: args.batch_pages,
        origin: None,
        mode: args.mode.map(Into::into),
        sweep_after_s: args.sweep_after_s,
        pace: args.pace.map(Into::into),
    }
}

/// The path of rebalance `id`, percent-encoded as one path segment.
pub fn rebalance_path(id: &str) -> String {
    let mut path = String::from("/v1/rebalance/");
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || byte == b'~' {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

/// `POST /v1/rebalance` for `ternctl rebalance`.
pub fn start_call(args: &RebalanceArgs) -> ApiCall {
    ApiCall::post("/v1/rebalance", json!(rebalance_request(args)))
}

/// The request behind a balancing command (bodies as the model's request types).
pub fn api_call(command: &BalanceCommand) -> ApiCall {
    let heat = |enabled, interval_ms| {
        ApiCall::put(
            "/v1/heat",
            json!(HeatRequest {
                enabled,
                interval_ms
            }),
        )
    };
    let auto = |enabled, interval_ms, max_mib_per_s| {
        let body = AutoBalanceRequest {
            enabled,
            interval_ms,
            max_mib_per_s,
        };
        ApiCall::put("/v1/auto-balance", json!(body))
    };
    match command {
        BalanceCommand::Rebalance(args) => start_call(args),
        BalanceCommand::Wait { id } | BalanceCommand::Status { id } => {
            ApiCall::get(&rebalance_path(id))
        }
        BalanceCommand::Cancel { id } => ApiCall::delete(&rebalance_path(id)),
        BalanceCommand::Heat(HeatArgs {
            enable: true,
            interval_ms,
            ..
        }) => heat(true, *interval_ms),
        BalanceCommand::Heat(HeatArgs { disable: true, .. }) => heat(false, None),
        BalanceCommand::Heat(_) => ApiCall::get("/v1/heat"),
        BalanceCommand::Auto { switch: None } => ApiCall::get("/v1/auto-balance"),
        BalanceCommand::Auto {
            switch:
                Some(AutoSwitch::On {
                    interval_ms,
                    max_mib_per_s,
                }),
        } => auto(true, *interval_ms, *max_mib_per_s),
        BalanceCommand::Auto {
            switch: Some(AutoSwitch::Off),
        } => auto(false, None, None),
    }
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(body)
}

/// The human-readable output for a balancing command's successful answer `body`.
pub fn render_answer(command: &BalanceCommand, body: &str) -> Result<String, serde_json::Error> {
    Ok(match command {
        BalanceCommand::Rebalance(_) => rebalance::render_started(&parse(body)?),
        BalanceCommand::Wait { .. }
        | BalanceCommand::Status { .. }
        | BalanceCommand::Cancel { .. } => rebalance::render_status(&parse(body)?),
        BalanceCommand::Heat(_) => heat::render_heat(&parse(body)?),
        BalanceCommand::Auto { .. } => auto_balance::render_auto_balance(&parse(body)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MoveMethod, RebalancePolicy};
    use crate::ternctl::cli::{Cli, Command};
    use clap::Parser;

    fn command(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("ternctl").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    fn call(args: &[&str]) -> ApiCall {
        super::super::commands::api_call(&command(args)).unwrap()
    }

    #[test]
    fn rebalance_posts_a_rebalance_request_with_only_the_options_given() {
        let post = call(&["rebalance", "--policy", "to-node", "--node", "1"]);
        assert_eq!(post.describe(), "POST /v1/rebalance");
        assert_eq!(
            post.body.clone().unwrap().to_string(),
            r#"{"policy":"to-node","host_node":1}"#
        );
        let post = call(&[
            "rebalance",
            "--policy",
            "hot-first",
            "--nodes",
            "0-1",
            "--budget-mib",
            "512",
            "--method",
            "mbind",
            "--workers",
            "4",
            "--batch-pages",
            "128",
            "--guest-node",
            "1",
            "--max-mib-per-s",
            "99.5",
        ]);
        let body: RebalanceRequest = serde_json::from_value(post.body.unwrap()).unwrap();
        assert_eq!(body.policy, Some(RebalancePolicy::HotFirst));
        assert_eq!(body.host_nodes, Some(vec![0, 1]));
        assert_eq!(
            (body.budget_mib, body.method),
            (Some(512), Some(MoveMethod::Mbind))
        );
        assert_eq!((body.workers, body.batch_pages), (Some(4), Some(128)));
        assert_eq!((body.guest_node, body.max_mib_per_s), (Some(1), Some(99.5)));
    }

    #[test]
    fn ids_heat_and_auto_have_their_calls() {
        let cases: [(&[&str], &str, Option<&str>); 9] = [
            (&["status", "rb-1"], "GET /v1/rebalance/rb-1", None),
            (&["wait", "rb-1"], "GET /v1/rebalance/rb-1", None),
            (
                &["cancel", "rb 1/x"],
                "DELETE /v1/rebalance/rb%201%2Fx",
                None,
            ),
            (&["heat"], "GET /v1/heat", None),
            (
                &["heat", "--disable"],
                "PUT /v1/heat",
                Some(r#"{"enabled":false}"#),
            ),
            (
                &["heat", "--enable", "--interval-ms", "250"],
                "PUT /v1/heat",
                Some(r#"{"enabled":true,"interval_ms":250}"#),
            ),
            (&["auto"], "GET /v1/auto-balance", None),
            (
                &["auto", "off"],
                "PUT /v1/auto-balance",
                Some(r#"{"enabled":false}"#),
            ),
            (
                &[
                    "auto",
                    "on",
                    "--interval-ms",
                    "500",
                    "--max-mib-per-s",
                    "64",
                ],
                "PUT /v1/auto-balance",
                Some(r#"{"enabled":true,"interval_ms":500,"max_mib_per_s":64.0}"#),
            ),
        ];
        for (args, want, body) in cases {
            let call = call(args);
            assert_eq!(call.describe(), want, "{args:?}");
            assert_eq!(
                call.body.map(|b| b.to_string()).as_deref(),
                body,
                "{args:?}"
            );
        }
    }

    #[test]
    fn answers_render_by_command() {
        let text = render_answer(
            &BalanceCommand::Rebalance(args_of(&["rebalance", "--policy", "to-node"])),
            r#"{"id":"rb-3"}"#,
        );
        assert_eq!(text.unwrap(), "rebalance rb-3 started\n");
        assert!(render_answer(&BalanceCommand::Status { id: "x".into() }, "{}").is_err());
    }

    fn args_of(args: &[&str]) -> RebalanceArgs {
        match command(args) {
            Command::Balance(BalanceCommand::Rebalance(a)) => a,
            other => panic!("not a rebalance: {other:?}"),
        }
    }
}
