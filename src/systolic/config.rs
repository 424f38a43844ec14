//! SCALE-Sim config files (`*.cfg`), read by our own small parser so that every error names the
//! file and line.
//!
//! The format is Python `configparser`'s INI dialect as SCALE-Sim 3.0.0 reads it
//! (`scale_config.py`):
//!
//! ```text
//! [general]
//! run_name = tpu_like
//!
//! [architecture_presets]
//! ArrayHeight:    128
//! ArrayWidth:     128
//! IfmapSramSzkB:  6144
//! FilterSramSzkB: 6144
//! OfmapSramSzkB:  2048
//! Dataflow : ws
//! Bandwidth : 10
//!
//! [run_presets]
//! InterfaceBandwidth: CALC
//! ```
//!
//! - `key = value` or `key : value` (the first `=` or `:` splits); keys are case-insensitive,
//!   section names are not; values are trimmed; `#` and `;` start comment lines (not inline
//!   comments: `128 # rows` is not a number, to SCALE-Sim either).
//! - Required, because the model needs them: `run_name`; `ArrayHeight`, `ArrayWidth`,
//!   `IfmapSramSzkB`, `FilterSramSzkB`, `OfmapSramSzkB`, `Dataflow` (`ws`, `os` or `is`);
//!   `InterfaceBandwidth` (`CALC`: stall-free, or `USER`); `Bandwidth` when `USER` (words per
//!   cycle: one value for every interface, or three for ifmap, filter, ofmap).
//! - Keys SCALE-Sim reads but that do not change its stall-free timing (offsets, request
//!   buffers, `[layout]`, `UseRamulatorTrace`, `[sparsity]` when off, `[network_presets]`, and
//!   the memory-bank keys older configs carry) are optional; when present, numbers must be
//!   numbers. SCALE-Sim 3.0.0 insists on some of them; trnsim does not.
//! - Like SCALE-Sim, unknown keys and sections are ignored; unlike it, each one is reported as a
//!   warning (a misspelt key is then visible). Duplicate sections or keys are errors, as in
//!   `configparser`. Features that change the timing and are not modelled are errors:
//!   `SparsitySupport : true`, `UseRamulatorTrace: True`.

use super::error::{Error, Result};
use super::memory::Memory;
use super::model::{Array, Dataflow, MAX_ARRAY_SIDE};

/// A SCALE-Sim config: the array, its SRAMs and DRAM interface, the dataflow.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Config {
    /// `[general] run_name`.
    pub run_name: String,
    /// `ArrayHeight` x `ArrayWidth`.
    pub array: Array,
    /// `Dataflow`.
    pub dataflow: Dataflow,
    /// `IfmapSramSzkB`, `FilterSramSzkB`, `OfmapSramSzkB`.
    pub sram_kb: [u64; 3],
    /// `Bandwidth` in words per cycle for the ifmap, filter and ofmap interfaces when
    /// `InterfaceBandwidth` is `USER`; `None` for `CALC` (stall-free).
    pub bandwidth: Option<[u64; 3]>,
    /// Keys and sections ignored, each as `file:line: message`.
    pub warnings: Vec<String>,
}

impl Config {
    /// The memory system the config describes (1-byte words, as SCALE-Sim's `word_size = 1`).
    pub fn memory(&self) -> Memory {
        Memory {
            ifmap_sram_words: self.sram_kb[0] * 1024,
            filter_sram_words: self.sram_kb[1] * 1024,
            ofmap_sram_words: self.sram_kb[2] * 1024,
            bandwidth: self.bandwidth,
        }
    }
}

/// Largest SRAM size accepted, in kB (1 TB).
const MAX_SRAM_KB: u64 = 1 << 30;

/// How a known key is checked.
#[derive(Clone, Copy)]
enum Kind {
    /// Used by the model; required.
    Required,
    /// Read by SCALE-Sim, not timing-relevant: an integer when present.
    Int,
    /// Read by SCALE-Sim, not timing-relevant: a `configparser` boolean when present.
    Bool,
    /// Read or carried, any text.
    Text,
}

