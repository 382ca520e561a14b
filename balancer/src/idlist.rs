//! Lists of CPU or node numbers as the kernel and numactl write them: `0-3,6,8-9`.

/// Why a list could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdListError {
    /// A part is neither a number nor a range of numbers.
    #[error("'{0}' is not a list of numbers like 0-3,6")]
    Malformed(String),
    /// A range ends before it starts.
    #[error("the range {0} ends before it starts")]
    Backwards(String),
    /// A range spans more numbers than any host has CPUs.
    #[error("the range {0} is too large")]
    TooLarge(String),
}

/// The most numbers one range may span.
const MAX_RANGE: u32 = 1 << 16;

/// Parses a list into sorted, unique numbers. An empty (or all-blank) list is empty.
pub fn parse_id_list(text: &str) -> Result<Vec<u32>, IdListError> {
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| IdListError::Malformed(text.to_string()))
    };
    let mut ids = Vec::new();
    for part in text
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if last < first {
            return Err(IdListError::Backwards(part.to_string()));
        }
        if last - first >= MAX_RANGE {
            return Err(IdListError::TooLarge(part.to_string()));
        }
        ids.extend(first..=last);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Writes numbers back in the compact notation, e.g. `[0, 1, 2, 5]` as `0-2,5`.
pub fn format_id_list(ids: &[u32]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut iter = sorted.into_iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_singles() {
        assert_eq!(parse_id_list("0-3,6").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_id_list("5").unwrap(), vec![5]);
        assert_eq!(parse_id_list("3,1,2-2,1").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_id_list(" 0 - 1\n").unwrap(), vec![0, 1]);
        assert!(parse_id_list("").unwrap().is_empty());
        assert!(parse_id_list("\n").unwrap().is_empty());
    }

    #[test]
    fn refuses_malformed_lists_with_a_reason() {
        for bad in ["a", "1-", "-1", "1,,x", "1.5"] {
            assert_eq!(
                parse_id_list(bad),
                Err(IdListError::Malformed(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_id_list("3-1").unwrap_err().to_string(),
            "the range 3-1 ends before it starts"
        );
        assert_eq!(
            parse_id_list("0-99999999").unwrap_err().to_string(),
            "the range 0-99999999 is too large"
        );
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_id_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_id_list(&[4]), "4");
        assert_eq!(format_id_list(&[]), "");
        assert_eq!(
            parse_id_list(&format_id_list(&[9, 3, 4])).unwrap(),
            vec![3, 4, 9]
        );
    }
}
