//! YAML input with places: the documents of a file as nodes that know their `file:line:col`
//! and key path, so every problem in an imported object is the one located config error.
//!
//! saphyr is the parser: pure Rust, YAML 1.2, maintained, and it keeps the position of every
//! node (serde_yaml, the usual choice, is deprecated and gives positions only for its own
//! errors).

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::config::{self, Location};

/// The documents of a multi-document YAML file (empty documents left out), or its syntax
/// error at `file:line:col`.
pub(super) fn documents<'t>(text: &'t str, file: &str) -> config::Result<Vec<MarkedYaml<'t>>> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        let at = Location::At {
            file: file.to_string(),
            line: m.line(),
            column: m.col() + 1,
        };
        config::Error::new(at, "(syntax)", e.info().to_string())
    })?;
    Ok(docs
        .into_iter()
        .filter(|d| !matches!(d.data, YamlData::Value(Scalar::Null)))
        .collect())
}

/// A node of a document: its value, where it is and its key path.
#[derive(Clone, Debug)]
pub(super) struct Node<'a> {
    pub(super) file: &'a str,
    pub(super) path: String,
    y: &'a MarkedYaml<'a>,
}

impl<'a> Node<'a> {
    /// The root of a document.
    pub(super) fn root(file: &'a str, y: &'a MarkedYaml<'a>) -> Node<'a> {
        Node {
            file,
            path: String::new(),
            y,
        }
    }

    /// Where the node is written.
    pub(super) fn location(&self) -> Location {
        let m = self.y.span.start;
        Location::At {
            file: self.file.to_string(),
            line: m.line(),
            column: m.col() + 1,
        }
    }

    /// An error about this node.
    pub(super) fn error(&self, message: impl Into<String>) -> config::Error {
        let key = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        config::Error::new(self.location(), key, message)
    }

    /// A warning about this node.
    pub(super) fn warning(&self, message: impl Into<String>) -> config::Warning {
        config::Warning::new(self.location(), self.path.clone(), message)
    }

    fn child(&self, key: &str, y: &'a MarkedYaml<'a>) -> Node<'a> {
        let path = match (self.path.is_empty(), key.starts_with('[')) {
            (true, _) | (false, true) => format!("{}{key}", self.path),
            (false, false) => format!("{}.{key}", self.path),
        };
        Node {
            file: self.file,
            path,
            y,
        }
    }

    /// The value of `key` in this mapping, if present and not null.
    pub(super) fn get(&self, key: &str) -> Option<Node<'a>> {
        match &self.y.data {
            YamlData::Mapping(m) => m.iter().find_map(|(k, v)| {
                let named = matches!(&k.data, YamlData::Value(Scalar::String(s)) if s == key);
                let null = matches!(v.data, YamlData::Value(Scalar::Null));
                (named && !null).then(|| self.child(key, v))
            }),
            _ => None,
        }
    }

    /// The value of `key`, which must be present.
    pub(super) fn need(&self, key: &str) -> config::Result<Node<'a>> {
        self.get(key)
            .ok_or_else(|| self.error(format!("missing '{key}'")))
    }

    /// The elements of this sequence.
    pub(super) fn items(&self) -> config::Result<Vec<Node<'a>>> {
        match &self.y.data {
            YamlData::Sequence(s) => Ok(s
                .iter()
                .enumerate()
                .map(|(i, y)| self.child(&format!("[{i}]"), y))
                .collect()),
            _ => Err(self.error("expected a list")),
        }
    }

    /// The elements of the sequence at `key` (none when absent).
    pub(super) fn list(&self, key: &str) -> config::Result<Vec<Node<'a>>> {
        self.get(key).map_or(Ok(Vec::new()), |n| n.items())
    }

    /// This scalar as text (a number or boolean as written).
    pub(super) fn text(&self) -> config::Result<String> {
        match &self.y.data {
            YamlData::Value(Scalar::String(s)) => Ok(s.to_string()),
            YamlData::Value(Scalar::Integer(i)) => Ok(i.to_string()),
            YamlData::Value(Scalar::FloatingPoint(f)) => Ok(f.to_string()),
            YamlData::Value(Scalar::Boolean(b)) => Ok(b.to_string()),
            _ => Err(self.error("expected a single value")),
        }
    }

    /// The values of this mapping, as text (scalars only).
    pub(super) fn values(&self) -> config::Result<Vec<String>> {
        match &self.y.data {
            YamlData::Mapping(m) => m.values().map(|v| self.child("", v).text()).collect(),
            _ => Err(self.error("expected a mapping")),
        }
    }

    /// The text at `key`, if present.
    pub(super) fn text_at(&self, key: &str) -> config::Result<Option<String>> {
        self.get(key).map(|n| n.text()).transpose()
    }

    /// This scalar as a Kubernetes quantity (`64`, `"64"`, `1k`, `500m`, `2Ki`).
    pub(super) fn quantity(&self) -> config::Result<f64> {
        let t = self.text()?;
        parse_quantity(&t).ok_or_else(|| {
            self.error(format!(
                "'{t}' is not a quantity (a number with an optional suffix: m, k, M, G, Ki, Mi, ...)"
            ))
        })
    }

    /// This quantity as a whole, non-negative count (chips).
    pub(super) fn count(&self) -> config::Result<u64> {
        let q = self.quantity()?;
        if q < 0.0 || q.fract() != 0.0 || q > 1e15 {
            return Err(self.error(format!("{q} is not a whole number of chips")));
        }
        Ok(q as u64)
    }
}

/// A Kubernetes quantity: a decimal number with an optional SI or binary suffix.
pub(super) fn parse_quantity(t: &str) -> Option<f64> {
    let t = t.trim();
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (num, scale) = suffixes
        .iter()
        .find_map(|(s, f)| t.strip_suffix(s).map(|n| (n, *f)))
        .unwrap_or((t, 1.0));
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && !num.is_empty()).then_some(v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_place() {
        let text = "---\na: 1\nb:\n  - c: \"2k\"\n  - c: 500m\n---\n---\nx: [1, 2]\n";
        let docs = documents(text, "f.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        let root = Node::root("f.yaml", &docs[0]);
        let b = root.list("b").unwrap();
        assert_eq!(b[1].need("c").unwrap().quantity().unwrap(), 0.5);
        assert_eq!(b[0].need("c").unwrap().count().unwrap(), 2000);
        let e = b[1].need("c").unwrap().count().unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml:5:8: b[1].c: 0.5 is not a whole number of chips"
        );
        assert_eq!(root.need("a").unwrap().text().unwrap(), "1");
        let e = root.need("zz").unwrap_err().to_string();
        assert_eq!(e, "f.yaml:2:1: (document): missing 'zz'");
        let e = documents("a: [1,\n", "g.yaml").unwrap_err().to_string();
        assert!(e.starts_with("g.yaml:2:1: (syntax): "), "{e}");
        assert_eq!(parse_quantity("2Ki"), Some(2048.0));
        assert_eq!(parse_quantity("k"), None);
    }
}