/// Known sections and keys (lower case, as `configparser` folds them).
const KNOWN: &[(&str, &[(&str, Kind)])] = &[
    ("general", &[("run_name", Kind::Required)]),
    (
        "architecture_presets",
        &[
            ("arrayheight", Kind::Required),
            ("arraywidth", Kind::Required),
            ("ifmapsramszkb", Kind::Required),
            ("filtersramszkb", Kind::Required),
            ("ofmapsramszkb", Kind::Required),
            ("dataflow", Kind::Required),
            ("bandwidth", Kind::Text),
            ("ifmapoffset", Kind::Int),
            ("filteroffset", Kind::Int),
            ("ofmapoffset", Kind::Int),
            ("readrequestbuffer", Kind::Int),
            ("writerequestbuffer", Kind::Int),
            ("memorybanks", Kind::Int),
            ("onchipmemorybanks", Kind::Int),
            ("onchipmemorybankports", Kind::Int),
            ("topologycsvloc", Kind::Text),
        ],
    ),
    (
        "run_presets",
        &[
            ("interfacebandwidth", Kind::Required),
            ("useramulatortrace", Kind::Text),
        ],
    ),
    ("layout", LAYOUT),
    (
        "sparsity",
        &[
            ("sparsitysupport", Kind::Text),
            ("sparserep", Kind::Text),
            ("optimizedmapping", Kind::Text),
            ("blocksize", Kind::Int),
            ("randomnumbergeneratorseed", Kind::Int),
            ("nonzeroelems", Kind::Int),
        ],
    ),
    (
        "network_presets",
        &[("topologycsvloc", Kind::Text), ("layoutcsvloc", Kind::Text)],
    ),
];

/// `[layout]`, which older configs put in `[architecture_presets]` (SCALE-Sim 3.0.0 reads them
/// from `[layout]` only, so there they are accepted and unused).
const LAYOUT: &[(&str, Kind)] = &[
    ("ifmapcustomlayout", Kind::Bool),
    ("filtercustomlayout", Kind::Bool),
    ("ifmapsrambankbandwidth", Kind::Int),
    ("ifmapsrambanknum", Kind::Int),
    ("ifmapsrambankport", Kind::Int),
    ("filtersrambankbandwidth", Kind::Int),
    ("filtersrambanknum", Kind::Int),
    ("filtersrambankport", Kind::Int),
];

/// How `key` of `section` is checked, if it is known.
fn known(keys: &[(&str, Kind)], section: &str, key: &str) -> Option<Kind> {
    let find = |list: &[(&str, Kind)]| list.iter().find(|(k, _)| *k == key).map(|(_, k)| *k);
    find(keys).or_else(|| {
        (section == "architecture_presets")
            .then(|| find(LAYOUT))
            .flatten()
    })
}

/// One `key = value` line.
struct Entry {
    /// Lower case, as `configparser` folds it.
    key: String,
    /// As written.
    raw: String,
    value: String,
    line: usize,
}

/// One `[section]` and its entries.
struct Section {
    name: String,
    line: usize,
    entries: Vec<Entry>,
}

/// Parse a SCALE-Sim config. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Config> {
    let sections = split(text, file)?;
    let mut warnings = check_entries(&sections, file)?;
    let cfg = Sections {
        sections: &sections,
        file,
        last_line: text.lines().count().max(1),
    };
    let run_name = cfg.get("general", "run_name")?.value.clone();
    let (array, sram_kb, dataflow) = cfg.architecture()?;
    let bandwidth = cfg.bandwidth()?;
    cfg.refuse_unmodelled()?;
    warnings.extend(cfg.layout_warnings());
    Ok(Config {
        run_name,
        array,
        dataflow,
        sram_kb,
        bandwidth,
        warnings,
    })
}

