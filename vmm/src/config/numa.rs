//! `--numa node=G,vcpus=LIST,memory=SIZE,host-node=H[,policy=bind|preferred][,host-cpus=LIST|any]`:
//! one guest NUMA node, the vCPUs and memory it owns, the host node its memory is bound to,
//! and the host CPUs its vCPUs are pinned to.

use std::fmt;
use std::str::FromStr;

use balancer::idlist::parse_id_list;

use super::host_cpus::HostCpus;
use super::size::MemSize;

/// How a guest node's memory is tied to its host node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostPolicy {
    /// Only the host node (MPOL_BIND): allocation fails rather than spill over.
    #[default]
    Bind,
    /// The host node first, others when it is full (MPOL_PREFERRED).
    Preferred,
}

impl fmt::Display for HostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bind => "bind",
            Self::Preferred => "preferred",
        })
    }
}

/// One `--numa` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestNodeSpec {
    /// The guest node number.
    pub node: u32,
    /// Its vCPUs (may be empty: a memory-only node).
    pub vcpus: Vec<u32>,
    /// Its memory.
    pub memory: MemSize,
    /// The host node its memory lives on, if bound.
    pub host_node: Option<u32>,
    /// How it is bound.
    pub policy: HostPolicy,
    /// The host CPUs its vCPUs are pinned to, if given (else its host node's, if it has one).
    pub host_cpus: Option<HostCpus>,
}

/// Why a `--numa` argument could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumaSpecError {
    /// A part is not `key=value`.
    #[error("'{0}' is not key=value (expected node=G,vcpus=LIST,memory=SIZE,host-node=H[,policy=bind|preferred])")]
    NotKeyValue(String),
    /// An unknown key.
    #[error("unknown key '{0}' (known: node, vcpus, memory, host-node, policy, host-cpus)")]
    UnknownKey(String),
    /// A key given twice.
    #[error("'{0}' is given twice")]
    Repeated(String),
    /// A required key is missing.
    #[error("'{0}=' is missing")]
    Missing(&'static str),
    /// A value does not parse.
    #[error("bad {key} '{value}': {reason}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A policy without a host node to apply it to.
    #[error("policy= needs host-node=")]
    PolicyWithoutHostNode,
}

