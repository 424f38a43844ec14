//! SCALE-Sim topology files (`*.csv`): one layer per line, convolutions or GEMMs.
//!
//! ```text
//! Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
//! Conv1,  224, 224,  11, 11,  3,  96, 4,
//! ```
//!
//! ```text
//! Layer, M, N, K,
//! qkv, 2048, 12288, 4096,
//! ```
//!
//! Read as SCALE-Sim 3.0.0 reads them (`topology_utils.py`):
//!
//! - Line 1 is the header and is always skipped; blank lines are skipped. The form is told by the
//!   header: `M, N, K` in fields 2-4 is the GEMM form (SCALE-Sim's `-i gemm`), anything with at
//!   least eight fields is the convolution form.
//! - Every line ends with a comma, and SCALE-Sim drops whatever follows the last comma (its
//!   files use that for notes such as `#dw`). So does trnsim: `Conv1,224,224,3,3,3,64,1` without
//!   the comma loses its stride, and is an error here (SCALE-Sim crashes on it).
//! - After the fields above an optional `N:M` sparsity ratio may follow; with sparsity off (the
//!   only mode modelled) SCALE-Sim parses and ignores it, and so does trnsim.
//! - A convolution has one stride for both directions; its output is
//!   `ceil((H - R + stride) / stride)` by `ceil((W - S + stride) / stride)` (SCALE-Sim's formula,
//!   which rounds up where the textbook rounds down); the filter must fit the input.
//! - A convolution whose name contains `DP` is depthwise: SCALE-Sim replaces it with one
//!   single-channel layer per channel, named `<name>Channel_<i>`, and so does trnsim.
//! - Numbers are positive integers (SCALE-Sim's `int()`; zero would divide by zero there).
//!
//! Errors are `file:line: field: what was expected`.

use super::error::{Error, Result};
use super::model::{Gemm, MAX_DIM};

/// Most layers one topology may expand to (depthwise layers count once per channel).
pub const MAX_LAYERS: usize = 1 << 20;

/// Which of SCALE-Sim's two topology forms a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// `Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
    /// Num Filter, Strides,`
    Conv,
    /// `Layer, M, N, K,`
    Gemm,
}

/// A convolution layer as the topology gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Conv {
    /// Input height.
    pub ifmap_h: u64,
    /// Input width.
    pub ifmap_w: u64,
    /// Filter height.
    pub filter_h: u64,
    /// Filter width.
    pub filter_w: u64,
    /// Input channels.
    pub channels: u64,
    /// Number of filters (output channels).
    pub filters: u64,
    /// Stride, both directions.
    pub stride: u64,
}

impl Conv {
    /// Output height and width, SCALE-Sim's way: `ceil((H - R + s) / s)`.
    pub fn ofmap_dims(&self) -> (u64, u64) {
        (
            (self.ifmap_h - self.filter_h).div_ceil(self.stride) + 1,
            (self.ifmap_w - self.filter_w).div_ceil(self.stride) + 1,
        )
    }
}

/// One layer: its name, where it was read, and the GEMM it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Layer {
    /// Name (first field, trimmed).
    pub name: String,
    /// 1-based line it was read from.
    pub line: usize,
    /// The convolution, for the convolution form.
    pub conv: Option<Conv>,
    /// The GEMM: given, or M = output pixels per filter, N = filters, K = window.
    pub gemm: Gemm,
}

/// A parsed topology file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Topology {
    /// The form of the file.
    pub form: Form,
    /// Its layers, depthwise layers expanded.
    pub layers: Vec<Layer>,
}

const CONV_HEADER: &str = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, \
                           Channels, Num Filter, Strides,";
const GEMM_HEADER: &str = "Layer, M, N, K,";
const CONV_FIELDS: [&str; 7] = [
    "IFMAP Height",
    "IFMAP Width",
    "Filter Height",
    "Filter Width",
    "Channels",
    "Num Filter",
    "Strides",
];

/// Parse a topology. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Topology> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(Error::parse(
            file,
            1,
            "header",
            format!("empty file; expected '{GEMM_HEADER}' or '{CONV_HEADER}' and layers"),
        ));
    };
    let form = form_of(header, file)?;
    let mut layers = Vec::new();
    for (i, raw) in lines {
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        let mut fields: Vec<&str> = text.split(',').map(str::trim).collect();
        // SCALE-Sim's `row.split(',')[:-1]`: the text after the last comma is dropped.
        fields.pop();
        let row = Row {
            file,
            line: i + 1,
            text,
            fields,
            form,
        };
        match form {
            Form::Gemm => row.gemm(&mut layers)?,
            Form::Conv => row.conv(&mut layers)?,
        }
    }
    if layers.is_empty() {
        return Err(Error::parse(
            file,
            text.lines().count().max(1),
            "layers",
            "no layers after the header",
        ));
    }
    Ok(Topology { form, layers })
}

