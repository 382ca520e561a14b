//! Command-line errors as one sentence, for `tern` and `ternctl` alike.

/// A clap error as one sentence: its message without the usage block and the help hint.
pub fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ").trim_start_matches("error: ").to_string()
}
