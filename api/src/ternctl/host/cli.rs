//! `ternctl host [--dir DIR] [--timeout S] [--watch [S]]` and `ternctl host balance [--once |
//! --interval S] [--max-mib-per-s N] [--dry-run]`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::discover::DEFAULT_DIR;

/// Every Tern whose API socket is in a directory.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct HostArgs {
    /// The directory holding the VMs' API sockets.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR, global = true)]
    pub dir: PathBuf,
    /// How long each VM may take to answer, in seconds.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = positive_seconds, global = true)]
    pub timeout: f64,
    /// Show the host again every S seconds until interrupted.
    #[arg(long, value_name = "S", num_args = 0..=1, default_missing_value = "2",
          value_parser = positive_seconds)]
    pub watch: Option<f64>,
    /// Balance the host instead of showing it.
    #[command(subcommand)]
    pub action: Option<HostAction>,
}

/// What `ternctl host` does besides showing the host.
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum HostAction {
    /// Move guest memory across VMs so each guest node's memory sits with its vCPUs where
    /// it fits, one move at a time, under one rate limit.
    Balance(BalanceArgs),
}

/// `ternctl host balance`.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct BalanceArgs {
    /// One pass, then exit.
    #[arg(long)]
    pub once: bool,
    /// Seconds between passes.
    #[arg(long, value_name = "S", default_value_t = 5.0, value_parser = positive_seconds,
          conflicts_with = "once")]
    pub interval: f64,
    /// The rate limit of every move it starts (one at a time, so the host's), in MiB/s.
    #[arg(long, value_name = "N", default_value_t = 256.0, value_parser = positive_rate)]
    pub max_mib_per_s: f64,
    /// Print the plan; move and pin nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A number of seconds: positive and finite.
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.01 => Ok(s),
        _ => Err(format!(
            "'{text}' is not a number of seconds (at least 0.01)"
        )),
    }
}

/// A rate in MiB/s: at least one 4 KiB page per second.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 1.0 / 256.0 => Ok(r),
        _ => Err(format!(
            "'{text}' is not a rate in MiB/s (at least 1/256, one 4 KiB page per second)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ternctl::cli::{one_line, Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<HostArgs, String> {
        let cli = Cli::try_parse_from(std::iter::once("ternctl").chain(args.iter().copied()))
            .map_err(|e| one_line(&e))?;
        match cli.command {
            Command::Host(args) => Ok(args),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn the_view_and_balance_take_their_flags_anywhere() {
        let view = parse(&["host"]).unwrap();
        assert_eq!(
            (view.dir, view.timeout, view.watch, view.action),
            (PathBuf::from("/run/tern"), 5.0, None, None)
        );
        assert_eq!(parse(&["host", "--watch"]).unwrap().watch, Some(2.0));
        assert_eq!(parse(&["host", "--watch", "0.5"]).unwrap().watch, Some(0.5));
        let balance = parse(&["host", "--dir", "/d", "balance", "--once", "--dry-run"]).unwrap();
        assert_eq!(balance.dir, PathBuf::from("/d"));
        assert_eq!(
            balance.action,
            Some(HostAction::Balance(BalanceArgs {
                once: true,
                interval: 5.0,
                max_mib_per_s: 256.0,
                dry_run: true
            }))
        );
        let balance = parse(&[
            "host",
            "balance",
            "--dir",
            "/e",
            "--interval",
            "2",
            "--max-mib-per-s",
            "64",
            "--timeout",
            "1",
        ])
        .unwrap();
        assert_eq!((balance.dir, balance.timeout), (PathBuf::from("/e"), 1.0));
        let Some(HostAction::Balance(b)) = balance.action else {
            panic!()
        };
        assert_eq!((b.interval, b.max_mib_per_s, b.once), (2.0, 64.0, false));
    }

    #[test]
    fn bad_numbers_and_once_with_an_interval_are_refused_in_one_sentence() {
        for (args, says) in [
            (
                &["host", "--timeout", "0"][..],
                "is not a number of seconds",
            ),
            (&["host", "--watch", "x"], "is not a number of seconds"),
            (
                &["host", "balance", "--max-mib-per-s", "0"],
                "is not a rate in MiB/s",
            ),
            (
                &["host", "balance", "--once", "--interval", "3"],
                "cannot be used with",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