fn bad(key: &'static str, value: &str, reason: impl ToString) -> NumaSpecError {
    NumaSpecError::BadValue {
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl FromStr for GuestNodeSpec {
    type Err = NumaSpecError;

    fn from_str(text: &str) -> Result<Self, NumaSpecError> {
        let (mut node, mut memory, mut host_node, mut policy) = (None, None, None, None);
        let mut vcpus: Option<Vec<u32>> = None;
        let mut host_cpus: Option<String> = None;
        // The list key read last: its list may go on after a comma (`vcpus=0-1,3`).
        let mut last_list: Option<&'static str> = None;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                match (last_list, vcpus.as_mut(), host_cpus.as_mut()) {
                    (Some("vcpus"), Some(list), _) => {
                        let more = parse_id_list(part).map_err(|e| bad("vcpus", part, e))?;
                        list.extend(more);
                    }
                    (Some("host-cpus"), _, Some(list)) => {
                        list.push(',');
                        list.push_str(part);
                    }
                    _ => return Err(NumaSpecError::NotKeyValue(part.to_string())),
                }
                continue;
            };
            let repeated = || NumaSpecError::Repeated(key.to_string());
            last_list = None;
            match key.trim() {
                "node" => {
                    let v = value.parse().map_err(|e| bad("node", value, e))?;
                    node.replace(v).map_or(Ok(()), |_| Err(repeated()))?;
                }
                "vcpus" => {
                    let v = parse_id_list(value).map_err(|e| bad("vcpus", value, e))?;
                    vcpus.replace(v).map_or(Ok(()), |_| Err(repeated()))?;
                    last_list = Some("vcpus");
                }
                "memory" => {
                    let v: MemSize = value.parse().map_err(|e| bad("memory", value, e))?;
                    memory.replace(v).map_or(Ok(()), |_| Err(repeated()))?;
                }
                "host-node" => {
                    let v = value.parse().map_err(|e| bad("host-node", value, e))?;
                    host_node.replace(v).map_or(Ok(()), |_| Err(repeated()))?;
                }
                "policy" => {
                    let v = match value {
                        "bind" => HostPolicy::Bind,
                        "preferred" => HostPolicy::Preferred,
                        _ => return Err(bad("policy", value, "use bind or preferred")),
                    };
                    policy.replace(v).map_or(Ok(()), |_| Err(repeated()))?;
                }
                "host-cpus" => {
                    host_cpus
                        .replace(value.to_string())
                        .map_or(Ok(()), |_| Err(repeated()))?;
                    last_list = Some("host-cpus");
                }
                other => return Err(NumaSpecError::UnknownKey(other.to_string())),
            }
        }
        if policy.is_some() && host_node.is_none() {
            return Err(NumaSpecError::PolicyWithoutHostNode);
        }
        let host_cpus = host_cpus
            .map(|list| list.parse().map_err(|e| bad("host-cpus", &list, e)))
            .transpose()?;
        let mut vcpus = vcpus.unwrap_or_default();
        vcpus.sort_unstable();
        vcpus.dedup();
        Ok(Self {
            node: node.ok_or(NumaSpecError::Missing("node"))?,
            vcpus,
            memory: memory.ok_or(NumaSpecError::Missing("memory"))?,
            host_node,
            policy: policy.unwrap_or_default(),
            host_cpus,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<GuestNodeSpec, NumaSpecError> {
        text.parse()
    }

    #[test]
    fn reads_every_key() {
        let s = spec("node=1,vcpus=0-3,6,memory=1G,host-node=2,policy=preferred").unwrap();
        assert_eq!(s.node, 1);
        assert_eq!(s.vcpus, vec![0, 1, 2, 3, 6]);
        assert_eq!(s.memory.mib(), 1024);
        assert_eq!(s.host_node, Some(2));
        assert_eq!(s.policy, HostPolicy::Preferred);
        assert_eq!(s.host_cpus, None);
    }

    #[test]
    fn reads_host_cpus_lists_and_any() {
        let s = spec("node=0,vcpus=0-1,3,host-cpus=4-5,7,memory=1G,host-node=1").unwrap();
        assert_eq!(s.vcpus, vec![0, 1, 3]);
        assert_eq!(s.host_cpus, Some(HostCpus::List(vec![4, 5, 7])));
        let s = spec("node=0,vcpus=0,memory=1G,host-cpus=2,vcpus=1").unwrap_err();
        assert_eq!(s, NumaSpecError::Repeated("vcpus".into()));
        let s = spec("node=0,vcpus=0,memory=1G,host-node=0,host-cpus=any").unwrap();
        assert_eq!(s.host_cpus, Some(HostCpus::Any));
        let s = spec("node=0,vcpus=0,memory=1G,host-cpus=1").unwrap();
        assert_eq!(
            (s.host_node, s.host_cpus),
            (None, Some(HostCpus::List(vec![1])))
        );
        let err = spec("node=0,vcpus=0,memory=1G,host-cpus=any,2")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad host-cpus 'any,2'"), "{err}");
        let err = spec("node=0,vcpus=0,memory=1G,host-cpus=")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "bad host-cpus '': the list is empty; use a CPU list like 0-3,6 or any"
        );
        assert_eq!(
            spec("node=0,memory=1G,host-cpus=1,2,host-cpus=3").unwrap_err(),
            NumaSpecError::Repeated("host-cpus".into())
        );
        assert_eq!(
            spec("node=0,memory=1G,5").unwrap_err(),
            NumaSpecError::NotKeyValue("5".into())
        );
    }

    #[test]
    fn defaults_to_bind_and_allows_memory_only_and_unbound_nodes() {
        let s = spec("node=0,memory=512M,host-node=0").unwrap();
        assert_eq!((s.vcpus.len(), s.policy), (0, HostPolicy::Bind));
        let s = spec("node=0,vcpus=1,memory=512").unwrap();
        assert_eq!(s.host_node, None);
    }

    #[test]
    fn refuses_what_is_wrong_with_a_reason() {
        assert_eq!(
            spec("node=0,vcpus=0").unwrap_err(),
            NumaSpecError::Missing("memory")
        );
        assert_eq!(
            spec("vcpus=0,memory=1G").unwrap_err(),
            NumaSpecError::Missing("node")
        );
        assert_eq!(
            spec("node=0,memory=1G,size=3").unwrap_err(),
            NumaSpecError::UnknownKey("size".into())
        );
        assert_eq!(
            spec("node=0,node=1,memory=1G").unwrap_err(),
            NumaSpecError::Repeated("node".into())
        );
        assert_eq!(
            spec("node=0,memory=1G,policy=bind").unwrap_err(),
            NumaSpecError::PolicyWithoutHostNode
        );
        assert_eq!(
            spec("bogus").unwrap_err(),
            NumaSpecError::NotKeyValue("bogus".into())
        );
        let err = spec("node=0,memory=1G,host-node=x")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad host-node 'x'"), "{err}");
        let err = spec("node=0,memory=lots").unwrap_err().to_string();
        assert!(err.contains("'lots' is not a memory size"), "{err}");
        assert!(spec("node=0,vcpus=3-1,memory=1G").is_err());
        assert!(spec("node=0,memory=1G,policy=strict,host-node=0").is_err());
    }
}
