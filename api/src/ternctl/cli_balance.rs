//! The balancing commands of the `ternctl` command line: `rebalance`, `wait`, `cancel`,
//! `status`, `heat` and `auto`.

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Subcommand, ValueEnum};

use super::idlist::parse_id_list;
use crate::model::{MoveMethod, RebalanceMode, RebalancePace, RebalancePolicy};

/// A balancing command.
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum BalanceCommand {
    /// Move the VM's memory between host nodes while it runs, and follow it to the end.
    #[command(
        override_usage = "ternctl rebalance --policy <POLICY> [--node <N> | --nodes <LIST>] [OPTIONS]"
    )]
    Rebalance(RebalanceArgs),
    /// Follow a rebalance until it ends (exit 1 if it fails or is cancelled).
    Wait {
        /// The rebalance, as `ternctl rebalance` named it.
        #[arg(value_parser = NonEmptyStringValueParser::new())]
        id: String,
    },
    /// Ask a running rebalance to stop (what moved stays moved); prints its status.
    Cancel {
        /// The rebalance.
        #[arg(value_parser = NonEmptyStringValueParser::new())]
        id: String,
    },
    /// A rebalance's status, once.
    Status {
        /// The rebalance.
        #[arg(value_parser = NonEmptyStringValueParser::new())]
        id: String,
    },
    /// Write heat per guest node (KVM dirty logging), or turn sampling on or off.
    #[command(override_usage = "ternctl heat [--enable [--interval-ms <N>] | --disable]")]
    Heat(HeatArgs),
    /// Automatic balancing (memory follows vCPUs), or turn it on or off.
    #[command(
        override_usage = "ternctl auto [on [--interval-ms <N>] [--max-mib-per-s <R>] | off]",
        disable_help_subcommand = true
    )]
    Auto {
        /// Without one, show its state.
        #[command(subcommand)]
        switch: Option<AutoSwitch>,
    },
}

/// Which plan a rebalance follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// All memory (of --guest-node, or of the VM) to host node --node.
    ToNode,
    /// Each guest node's memory to the host node where most of its vCPUs run.
    FollowVcpus,
    /// Hottest chunks first, to --node, over --nodes, or following the vCPUs; with
    /// --budget-mib only the hottest that fit.
    HotFirst,
    /// Spread chunk by chunk over the host nodes --nodes.
    Interleave,
}

impl From<PolicyArg> for RebalancePolicy {
    fn from(policy: PolicyArg) -> Self {
        match policy {
            PolicyArg::ToNode => Self::ToNode,
            PolicyArg::FollowVcpus => Self::FollowVcpus,
            PolicyArg::HotFirst => Self::HotFirst,
            PolicyArg::Interleave => Self::Interleave,
        }
    }
}

/// How pages are moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// move_pages(2) in batches.
    MovePages,
    /// mbind(2) with MPOL_MF_MOVE over whole ranges.
    Mbind,
}

impl From<MethodArg> for MoveMethod {
    fn from(method: MethodArg) -> Self {
        match method {
            MethodArg::MovePages => Self::MovePages,
            MethodArg::Mbind => Self::Mbind,
        }
    }
}

/// How a rebalance moves pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Move every page while the guest runs.
    Live,
    /// Pause the vCPUs, move every page, resume.
    Paused,
    /// Bind with migrate-on-touch: pages follow the vCPUs that touch them.
    Lazy,
}

impl From<ModeArg> for RebalanceMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Live => Self::Live,
            ModeArg::Paused => Self::Paused,
            ModeArg::Lazy => Self::Lazy,
        }
    }
}

/// How a rebalance's speed is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PaceArg {
    /// As fast as it can, or at --max-mib-per-s.
    Fixed,
    /// As fast as keeps the vCPUs' lost time (waiting for a CPU, in the host kernel) at most 7% more than before the move.
    Guest,
}

impl From<PaceArg> for RebalancePace {
    fn from(pace: PaceArg) -> Self {
        match pace {
            PaceArg::Fixed => Self::Fixed,
            PaceArg::Guest => Self::Guest,
        }
    }
}

/// Host node numbers from the command line (an alias for clap's sake, as `CpuList`).
pub type NodeList = Vec<u32>;

/// `ternctl rebalance`: the request's fields, and whether to wait for the end.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct RebalanceArgs {
    /// The plan.
    #[arg(long, value_enum)]
    pub policy: PolicyArg,
    /// Target host node (to-node, hot-first).
    #[arg(long, value_name = "N", conflicts_with = "nodes")]
    pub node: Option<u32>,
    /// Target host nodes, like 0-1,3 (interleave, hot-first).
    #[arg(long, value_name = "LIST", value_parser = parse_id_list)]
    pub nodes: Option<NodeList>,
    /// Only this guest node's memory [default: all].
    #[arg(long, value_name = "G")]
    pub guest_node: Option<u32>,
    /// Rate limit in MiB/s [default: none].
    #[arg(long, value_name = "R")]
    pub max_mib_per_s: Option<f64>,
    /// With hot-first: move at most this many MiB, hottest first.
    #[arg(long, value_name = "B")]
    pub budget_mib: Option<u64>,
    /// How pages are moved [default: move-pages].
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// move_pages worker threads [default: 1].
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,
    /// Pages per move_pages call [default: 512].
    #[arg(long, value_name = "N")]
    pub batch_pages: Option<u32>,
    /// How pages move [default: live].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// With --mode lazy: move what is left live after S seconds.
    #[arg(long, value_name = "S")]
    pub sweep_after_s: Option<u64>,
    /// How the speed is chosen [default: fixed].
    #[arg(long, value_enum)]
    pub pace: Option<PaceArg>,
    /// Print the rebalance's id and return at once.
    #[arg(long)]
    pub no_wait: bool,
}

