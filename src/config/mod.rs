//! Configuration input: one home for reading TOML files with their places, `--set` overrides
//! and `KEY=VALUE` arguments, and the one located error every input-file problem becomes.
//!
//! Lifecycle of an input:
//! 1. [`Document::parse`]: the text is parsed with the spans of its keys (a syntax error is an
//!    [`Error`] at its `file:line:col`).
//! 2. [`Document::with_overrides`]: `--set` pairs (from [`parse_pair`] or [`parse_list`]) are
//!    attached with a [`Mode`]: [`Mode::Strict`] (the key must exist and keep its type: hardware)
//!    or [`Mode::Insert`] (added, then refused by the schema's `deny_unknown_fields`: scenarios);
//!    [`Document::with_flag`] names the flag that typed them (`--hw-set`; `--set` by default).
//! 3. [`Document::load`]: serde reads the file as written, then with the overrides applied;
//!    its errors are located by byte offset (turned into a key path and `line:col`).
//! 4. The caller's checks report a key path through [`Document::error`], which finds its
//!    `line:col` (or `file (--set)` when an override wrote it).
//!
//! A value that is accepted but probably not what was meant is a [`Warning`] of the same shape
//! ([`Document::warning`]); the library collects them and the command line prints them.
//!
//! Every such error displays as `file:line:col: key.path: message`; layers wrap [`Error`] with
//! `#[from]`. A caller that checks what overrides would make of a file before loading it (the
//! names a scenario declares) applies them with [`set_path`] to a copy of [`Document::root`].

mod depth;
mod document;
mod error;
mod named;
mod pairs;
mod set;
mod text;

