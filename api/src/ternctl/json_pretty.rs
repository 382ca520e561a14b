//! Pretty-printing a JSON body as the server wrote it: re-indented, with its keys in the
//! server's order and its numbers untouched (parsing into a map would sort the keys).

const INDENT: &str = "  ";

fn new_line(out: &mut String, depth: usize) {
    out.push('\n');
    out.push_str(&INDENT.repeat(depth));
}

/// `text` indented by two spaces per level (like `serde_json::to_string_pretty`), ending in a
/// newline. Text that is not JSON comes back as is.
pub fn pretty_json(text: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while chars.next_if(|n| n.is_ascii_whitespace()).is_some() {}
                out.push(c);
                if chars.next_if_eq(&close).is_some() {
                    out.push(close);
                } else {
                    depth += 1;
                    new_line(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                new_line(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                new_line(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ if c.is_ascii_whitespace() => {}
            _ => out.push(c),
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_serde_json_and_keeps_the_key_order() {
        let text =
            r#"{"state":"running","vcpus":2,"empty":[],"nodes":[{"id":0,"x":null}],"o":{ }}"#;
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let pretty = pretty_json(text);
        assert_eq!(
            pretty,
            "{\n  \"state\": \"running\",\n  \"vcpus\": 2,\n  \"empty\": [],\n  \"nodes\": [\n    {\n      \"id\": 0,\n      \"x\": null\n    }\n  ],\n  \"o\": {}\n}\n"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pretty).unwrap(),
            value
        );
    }

    #[test]
    fn strings_keep_their_punctuation_and_escapes() {
        let text = r#"{"error":"a, b: {c} [d] \"e\" \\"}"#;
        assert_eq!(
            pretty_json(text),
            "{\n  \"error\": \"a, b: {c} [d] \\\"e\\\" \\\\\"\n}\n"
        );
    }

    #[test]
    fn numbers_stay_as_written_and_other_text_is_left_alone() {
        assert_eq!(
            pretty_json("[0.8333333333333334,1e3]"),
            "[\n  0.8333333333333334,\n  1e3\n]\n"
        );
        assert_eq!(pretty_json("tern_vcpus 1\n"), "tern_vcpus 1\n");
    }
}
