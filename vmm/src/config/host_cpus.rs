//! Which host CPUs a guest node's vCPUs are pinned to: `host-cpus=LIST` (`--host-cpus LIST`
//! without `--numa`), or `any` to leave them unpinned. Left out, a guest node with a host node
//! has its vCPUs pinned to that node's CPUs.

use std::fmt;
use std::str::FromStr;

use balancer::idlist::{format_id_list, parse_id_list};

/// The host CPUs asked for a guest node's vCPUs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCpus {
    /// Pinned to these CPUs (sorted, unique, never empty).
    List(Vec<u32>),
    /// Not pinned: every CPU tern may use.
    Any,
}

/// Why a host CPU list could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostCpusError {
    /// Neither `any` nor a list of numbers.
    #[error("{0}; use a CPU list like 0-3,6 or any")]
    Malformed(#[from] balancer::idlist::IdListError),
    /// An empty list.
    #[error("the list is empty; use a CPU list like 0-3,6 or any")]
    Empty,
}

impl HostCpus {
    /// A list of CPU numbers, which must not be empty.
    pub fn list(cpus: Vec<u32>) -> Result<Self, HostCpusError> {
        let mut cpus = cpus;
        cpus.sort_unstable();
        cpus.dedup();
        if cpus.is_empty() {
            return Err(HostCpusError::Empty);
        }
        Ok(Self::List(cpus))
    }
}

impl FromStr for HostCpus {
    type Err = HostCpusError;

    fn from_str(text: &str) -> Result<Self, HostCpusError> {
        match text.trim() {
            "any" => Ok(Self::Any),
            list => Self::list(parse_id_list(list)?),
        }
    }
}

impl fmt::Display for HostCpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::List(cpus) => f.write_str(&format_id_list(cpus)),
            Self::Any => f.write_str("any"),
        }
    }
}

/// A plain, non-empty CPU list (`--vmm-cpus`): like [`HostCpus`] without `any`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(pub Vec<u32>);

impl FromStr for CpuList {
    type Err = HostCpusError;

    fn from_str(text: &str) -> Result<Self, HostCpusError> {
        let cpus = parse_id_list(text)?;
        if cpus.is_empty() {
            return Err(HostCpusError::Empty);
        }
        Ok(Self(cpus))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_and_any() {
        assert_eq!("0-2,5".parse(), Ok(HostCpus::List(vec![0, 1, 2, 5])));
        assert_eq!(" any ".parse(), Ok(HostCpus::Any));
        assert_eq!(
            HostCpus::list(vec![3, 1, 3]),
            Ok(HostCpus::List(vec![1, 3]))
        );
        assert_eq!(HostCpus::List(vec![0, 1, 2, 5]).to_string(), "0-2,5");
        assert_eq!(HostCpus::Any.to_string(), "any");
        assert_eq!("1,0".parse(), Ok(CpuList(vec![0, 1])));
    }

    #[test]
    fn refuses_empty_and_malformed_lists() {
        assert_eq!("".parse::<HostCpus>(), Err(HostCpusError::Empty));
        assert_eq!(HostCpus::list(Vec::new()), Err(HostCpusError::Empty));
        assert_eq!(" ".parse::<CpuList>(), Err(HostCpusError::Empty));
        let err = "all".parse::<HostCpus>().unwrap_err().to_string();
        assert_eq!(
            err,
            "'all' is not a list of numbers like 0-3,6; use a CPU list like 0-3,6 or any"
        );
        assert!("any".parse::<CpuList>().is_err());
    }
}