pub use document::{Document, position};
pub use error::{Error, Location, Result, Warning};
pub use named::Named;
pub use pairs::{PairError, parse_list, parse_pair};
pub use set::{Mode, set_path};
pub use text::{ENCODING_KEY, MAX_TEXT_INPUT_BYTES, decode, located, read_bounded, read_text};

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    // Lines start at bytes 0, 8, 14 and 22; on line 4, `d` is byte 32, the second element
    // starts at 41, `é` takes bytes 44-45 and `f` is byte 53 (character 31 of its line).
    const TEXT: &str = "top = 1\n[a.b]\nc = \"x\"\nlist = [{ d = 2 }, { \"é\" = 3, f = 4 }]\n";

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position(TEXT, 0), (1, 1));
        assert_eq!(position(TEXT, 6), (1, 7));
        assert_eq!(position(TEXT, 8), (2, 1));
        assert_eq!(position(TEXT, 14), (3, 1));
        assert_eq!(TEXT.find("f =").unwrap(), 53);
        assert_eq!(position(TEXT, 53), (4, 31));
        // Inside `é` rounds down to its start.
        assert_eq!(position(TEXT, 45), (4, 23));
        assert_eq!(position(TEXT, 10_000), (5, 1));
    }

    #[test]
    fn key_paths_from_offsets_and_offsets_from_key_paths() {
        let doc = Document::parse(TEXT, "t.toml").unwrap();
        assert_eq!(doc.path_at(0), "top");
        assert_eq!(doc.path_at(6), "top");
        assert_eq!(doc.path_at(14), "a.b.c");
        assert_eq!(doc.path_at(32), "a.b.list[0].d");
        assert_eq!(doc.path_at(31), "a.b.list[0]");
        assert_eq!(doc.path_at(53), "a.b.list[1].f");
        assert_eq!(doc.locate("top"), Some(0));
        assert_eq!(doc.locate("a.b.c"), Some(14));
        assert_eq!(doc.locate("a.b.list[1]"), Some(41));
        assert_eq!(doc.locate("a.b.list[1].f"), Some(53));
        // Below a value that is not a table: that value's key; a key not written: none.
        assert_eq!(doc.locate("a.b.c.z"), Some(14));
        assert_eq!(doc.locate("a.b.list[7]"), Some(22));
        assert_eq!(doc.locate("a.b.zz"), None);
        assert_eq!(doc.locate("nope.x"), None);
        assert_eq!(
            doc.error("a.b.list[1].f", "too big").to_string(),
            "t.toml:4:31: a.b.list[1].f: too big"
        );
        assert_eq!(
            doc.error("nope", "missing").to_string(),
            "t.toml: nope: missing"
        );
    }

    #[test]
    fn syntax_and_schema_errors_are_located() {
        let e = Document::parse("a = 1\nb = = 2\n", "s.toml").err().unwrap();
        assert!(e.to_string().starts_with("s.toml:2:5: (syntax): "), "{e}");
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: Inner,
        }
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            n: u32,
        }
        let text = "[a]\nn = 1\nm = 2\n";
        let e = Document::parse(text, "s.toml")
            .unwrap()
            .load::<S>()
            .unwrap_err();
        assert_eq!(e.location.to_string(), "s.toml:3:1");
        assert_eq!(e.key, "a.m");
        let e = Document::parse("[a]\nn = \"x\"\n", "s.toml")
            .unwrap()
            .load::<S>()
            .unwrap_err();
        assert_eq!(
            (e.location.to_string(), e.key),
            ("s.toml:2:5".into(), "a.n".into())
        );
    }

    #[test]
    fn overrides_insert_then_the_schema_decides() {
        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct S {
            a: Inner,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Inner {
            n: u32,
            m: Option<u32>,
        }
        let text = "[a]\nn = 1\n";
        let set = parse_list(&["a.m=5", "a.n = 2"]).unwrap();
        let doc = Document::parse(text, "s.toml")
            .unwrap()
            .with_overrides(&set, Mode::Insert);
        let s: S = doc.load().unwrap();
        assert_eq!(s.a, Inner { n: 2, m: Some(5) });
        assert_eq!(doc.location_of("a.n").to_string(), "s.toml (--set)");
        assert_eq!(doc.location_of("a").to_string(), "s.toml (--set)");
        // A key inside an override is overridden; a sibling that shares its prefix is not.
        let doc = Document::parse("[a]\nn = 1\nnn = 2\nl = [1]\n", "s.toml").unwrap();
        let set = parse_list(&["a.n=3", "a.l.1=2"]).unwrap();
        let doc = doc.with_overrides(&set, Mode::Insert);
        assert!(doc.overridden("a.n") && doc.overridden("a") && doc.overridden("a.l[1]"));
        assert!(!doc.overridden("a.nn") && !doc.overridden("a.l[0]"));
        assert_eq!(
            doc.warning("a.nn", "odd").to_string(),
            "s.toml:3:1: a.nn: odd"
        );
        let bad = parse_list(&["a.k=1"]).unwrap();
        let e = Document::parse(text, "s.toml")
            .unwrap()
            .with_overrides(&bad, Mode::Insert)
            .load::<S>()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("s.toml (--set): a.k: unknown field"),
            "{e}"
        );
    }

    /// The tree with `overrides` applied, read back as a `toml::Table` to compare.
    fn set_all(text: &str, sets: &[(&str, &str)], mode: Mode) -> Result<toml::Table> {
        let doc = Document::parse(text, "f.toml").unwrap();
        let overrides: Vec<(String, String)> = sets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        doc.with_overrides(&overrides, mode).load::<toml::Table>()
    }

    #[test]
    fn set_path_strict_and_insert() {
        let text = "x = 1.5\n[a]\nn = 1\nl = [{ v = 1 }, 2]\n";
        let strict = |k: &str, v: &str| {
            let mut root = Document::parse(text, "f.toml").unwrap().root().clone();
            set_path(&mut root, k, v, Mode::Strict)
        };
        let t = set_all(text, &[("x", "2"), ("a.l.0.v", "7")], Mode::Strict).unwrap();
        // An integer may set a float (the schema's f64 reads it).
        assert_eq!(t["x"], toml::Value::Integer(2));
        assert_eq!(t["a"]["l"][0]["v"], toml::Value::Integer(7));
        assert_eq!(
            strict("a.z", "1").unwrap_err(),
            "unknown field 'z'; expected one of: l, n"
        );
        assert_eq!(
            strict("a.n", "many").unwrap_err(),
            "expected a integer, found 'many'"
        );
        assert_eq!(strict("a.n.q", "1").unwrap_err(), "'a.n' is not a table");
        assert_eq!(
            strict("a.l.2", "1").unwrap_err(),
            "index 2 is out of range; 'a.l' has 2 entries"
        );
        let insert = |k: &str, v: &str| {
            let mut root = Document::parse(text, "f.toml").unwrap().root().clone();
            set_path(&mut root, k, v, Mode::Insert)
        };
        assert_eq!(
            insert("a.l.x", "1").unwrap_err(),
            "'a.l' is an array; expected an index, found 'x'"
        );
        assert_eq!(
            insert("a.l.5", "1").unwrap_err(),
            "index 5 is out of range; 'a.l' has 2 entries (index 2 appends one)"
        );
        assert!(insert("a..b", "1").is_err());
        // A literal is typed; anything else is the string itself. The next index extends a
        // list: a new table filled key by key, or a value.
        let sets = [
            ("b.c.d", "\"s\""),
            ("a.n", "fair"),
            ("b.e", "[1, 2]"),
            ("a.l.2.v", "3"),
            ("a.l.2.w", "4"),
            ("a.l.3", "5"),
        ];
        let t = set_all(text, &sets, Mode::Insert).unwrap();
        assert_eq!(t["b"]["c"]["d"], toml::Value::String("s".into()));
        assert_eq!(t["a"]["n"], toml::Value::String("fair".into()));
        assert_eq!(t["b"]["e"], toml::Value::Array(vec![1.into(), 2.into()]));
        assert_eq!(
            t["a"]["l"],
            "l = [{ v = 1 }, 2, { v = 3, w = 4 }, 5]"
                .parse::<toml::Table>()
                .unwrap()["l"]
        );
        let e = set_all(text, &[("a.l.1.q", "1")], Mode::Insert).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.toml (--set): a.l.1.q: 'a.l.1' is not a table"
        );
    }

    #[test]
    fn key_value_lists() {
        assert_eq!(
            parse_list(&["a=1, b.c = x", "", "d=e=f"]).unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b.c".into(), "x".into()),
                ("d".into(), "e=f".into())
            ]
        );
        assert_eq!(
            parse_list(&["a=1,b"]).unwrap_err().to_string(),
            "expected KEY=VALUE, found 'b'"
        );
        assert!(parse_pair("=1").is_err());
        assert_eq!(parse_pair(" k = a,b ").unwrap(), ("k".into(), "a,b".into()));
    }
}
