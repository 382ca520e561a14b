//! Command-line parsing, by hand (std only).

use std::fmt;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Memory to allocate and check, in MiB.
    pub mib: usize,
    /// Stop after this many seconds (checked at the end of each pass).
    pub seconds: Option<u64>,
    /// Stop after this many verify-and-rewrite passes.
    pub passes: Option<u64>,
    /// Pin the process to this CPU.
    pub cpu: Option<usize>,
    /// Print no heartbeat lines, only errors and the final line.
    pub quiet: bool,
}

/// Why the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// `--help` was given.
    Help,
    /// An option that takes a value came last.
    MissingValue(String),
    /// An option's value is not a number, or is out of range.
    BadValue(String, String),
    /// An argument that is no known option.
    Unknown(String),
    /// `--mib` was not given.
    NoMib,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Help => write!(f, "help requested"),
            ArgError::MissingValue(opt) => write!(f, "option {opt} needs a value"),
            ArgError::BadValue(opt, v) => write!(f, "option {opt} got {v:?}, not a usable number"),
            ArgError::Unknown(arg) => write!(f, "unknown argument {arg:?}"),
            ArgError::NoMib => write!(f, "--mib N is required"),
        }
    }
}

/// The usage text printed for `--help` and after an argument error.
pub const USAGE: &str =
    "usage: tern-workload --mib N [--seconds S | --passes P] [--cpu C] [--quiet]\n\
Fills N MiB with a pattern, then verifies and rewrites it once per pass.\n\
  Without --seconds or --passes it runs until SIGTERM or SIGINT.\n\
  Exit status 0 iff no word was ever found wrong.";

fn number<T: std::str::FromStr>(opt: &str, value: Option<String>) -> Result<T, ArgError> {
    let value = value.ok_or_else(|| ArgError::MissingValue(opt.to_string()))?;
    value
        .parse()
        .map_err(|_| ArgError::BadValue(opt.to_string(), value))
}

/// Parses the arguments that follow the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Args, ArgError> {
    let mut it = args.into_iter();
    let mut mib = None;
    let mut parsed = Args {
        mib: 0,
        seconds: None,
        passes: None,
        cpu: None,
        quiet: false,
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--mib" => mib = Some(number::<usize>(&arg, it.next())?),
            "--seconds" => parsed.seconds = Some(number(&arg, it.next())?),
            "--passes" => parsed.passes = Some(number(&arg, it.next())?),
            "--cpu" => parsed.cpu = Some(number(&arg, it.next())?),
            "--quiet" | "-q" => parsed.quiet = true,
            "--help" | "-h" => return Err(ArgError::Help),
            _ => return Err(ArgError::Unknown(arg)),
        }
    }
    match mib {
        Some(0) => Err(ArgError::BadValue("--mib".into(), "0".into())),
        Some(m) if m > (1 << 30) => Err(ArgError::BadValue("--mib".into(), m.to_string())),
        Some(m) => Ok(Args { mib: m, ..parsed }),
        None => Err(ArgError::NoMib),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, ArgError> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn full_command_line() {
        let a = p("--mib 64 --seconds 10 --cpu 1 --quiet").unwrap();
        assert_eq!(a.mib, 64);
        assert_eq!(a.seconds, Some(10));
        assert_eq!(a.passes, None);
        assert_eq!(a.cpu, Some(1));
        assert!(a.quiet);
    }

    #[test]
    fn passes_and_defaults() {
        let a = p("--passes 3 --mib 1").unwrap();
        assert_eq!(a.passes, Some(3));
        assert_eq!(a.seconds, None);
        assert_eq!(a.cpu, None);
        assert!(!a.quiet);
    }

    #[test]
    fn errors() {
        assert_eq!(p("--seconds 3"), Err(ArgError::NoMib));
        assert_eq!(p("--mib"), Err(ArgError::MissingValue("--mib".into())));
        assert_eq!(
            p("--mib x"),
            Err(ArgError::BadValue("--mib".into(), "x".into()))
        );
        assert_eq!(
            p("--mib 0"),
            Err(ArgError::BadValue("--mib".into(), "0".into()))
        );
        assert_eq!(
            p("--mib 1 --bogus"),
            Err(ArgError::Unknown("--bogus".into()))
        );
        assert!(p("--cpu -1 --mib 1").is_err());
        assert_eq!(p("-h"), Err(ArgError::Help));
    }
}
