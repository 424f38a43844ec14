//! Tabular results, rendered for people (aligned table) or programs (JSON, CSV).
//!
//! Every command that prints rows builds a [`Table`] and lets the caller choose the [`Format`],
//! so `--format table|json|csv` means the same thing everywhere.

pub(crate) mod charts;

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Output format of tabular results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// JSON: an array of objects (one per row), keys in column order.
    Json,
    /// CSV with a header row (RFC 4180 quoting).
    Csv,
}

/// A titled table of typed cells. Cells are JSON values so JSON output keeps numbers as numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Table {
    /// Shown above the table form only.
    pub title: Option<String>,
    /// Column names (also the JSON keys and CSV header).
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// An empty table with these columns.
    pub(crate) fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Table {
            title: None,
            columns: columns.into_iter().map(Into::into).collect(),
            rows: vec![],
        }
    }

    /// Set the title.
    pub(crate) fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Append a row; it must have one cell per column.
    pub(crate) fn push(&mut self, row: Vec<Value>) {
        assert_eq!(
            row.len(),
            self.columns.len(),
            "row width must match the columns"
        );
        self.rows.push(row);
    }

    /// The rows as JSON objects keyed by column.
    pub(crate) fn to_json_rows(&self) -> Vec<Value> {
        self.rows
            .iter()
            .map(|r| {
                let m: Map<String, Value> = self
                    .columns
                    .iter()
                    .cloned()
                    .zip(r.iter().cloned())
                    .collect();
                Value::Object(m)
            })
            .collect()
    }

    /// Render in `format`. Text ends with a newline.
    pub(crate) fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.render_table(),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(&Value::Array(self.to_json_rows()))
                    .expect("JSON values serialize");
                s.push('\n');
                s
            }
            Format::Csv => self.render_csv(),
        }
    }

    fn render_table(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(cell_text).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for r in &cells {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                !self.rows.is_empty()
                    && self.rows.iter().all(|r| r[i].is_number() || r[i].is_null())
            })
            .collect();
        let mut out = String::new();
        if let Some(t) = &self.title {
            let _ = writeln!(out, "{t}");
        }
        let line = |out: &mut String, row: &[String]| {
            let parts: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if numeric[i] {
                        format!("{c:>w$}", w = widths[i])
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", parts.join("  ").trim_end());
        };
        line(&mut out, &self.columns);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let _ = writeln!(out, "{}", rule.join("  "));
        for r in &cells {
            line(&mut out, r);
        }
        out
    }

    fn render_csv(&self) -> String {
        let mut out = String::new();
        let row = |out: &mut String, cells: Vec<String>| {
            let quoted: Vec<String> = cells.into_iter().map(|c| csv_quote(&c)).collect();
            let _ = writeln!(out, "{}", quoted.join(","));
        };
        row(&mut out, self.columns.clone());
        for r in &self.rows {
            row(&mut out, r.iter().map(cell_text).collect());
        }
        out
    }
}

/// A key/value table (one row per field) from a JSON object, for showing a single record.
pub(crate) fn key_value_table(title: impl Into<String>, record: &Value) -> Table {
    let mut t = Table::new(["field", "value"]).with_title(title);
    if let Value::Object(m) = record {
        for (k, v) in m {
            t.push(vec![Value::String(k.clone()), Value::String(cell_text(v))]);
        }
    }
    t
}

/// Text of one cell: numbers in their shortest round-trip form.
pub(crate) fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => format_f64(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Shortest round-trip text of an `f64`, scientific when the plain form would be long.
pub(crate) fn format_f64(x: f64) -> String {
    let a = x.abs();
    if x.is_finite() && (a == 0.0 || (1e-4..1e16).contains(&a)) {
        format!("{x}")
    } else if x.is_finite() {
        format!("{x:e}")
    } else if x.is_nan() {
        "nan".into()
    } else if x > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A JSON number from an `f32` value, exact (through its shortest decimal form), or a string for
/// the non-finite values JSON cannot hold.
pub(crate) fn json_f32(x: f32) -> Value {
    if x.is_finite() {
        // The shortest decimal of the f32 parses to the f64 nearest it, which prints the same.
        let s = format!("{x}");
        Value::from(s.parse::<f64>().expect("Display of a finite f32 parses"))
    } else {
        Value::String(crate::numerics::format_value(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Table {
        let mut t = Table::new(["name", "value"]).with_title("T");
        t.push(vec![json!("a,b"), json!(1.5)]);
        t.push(vec![json!("c\"d"), json!(12)]);
        t
    }

    #[test]
    fn renders_three_ways() {
        let t = sample();
        assert_eq!(
            t.render(Format::Table),
            "T\nname  value\n----  -----\na,b     1.5\nc\"d      12\n"
        );
        assert_eq!(
            t.render(Format::Csv),
            "name,value\n\"a,b\",1.5\n\"c\"\"d\",12\n"
        );
        let v: Value = serde_json::from_str(&t.render(Format::Json)).unwrap();
        assert_eq!(
            v,
            json!([{"name": "a,b", "value": 1.5}, {"name": "c\"d", "value": 12}])
        );
    }

    #[test]
    fn json_f32_is_shortest_decimal() {
        assert_eq!(json_f32(0.1).to_string(), "0.1");
        assert_eq!(json_f32(448.0).to_string(), "448.0");
        assert_eq!(json_f32(f32::NAN), json!("nan"));
        assert_eq!(format_f64(3.3895313892515355e38), "3.3895313892515355e38");
    }
}
