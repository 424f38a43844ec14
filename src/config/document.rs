//! A TOML document parsed with the spans of its keys, so that a problem found at any stage
//! names its place: serde's errors carry a byte offset (turned into a key path and a
//! `line:col`), and checks after deserialization carry a key path (turned into the offset of
//! the deepest key of it the file writes). `--set` overrides apply between parsing and
//! deserialization, and an error about an overridden key points at the command line.

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::depth;
use super::error::{Error, Location, Result, Warning};
use super::set::{self, Mode};

/// 1-based line and column (in characters) of byte `offset` of `text`.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// One TOML input: its text, the name it has in errors, its spanned tree and the overrides
/// typed on the command line (with the flag that typed them).
pub struct Document<'a> {
    text: &'a str,
    file: &'a str,
    root: DeTable<'a>,
    overrides: &'a [(String, String)],
    mode: Mode,
    flag: &'static str,
}

impl<'a> Document<'a> {
    /// Parse `text`; `file` names it in errors. A syntax error is located at its offset under
    /// the key `(syntax)`.
    pub fn parse(text: &'a str, file: &'a str) -> Result<Document<'a>> {
        let root = DeTable::parse(text).map_err(|e| match e.span() {
            Some(s) => Error::new(
                at_offset(text, file, s.start),
                "(syntax)",
                e.message().trim(),
            ),
            // The parser's nesting limit has no span: find the line.
            None => match depth::too_deep(text) {
                Some((at, depth)) => Error::new(
                    at_offset(text, file, at),
                    "(syntax)",
                    format!(
                        "nested {depth} levels deep (parts of a dotted key or header, or arrays \
                         and inline tables); at most {} are accepted",
                        depth::MAX_DEPTH - 1
                    ),
                ),
                None => Error::new(at_offset(text, file, 0), "(syntax)", e.message().trim()),
            },
        })?;
        Ok(Document {
            text,
            file,
            root: root.into_inner(),
            overrides: &[],
            mode: Mode::Insert,
            flag: "--set",
        })
    }

    /// The same document with `overrides` (`key.path`, raw value) applied by
    /// [`Document::load`] in `mode`.
    pub fn with_overrides(self, overrides: &'a [(String, String)], mode: Mode) -> Document<'a> {
        Document {
            overrides,
            mode,
            ..self
        }
    }

    /// The same document with its overrides named after `flag` in errors (`--hw-set`; the
    /// default is `--set`).
    pub fn with_flag(self, flag: &'static str) -> Document<'a> {
        Document { flag, ..self }
    }

    /// The spanned tree as written.
    pub fn root(&self) -> &DeTable<'a> {
        &self.root
    }

    /// The name of the document in errors.
    pub fn file(&self) -> &str {
        self.file
    }

    /// The location of byte `offset`.
    pub fn location_at(&self, offset: usize) -> Location {
        at_offset(self.text, self.file, offset)
    }

    /// Deserialize the file as written (errors located at their offset and key path), then,
    /// with overrides, again with them applied (errors located on the command line).
    pub fn load<T: DeserializeOwned>(&self) -> Result<T> {
        let parsed: T = toml::from_str(self.text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            let path = self.path_at(at);
            Error::new(
                self.location_at(at),
                if path.is_empty() {
                    "(top level)".to_string()
                } else {
                    path
                },
                e.message().trim(),
            )
        })?;
        if self.overrides.is_empty() {
            return Ok(parsed);
        }
        let set = self.set_location();
        // Past the end of the file: the spans of the values typed on the command line.
        let marker = self.text.len() + 1;
        let mut root = self.root.clone();
        set::apply(&mut root, self.overrides, self.mode, &set, marker)?;
        let tree = Spanned::new(0..self.text.len(), root);
        T::deserialize(toml::de::Deserializer::from(tree)).map_err(|e: toml::de::Error| {
            let typed = e.span().and_then(|s| s.start.checked_sub(marker));
            let key = match typed.and_then(|i| self.overrides.get(i)) {
                Some((k, _)) => k.clone(),
                None => {
                    let keys: Vec<&str> = self.overrides.iter().map(|o| o.0.as_str()).collect();
                    keys.join(",")
                }
            };
            Error::new(set, key, e.message().trim())
        })
    }

    /// Whether an override sets `path` (`a.b[2].c` or `a.b.2.c`), a key inside it, or a table
    /// that holds it.
    pub fn overridden(&self, path: &str) -> bool {
        let path = path.replace('[', ".").replace(']', "");
        self.overrides
            .iter()
            .any(|(k, _)| within(&path, k) || within(k, &path))
    }

    /// Where the value at key `path` comes from: the command line when an override touches
    /// it, else its key in the file ([`Document::locate`]), else the key of the deepest table
    /// of the path the file writes (the one that lacks the key), else the file.
    pub fn location_of(&self, path: &str) -> Location {
        if self.overridden(path) {
            return self.set_location();
        }
        // A key the file does not write (a required one missing): the table that lacks it.
        let mut at = path;
        loop {
            if let Some(offset) = self.locate(at) {
                return self.location_at(offset);
            }
            match at.rfind(['.', '[']) {
                Some(i) => at = &at[..i],
                None => {
                    return Location::File {
                        file: self.file.to_string(),
                    };
                }
            }
        }
    }

    /// The command line, where the overrides of this document were typed.
    pub fn set_location(&self) -> Location {
        Location::Set {
            file: self.file.to_string(),
            flag: self.flag,
        }
    }

    /// An error about the value at key `path`, located by [`Document::location_of`].
    pub fn error(&self, path: impl Into<String>, message: impl Into<String>) -> Error {
        let path = path.into();
        Error::new(self.location_of(&path), path, message)
    }

    /// A warning about the value at key `path`, located by [`Document::location_of`].
    pub fn warning(&self, path: impl Into<String>, message: impl Into<String>) -> Warning {
        let path = path.into();
        Warning::new(self.location_of(&path), path, message)
    }

    /// The key path (`a.b[2].c`) of the innermost key or value containing byte `offset`
    /// (empty at the top level). Tables written as `[headers]` have no span of their own, so
    /// the search looks inside every table.
    pub fn path_at(&self, offset: usize) -> String {
        let parts = in_table(&self.root, offset).unwrap_or_default();
        let mut out = String::new();
        for p in parts {
            if !out.is_empty() && !p.starts_with('[') {
                out.push('.');
            }
            out.push_str(&p);
        }
        out
    }

    /// Byte offset of the key (or array element) at `path` (`a.b[2].c`); of the deepest one
    /// written when the path goes below a value that is not a table or past an array's end;
    /// `None` when a key of the path is not written.
    pub fn locate(&self, path: &str) -> Option<usize> {
        let mut table = &self.root;
        let mut found = None;
        let mut value: Option<&DeValue> = None;
        for seg in path.split('.') {
            let (name, index) = match seg.split_once('[') {
                Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (seg, None),
            };
            if let Some(v) = value {
                match v {
                    DeValue::Table(t) => table = t,
                    _ => return found,
                }
            }
            let (k, v) = table.iter().find(|(k, _)| k.get_ref() == name)?;
            found = Some(k.span().start);
            let mut v = v;
            if let Some(i) = index {
                match v.get_ref() {
                    DeValue::Array(a) => match a.get(i) {
                        Some(e) => {
                            found = Some(e.span().start);
                            v = e;
                        }
                        None => return found,
                    },
                    _ => return found,
                }
            }
            value = Some(v.get_ref());
        }
        found
    }
}