/// `ternctl heat`: read the heat, or turn sampling on or off.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct HeatArgs {
    /// Turn sampling on.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// With --enable: observe for N milliseconds at a time, every N or, when shorter, every second [default: 1000].
    #[arg(long, value_name = "N", requires = "enable")]
    pub interval_ms: Option<u64>,
    /// Turn sampling off.
    #[arg(long)]
    pub disable: bool,
}

/// `ternctl auto on|off`.
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum AutoSwitch {
    /// Turn automatic balancing on.
    On {
        /// Look at vCPU placement every N milliseconds [default: 2000].
        #[arg(long, value_name = "N")]
        interval_ms: Option<u64>,
        /// Rate limit of its moves in MiB/s [default: 256].
        #[arg(long, value_name = "R")]
        max_mib_per_s: Option<f64>,
    },
    /// Turn automatic balancing off.
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ternctl::cli::{one_line, Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<BalanceCommand, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("ternctl").chain(args.iter().copied()))?;
        match cli.command {
            Command::Balance(command) => Ok(command),
            other => panic!("not a balancing command: {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        one_line(&parse(args).unwrap_err())
    }

    #[test]
    fn rebalance_takes_a_policy_and_its_options() {
        let BalanceCommand::Rebalance(args) = parse(&[
            "rebalance",
            "--policy",
            "interleave",
            "--nodes",
            "1,0",
            "--guest-node",
            "1",
            "--max-mib-per-s",
            "200.5",
            "--method",
            "move-pages",
            "--workers",
            "2",
            "--batch-pages",
            "64",
            "--no-wait",
        ])
        .unwrap() else {
            panic!("not a rebalance")
        };
        assert_eq!(args.policy, PolicyArg::Interleave);
        assert_eq!(args.nodes, Some(vec![0, 1]));
        assert_eq!(
            (args.guest_node, args.max_mib_per_s),
            (Some(1), Some(200.5))
        );
        assert_eq!(args.method, Some(MethodArg::MovePages));
        assert_eq!((args.workers, args.batch_pages), (Some(2), Some(64)));
        assert!(args.no_wait);
        let minimal = parse(&["rebalance", "--policy", "follow-vcpus"]).unwrap();
        assert!(matches!(minimal, BalanceCommand::Rebalance(a) if !a.no_wait && a.node.is_none()));
    }

    #[test]
    fn ids_heat_and_auto_parse() {
        assert_eq!(
            parse(&["wait", "rb-1"]).unwrap(),
            BalanceCommand::Wait { id: "rb-1".into() }
        );
        let heat = |args: &[&str]| parse(args).unwrap();
        assert_eq!(
            heat(&["heat", "--enable", "--interval-ms", "250"]),
            BalanceCommand::Heat(HeatArgs {
                enable: true,
                interval_ms: Some(250),
                disable: false
            })
        );
        assert_eq!(
            heat(&["auto", "on", "--max-mib-per-s", "64"]),
            BalanceCommand::Auto {
                switch: Some(AutoSwitch::On {
                    interval_ms: None,
                    max_mib_per_s: Some(64.0)
                })
            }
        );
        assert_eq!(heat(&["auto"]), BalanceCommand::Auto { switch: None });
    }

    #[test]
    fn bad_balancing_usage_is_one_sentence() {
        let cases: [(&[&str], &str); 8] = [
            (&["rebalance"], "required arguments were not provided"),
            (
                &["rebalance", "--policy", "sideways"],
                "invalid value 'sideways' for '--policy <POLICY>'",
            ),
            (
                &[
                    "rebalance",
                    "--policy",
                    "to-node",
                    "--node",
                    "0",
                    "--nodes",
                    "1",
                ],
                "cannot be used with",
            ),
            (&["heat", "--enable", "--disable"], "cannot be used with"),
            (&["heat", "--interval-ms", "5"], "--enable"),
            (
                &["auto", "off", "--interval-ms", "5"],
                "unexpected argument",
            ),
            (&["wait"], "required arguments were not provided"),
            (
                &["status", ""],
                "a value is required for '<ID>' but none was supplied",
            ),
        ];
        for (args, want) in cases {
            let message = error(args);
            assert!(message.contains(want), "{args:?}: {message}");
            assert!(!message.contains('\n'), "{args:?}: {message}");
        }
    }
}
