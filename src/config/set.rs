//! `--set KEY=VALUE` overrides: a value typed on the command line, read as a TOML literal, put
//! at a dotted key path of a TOML table before the table is deserialized.

use super::error::{Error, Location, Result};

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

/// A typed value as a TOML literal (`3`, `1.5`, `true`, `"x"`, `[1, 2]`, `{ a = 1 }`);
/// anything else is the string itself (`fair`, `2h`).
pub fn parse_literal(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// Set `a.b.c = raw` in `root`; a numeric segment indexes an array (in insert mode, the index
/// one past its end appends an element: `fleet.deliveries.3.at` on a list of 3). The error is
/// the message alone (the caller knows the location).
pub fn set_path(
    root: &mut toml::Table,
    path: &str,
    raw: &str,
    mode: Mode,
) -> std::result::Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if mode == Mode::Insert && parts.iter().any(|p| p.trim().is_empty()) {
        return Err("expected a dotted key path such as tenants.anchor.weight".into());
    }
    let value = parse_literal(raw);
    let (first, rest) = parts.split_first().expect("split gives at least one part");
    if rest.is_empty() {
        return set_leaf(root, first, value, raw, mode);
    }
    let mut node = child(root, first, mode)?;
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        // The path of `node`.
        let here = parts[..=i].join(".");
        node = match node {
            toml::Value::Table(t) if last => return set_leaf(t, part, value, raw, mode),
            toml::Value::Table(t) => child(t, part, mode)?,
            toml::Value::Array(a) => {
                let k = index(a.len(), part, &here, mode)?;
                if k == a.len() {
                    // Insert mode extends a list by its next index: a new element, a table
                    // unless the path ends here.
                    if last {
                        a.push(value);
                        return Ok(());
                    }
                    a.push(toml::Value::Table(toml::Table::new()));
                }
                if last {
                    return replace(&mut a[k], value, raw, mode);
                }
                &mut a[k]
            }
            _ => return Err(format!("'{here}' is not a table")),
        };
    }
    Ok(())
}

/// The value under `key` of `table`, added as an empty table in insert mode.
fn child<'t>(
    table: &'t mut toml::Table,
    key: &str,
    mode: Mode,
) -> std::result::Result<&'t mut toml::Value, String> {
    if mode == Mode::Strict && !table.contains_key(key) {
        return Err(unknown(table, key));
    }
    Ok(table
        .entry(key.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new())))
}

/// The array index `part` names in an array of `len` entries at `here`; in insert mode `len`
/// itself (the next element, appended).
pub(super) fn index(
    len: usize,
    part: &str,
    here: &str,
    mode: Mode,
) -> std::result::Result<usize, String> {
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

/// Set the last key of a path in `table`.
fn set_leaf(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
    raw: &str,
    mode: Mode,
) -> std::result::Result<(), String> {
    match table.get_mut(key) {
        Some(slot) => replace(slot, value, raw, mode),
        None if mode == Mode::Insert => {
            table.insert(key.to_string(), value);
            Ok(())
        }
        None => Err(unknown(table, key)),
    }
}

/// Overwrite `slot`; in strict mode only with a value of the same type (an integer may set a
/// float, and becomes one).
fn replace(
    slot: &mut toml::Value,
    value: toml::Value,
    raw: &str,
    mode: Mode,
) -> std::result::Result<(), String> {
    if mode == Mode::Strict {
        if std::mem::discriminant(&value) != std::mem::discriminant(slot)
            && !(slot.is_float() && value.is_integer())
        {
            return Err(format!("expected a {}, found '{raw}'", slot.type_str()));
        }
        if let (true, toml::Value::Integer(i)) = (slot.is_float(), &value) {
            *slot = toml::Value::Float(*i as f64);
            return Ok(());
        }
    }
    *slot = value;
    Ok(())
}

fn unknown(table: &toml::Table, key: &str) -> String {
    let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
    keys.sort_unstable();
    format!(
        "unknown field '{key}'; expected one of: {}",
        keys.join(", ")
    )
}

/// Apply `overrides` in order to `root`; an error is located at `set` (the command line, `file
/// (--set)`) and names the override's key.
pub fn apply(
    root: &mut toml::Table,
    overrides: &[(String, String)],
    mode: Mode,
    set: &Location,
) -> Result<()> {
    for (k, v) in overrides {
        set_path(root, k, v, mode)
            .map_err(|message| Error::new(set.clone(), k.clone(), message))?;
    }
    Ok(())
}
