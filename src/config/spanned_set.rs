//! `--set` overrides applied to the spanned tree a [`super::Document`] parsed, not to a
//! [`toml::Table`]: `toml::Value` holds integers as `i64`, so re-reading the file through it
//! refused any integer above 2^63 written anywhere in it ("u64 value was too large") as soon as
//! one override was given. The spanned tree keeps each integer's text, so the schema decides.
//! Same rules and messages as [`super::set_path`].

use std::borrow::Cow;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Error, Location, Result};
use super::set::{Mode, index};

type Node<'a> = Spanned<DeValue<'a>>;

/// Apply `overrides` in order to `root`; an error is located at `set` and names the
/// override's key. Each value typed gets the span `marker + i` (`i` its index), past the end of
/// the file, so an error about it can be told from one about the file.
pub(super) fn apply<'a>(
    root: &mut DeTable<'a>,
    overrides: &'a [(String, String)],
    mode: Mode,
    set: &Location,
    marker: usize,
) -> Result<()> {
    for (i, (k, v)) in overrides.iter().enumerate() {
        let value = literal(v, marker + i);
        set_path(root, k, value, v, mode)
            .map_err(|message| Error::new(set.clone(), k.clone(), message))?;
    }
    Ok(())
}

/// A typed value as a TOML literal, anything else the string itself (as
/// [`super::parse_literal`]), spanned at `at`.
fn literal(raw: &str, at: usize) -> Node<'_> {
    let value = match DeValue::parse(raw) {
        Ok(v) => v.into_inner(),
        Err(_) => DeValue::String(Cow::Borrowed(raw)),
    };
    Spanned::new(at..at + 1, value)
}

fn set_path<'a>(
    root: &mut DeTable<'a>,
    path: &str,
    value: Node<'a>,
    raw: &str,
    mode: Mode,
) -> std::result::Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if mode == Mode::Insert && parts.iter().any(|p| p.trim().is_empty()) {
        return Err("expected a dotted key path such as tenants.anchor.weight".into());
    }
    let (first, rest) = parts.split_first().expect("split gives at least one part");
    if rest.is_empty() {
        return set_leaf(root, first, value, raw, mode);
    }
    let mut node = child(root, first, mode)?;
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        let here = parts[..=i].join(".");
        node = match node.get_mut() {
            DeValue::Table(t) if last => return set_leaf(t, part, value, raw, mode),
            DeValue::Table(t) => child(t, part, mode)?,
            DeValue::Array(a) => {
                let k = index(a.len(), part, &here, mode)?;
                if k == a.len() {
                    if last {
                        a.push(value);
                        return Ok(());
                    }
                    a.push(Spanned::new(value.span(), DeValue::Table(DeTable::new())));
                }
                if last {
                    return replace(&mut a.as_mut()[k], value, raw, mode);
                }
                &mut a.as_mut()[k]
            }
            _ => return Err(format!("'{here}' is not a table")),
        };
    }
    Ok(())
}

fn child<'t, 'a>(
    table: &'t mut DeTable<'a>,
    key: &str,
    mode: Mode,
) -> std::result::Result<&'t mut Node<'a>, String> {
    if !table.contains_key(key) {
        if mode == Mode::Strict {
            return Err(unknown(table, key));
        }
        let empty = Spanned::new(0..0, DeValue::Table(DeTable::new()));
        table.insert(Spanned::new(0..0, Cow::Owned(key.to_string())), empty);
    }
    Ok(table
        .get_mut(key)
        .expect("the key was just checked or inserted"))
}

fn set_leaf<'a>(
    table: &mut DeTable<'a>,
    key: &str,
    value: Node<'a>,
    raw: &str,
    mode: Mode,
) -> std::result::Result<(), String> {
    match table.get_mut(key) {
        Some(slot) => replace(slot, value, raw, mode),
        None if mode == Mode::Insert => {
            let at = value.span();
            table.insert(Spanned::new(at, Cow::Owned(key.to_string())), value);
            Ok(())
        }
        None => Err(unknown(table, key)),
    }
}

/// Overwrite `slot`; in strict mode only with a value of the same type (an integer may set a
/// float: serde reads a float from it).
fn replace<'a>(
    slot: &mut Node<'a>,
    value: Node<'a>,
    raw: &str,
    mode: Mode,
) -> std::result::Result<(), String> {
    if mode == Mode::Strict {
        let (old, new) = (slot.get_ref(), value.get_ref());
        if !(old.same_type(new) || (old.is_float() && new.is_integer())) {
            return Err(format!("expected a {}, found '{raw}'", old.type_str()));
        }
    }
    *slot = value;
    Ok(())
}

fn unknown(table: &DeTable, key: &str) -> String {
    let mut keys: Vec<&str> = table.keys().map(|k| k.get_ref().as_ref()).collect();
    keys.sort_unstable();
    format!(
        "unknown field '{key}'; expected one of: {}",
        keys.join(", ")
    )
}
