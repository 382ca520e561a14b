//! The guest console's output settings: its escape filter, and limits in bytes.

use std::fmt;
use std::str::FromStr;

use super::size::number_and_unit;

/// Whether the guest's terminal escape sequences are filtered (see
/// `devices::console::filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsoleFilter {
    /// Pass text, colours and cursor movement only.
    On,
    /// Pass everything the guest writes.
    Off,
}

/// The console output settings as given; `None` where nothing was said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// The escape filter (default: on when stdout is a terminal).
    pub filter: Option<ConsoleFilter>,
    /// Most bytes per second the guest may print (bursts of one second's worth).
    pub rate: Option<ByteCount>,
    /// Most bytes the guest may print over the VM's life.
    pub limit: Option<ByteCount>,
}

impl ConsoleSettings {
    /// Whether to filter, given whether stdout is a terminal.
    pub fn filters(&self, stdout_is_terminal: bool) -> bool {
        match self.filter {
            Some(ConsoleFilter::On) => true,
            Some(ConsoleFilter::Off) => false,
            None => stdout_is_terminal,
        }
    }
}

/// A number of bytes: `4096`, `64K`, `1M`, `2G` (units of 1024, `KiB` and `KB` alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteCount(pub u64);

/// Why a byte count could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ByteCountError {
    /// Not a number with an optional unit.
    #[error("'{0}' is not a number of bytes (use 4096, 64K, 1M or 2G)")]
    Malformed(String),
    /// Beyond 64 bits.
    #[error("'{0}' is too large a number of bytes")]
    TooLarge(String),
}

impl FromStr for ByteCount {
    type Err = ByteCountError;

    fn from_str(text: &str) -> Result<Self, ByteCountError> {
        let malformed = || ByteCountError::Malformed(text.to_string());
        let (number, unit) = number_and_unit(text).ok_or_else(malformed)?;
        let shift = match unit.as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => return Err(malformed()),
        };
        number
            .checked_mul(1 << shift)
            .map(Self)
            .ok_or_else(|| ByteCountError::TooLarge(text.to_string()))
    }
}

impl fmt::Display for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Result<u64, ByteCountError> {
        text.parse::<ByteCount>().map(|b| b.0)
    }

    #[test]
    fn reads_bytes_with_and_without_units() {
        assert_eq!(bytes("4096"), Ok(4096));
        assert_eq!(bytes("0"), Ok(0));
        assert_eq!(bytes("64K"), Ok(65536));
        assert_eq!(bytes("64 KiB"), Ok(65536));
        assert_eq!(bytes("1m"), Ok(1 << 20));
        assert_eq!(bytes("2G"), Ok(2 << 30));
        assert_eq!(bytes("10B"), Ok(10));
    }

    #[test]
    fn refuses_what_is_not_a_count() {
        for text in ["", "lots", "1.5K", "-1", "K", "1T"] {
            assert!(
                matches!(bytes(text), Err(ByteCountError::Malformed(_))),
                "{text}"
            );
        }
        assert!(matches!(
            bytes("99999999999999999999G"),
            Err(ByteCountError::Malformed(_)) | Err(ByteCountError::TooLarge(_))
        ));
        assert!(matches!(
            bytes("18446744073709551615K"),
            Err(ByteCountError::TooLarge(_))
        ));
    }

    #[test]
    fn the_filter_defaults_to_the_terminal() {
        let unset = ConsoleSettings::default();
        assert!(unset.filters(true) && !unset.filters(false));
        let on = ConsoleSettings {
            filter: Some(ConsoleFilter::On),
            ..Default::default()
        };
        let off = ConsoleSettings {
            filter: Some(ConsoleFilter::Off),
            ..Default::default()
        };
        assert!(on.filters(false) && !off.filters(true));
    }
}