/// One layer line of a topology, split into its fields.
struct Row<'a> {
    file: &'a str,
    line: usize,
    text: &'a str,
    fields: Vec<&'a str>,
    form: Form,
}

impl Row<'_> {
    fn name(&self) -> String {
        self.fields.first().copied().unwrap_or("").to_string()
    }

    /// The positive integer of field `idx` (named `field` in errors).
    fn num(&self, idx: usize, field: &str) -> Result<u64> {
        let Some(s) = self.fields.get(idx) else {
            let n = self.fields.len();
            return Err(Error::parse(
                self.file,
                self.line,
                field,
                format!(
                    "missing: expected {}, each followed by a comma; found {n} field{}{}",
                    match self.form {
                        Form::Gemm => "4 fields (name, M, N, K)",
                        Form::Conv => "8 fields (name and 7 numbers)",
                    },
                    if n == 1 { "" } else { "s" },
                    if self.text.ends_with(',') {
                        ""
                    } else {
                        " (the line does not end with a comma: SCALE-Sim drops the text \
                         after the last comma, and so does trnsim)"
                    }
                ),
            ));
        };
        positive(s, self.file, self.line, field)
    }

    /// Add a layer read from this line, refusing more than [`MAX_LAYERS`].
    fn push(
        &self,
        layers: &mut Vec<Layer>,
        name: String,
        conv: Option<Conv>,
        gemm: Gemm,
    ) -> Result<()> {
        if layers.len() >= MAX_LAYERS {
            return Err(Error::parse(
                self.file,
                self.line,
                "layers",
                format!("more than {MAX_LAYERS} layers"),
            ));
        }
        layers.push(Layer {
            name,
            line: self.line,
            conv,
            gemm,
        });
        Ok(())
    }

    fn gemm(&self, layers: &mut Vec<Layer>) -> Result<()> {
        let (m, n, k) = (self.num(1, "M")?, self.num(2, "N")?, self.num(3, "K")?);
        sparsity(&self.fields, 4, self.file, self.line)?;
        self.push(layers, self.name(), None, Gemm { m, n, k })
    }

    /// A convolution; a depthwise one (`DP` in its name) becomes one layer per channel.
    fn conv(&self, layers: &mut Vec<Layer>) -> Result<()> {
        let mut v = [0u64; 7];
        for (j, field) in CONV_FIELDS.iter().enumerate() {
            v[j] = self.num(j + 1, field)?;
        }
        sparsity(&self.fields, 8, self.file, self.line)?;
        let conv = Conv {
            ifmap_h: v[0],
            ifmap_w: v[1],
            filter_h: v[2],
            filter_w: v[3],
            channels: v[4],
            filters: v[5],
            stride: v[6],
        };
        for (f, i, what) in [
            (conv.filter_h, conv.ifmap_h, "Filter Height"),
            (conv.filter_w, conv.ifmap_w, "Filter Width"),
        ] {
            if f > i {
                let msg = format!("the filter ({f}) is larger than the input ({i})");
                return Err(Error::parse(self.file, self.line, what, msg));
            }
        }
        let name = self.name();
        if !name.contains("DP") {
            let gemm = conv_gemm(&conv, self.file, self.line)?;
            return self.push(layers, name, Some(conv), gemm);
        }
        let single = Conv {
            channels: 1,
            ..conv
        };
        let gemm = conv_gemm(&single, self.file, self.line)?;
        for c in 0..conv.channels {
            self.push(layers, format!("{name}Channel_{c}"), Some(single), gemm)?;
        }
        Ok(())
    }
}

/// The form a header announces.
fn form_of(header: &str, file: &str) -> Result<Form> {
    let fields: Vec<String> = header.split(',').map(|f| f.trim().to_lowercase()).collect();
    if fields.len() >= 2 && fields[1].parse::<u64>().is_ok() {
        return Err(Error::parse(
            file,
            1,
            "header",
            format!(
                "line 1 holds numbers, but it is the header (SCALE-Sim always skips it); \
                 expected '{GEMM_HEADER}' or '{CONV_HEADER}'"
            ),
        ));
    }
    if fields.len() >= 4 && fields[1] == "m" && fields[2] == "n" && fields[3] == "k" {
        Ok(Form::Gemm)
    } else if fields.len() >= 8 {
        Ok(Form::Conv)
    } else {
        Err(Error::parse(
            file,
            1,
            "header",
            format!(
                "expected '{GEMM_HEADER}' or '{CONV_HEADER}', found '{}'",
                header.trim()
            ),
        ))
    }
}