/// Warnings for the sections and keys SCALE-Sim ignores; an error for a known key whose
/// value is not of its kind.
fn check_entries(sections: &[Section], file: &str) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for s in sections {
        let Some((_, keys)) = KNOWN.iter().find(|(n, _)| *n == s.name) else {
            warnings.push(format!(
                "{file}:{}: [{}]: unknown section, ignored (as SCALE-Sim does)",
                s.line, s.name
            ));
            continue;
        };
        for e in &s.entries {
            let wrong = |what: &str| Error::parse(file, e.line, &e.raw, expected(what, &e.value));
            match known(keys, &s.name, &e.key) {
                None => warnings.push(format!(
                    "{file}:{}: {}: unknown key in [{}], ignored (as SCALE-Sim does)",
                    e.line, e.raw, s.name
                )),
                Some(Kind::Int) => {
                    parse_int(&e.value).ok_or_else(|| wrong("an integer"))?;
                }
                Some(Kind::Bool) => {
                    parse_bool(&e.value)
                        .ok_or_else(|| wrong("a boolean (true/false, yes/no, on/off, 1/0)"))?;
                }
                Some(Kind::Required | Kind::Text) => {}
            }
        }
    }
    Ok(warnings)
}

/// The sections of one config, for looking keys up with errors at their lines.
struct Sections<'a> {
    sections: &'a [Section],
    file: &'a str,
    /// Where a missing section is reported.
    last_line: usize,
}

impl Sections<'_> {
    /// A required key.
    fn get(&self, section: &str, key: &str) -> Result<&Entry> {
        let Some(s) = self.sections.iter().find(|s| s.name == section) else {
            return Err(Error::parse(
                self.file,
                self.last_line,
                format!("[{section}]"),
                format!("missing section; it must give {}", pretty_key(key)),
            ));
        };
        s.entries.iter().find(|e| e.key == key).ok_or_else(|| {
            Error::parse(
                self.file,
                s.line,
                format!("[{section}]"),
                format!("missing key {}", pretty_key(key)),
            )
        })
    }

    /// An optional key.
    fn find(&self, section: &str, key: &str) -> Option<&Entry> {
        self.sections
            .iter()
            .find(|s| s.name == section)
            .and_then(|s| s.entries.iter().find(|e| e.key == key))
    }

    fn positive(&self, e: &Entry, max: u64) -> Result<u64> {
        match parse_int(&e.value) {
            Some(v) if (1..=max as i128).contains(&v) => Ok(v as u64),
            _ => Err(Error::parse(
                self.file,
                e.line,
                &e.raw,
                expected(&format!("an integer from 1 to {max}"), &e.value),
            )),
        }
    }

    /// The array, its SRAM sizes (kB) and its dataflow.
    fn architecture(&self) -> Result<(Array, [u64; 3], Dataflow)> {
        let arch = "architecture_presets";
        let rows = self.positive(self.get(arch, "arrayheight")?, MAX_ARRAY_SIDE)?;
        let cols = self.positive(self.get(arch, "arraywidth")?, MAX_ARRAY_SIDE)?;
        let mut sram_kb = [0u64; 3];
        for (slot, key) in
            sram_kb
                .iter_mut()
                .zip(["ifmapsramszkb", "filtersramszkb", "ofmapsramszkb"])
        {
            *slot = self.positive(self.get(arch, key)?, MAX_SRAM_KB)?;
        }
        let df = self.get(arch, "dataflow")?;
        let dataflow: Dataflow = df
            .value
            .parse()
            .map_err(|m: String| Error::parse(self.file, df.line, "Dataflow", m))?;
        Ok((Array { rows, cols }, sram_kb, dataflow))
    }

    /// `InterfaceBandwidth`: `None` for `CALC`, the `Bandwidth` for `USER`.
    fn bandwidth(&self) -> Result<Option<[u64; 3]>> {
        let mode = self.get("run_presets", "interfacebandwidth")?;
        match mode.value.as_str() {
            "CALC" => Ok(None),
            "USER" => {
                let Some(bw) = self.find("architecture_presets", "bandwidth") else {
                    return Err(Error::parse(
                        self.file,
                        mode.line,
                        "InterfaceBandwidth",
                        "USER needs Bandwidth (words per cycle) in [architecture_presets]",
                    ));
                };
                let what = "words per cycle: one positive integer, or three (ifmap, filter, ofmap)";
                let bad =
                    || Error::parse(self.file, bw.line, "Bandwidth", expected(what, &bw.value));
                Ok(Some(parse_bandwidth(&bw.value).ok_or_else(bad)?))
            }
            other => Err(Error::parse(
                self.file,
                mode.line,
                "InterfaceBandwidth",
                expected("CALC or USER", other),
            )),
        }
    }

    /// Features that change the timing and are not modelled.
    fn refuse_unmodelled(&self) -> Result<()> {
        if let Some(e) = self.find("run_presets", "useramulatortrace")
            && e.value == "True"
        {
            return Err(Error::parse(
                self.file,
                e.line,
                "UseRamulatorTrace",
                "Ramulator DRAM traces are not modelled; set it to False",
            ));
        }
        if let Some(e) = self.find("sparsity", "sparsitysupport")
            && e.value.to_lowercase() == "true"
        {
            return Err(Error::parse(
                self.file,
                e.line,
                "SparsitySupport",
                "sparse (N:M) layers are not modelled; set it to false",
            ));
        }
        Ok(())
    }

    /// Custom SRAM layouts, which only change what is not modelled.
    fn layout_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for key in ["ifmapcustomlayout", "filtercustomlayout"] {
            if let Some(e) = self.find("layout", key)
                && parse_bool(&e.value) == Some(true)
            {
                warnings.push(format!(
                    "{}:{}: {}: custom SRAM layouts only change SCALE-Sim's USER-mode bank \
                     stalls, which are not modelled; ignored",
                    self.file,
                    e.line,
                    pretty_key(key)
                ));
            }
        }
        warnings
    }
}

