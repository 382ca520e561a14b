//! Human-readable views of the API's answers, one module per view. Each takes model values
//! and returns the text to print, ending in a newline.

pub mod auto_balance;
pub mod heat;
pub mod placement;
pub mod placement_bar;
pub mod rebalance;
pub mod topology;
pub mod vcpus;
pub mod vm;

/// `sections` one after the other, a blank line between them; empty ones are left out.
fn join_sections(sections: &[String]) -> String {
    sections
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn sections_are_separated_by_one_blank_line() {
        let sections = ["a\n".to_string(), String::new(), "b\n".to_string()];
        assert_eq!(super::join_sections(&sections), "a\n\nb\n");
    }
}
