//! Kernel definitions (`kernels/*.toml`): a kernel's name, description and parameters with their
//! defaults and valid ranges, and the parameter values a user sets against them.
//!
//! The definitions are data, embedded in the binary so `trnsim kernel list` works anywhere; the
//! lowering that gives them meaning is Rust (one file per kernel in this module).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Error, Result};
use crate::config::Document;
use crate::numerics::DType;

/// One kernel's definition.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelDef {
    /// Name used on the command line.
    pub name: String,
    /// One paragraph: what it computes and how it is lowered.
    pub description: String,
    /// Parameters, in the order they are shown.
    #[serde(rename = "param")]
    pub params: Vec<ParamDef>,
}

/// The kind of a parameter's value.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A non-negative integer with `min` / `max`.
    Int,
    /// A storage dtype from `choices`.
    Dtype,
    /// One word from `choices`.
    Choice,
    /// `true` or `false`.
    Bool,
}

/// One parameter.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamDef {
    /// Name (`m`, `dtype`, ...).
    pub name: String,
    /// Kind of value.
    pub kind: Kind,
    /// Default value.
    pub default: toml::Value,
    /// Smallest value (ints).
    pub min: Option<u64>,
    /// Largest value (ints).
    pub max: Option<u64>,
    /// Valid values (dtypes and choices).
    #[serde(default)]
    pub choices: Vec<String>,
    /// What it means.
    pub doc: String,
}

/// A parameter's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Integer.
    Int(u64),
    /// Dtype.
    Dtype(DType),
    /// Word.
    Choice(String),
    /// Flag.
    Bool(bool),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Dtype(d) => write!(f, "{}", d.name()),
            Value::Choice(s) => write!(f, "{s}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Every parameter of a kernel with its value (defaults filled in).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    kernel: String,
    values: BTreeMap<String, Value>,
    order: Vec<String>,
}

impl KernelDef {
    /// Parse and validate a definition; errors are located at the key of the parameter at
    /// fault (`file:line:col: param[2].default: message`).
    pub fn from_toml(text: &str, file: &str) -> Result<KernelDef> {
        let doc = Document::parse(text, file)?;
        let def: KernelDef = doc.load()?;
        for (i, p) in def.params.iter().enumerate() {
            // A key that is missing is reported at its parameter's table.
            let bad = |key: &str, message: String| {
                doc.error(
                    format!("param[{i}]{key}"),
                    format!("'{}': {message}", p.name),
                )
            };
            if matches!(p.kind, Kind::Dtype | Kind::Choice) && p.choices.is_empty() {
                return Err(bad("", "needs `choices`".into()).into());
            }
            if p.kind == Kind::Int && (p.min.is_none() || p.max.is_none()) {
                return Err(bad("", "an int needs `min` and `max`".into()).into());
            }
            def.value(p, &p.default).map_err(|e| bad(".default", e))?;
        }
        Ok(def)
    }

