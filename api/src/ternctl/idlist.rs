//! CPU lists for ternctl: the kernel's `0-3,6` notation (balancer's parser), where an empty
//! list is an error on the command line and shows as `-` in tables.

use balancer::idlist::{format_id_list as compact, parse_id_list as parse};

/// Parses `0-3,6` into sorted, unique numbers; an empty list is an error.
pub fn parse_id_list(text: &str) -> Result<Vec<u32>, String> {
    match parse(text) {
        Ok(ids) if ids.is_empty() => Err("the list is empty".to_string()),
        Ok(ids) => Ok(ids),
        Err(err) => Err(err.to_string()),
    }
}

/// Writes numbers compactly: `[0, 1, 2, 5]` as `0-2,5`; nothing as `-`.
pub fn format_id_list(ids: &[u32]) -> String {
    if ids.is_empty() {
        "-".to_string()
    } else {
        compact(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_are_refused_and_shown_as_a_dash() {
        assert_eq!(parse_id_list("0-1,3"), Ok(vec![0, 1, 3]));
        assert_eq!(parse_id_list(""), Err("the list is empty".to_string()));
        assert_eq!(
            parse_id_list("3-1"),
            Err("the range 3-1 ends before it starts".to_string())
        );
        assert_eq!(format_id_list(&[]), "-");
        assert_eq!(format_id_list(&[2, 0, 1]), "0-2");
    }
}