/// Split the text into sections of entries, with `configparser`'s structural errors.
fn split(text: &str, file: &str) -> Result<Vec<Section>> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') || s.starts_with(';') {
            continue;
        }
        if let Some(inner) = s.strip_prefix('[') {
            let Some(name) = inner.strip_suffix(']').filter(|n| !n.is_empty()) else {
                return Err(Error::parse(
                    file,
                    line,
                    "section",
                    expected("a section header such as [general]", s),
                ));
            };
            if let Some(prev) = sections.iter().find(|x| x.name == name) {
                return Err(Error::parse(
                    file,
                    line,
                    format!("[{name}]"),
                    format!("duplicate section (first at line {})", prev.line),
                ));
            }
            sections.push(Section {
                name: name.to_string(),
                line,
                entries: Vec::new(),
            });
            continue;
        }
        let Some(pos) = s.find(['=', ':']) else {
            return Err(Error::parse(
                file,
                line,
                s,
                "expected 'key = value' or 'key : value'",
            ));
        };
        let raw_key = s[..pos].trim();
        let key = raw_key.to_lowercase();
        let value = s[pos + 1..].trim().to_string();
        if key.is_empty() {
            return Err(Error::parse(
                file,
                line,
                "key",
                expected("a key before the '=' or ':'", s),
            ));
        }
        let Some(section) = sections.last_mut() else {
            return Err(Error::parse(
                file,
                line,
                raw_key,
                "key before any [section] header",
            ));
        };
        if let Some(prev) = section.entries.iter().find(|e| e.key == key) {
            return Err(Error::parse(
                file,
                line,
                raw_key,
                format!(
                    "duplicate key in [{}] (first at line {})",
                    section.name, prev.line
                ),
            ));
        }
        section.entries.push(Entry {
            key,
            raw: raw_key.to_string(),
            value,
            line,
        });
    }
    Ok(sections)
}