    /// The values of `set` (`name=value` pairs, as typed), defaults for the rest.
    pub fn params(&self, set: &[(String, String)]) -> Result<Params> {
        let mut values = BTreeMap::new();
        for p in &self.params {
            values.insert(p.name.clone(), self.value(p, &p.default).expect("checked"));
        }
        for (name, raw) in set {
            let Some(p) = self.params.iter().find(|p| &p.name == name) else {
                return Err(self.err(
                    name,
                    format!(
                        "unknown parameter; '{}' has: {}",
                        self.name,
                        self.params
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let v = match p.kind {
                Kind::Int => raw
                    .parse::<u64>()
                    .map(|v| toml::Value::Integer(v.min(i64::MAX as u64) as i64))
                    .map_err(|_| {
                        self.err(
                            name,
                            format!("expected a non-negative integer, found '{raw}'"),
                        )
                    })?,
                Kind::Bool => raw.parse::<bool>().map(toml::Value::Boolean).map_err(|_| {
                    self.err(name, format!("expected true or false, found '{raw}'"))
                })?,
                Kind::Dtype | Kind::Choice => toml::Value::String(raw.clone()),
            };
            let v = self.value(p, &v).map_err(|m| self.err(name, m))?;
            values.insert(name.clone(), v);
        }
        Ok(Params {
            kernel: self.name.clone(),
            values,
            order: self.params.iter().map(|p| p.name.clone()).collect(),
        })
    }

    fn err(&self, param: &str, message: String) -> Error {
        Error::Param {
            kernel: self.name.clone(),
            param: param.to_string(),
            message,
        }
    }

    fn value(&self, p: &ParamDef, v: &toml::Value) -> std::result::Result<Value, String> {
        match (p.kind, v) {
            (Kind::Int, toml::Value::Integer(i)) => {
                let (lo, hi) = (p.min.unwrap_or(0), p.max.unwrap_or(u64::MAX));
                match u64::try_from(*i) {
                    Ok(x) if (lo..=hi).contains(&x) => Ok(Value::Int(x)),
                    _ => Err(format!("{i} is out of range {lo}..={hi}")),
                }
            }
            (Kind::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
            (Kind::Dtype, toml::Value::String(s)) => {
                let d: DType = s
                    .parse()
                    .map_err(|e: crate::numerics::Error| e.to_string())?;
                if p.choices.iter().any(|c| c.parse::<DType>().ok() == Some(d)) {
                    Ok(Value::Dtype(d))
                } else {
                    Err(format!(
                        "dtype {} is not supported here; choose one of: {}",
                        d.name(),
                        p.choices.join(", ")
                    ))
                }
            }
            (Kind::Choice, toml::Value::String(s)) => {
                if p.choices.contains(s) {
                    Ok(Value::Choice(s.clone()))
                } else {
                    Err(format!("'{s}' is not one of: {}", p.choices.join(", ")))
                }
            }
            (k, v) => Err(format!("expected a {k:?} value, found {v}")),
        }
    }
}

impl Params {
    /// The kernel these belong to.
    pub fn kernel(&self) -> &str {
        &self.kernel
    }

    fn get(&self, name: &str) -> &Value {
        self.values
            .get(name)
            .unwrap_or_else(|| panic!("kernel '{}' has no parameter '{name}'", self.kernel))
    }

    /// An integer parameter (the definition guarantees kind and range).
    pub fn int(&self, name: &str) -> usize {
        match self.get(name) {
            Value::Int(v) => *v as usize,
            v => panic!("parameter '{name}' is {v:?}, not an int"),
        }
    }

    /// A dtype parameter.
    pub fn dtype(&self, name: &str) -> DType {
        match self.get(name) {
            Value::Dtype(d) => *d,
            v => panic!("parameter '{name}' is {v:?}, not a dtype"),
        }
    }

    /// A choice parameter.
    pub fn choice(&self, name: &str) -> &str {
        match self.get(name) {
            Value::Choice(s) => s,
            v => panic!("parameter '{name}' is {v:?}, not a choice"),
        }
    }

    /// A flag.
    pub fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            Value::Bool(b) => *b,
            v => panic!("parameter '{name}' is {v:?}, not a bool"),
        }
    }

    /// `name=value` pairs in definition order (for reports and trace headers).
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.order
            .iter()
            .map(|n| (n.clone(), self.values[n].to_string()))
            .collect()
    }

    /// Replace one value (for composite kernels that call others); the caller keeps it valid.
    pub fn with(mut self, name: &str, v: Value) -> Params {
        assert!(self.values.contains_key(name), "no parameter '{name}'");
        self.values.insert(name.to_string(), v);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_errors_are_located_at_the_parameter() {
        let text = "name = \"k\"\ndescription = \"d\"\n\n[[param]]\nname = \"m\"\nkind = \"int\"\n\
                    default = 0\nmin = 1\nmax = 4\ndoc = \"rows\"\n\n[[param]]\nname = \"t\"\n\
                    kind = \"choice\"\ndefault = \"a\"\ndoc = \"which\"\n";
        let e = KernelDef::from_toml(text, "k.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "k.toml:7:1: param[0].default: 'm': 0 is out of range 1..=4"
        );
        let e = KernelDef::from_toml(&text.replace("default = 0", "default = 2"), "k.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "k.toml:12:1: param[1]: 't': needs `choices`");
        let e = KernelDef::from_toml(&text.replace("kind = \"int\"", "kind = \"real\""), "k.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("k.toml:6:8: param[0].kind: unknown variant"),
            "{e}"
        );
    }
}
