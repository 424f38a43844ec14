//! Where a TOML text nests too deep. The toml parser stops at 80 levels (a dotted key of 80
//! parts, or arrays and inline tables 80 deep) without recursing further, but its error ("recursion
//! limit") has no position; this scan finds the line, so the error is located like any other.

/// The parser's limit: a key path or a value nesting this deep is refused.
pub(super) const MAX_DEPTH: usize = 80;

/// The byte offset of the first line that nests at least [`MAX_DEPTH`] deep, and its depth: the
/// parts of a `[header]` or a dotted key, or the arrays and inline tables open on it.
pub(super) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut scan = Scan::default();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let depth = scan.line(line);
        if depth >= MAX_DEPTH {
            let indent = line.len() - line.trim_start().len();
            return Some((offset + indent, depth));
        }
        offset += line.len();
    }
    None
}

/// State carried from line to line: a multi-line string, and the brackets open in a value.
#[derive(Default)]
struct Scan {
    /// The delimiter of the multi-line string the line starts in.
    multiline: Option<&'static str>,
    /// Arrays and inline tables open.
    open: usize,
}

impl Scan {
    /// The deepest nesting on `line`.
    fn line(&mut self, line: &str) -> usize {
        let mut rest = line;
        if let Some(delim) = self.multiline {
            match rest.find(delim) {
                Some(end) => {
                    self.multiline = None;
                    rest = &rest[end + 3..];
                }
                None => return 0,
            }
        }
        let trimmed = rest.trim_start();
        // A header, or a key (with its dots) before `=`, when no value is open.
        let mut parts = 0;
        let mut in_key = self.open == 0 && !trimmed.starts_with('#');
        if in_key && trimmed.starts_with('[') {
            rest = trimmed.trim_start_matches('[');
            parts = 1;
        }
        let mut deepest = 0;
        let mut quote: Option<char> = None;
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if let Some(q) = quote {
                if c == '\\' && q == '"' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '"' | '\'' => {
                    let delim = if c == '"' { "\"\"\"" } else { "'''" };
                    if rest[i..].starts_with(delim) {
                        match rest[i + 3..].find(delim) {
                            Some(end) => {
                                let skip = rest[i + 3..i + 3 + end + 3].chars().count() + 2;
                                chars.nth(skip - 1);
                            }
                            None => {
                                self.multiline = Some(delim);
                                break;
                            }
                        }
                    } else {
                        quote = Some(c);
                    }
                }
                '#' => break,
                '.' if in_key => parts = parts.max(1) + 1,
                ']' if in_key && parts > 0 => in_key = false,
                '=' if in_key => in_key = false,
                '[' | '{' if !in_key => {
                    self.open += 1;
                    deepest = deepest.max(self.open);
                }
                ']' | '}' if !in_key => self.open = self.open.saturating_sub(1),
                _ => {}
            }
        }
        deepest.max(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_too_deep_is_found() {
        let deep = vec!["a"; 10_000].join(".");
        let text = format!("x = 1\n# {deep}\ns = \"{deep}\"\n  [{deep}]\ny = 2\n");
        assert_eq!(
            too_deep(&text),
            Some((text.find("  [").unwrap() + 2, 10_000))
        );
        let text = format!("x = 1\n{deep} = 3\n");
        assert_eq!(too_deep(&text), Some((6, 10_000)));
        let arrays = format!("v = {}1{}\n", "[".repeat(90), "]".repeat(90));
        assert_eq!(too_deep(&format!("a = 1\n{arrays}")), Some((6, 90)));
        // Across lines, and not inside strings (one line or many).
        let text = format!("v = [\n{}\n]\n", "[".repeat(85));
        assert_eq!(too_deep(&text), Some((6, 86)));
        let text = format!("s = \"\"\"\n[{deep}]\n\"\"\"\nt = '''{deep}''' # [[[[\n");
        assert_eq!(too_deep(&text), None);
        assert_eq!(too_deep("[a.b]\nc = [1, [2, 3], { d = 4 }]\n"), None);
    }
}
