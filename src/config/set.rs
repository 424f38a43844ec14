//! `--set KEY=VALUE` overrides: a value typed on the command line, read as a TOML literal, put
//! at a dotted key path of the spanned tree a [`super::Document`] parsed, before the tree is
//! deserialized. The tree keeps each integer's text, so the schema decides what a value may be
//! (`toml::Value` holds integers as `i64`: through it, any integer above 2^63 written anywhere in
//! a file was refused as soon as one override was given).

use std::borrow::Cow;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Error, Location, Result};

type Node<'a> = Spanned<DeValue<'a>>;

/// What an override may do to keys the input does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every key of the path must exist and the value must keep its TOML type (an integer may
    /// set a float): for complete descriptions such as hardware, where a new key is a typo.
    Strict,
    /// Missing tables and keys are added; the schema (serde's `deny_unknown_fields`) refuses
    /// the ones that do not belong: for inputs with optional keys such as scenarios.
    Insert,
}

/// The array index `part` names in an array of `len` entries at `here`; in insert mode `len`
/// itself (the next element, appended).
fn index(len: usize, part: &str, here: &str, mode: Mode) -> std::result::Result<usize, String> {
    let k: usize = part
        .parse()
        .map_err(|_| format!("'{here}' is an array; expected an index, found '{part}'"))?;
    match mode {
        Mode::Insert if k > len => Err(format!(
            "index {k} is out of range; '{here}' has {len} entries (index {len} appends one)"
        )),
        Mode::Strict if k >= len => Err(format!(
            "index {k} is out of range; '{here}' has {len} entries"
        )),
        _ => Ok(k),
    }
}

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
        set_node(root, k, value, v, mode)
            .map_err(|message| Error::new(set.clone(), k.clone(), message))?;
    }
    Ok(())
}

/// A typed value as a TOML literal (`3`, `1.5`, `true`, `"x"`, `[1, 2]`, `{ a = 1 }`);
/// anything else is the string itself (`fair`, `2h`), spanned at `at`.
fn literal(raw: &str, at: usize) -> Node<'_> {
    let value = match DeValue::parse(raw) {
        Ok(v) => v.into_inner(),
        Err(_) => DeValue::String(Cow::Borrowed(raw)),
    };
    Spanned::new(at..at + 1, value)
}

/// Set `a.b.c = raw` in `root`; a numeric segment indexes an array (in insert mode, the index
/// one past its end appends an element: `fleet.deliveries.3.at` on a list of 3). The error is
/// the message alone (the caller knows the location).
pub fn set_path<'a>(
    root: &mut DeTable<'a>,
    path: &str,
    raw: &'a str,
    mode: Mode,
) -> std::result::Result<(), String> {
    set_node(root, path, literal(raw, 0), raw, mode)
}

fn set_node<'a>(
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
                    // Insert mode extends a list by its next index: a new element, a table
                    // unless the path ends here.
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

/// The value under `key` of `table`, added as an empty table in insert mode.
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

/// Set the last key of a path in `table`.
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
