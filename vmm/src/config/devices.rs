//! `--disk path=FILE[,readonly=on][,guest-node=G]` and `--net tap=NAME[,mac=MAC][,guest-node=G]`:
//! the virtio devices of a VM, and their entries `disks` and `nets` in a config file.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use devices::virtio::net::{parse_mac, Mac};
use serde::Deserialize;

/// One `--disk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskSpec {
    /// The raw image.
    pub path: PathBuf,
    /// The guest may only read it.
    pub readonly: bool,
    /// The guest node whose host node runs the device's worker.
    pub guest_node: Option<u32>,
}

/// One `--net`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetSpec {
    /// The tap device's name.
    pub tap: String,
    /// The guest's MAC address (else one derived from the device's index).
    pub mac: Option<Mac>,
    /// The guest node whose host node runs the device's worker.
    pub guest_node: Option<u32>,
}

/// Why a `--disk` or `--net` argument could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceSpecError {
    /// A part is not `key=value`.
    #[error("'{0}' is not key=value")]
    NotKeyValue(String),
    /// An unknown key.
    #[error("unknown key '{key}' (known: {known})")]
    UnknownKey {
        /// The key.
        key: String,
        /// The keys this flag takes.
        known: &'static str,
    },
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
        reason: &'static str,
    },
}

fn pairs(text: &str) -> Result<Vec<(&str, &str)>, DeviceSpecError> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| DeviceSpecError::NotKeyValue(part.to_string()))?;
        if seen.iter().any(|(k, _)| *k == key) {
            return Err(DeviceSpecError::Repeated(key.to_string()));
        }
        seen.push((key, value));
    }
    Ok(seen)
}

fn parse_node(value: &str) -> Result<u32, DeviceSpecError> {
    value.parse().map_err(|_| DeviceSpecError::BadValue {
        key: "guest-node",
        value: value.to_string(),
        reason: "not a node number",
    })
}

fn parse_switch(value: &str) -> Result<bool, DeviceSpecError> {
    match value {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(DeviceSpecError::BadValue {
            key: "readonly",
            value: value.to_string(),
            reason: "use on or off",
        }),
    }
}

fn check_mac(value: &str) -> Result<Mac, DeviceSpecError> {
    let mac = parse_mac(value).ok_or(DeviceSpecError::BadValue {
        key: "mac",
        value: value.to_string(),
        reason: "expected six hex bytes like 52:54:00:12:34:56",
    })?;
    if mac[0] & 1 != 0 {
        return Err(DeviceSpecError::BadValue {
            key: "mac",
            value: value.to_string(),
            reason: "a multicast address cannot be a device's address",
        });
    }
    Ok(mac)
}

impl FromStr for DiskSpec {
    type Err = DeviceSpecError;

    fn from_str(text: &str) -> Result<Self, DeviceSpecError> {
        let (mut path, mut readonly, mut guest_node) = (None, false, None);
        for (key, value) in pairs(text)? {
            match key {
                "path" if !value.is_empty() => path = Some(PathBuf::from(value)),
                "path" => return Err(DeviceSpecError::Missing("path")),
                "readonly" => readonly = parse_switch(value)?,
                "guest-node" => guest_node = Some(parse_node(value)?),
                other => {
                    return Err(DeviceSpecError::UnknownKey {
                        key: other.to_string(),
                        known: "path, readonly, guest-node",
                    })
                }
            }
        }
        Ok(Self {
            path: path.ok_or(DeviceSpecError::Missing("path"))?,
            readonly,
            guest_node,
        })
    }
}

impl FromStr for NetSpec {
    type Err = DeviceSpecError;

    fn from_str(text: &str) -> Result<Self, DeviceSpecError> {
        let (mut tap, mut mac, mut guest_node) = (None, None, None);
        for (key, value) in pairs(text)? {
            match key {
                "tap" if !value.is_empty() => tap = Some(value.to_string()),
                "tap" => return Err(DeviceSpecError::Missing("tap")),
                "mac" => mac = Some(check_mac(value)?),
                "guest-node" => guest_node = Some(parse_node(value)?),
                other => {
                    return Err(DeviceSpecError::UnknownKey {
                        key: other.to_string(),
                        known: "tap, mac, guest-node",
                    })
                }
            }
        }
        Ok(Self {
            tap: tap.ok_or(DeviceSpecError::Missing("tap"))?,
            mac,
            guest_node,
        })
    }
}

/// A `disks` entry of a config file.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a disk object like {\"path\": \"disk.img\", \"readonly\": false, \"guest_node\": 0}"
)]
pub struct FileDisk {
    path: PathBuf,
    #[serde(default)]
    readonly: bool,
    guest_node: Option<u32>,
}

impl FileDisk {
    /// The disk, its path resolved against the config file's directory `dir`.
    pub fn into_spec(self, dir: &Path) -> DiskSpec {
        DiskSpec {
            path: dir.join(self.path),
            readonly: self.readonly,
            guest_node: self.guest_node,
        }
    }
}

/// A `nets` entry of a config file.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a net object like {\"tap\": \"tap0\", \"mac\": \"52:54:00:12:34:56\", \"guest_node\": 0}"
)]
pub struct FileNet {
    tap: String,
    mac: Option<String>,
    guest_node: Option<u32>,
}

impl FileNet {
    /// The network device, or what is wrong with its MAC address.
    pub fn into_spec(self) -> Result<NetSpec, DeviceSpecError> {
        Ok(NetSpec {
            mac: self.mac.as_deref().map(check_mac).transpose()?,
            tap: self.tap,
            guest_node: self.guest_node,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_parse_with_defaults() {
        let disk: DiskSpec = "path=/img/root.ext4".parse().unwrap();
        assert_eq!(
            disk,
            DiskSpec {
                path: "/img/root.ext4".into(),
                readonly: false,
                guest_node: None
            }
        );
        let disk: DiskSpec = "path=a.img,readonly=on,guest-node=1".parse().unwrap();
        assert!(disk.readonly);
        assert_eq!(disk.guest_node, Some(1));
    }

    #[test]
    fn bad_disks_name_what_is_wrong() {
        let err = |s: &str| s.parse::<DiskSpec>().unwrap_err().to_string();
        assert_eq!(err("readonly=on"), "'path=' is missing");
        assert_eq!(
            err("path=a,readonly=maybe"),
            "bad readonly 'maybe': use on or off"
        );
        assert_eq!(err("path=a,path=b"), "'path' is given twice");
        assert!(err("path=a,cache=none").starts_with("unknown key 'cache'"));
        assert_eq!(err("a.img"), "'a.img' is not key=value");
    }

    #[test]
    fn nets_parse_and_check_the_mac() {
        let net: NetSpec = "tap=tap0,mac=52:54:00:12:34:56,guest-node=0"
            .parse()
            .unwrap();
        assert_eq!(net.tap, "tap0");
        assert_eq!(net.mac, Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        let err = |s: &str| s.parse::<NetSpec>().unwrap_err().to_string();
        assert_eq!(err("mac=52:54:00:12:34:56"), "'tap=' is missing");
        assert!(err("tap=t,mac=01:00:00:00:00:01").contains("multicast"));
        assert!(err("tap=t,mac=zz").starts_with("bad mac 'zz'"));
    }
}
