//! One label on every series of a Prometheus text exposition: `GET /metrics` labels each of
//! the VMM's and the API's series with `vm="<name>"`, so series of many VMs on one host can
//! be told apart once a collector gathers them.

/// `value` escaped for a label value (backslash, double quote and newline).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `text` with `label="value"` first among the labels of every sample line; comments
/// (`# HELP`, `# TYPE`) and blank lines stay as they are.
pub fn label_every_series(text: &str, label: &str, value: &str) -> String {
    let pair = format!("{label}=\"{}\"", escape(value));
    let mut out = String::with_capacity(text.len() + text.lines().count() * (pair.len() + 3));
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            out.push_str(line);
        } else {
            // The series name ends at its label set or at the space before the value.
            match line.find(['{', ' ']) {
                Some(i) if line[i..].starts_with("{}") => {
                    out.push_str(&line[..i]);
                    out.push_str(&format!("{{{pair}}}"));
                    out.push_str(&line[i + 2..]);
                }
                Some(i) if line[i..].starts_with('{') => {
                    out.push_str(&line[..=i]);
                    out.push_str(&pair);
                    out.push(',');
                    out.push_str(&line[i + 1..]);
                }
                Some(i) => {
                    out.push_str(&line[..i]);
                    out.push_str(&format!("{{{pair}}}"));
                    out.push_str(&line[i..]);
                }
                None => out.push_str(line),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_gets_the_label_first() {
        let text = "# HELP tern_vcpus Number of vCPUs.\n# TYPE tern_vcpus gauge\ntern_vcpus 2\n\
                    tern_vcpu_exits_total{vcpu=\"0\",reason=\"io\"} 12\nempty{} 1\n\n";
        assert_eq!(
            label_every_series(text, "vm", "web-1"),
            "# HELP tern_vcpus Number of vCPUs.\n# TYPE tern_vcpus gauge\n\
             tern_vcpus{vm=\"web-1\"} 2\n\
             tern_vcpu_exits_total{vm=\"web-1\",vcpu=\"0\",reason=\"io\"} 12\n\
             empty{vm=\"web-1\"} 1\n\n"
        );
    }

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            label_every_series("m 1\n", "vm", "a\"b\\c\nd"),
            "m{vm=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }
}
