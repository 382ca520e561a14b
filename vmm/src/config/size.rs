//! Memory sizes as users write them: `256M`, `1G`, `2GiB` or a bare number of MiB.

use std::fmt;
use std::str::FromStr;

/// A memory size, a whole number of MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemSize {
    mib: u64,
}

/// Why a size could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Nothing was given.
    #[error("a memory size is empty")]
    Empty,
    /// The text is not a number with an optional unit.
    #[error("'{0}' is not a memory size (use 256M, 1G or a number of MiB)")]
    Malformed(String),
    /// The size does not fit in 64 bits of bytes.
    #[error("'{0}' is too large a memory size")]
    TooLarge(String),
}

impl MemSize {
    /// A size of `mib` MiB.
    pub const fn from_mib(mib: u64) -> Self {
        Self { mib }
    }

    /// The size in MiB.
    pub const fn mib(self) -> u64 {
        self.mib
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.mib << 20
    }
}

/// A size as written: its leading decimal number, and the unit after it in lower case
/// (empty if none); `None` if it does not start with a number.
pub(crate) fn number_and_unit(text: &str) -> Option<(u64, String)> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number = digits.parse().ok()?;
    Some((number, unit.trim_start().to_ascii_lowercase()))
}

impl FromStr for MemSize {
    type Err = SizeError;

    fn from_str(text: &str) -> Result<Self, SizeError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(SizeError::Empty);
        }
        let malformed = || SizeError::Malformed(text.to_string());
        let (number, unit) = number_and_unit(trimmed).ok_or_else(malformed)?;
        let mib_per_unit: u64 = match unit.as_str() {
            "" | "m" | "mb" | "mib" => 1,
            "g" | "gb" | "gib" => 1024,
            "t" | "tb" | "tib" => 1024 * 1024,
            _ => return Err(malformed()),
        };
        let mib = number
            .checked_mul(mib_per_unit)
            .filter(|mib| mib.checked_mul(1 << 20).is_some())
            .ok_or_else(|| SizeError::TooLarge(text.to_string()))?;
        Ok(Self { mib })
    }
}

impl fmt::Display for MemSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mib >= 1024 && self.mib.is_multiple_of(1024) {
            write!(f, "{} GiB", self.mib / 1024)
        } else {
            write!(f, "{} MiB", self.mib)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mib(text: &str) -> Result<u64, SizeError> {
        text.parse::<MemSize>().map(MemSize::mib)
    }

    #[test]
    fn accepts_units_and_bare_mib() {
        assert_eq!(mib("256M"), Ok(256));
        assert_eq!(mib("256m"), Ok(256));
        assert_eq!(mib("1G"), Ok(1024));
        assert_eq!(mib("2GiB"), Ok(2048));
        assert_eq!(mib("512"), Ok(512));
        assert_eq!(mib(" 64MiB "), Ok(64));
        assert_eq!(mib("256 MiB"), Ok(256));
        assert_eq!(mib("1T"), Ok(1 << 20));
    }

    #[test]
    fn rejects_what_is_not_a_size() {
        assert_eq!(mib(""), Err(SizeError::Empty));
        assert!(matches!(mib("abc"), Err(SizeError::Malformed(_))));
        assert!(matches!(mib("1.5G"), Err(SizeError::Malformed(_))));
        assert!(matches!(mib("-1"), Err(SizeError::Malformed(_))));
        assert!(matches!(mib("12K"), Err(SizeError::Malformed(_))));
        assert!(matches!(mib("G"), Err(SizeError::Malformed(_))));
    }

    #[test]
    fn rejects_overflow() {
        assert!(matches!(
            mib("99999999999999999T"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(
            mib("18446744073709551615"),
            Err(SizeError::TooLarge(_))
        ));
    }

    #[test]
    fn displays_in_the_largest_whole_unit() {
        assert_eq!(MemSize::from_mib(2048).to_string(), "2 GiB");
        assert_eq!(MemSize::from_mib(300).to_string(), "300 MiB");
    }
}