/// Whether key path `path` is `prefix` or a key inside it (`a.b` holds `a.b.c`, not `a.bc`).
fn within(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn at_offset(text: &str, file: &str, offset: usize) -> Location {
    let (line, column) = position(text, offset);
    Location::At {
        file: file.to_string(),
        line,
        column,
    }
}

/// The path segments to `offset` inside table `t`.
fn in_table(t: &DeTable, offset: usize) -> Option<Vec<String>> {
    for (k, v) in t.iter() {
        let here = k.span().contains(&offset) || v.span().contains(&offset);
        if let Some(mut rest) = in_value(v.get_ref(), offset) {
            rest.insert(0, k.get_ref().to_string());
            return Some(rest);
        }
        if here {
            return Some(vec![k.get_ref().to_string()]);
        }
    }
    None
}

/// The path segments to `offset` inside value `v` (`[i]` for an array element).
fn in_value(v: &DeValue, offset: usize) -> Option<Vec<String>> {
    match v {
        DeValue::Table(t) => in_table(t, offset),
        DeValue::Array(a) => a.iter().enumerate().find_map(|(i, e)| {
            let inner = in_value(e.get_ref(), offset);
            if inner.is_none() && !e.span().contains(&offset) {
                return None;
            }
            let mut out = vec![format!("[{i}]")];
            out.extend(inner.unwrap_or_default());
            Some(out)
        }),
        _ => None,
    }
}