/// The optional `N:M` sparsity ratio at `idx`, and nothing after it.
fn sparsity(fields: &[&str], idx: usize, file: &str, line: usize) -> Result<()> {
    if let Some(s) = fields.get(idx) {
        let ok = s.split_once(':').is_some_and(|(n, m)| {
            n.trim().parse::<u64>().is_ok() && m.trim().parse::<u64>().is_ok()
        });
        if !ok {
            return Err(Error::parse(
                file,
                line,
                "sparsity",
                format!("expected an N:M sparsity ratio such as 1:1, found '{s}'"),
            ));
        }
    }
    if let Some(extra) = fields.get(idx + 1) {
        return Err(Error::parse(
            file,
            line,
            format!("field {}", idx + 2),
            format!(
                "unexpected '{extra}'; a line is {idx} fields, an optional N:M sparsity ratio, \
                 and a trailing comma"
            ),
        ));
    }
    Ok(())
}

/// A positive integer field.
fn positive(s: &str, file: &str, line: usize, field: &str) -> Result<u64> {
    match s.parse::<u64>() {
        Ok(v) if (1..=MAX_DIM).contains(&v) && s.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        _ => Err(Error::parse(
            file,
            line,
            field,
            format!("expected an integer from 1 to {MAX_DIM}, found '{s}'"),
        )),
    }
}

/// The GEMM SCALE-Sim makes of a convolution (`operand_matrix.py`): M = output pixels of one
/// filter, N = filters, K = filter height x width x channels.
fn conv_gemm(conv: &Conv, file: &str, line: usize) -> Result<Gemm> {
    let (oh, ow) = conv.ofmap_dims();
    let m = oh as u128 * ow as u128;
    let k = conv.filter_h as u128 * conv.filter_w as u128 * conv.channels as u128;
    for (v, what) in [(m, "output pixels"), (k, "window size")] {
        if v > MAX_DIM as u128 {
            return Err(Error::parse(
                file,
                line,
                what,
                format!("{v} is more than the {MAX_DIM} modelled"),
            ));
        }
    }
    Ok(Gemm {
        m: m as u64,
        n: conv.filters,
        k: k as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_form_with_its_trailing_comma() {
        let t = parse(
            "Layer, M, N, K,\nqkv, 64, 32, 16,\n\nout,8,8,8,1:1,\n",
            "g.csv",
        )
        .unwrap();
        assert_eq!(t.form, Form::Gemm);
        assert_eq!(t.layers.len(), 2);
        assert_eq!(
            t.layers[0].gemm,
            Gemm {
                m: 64,
                n: 32,
                k: 16
            }
        );
        assert_eq!((t.layers[1].name.as_str(), t.layers[1].line), ("out", 4));
    }

    #[test]
    fn conv_form_maps_to_gemm() {
        let t = parse(
            "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, \
             Num Filter, Strides,\nConv1,224,224,11,11,3,96,4,\nc2,5,5,2,2,1,1,2, note\n",
            "c.csv",
        )
        .unwrap();
        assert_eq!(t.form, Form::Conv);
        // ceil((224 - 11 + 4) / 4) = 55 (the textbook floor gives 54): 55 x 55 outputs; window
        // 11 * 11 * 3.
        assert_eq!(
            t.layers[0].gemm,
            Gemm {
                m: 55 * 55,
                n: 96,
                k: 363
            }
        );
        // SCALE-Sim's ceil: (5 - 2 + 2) / 2 = 2.5 -> 3 (the textbook floor gives 2).
        assert_eq!(t.layers[1].gemm.m, 9);
    }

    #[test]
    fn depthwise_layers_expand_per_channel() {
        let t = parse(
            "Layer name, H, W, R, S, C, N, Strides,\nDP1, 8, 8, 3, 3, 4, 1, 1,\n",
            "d.csv",
        )
        .unwrap();
        assert_eq!(t.layers.len(), 4);
        assert_eq!(t.layers[3].name, "DP1Channel_3");
        assert_eq!(t.layers[3].gemm, Gemm { m: 36, n: 1, k: 9 });
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let e = |s: &str| parse(s, "t.csv").unwrap_err().to_string();
        assert_eq!(
            e("Layer, M, N, K,\na, 1, x, 3,\n"),
            format!("t.csv:2: N: expected an integer from 1 to {MAX_DIM}, found 'x'")
        );
        assert!(
            e("Layer, M, N, K,\na, 1, 2, 3\n").starts_with("t.csv:2: K: missing"),
            "{}",
            e("Layer, M, N, K,\na, 1, 2, 3\n")
        );
        assert!(e("Layer, M, N, K,\na, 1, 2, 0,\n").starts_with("t.csv:2: K: expected"));
        assert!(e("a, 1, 2, 3,\n").starts_with("t.csv:1: header: line 1 holds numbers"));
        assert!(e("Layer, M, N, K,\n").starts_with("t.csv:1: layers: no layers"));
        assert!(
            e("Layer name,a,b,c,d,e,f,g,\nc, 3, 3, 4, 1, 1, 1, 1,\n")
                .starts_with("t.csv:2: Filter Height: the filter (4) is larger")
        );
        assert!(
            e("Layer, M, N, K,\na, 1, 2, 3, 1:1, 9,\n")
                .starts_with("t.csv:2: field 6: unexpected '9'")
        );
    }
}
