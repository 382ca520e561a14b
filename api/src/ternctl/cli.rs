//! The `ternctl` command line (clap derive) and the socket it talks to.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};

use super::cli_balance::BalanceCommand;
use super::host::cli::HostArgs;
use super::idlist::parse_id_list;

/// The environment variable naming the API socket when `--sock` is not given.
pub const SOCK_ENV: &str = "TERN_API_SOCK";

/// ternctl: inspect and steer a running tern through its REST API.
#[derive(Debug, Parser)]
#[command(name = "ternctl", version)]
pub struct Cli {
    /// The API socket (tern --api-sock) [default: $TERN_API_SOCK]; `host` uses --dir instead.
    #[arg(long, value_name = "PATH", global = true)]
    pub sock: Option<PathBuf>,
    /// Print the server's answer as JSON (metrics as text), nothing else.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A ternctl command.
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum Command {
    /// The VM: state, vCPUs, memory, uptime and guest nodes.
    Vm,
    /// Host NUMA nodes and guest nodes with their memory regions.
    Topology,
    /// On which host nodes each guest node's memory sits, and where each vCPU runs.
    Placement,
    /// The vCPUs: threads, host CPUs, affinity and exits.
    Vcpus,
    /// Pin a vCPU's thread to host CPUs or to every CPU of a host node.
    #[command(override_usage = "ternctl pin <VCPU> (--cpus <LIST> | --node <N>)")]
    Pin {
        /// The vCPU.
        vcpu: u32,
        /// Where it may run.
        #[command(flatten)]
        target: PinTarget,
    },
    /// Hold every vCPU outside the guest.
    Pause,
    /// Let the vCPUs run again.
    Resume,
    /// Stop the VM (tern exits 0).
    Shutdown,
    /// Metrics in Prometheus text format.
    Metrics,
    /// Rebalances, heat and automatic balancing.
    #[command(flatten)]
    Balance(BalanceCommand),
    /// Every Tern whose API socket is in a directory: host nodes, each VM's memory and vCPUs
    /// per node; `host balance` balances memory across them.
    Host(HostArgs),
}

/// Where `pin` puts a vCPU: exactly one of host CPUs or a host node.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
#[group(required = true, multiple = false)]
pub struct PinTarget {
    /// Host CPUs, like 0-3,6.
    #[arg(long, value_name = "LIST", value_parser = parse_id_list)]
    pub cpus: Option<CpuList>,
    /// Every CPU of this host node.
    #[arg(long, value_name = "N")]
    pub node: Option<u32>,
}

/// Host CPU numbers from the command line, sorted and unique. (An alias on purpose: written
/// as `Option<Vec<u32>>`, clap's derive would take one number per value instead of a list.)
pub type CpuList = Vec<u32>;

/// The socket to use: `--sock`, else `$TERN_API_SOCK` (`env`) when set and not empty.
pub fn socket_path(flag: Option<PathBuf>, env: Option<OsString>) -> Option<PathBuf> {
    flag.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// The sentence for a missing socket.
pub fn no_socket_message() -> String {
    format!("no API socket given: use --sock PATH or set {SOCK_ENV}")
}

/// A clap error as one sentence: its message without the usage block and the help hint; no
/// command at all names the commands.
pub fn one_line(err: &clap::Error) -> String {
    if matches!(
        err.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let commands: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .filter(|name| name != "help")
            .collect();
        return format!("no command given: use one of {}", commands.join(", "));
    }
    crate::cli_error::one_line(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ternctl").chain(args.iter().copied()))
    }

    fn error(args: &[&str]) -> String {
        one_line(&parse(args).unwrap_err())
    }

    #[test]
    fn commands_and_global_flags_parse_in_any_order() {
        let cli = parse(&["--sock", "/s", "--json", "vm"]).unwrap();
        assert_eq!(
            (cli.sock, cli.json, cli.command),
            (Some("/s".into()), true, Command::Vm)
        );
        let cli = parse(&["placement", "--json"]).unwrap();
        assert_eq!(
            (cli.sock, cli.json, cli.command),
            (None, true, Command::Placement)
        );
    }

    #[test]
    fn pin_takes_a_cpu_list_or_a_node() {
        let pin = |args: &[&str]| parse(args).unwrap().command;
        assert_eq!(
            pin(&["pin", "1", "--cpus", "0-1,3"]),
            Command::Pin {
                vcpu: 1,
                target: PinTarget {
                    cpus: Some(vec![0, 1, 3]),
                    node: None
                }
            }
        );
        assert_eq!(
            pin(&["pin", "0", "--node", "1"]),
            Command::Pin {
                vcpu: 0,
                target: PinTarget {
                    cpus: None,
                    node: Some(1)
                }
            }
        );
    }

    #[test]
    fn bad_usage_is_one_sentence() {
        let both = error(&["pin", "1", "--cpus", "0", "--node", "1"]);
        assert!(both.contains("cannot be used with"), "{both}");
        let neither = error(&["pin", "1"]);
        assert!(
            neither.contains("required arguments were not provided"),
            "{neither}"
        );
        let list = error(&["pin", "1", "--cpus", "3-1"]);
        assert!(
            list.contains("the range 3-1 ends before it starts"),
            "{list}"
        );
        let none = error(&[]);
        assert_eq!(
            none,
            "no command given: use one of vm, topology, placement, vcpus, pin, pause, resume, \
             shutdown, metrics, rebalance, wait, cancel, status, heat, auto, host"
        );
        assert_eq!(error(&["--json"]), none);
        let unknown = error(&["reboot"]);
        assert!(
            unknown.contains("unrecognized subcommand 'reboot'"),
            "{unknown}"
        );
        for message in [both, neither, list, none, unknown] {
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn the_socket_comes_from_the_flag_then_the_environment() {
        let env = |s: &str| Some(OsString::from(s));
        assert_eq!(socket_path(Some("/a".into()), env("/b")), Some("/a".into()));
        assert_eq!(socket_path(None, env("/b")), Some("/b".into()));
        assert_eq!(socket_path(None, env("")), None);
        assert_eq!(socket_path(None, None), None);
    }
}