/// An integer as Python's `int()` reads the common forms: optional sign, ASCII digits.
fn parse_int(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `configparser`'s booleans.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// `Bandwidth` (words per cycle): one value for all three interfaces, or three for ifmap,
/// filter, ofmap. `None` unless every value is a positive integer below 2^32.
pub fn parse_bandwidth(s: &str) -> Option<[u64; 3]> {
    let v: Vec<u64> = s
        .split(',')
        .map(|x| match parse_int(x.trim()) {
            Some(n) if n >= 1 && n <= u32::MAX as i128 => Some(n as u64),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match v[..] {
        [b] => Some([b, b, b]),
        [i, f, o] => Some([i, f, o]),
        _ => None,
    }
}

/// The way SCALE-Sim's own configs spell a key.
fn pretty_key(key: &str) -> String {
    const SPELLED: &[&str] = &[
        "run_name",
        "ArrayHeight",
        "ArrayWidth",
        "IfmapSramSzkB",
        "FilterSramSzkB",
        "OfmapSramSzkB",
        "Dataflow",
        "Bandwidth",
        "InterfaceBandwidth",
        "UseRamulatorTrace",
        "IfmapCustomLayout",
        "FilterCustomLayout",
    ];
    SPELLED
        .iter()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map_or_else(|| key.to_string(), |k| k.to_string())
}

fn expected(what: &str, found: &str) -> String {
    format!("expected {what}, found '{found}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[general]\nrun_name = t\n\n[architecture_presets]\nArrayHeight:    32\n\
        ArrayWidth:     16\nIfmapSramSzkB:   64\nFilterSramSzkB:  64\nOfmapSramSzkB:   32\n\
        Dataflow : is\nBandwidth : 10\nMemoryBanks: 1\n\n[run_presets]\nInterfaceBandwidth: CALC\n";

    #[test]
    fn reads_the_fields() {
        let c = parse(GOOD, "a.cfg").unwrap();
        assert_eq!(c.array, Array { rows: 32, cols: 16 });
        assert_eq!(c.dataflow, Dataflow::Is);
        assert_eq!(c.sram_kb, [64, 64, 32]);
        assert_eq!(c.bandwidth, None);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let user = GOOD.replace("CALC", "USER");
        assert_eq!(parse(&user, "a.cfg").unwrap().bandwidth, Some([10, 10, 10]));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let bad = GOOD.replace("ArrayWidth:     16", "ArrayWidth: sixteen");
        let e = parse(&bad, "a.cfg").unwrap_err().to_string();
        assert_eq!(
            e,
            "a.cfg:6: ArrayWidth: expected an integer from 1 to 1048576, found 'sixteen'"
        );
        let bad = GOOD.replace("Dataflow : is", "Dataflow : WS");
        let e = parse(&bad, "a.cfg").unwrap_err().to_string();
        assert_eq!(e, "a.cfg:10: Dataflow: expected ws, os or is, found 'WS'");
        let bad = GOOD.replace("ArrayHeight:    32\n", "");
        let e = parse(&bad, "a.cfg").unwrap_err().to_string();
        assert_eq!(
            e,
            "a.cfg:4: [architecture_presets]: missing key ArrayHeight"
        );
        let e = parse("x = 1\n", "b.cfg").unwrap_err().to_string();
        assert_eq!(e, "b.cfg:1: x: key before any [section] header");
        let e = parse("[general]\nRun_Name = a\nrun_name = b\n", "c.cfg").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.cfg:3: run_name: duplicate key"),
            "{e}"
        );
        let dup = format!("{GOOD}[general]\n");
        let e = parse(&dup, "a.cfg").unwrap_err().to_string();
        assert!(
            e.starts_with("a.cfg:16: [general]: duplicate section"),
            "{e}"
        );
    }

    #[test]
    fn older_configs_with_layout_keys_in_the_architecture_section_read_cleanly() {
        let v2 = GOOD.replace(
            "MemoryBanks: 1",
            "IfmapCustomLayout: True\nFilterSRAMBankNum: 1",
        );
        let c = parse(&v2, "a.cfg").unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let bad = GOOD.replace("MemoryBanks: 1", "FilterSRAMBankNum: many");
        let e = parse(&bad, "a.cfg").unwrap_err().to_string();
        assert_eq!(
            e,
            "a.cfg:12: FilterSRAMBankNum: expected an integer, found 'many'"
        );
    }

    #[test]
    fn unknown_keys_warn() {
        let odd = GOOD.replace("MemoryBanks", "ArrayHieght");
        let c = parse(&odd, "a.cfg").unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].starts_with("a.cfg:12: ArrayHieght: unknown key"));
    }
}
