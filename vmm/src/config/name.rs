//! The VM's name (`--name`, config key `name`): shown by `GET /v1/vm`, as the `vm` label of
//! every metrics series, and by `ternctl`. Letters, digits, `.`, `_` and `-`, at most
//! [`MAX_NAME_LEN`] of them, so it is safe in a label, a table and a file name alike.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The longest name.
pub const MAX_NAME_LEN: usize = 64;

/// The name of a VM without `--name` and without an API socket.
pub const FALLBACK_NAME: &str = "tern";

/// A valid VM name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmName(String);

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing given.
    #[error("a VM name cannot be empty")]
    Empty,
    /// Too long.
    #[error("the VM name '{0}' is longer than {MAX_NAME_LEN} characters")]
    TooLong(String),
    /// A character outside the allowed set.
    #[error("the VM name '{0}' may only hold letters, digits, '.', '_' and '-'")]
    BadCharacter(String),
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl FromStr for VmName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.chars().count() > MAX_NAME_LEN {
            return Err(NameError::TooLong(s.to_string()));
        }
        if !s.chars().all(allowed) {
            return Err(NameError::BadCharacter(s.escape_debug().to_string()));
        }
        Ok(Self(s.to_string()))
    }
}

impl VmName {
    /// The name a VM gets when none is given: its API socket's file name without the
    /// extension (`/run/tern/web-1.sock` gives `web-1`), other characters replaced by `_`;
    /// without a socket, [`FALLBACK_NAME`].
    pub fn from_socket(socket: Option<&Path>) -> Self {
        let stem = socket
            .and_then(Path::file_stem)
            .map(|s| s.to_string_lossy())
            .unwrap_or_default();
        let cleaned: String = stem
            .chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .take(MAX_NAME_LEN)
            .collect();
        if cleaned.is_empty() {
            Self(FALLBACK_NAME.to_string())
        } else {
            Self(cleaned)
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_digits_dots_underscores_and_dashes() {
        assert_eq!("web-1.a_b".parse::<VmName>().unwrap().as_str(), "web-1.a_b");
        assert_eq!("".parse::<VmName>(), Err(NameError::Empty));
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(long.parse::<VmName>(), Err(NameError::TooLong(_))));
        assert!("a".repeat(MAX_NAME_LEN).parse::<VmName>().is_ok());
        for bad in ["a b", "x\"y", "é", "a\nb", "a{b}", "a/b"] {
            let err = bad.parse::<VmName>().unwrap_err();
            assert!(matches!(err, NameError::BadCharacter(_)), "{bad}");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
    }

    #[test]
    fn the_default_comes_from_the_socket_file_name() {
        let name = |p: &str| VmName::from_socket(Some(Path::new(p))).to_string();
        assert_eq!(name("/run/tern/web-1.sock"), "web-1");
        assert_eq!(name("/tmp/api"), "api");
        assert_eq!(name("/tmp/my vm.sock"), "my_vm");
        assert_eq!(name("/tmp/.sock"), ".sock");
        assert_eq!(name("/"), FALLBACK_NAME);
        assert_eq!(VmName::from_socket(None).as_str(), FALLBACK_NAME);
        let long = format!("/tmp/{}.sock", "b".repeat(100));
        assert_eq!(name(&long).len(), MAX_NAME_LEN);
    }
}
