//! Parser of the trace text format (see `traces/README.md`).
//!
//! A hand-rolled byte scanner, one pass over the text: traces of millions of lines come from
//! kernel generators, so the parser allocates only what the [`Program`] keeps (names, shapes and
//! access-pattern dimensions) and resolves buffer names through a hash map. It checks syntax, names
//! and the format's own rules; bounds and resource checks belong to the chip simulator.
//!
//! Every error names the 1-based line and column (in characters) of the offending token and says
//! what was expected and what was found. No input makes it panic.

use std::collections::HashMap;
use std::fmt;

use super::{
    AccessPattern, ActFunc, Activation, AluOp, Buffer, BufferId, CmpOp, DmaQueue, Engine, Error,
    Init, Instr, MAX_AP_DIMS, Memory, Op, OpKind, PartitionStep, Program, ReduceOp, Result, Scalar,
    TRACE_VERSION, TensorScalar, Tile,
};
use crate::numerics::DType;

/// Largest element count a buffer may declare: far beyond any real kernel, and small enough that
/// sizes computed from it later cannot overflow.
const MAX_ELEMS: u64 = 1 << 36;

/// Most dimensions a buffer shape may have.
const MAX_SHAPE_DIMS: usize = 8;

/// Partitions of SBUF and PSUM.
const MAX_PARTITIONS: u64 = 128;

/// Most keys an opcode takes (the size of the per-line slot array).
const MAX_KEYS: usize = 8;

/// Memories by trace name.
pub(super) const MEMORIES: [(&str, Memory); 3] = [
    ("hbm", Memory::Hbm),
    ("sbuf", Memory::Sbuf),
    ("psum", Memory::Psum),
];

/// Activation functions by trace name.
pub const ACT_FUNCS: [(&str, ActFunc); 10] = [
    ("identity", ActFunc::Identity),
    ("relu", ActFunc::Relu),
    ("gelu", ActFunc::Gelu),
    ("silu", ActFunc::Silu),
    ("sigmoid", ActFunc::Sigmoid),
    ("tanh", ActFunc::Tanh),
    ("exp", ActFunc::Exp),
    ("square", ActFunc::Square),
    ("rsqrt", ActFunc::Rsqrt),
    ("reciprocal", ActFunc::Reciprocal),
];

/// ALU operations by trace name.
pub const ALU_OPS: [(&str, AluOp); 6] = [
    ("add", AluOp::Add),
    ("sub", AluOp::Sub),
    ("mul", AluOp::Mul),
    ("max", AluOp::Max),
    ("min", AluOp::Min),
    ("div", AluOp::Div),
];

/// Reductions by trace name.
pub(super) const REDUCE_OPS: [(&str, ReduceOp); 2] =
    [("sum", ReduceOp::Sum), ("max", ReduceOp::Max)];

/// Comparisons by trace name.
pub(super) const CMP_OPS: [(&str, CmpOp); 6] = [
    ("ge", CmpOp::Ge),
    ("gt", CmpOp::Gt),
    ("le", CmpOp::Le),
    ("lt", CmpOp::Lt),
    ("eq", CmpOp::Eq),
    ("ne", CmpOp::Ne),
];

/// Booleans by trace name.
const BOOLS: [(&str, bool); 2] = [("true", true), ("false", false)];

/// Every engine by trace name (engine keys accept a subset).
const ENGINES: [Engine; 5] = [
    Engine::Tensor,
    Engine::Vector,
    Engine::Scalar,
    Engine::GpSimd,
    Engine::Dma,
];

/// The trace name of a value in one of the name tables (`"?"` if absent, which no table allows).
pub(super) fn name_of<T: PartialEq>(table: &[(&'static str, T)], value: &T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| v == value)
        .map_or("?", |(n, _)| n)
}

/// Parse trace text; `file` names it in error messages.
pub fn parse(text: &str, file: &str) -> Result<Program> {
    let mut parser = Parser {
        names: HashMap::new(),
        program: Program::default(),
        rest: "",
        line: 0,
    };
    parser.run(text, file)?;
    Ok(parser.program)
}

/// A failure within one line: the byte offset of the offending token and the message.
struct Fail {
    pos: usize,
    msg: String,
}

/// Result of parsing part of a line.
type LResult<T> = std::result::Result<T, Fail>;

/// Where the parser is in the file's fixed preamble.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Kernel,
    Body,
}

/// Parser state: the program so far and the names it declares.
struct Parser<'t> {
    names: HashMap<&'t str, u32>,
    program: Program,
    /// The text after the current line (to explain a use before declaration).
    rest: &'t str,
    /// Current 1-based line.
    line: u32,
}

impl<'t> Parser<'t> {
    /// Parse the whole text into `self.program`.
    fn run(&mut self, text: &'t str, file: &str) -> Result<()> {
        // Some editors start UTF-8 files with a byte-order mark; it is not part of the header.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut stage = Stage::Header;
        let mut start = 0;
        let mut last = "";
        for raw in text.split('\n') {
            self.line = self.line.saturating_add(1);
            start += raw.len() + 1;
            self.rest = text.get(start..).unwrap_or("");
            let code = strip_comment(raw);
            last = code;
            let mut c = Cur { s: code, pos: 0 };
            c.skip_ws();
            if c.at_end() {
                continue;
            }
            let step = match stage {
                Stage::Header => header(&mut c).map(|()| Stage::Kernel),
                Stage::Kernel => self.kernel(&mut c).map(|()| Stage::Body),
                Stage::Body => self.body_line(&mut c).map(|()| Stage::Body),
            };
            stage = step.map_err(|f| error(file, self.line, code, f))?;
        }
        let missing = match stage {
            Stage::Header => "expected the header 'trnsim-trace 1', found end of file",
            Stage::Kernel => "expected 'kernel NAME' after the header, found end of file",
            Stage::Body => return Ok(()),
        };
        let pos = last.len();
        Err(error(file, self.line.max(1), last, fail(pos, missing)))
    }

    /// `kernel NAME`.
    fn kernel(&mut self, c: &mut Cur<'t>) -> LResult<()> {
        let at = c.pos;
        if c.token() != "kernel" {
            let msg = format!(
                "expected 'kernel NAME' after the header, found {}",
                c.describe(at)
            );
            return Err(fail(at, msg));
        }
        c.skip_ws();
        self.program.name = c.name_token("kernel name")?.to_string();
        c.expect_end("the kernel name")
    }

    /// A buffer declaration or an instruction.
    fn body_line(&mut self, c: &mut Cur<'t>) -> LResult<()> {
        let at = c.pos;
        let word = c.token();
        if word == "buffer" && c.at_ws_or_end() {
            self.buffer(c)
        } else {
            self.instr(c, word, at)
        }
    }

    /// `buffer NAME MEM DTYPE [D0, ...] INIT` (after the `buffer` keyword).
    fn buffer(&mut self, c: &mut Cur<'t>) -> LResult<()> {
        c.skip_ws();
        let name_at = c.pos;
        let name = c.name_token("buffer name")?;
        if let Some(&id) = self.names.get(name) {
            let first = self.program.buffers.get(id as usize).map_or(0, |b| b.line);
            let msg = format!("duplicate buffer name '{name}' (first declared on line {first})");
            return Err(fail(name_at, msg));
        }
        c.skip_ws();
        let memory = c.choice(&MEMORIES, "memory")?;
        c.skip_ws();
        let dtype = c.dtype()?;
        c.skip_ws();
        let shape = c.shape(memory)?;
        c.skip_ws();
        let init = c.init()?;
        c.expect_end("the buffer declaration")?;
        let id = u32::try_from(self.program.buffers.len())
            .map_err(|_| fail(name_at, "too many buffers".to_string()))?;
        self.names.insert(name, id);
        self.program.buffers.push(Buffer {
            name: name.to_string(),
            memory,
            dtype,
            shape,
            init,
            line: self.line,
        });
        Ok(())
    }

    /// `OPCODE KEY=VALUE ...` (after the opcode, which starts at `at`).
    fn instr(&mut self, c: &mut Cur<'t>, opcode: &str, at: usize) -> LResult<()> {
        let Some(spec) = SPECS.iter().find(|s| s.kind.name() == opcode) else {
            let names: Vec<&str> = SPECS.iter().map(|s| s.kind.name()).collect();
            let msg = format!(
                "unknown opcode {}; expected one of: {}",
                c.shown(at, opcode),
                names.join(", ")
            );
            return Err(fail(at, msg));
        };
        let mut slots = Slots {
            spec,
            op_pos: at,
            vals: [const { None }; MAX_KEYS],
            pos: [0; MAX_KEYS],
        };
        loop {
            c.skip_ws();
            if c.at_end() {
                break;
            }
            self.key_value(c, &mut slots)?;
        }
        let op = (spec.build)(&mut slots)?;
        self.program.instrs.push(Instr {
            op,
            line: self.line,
        });
        Ok(())
    }

    /// One `KEY=VALUE` into its slot.
    fn key_value(&self, c: &mut Cur<'t>, slots: &mut Slots) -> LResult<()> {
        let spec = slots.spec;
        let key_at = c.pos;
        let key = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'_');
        if key.is_empty() {
            let msg = format!("expected KEY=VALUE, found {}", c.describe(key_at));
            return Err(fail(key_at, msg));
        }
        let Some(idx) = spec.keys.iter().position(|k| k.0 == key) else {
            let keys: Vec<&str> = spec.keys.iter().map(|k| k.0).collect();
            let msg = format!(
                "unknown key '{key}' for {}; expected one of: {}",
                spec.kind.name(),
                keys.join(", ")
            );
            return Err(fail(key_at, msg));
        };
        if slots.vals[idx].is_some() {
            let msg = format!("duplicate key '{key}' for {}", spec.kind.name());
            return Err(fail(key_at, msg));
        }
        if !c.eat(b'=') {
            let msg = format!(
                "expected '=' after key '{key}', found {}",
                c.describe(c.pos)
            );
            return Err(fail(c.pos, msg));
        }
        let value = self.value(c, spec.keys[idx].1, spec.kind, key)?;
        slots.vals[idx] = Some(value);
        slots.pos[idx] = key_at;
        if !c.at_ws_or_end() {
            let msg = format!(
                "expected whitespace or end of line after the value of '{key}', found {}",
                c.describe(c.pos)
            );
            return Err(fail(c.pos, msg));
        }
        Ok(())
    }

    /// A value of the given kind.
    fn value(&self, c: &mut Cur<'t>, kind: Kind, op: OpKind, key: &str) -> LResult<Value> {
        Ok(match kind {
            Kind::Tile => Value::Tile(self.tile(c)?),
            Kind::Scalar => Value::Scalar(self.scalar(c, key)?),
            Kind::F32 => Value::F32(c.float(format_args!("a float for '{key}'"))?),
            Kind::I64 => Value::I64(c.int_token(key)?),
            Kind::Bool => Value::Bool(c.choice(&BOOLS, "boolean")?),
            Kind::Queue => Value::Queue(c.queue()?),
            Kind::Engine => Value::Engine(c.engine(op.engines(), op.name())?),
            Kind::Func => Value::Func(c.choice(&ACT_FUNCS, "activation function")?),
            Kind::Alu => Value::Alu(c.choice(&ALU_OPS, "ALU operation")?),
            Kind::Red => Value::Red(c.choice(&REDUCE_OPS, "reduction")?),
            Kind::Cmp => Value::Cmp(c.choice(&CMP_OPS, "comparison")?),
        })
    }

    /// A float immediate, or a tile (per-partition scalar) when the token is `NAME[`.
    fn scalar(&self, c: &mut Cur<'t>, key: &str) -> LResult<Scalar> {
        let start = c.pos;
        let is_tile = !c.name().is_empty() && c.peek() == Some(b'[');
        c.pos = start;
        if is_tile {
            Ok(Scalar::PerPartition(self.tile(c)?))
        } else {
            let what = format_args!("a float or a [P, 1] tile for '{key}'");
            Ok(Scalar::Imm(c.float(what)?))
        }
    }

    /// `NAME[PS:PE, FREE]` or `NAME[PS:PE:STEP, FREE]`.
    fn tile(&self, c: &mut Cur<'t>) -> LResult<Tile> {
        let start = c.pos;
        let name = c.name();
        if name.is_empty() || c.peek() != Some(b'[') {
            let msg = format!(
                "expected a tile NAME[START:END, FREE], found {}",
                c.describe(start)
            );
            return Err(fail(start, msg));
        }
        let Some(&id) = self.names.get(name) else {
            return Err(fail(start, self.unknown_buffer(name)));
        };
        c.check_closed(c.pos, "of the tile")?;
        c.pos += 1;
        let (partition_start, partition_count, partition_step) = self.partitions(c, id, name)?;
        c.skip_ws();
        c.expect(
            b',',
            "between the partition range and the free access pattern",
        )?;
        c.skip_ws();
        let ap = if c.eat(b'@') {
            c.access_pattern()?
        } else {
            c.free_range()?
        };
        c.skip_ws();
        c.expect(b']', "to close the tile")?;
        Ok(Tile {
            buffer: BufferId(id),
            partition_start,
            partition_count,
            partition_step,
            ap,
        })
    }

    /// `PS:PE` or `PS:PE:STEP` (STEP on hbm buffers only).
    fn partitions(
        &self,
        c: &mut Cur<'t>,
        id: u32,
        name: &str,
    ) -> LResult<(u32, u32, PartitionStep)> {
        c.skip_ws();
        let at = c.pos;
        let ps = c.coord("the first partition")?;
        c.skip_ws();
        c.expect(b':', "after the first partition")?;
        c.skip_ws();
        let pe = c.coord("the partition end")?;
        if pe <= ps {
            let msg =
                format!("empty partition range {ps}:{pe}; the end must be greater than the start");
            return Err(fail(at, msg));
        }
        c.skip_ws();
        if !c.eat(b':') {
            return Ok((ps, pe - ps, PartitionStep::ROW));
        }
        c.skip_ws();
        let step_at = c.pos;
        let step = c.coord("the partition step")?;
        let Some(step) = PartitionStep::new(step) else {
            let msg = format!(
                "the partition step {step} is too large: at most {}",
                PartitionStep::MAX
            );
            return Err(fail(step_at, msg));
        };
        let memory = self
            .program
            .buffers
            .get(id as usize)
            .map_or(Memory::Hbm, |b| b.memory);
        if memory != Memory::Hbm {
            let msg = format!(
                "a partition step is only allowed on hbm buffers; '{name}' is in {}",
                memory.name()
            );
            return Err(fail(step_at, msg));
        }
        Ok((ps, pe - ps, step))
    }

    /// The message for a name that is not (yet) a buffer.
    fn unknown_buffer(&self, name: &str) -> String {
        match later_declaration(self.rest, name) {
            Some(k) => format!(
                "buffer '{name}' is used before its declaration on line {}; declare buffers before \
                 the instructions that use them",
                self.line.saturating_add(k)
            ),
            None => format!(
                "unknown buffer '{name}' (buffers are declared with 'buffer' lines before use)"
            ),
        }
    }
}

/// `trnsim-trace VERSION` with the version this build reads.
fn header(c: &mut Cur) -> LResult<()> {
    let at = c.pos;
    if c.token() != "trnsim-trace" || !c.at_ws_or_end() {
        let msg = format!(
            "missing header: expected 'trnsim-trace {TRACE_VERSION}' as the first line, found {}",
            c.describe(at)
        );
        return Err(fail(at, msg));
    }
    c.skip_ws();
    let v_at = c.pos;
    let version = c.uint("the format version")?;
    if version != u64::from(TRACE_VERSION) {
        let msg = format!(
            "unsupported trace version {version}; this build reads version {TRACE_VERSION}"
        );
        return Err(fail(v_at, msg));
    }
    c.expect_end("the header")
}

/// Which line of `rest` (1-based) declares buffer `name`, if any.
fn later_declaration(rest: &str, name: &str) -> Option<u32> {
    rest.split('\n').enumerate().find_map(|(i, l)| {
        let mut words = strip_comment(l).split_ascii_whitespace();
        let hit = words.next() == Some("buffer") && words.next() == Some(name);
        hit.then(|| u32::try_from(i + 1).unwrap_or(u32::MAX))
    })
}

/// The line without its comment.
fn strip_comment(line: &str) -> &str {
    match line.bytes().position(|b| b == b'#') {
        Some(i) => &line[..i],
        None => line,
    }
}

/// A line failure.
fn fail(pos: usize, msg: impl Into<String>) -> Fail {
    Fail {
        pos,
        msg: msg.into(),
    }
}

/// The public error for a line failure: the byte offset becomes a 1-based character column.
fn error(file: &str, line: u32, code: &str, f: Fail) -> Error {
    let chars = code.get(..f.pos).map_or(f.pos, |s| s.chars().count());
    Error::Parse {
        file: file.to_string(),
        line,
        column: u32::try_from(chars + 1).unwrap_or(u32::MAX),
        message: f.msg,
    }
}

/// Whitespace between tokens (`\r` so CRLF files read too).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

/// Bytes that end a plain token.
fn is_delim(b: u8) -> bool {
    is_ws(b) || matches!(b, b',' | b'(' | b')' | b'[' | b']' | b'=')
}

/// A cursor over one line (comment already removed). `pos` is always on a character boundary:
/// it only moves over ASCII bytes or up to an ASCII delimiter.
struct Cur<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cur<'a> {
    /// The byte at the cursor, if any.
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// Whether the line is consumed.
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Whether a token may end here.
    fn at_ws_or_end(&self) -> bool {
        self.peek().is_none_or(is_ws)
    }

    /// Skip spaces and tabs.
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// Consume `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    /// Consume bytes while `f` holds (ASCII predicates only, to stay on character boundaries).
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii() && f(b)) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A plain token: up to whitespace or punctuation.
    fn token(&mut self) -> &'a str {
        self.take_while(|b| !is_delim(b))
    }

    /// A NAME (`[A-Za-z_][A-Za-z0-9_.]*`), or "" when none starts here.
    fn name(&mut self) -> &'a str {
        if !self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        {
            return "";
        }
        self.take_while(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    }

    /// A NAME that must be a whole token.
    fn name_token(&mut self, what: &str) -> LResult<&'a str> {
        let at = self.pos;
        let name = self.name();
        if name.is_empty() || !self.at_ws_or_end() {
            self.pos = at;
            let tok = self.take_while(|b| !is_ws(b));
            let msg = format!(
                "invalid {what} {}; names are [A-Za-z_][A-Za-z0-9_.]*",
                self.shown(at, tok)
            );
            return Err(fail(at, msg));
        }
        Ok(name)
    }

    /// What is at `pos`, for "found ..." in messages.
    fn describe(&self, pos: usize) -> String {
        let rest = self.s.get(pos..).unwrap_or("");
        let word_char = |ch: char| ch.is_ascii_alphanumeric() || "_.-+".contains(ch);
        match rest.chars().next() {
            None => "end of line".to_string(),
            Some(' ' | '\t' | '\r') => "whitespace".to_string(),
            Some(ch) if word_char(ch) => {
                let word: String = rest.chars().take_while(|&ch| word_char(ch)).collect();
                quote(&word)
            }
            Some(ch) => format!("'{ch}'"),
        }
    }

    /// A token already read from `pos`, for "found ..." (or what follows, when it is empty).
    fn shown(&self, pos: usize, tok: &str) -> String {
        if tok.is_empty() {
            self.describe(pos)
        } else {
            quote(tok)
        }
    }

    /// Require byte `b`; `ctx` says what it is for.
    fn expect(&mut self, b: u8, ctx: &str) -> LResult<()> {
        if self.eat(b) {
            return Ok(());
        }
        let msg = format!(
            "expected '{}' {ctx}, found {}",
            b as char,
            self.describe(self.pos)
        );
        Err(fail(self.pos, msg))
    }

    /// Require the end of the line after `what`.
    fn expect_end(&mut self, what: &str) -> LResult<()> {
        self.skip_ws();
        if self.at_end() {
            return Ok(());
        }
        let msg = format!(
            "unexpected {} after {what}; expected end of line",
            self.describe(self.pos)
        );
        Err(fail(self.pos, msg))
    }

    /// Fail unless the bracket at `open` is closed on this line (so a missing `]` is reported
    /// where it was opened, not at some later token).
    fn check_closed(&self, open: usize, what: &str) -> LResult<()> {
        let bytes = self.s.as_bytes();
        let Some(&o) = bytes.get(open) else {
            return Ok(());
        };
        let close = if o == b'(' { b')' } else { b']' };
        let mut depth = 0usize;
        for &b in &bytes[open..] {
            if b == o {
                depth += 1;
            } else if b == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
        }
        let msg = format!(
            "unterminated '{}' {what}: expected '{}' before the end of the line",
            o as char, close as char
        );
        Err(fail(open, msg))
    }

    /// One of the names in `table`.
    fn choice<T: Copy>(&mut self, table: &[(&str, T)], what: &str) -> LResult<T> {
        let at = self.pos;
        let tok = self.token();
        if let Some(&(_, v)) = table.iter().find(|(n, _)| *n == tok) {
            return Ok(v);
        }
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        let msg = if tok.is_empty() {
            format!("expected a {what}, found {}", self.describe(at))
        } else {
            format!("unknown {what} {}", quote(tok))
        };
        Err(fail(
            at,
            format!("{msg}; expected one of: {}", names.join(", ")),
        ))
    }

    /// An engine name among `allowed` for `op`.
    fn engine(&mut self, allowed: &[Engine], op: &str) -> LResult<Engine> {
        let at = self.pos;
        let tok = self.token();
        let names: Vec<&str> = allowed.iter().map(|e| e.name()).collect();
        let names = names.join(", ");
        match ENGINES.iter().find(|e| e.name() == tok) {
            Some(e) if allowed.contains(e) => Ok(*e),
            Some(e) => Err(fail(
                at,
                format!(
                    "{op} cannot run on the {} engine; expected one of: {names}",
                    e.name()
                ),
            )),
            None => Err(fail(
                at,
                format!(
                    "expected an engine for {op}, found {}; expected one of: {names}",
                    self.shown(at, tok)
                ),
            )),
        }
    }

    /// A dtype name or alias (the message lists the valid names).
    fn dtype(&mut self) -> LResult<DType> {
        let at = self.pos;
        let tok = self.token();
        if tok.is_empty() {
            let msg = format!(
                "expected a dtype, found {}; expected one of: {}",
                self.describe(at),
                crate::numerics::valid_names()
            );
            return Err(fail(at, msg));
        }
        tok.parse::<DType>().map_err(|e| fail(at, e.to_string()))
    }

    /// Unsigned decimal digits (at least one), up to u64.
    fn uint(&mut self, what: &str) -> LResult<u64> {
        let at = self.pos;
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            let msg = format!(
                "expected {what} (an unsigned integer), found {}",
                self.describe(at)
            );
            return Err(fail(at, msg));
        }
        let mut v: u64 = 0;
        for b in digits.bytes() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .ok_or_else(|| fail(at, format!("{what} {digits} is too large")))?;
        }
        Ok(v)
    }

    /// A tile coordinate (partition, element offset, stride or size): tiles hold them in 32 bits
    /// to stay small, so a larger one is an error here rather than a silent truncation.
    fn coord(&mut self, what: &str) -> LResult<u32> {
        let at = self.pos;
        let v = self.uint(what)?;
        u32::try_from(v).map_err(|_| {
            let msg = format!(
                "{what} {v} is too large: tile coordinates are at most {} (32 bits)",
                u32::MAX
            );
            fail(at, msg)
        })
    }

    /// A whole-token signed integer (`-?[0-9]+`) for key `key`.
    fn int_token(&mut self, key: &str) -> LResult<i64> {
        let at = self.pos;
        let tok = self.token();
        let digits = tok.strip_prefix('-').unwrap_or(tok);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            let msg = format!(
                "expected an integer for '{key}', found {}",
                self.shown(at, tok)
            );
            return Err(fail(at, msg));
        }
        tok.parse::<i64>().map_err(|_| {
            let msg = format!("integer {tok} for '{key}' is out of range for a 64-bit integer");
            fail(at, msg)
        })
    }

    /// A whole-token unsigned integer of type `T` (seeds, DMA indices).
    fn uint_token<T: TryFrom<u64>>(&mut self, what: &str) -> LResult<T> {
        let at = self.pos;
        let v = self.uint(what)?;
        if !self.peek().is_none_or(is_delim) {
            let tok = self.token();
            let msg = format!("expected {what} (an unsigned integer), found '{v}{tok}'");
            return Err(fail(at, msg));
        }
        T::try_from(v).map_err(|_| fail(at, format!("{what} {v} is out of range")))
    }

    /// A whole-token float, as Rust's `str::parse::<f32>` reads it.
    fn float(&mut self, what: fmt::Arguments) -> LResult<f32> {
        let at = self.pos;
        let tok = self.token();
        tok.parse::<f32>().map_err(|_| {
            fail(
                at,
                format!("expected {what}, found {}", self.shown(at, tok)),
            )
        })
    }

    /// A whole-token f64 (init parameters).
    fn float64(&mut self, what: fmt::Arguments) -> LResult<f64> {
        let at = self.pos;
        let tok = self.token();
        tok.parse::<f64>().map_err(|_| {
            fail(
                at,
                format!("expected {what}, found {}", self.shown(at, tok)),
            )
        })
    }

    /// `ENGINE.QUEUE`, both u16.
    fn queue(&mut self) -> LResult<DmaQueue> {
        let engine = self.uint_token_until_dot("the DMA engine index")?;
        if !self.eat(b'.') {
            let msg = format!(
                "expected '.' between DMA engine and queue (as in 0.1), found {}",
                self.describe(self.pos)
            );
            return Err(fail(self.pos, msg));
        }
        let queue = self.uint_token("the DMA queue index")?;
        Ok(DmaQueue { engine, queue })
    }

    /// The engine part of `E.Q`.
    fn uint_token_until_dot(&mut self, what: &str) -> LResult<u16> {
        let at = self.pos;
        let v = self.uint(what)?;
        u16::try_from(v).map_err(|_| fail(at, format!("{what} {v} is out of range (0..=65535)")))
    }

    /// `[D0, D1, ...]`: 1 to 8 positive dimensions, at most 2^36 elements, and at most 128
    /// partitions on chip. Checked as read, so an absurd shape allocates nothing.
    fn shape(&mut self, memory: Memory) -> LResult<Vec<usize>> {
        let open = self.pos;
        if !self.eat(b'[') {
            let msg = format!(
                "expected a shape such as [128, 512], found {}",
                self.describe(open)
            );
            return Err(fail(open, msg));
        }
        self.check_closed(open, "of the shape")?;
        let mut dims = Vec::with_capacity(4);
        let mut elems: u64 = 1;
        loop {
            self.skip_ws();
            let at = self.pos;
            if dims.len() == MAX_SHAPE_DIMS {
                let msg = format!("too many dimensions: a shape has at most {MAX_SHAPE_DIMS}");
                return Err(fail(at, msg));
            }
            let d = self.uint("a dimension")?;
            if d == 0 {
                return Err(fail(
                    at,
                    "zero-sized dimension: every dimension must be at least 1",
                ));
            }
            elems = elems.saturating_mul(d);
            if elems > MAX_ELEMS {
                let msg = "shape has more than 2^36 elements; that is not a real buffer";
                return Err(fail(open, msg));
            }
            if dims.is_empty() && memory != Memory::Hbm && d > MAX_PARTITIONS {
                let msg = format!(
                    "{} buffer has {d} partitions; at most {MAX_PARTITIONS}",
                    memory.name()
                );
                return Err(fail(at, msg));
            }
            // At most 2^36, so it fits a 64-bit usize; a 32-bit target reports it.
            dims.push(usize::try_from(d).map_err(|_| fail(at, "dimension too large"))?);
            self.skip_ws();
            if self.eat(b']') {
                return Ok(dims);
            }
            self.expect(b',', "between dimensions")?;
        }
    }

    /// `zeros | input | normal(...) | uniform(...)`.
    fn init(&mut self) -> LResult<Init> {
        let at = self.pos;
        let word = self.name();
        match word {
            "zeros" => Ok(Init::Zeros),
            "input" => Ok(Init::Input),
            "normal" => {
                let ([mean, std], seed) = self.init_args("normal", ["mean", "std", "seed"])?;
                Ok(Init::Normal {
                    mean: mean.unwrap_or(0.0),
                    std: std.unwrap_or(1.0),
                    seed,
                })
            }
            "uniform" => {
                let ([low, high], seed) = self.init_args("uniform", ["low", "high", "seed"])?;
                Ok(Init::Uniform {
                    low: low.unwrap_or(-1.0),
                    high: high.unwrap_or(1.0),
                    seed,
                })
            }
            _ => {
                let found = if word.is_empty() {
                    format!("expected an init, found {}", self.describe(at))
                } else {
                    format!("unknown init '{word}'")
                };
                let msg = format!(
                    "{found}; expected one of: zeros, input, normal(mean=F, std=F, seed=U), \
                     uniform(low=F, high=F, seed=U)"
                );
                Err(fail(at, msg))
            }
        }
    }

    /// The optional `(k=v, ...)` of `normal`/`uniform`: two floats and a seed (default 0), in any
    /// order. Whitespace is allowed anywhere inside the parentheses.
    fn init_args(&mut self, func: &str, keys: [&str; 3]) -> LResult<InitArgs> {
        let mut floats = [None, None];
        let mut seed = None;
        let open = self.pos;
        if !self.eat(b'(') {
            return Ok((floats, 0));
        }
        self.check_closed(open, &format!("of {func}(...)"))?;
        self.skip_ws();
        if self.eat(b')') {
            return Ok((floats, 0));
        }
        loop {
            self.skip_ws();
            let at = self.pos;
            let key = self.name();
            let Some(i) = keys.iter().position(|k| *k == key) else {
                let msg = format!(
                    "unknown key {} for {func}; expected one of: {}",
                    self.shown(at, key),
                    keys.join(", ")
                );
                return Err(fail(at, msg));
            };
            let given = if i == 2 {
                seed.is_some()
            } else {
                floats[i].is_some()
            };
            if given {
                return Err(fail(at, format!("duplicate key '{key}' for {func}")));
            }
            self.skip_ws();
            if !self.eat(b'=') {
                let msg = format!(
                    "expected '=' after key '{key}', found {}",
                    self.describe(self.pos)
                );
                return Err(fail(self.pos, msg));
            }
            self.skip_ws();
            if i == 2 {
                seed = Some(self.uint_token("the seed")?);
            } else {
                floats[i] = Some(self.float64(format_args!("a float for '{key}'"))?);
            }
            self.skip_ws();
            if self.eat(b')') {
                return Ok((floats, seed.unwrap_or(0)));
            }
            self.expect(b',', &format!("between the arguments of {func}"))?;
        }
    }

    /// `A:B`, a contiguous run of elements A..B.
    fn free_range(&mut self) -> LResult<AccessPattern> {
        let at = self.pos;
        let a = self.coord("the first free element (or '@' for an access pattern)")?;
        self.skip_ws();
        self.expect(b':', "after the first free element")?;
        self.skip_ws();
        let b = self.coord("the free end")?;
        if b <= a {
            let msg = format!("empty free range {a}:{b}; the end must be greater than the start");
            return Err(fail(at, msg));
        }
        Ok(AccessPattern::contiguous(a, b - a))
    }

    /// `OFF[S,N][S,N]...` after the `@`: 1 to 4 `[stride,size]` groups, outermost first.
    fn access_pattern(&mut self) -> LResult<AccessPattern> {
        self.skip_ws();
        let offset = self.coord("the access-pattern offset")?;
        let mut dims = crate::isa::Dims::new();
        loop {
            self.skip_ws();
            let at = self.pos;
            if !self.eat(b'[') {
                break;
            }
            if dims.len() == MAX_AP_DIMS {
                let msg = format!(
                    "too many access-pattern dimensions: at most {MAX_AP_DIMS} [stride,size] groups"
                );
                return Err(fail(at, msg));
            }
            self.skip_ws();
            let stride = self.coord("the stride")?;
            self.skip_ws();
            self.expect(b',', "between stride and size")?;
            self.skip_ws();
            let size_at = self.pos;
            let size = self.coord("the size")?;
            if size == 0 {
                return Err(fail(size_at, "access-pattern size must be at least 1"));
            }
            self.skip_ws();
            self.expect(b']', "to close the [stride,size] group")?;
            dims.push((stride, size));
        }
        if dims.is_empty() {
            let msg = format!(
                "expected a [stride,size] group after '@{offset}', found {}",
                self.describe(self.pos)
            );
            return Err(fail(self.pos, msg));
        }
        Ok(AccessPattern { offset, dims })
    }
}

/// The two float parameters and the seed of a random init.
type InitArgs = ([Option<f64>; 2], u64);

/// A token in quotes, shortened when long.
fn quote(tok: &str) -> String {
    const MAX: usize = 40;
    if tok.chars().count() <= MAX {
        format!("'{tok}'")
    } else {
        let head: String = tok.chars().take(MAX).collect();
        format!("'{head}...'")
    }
}

/// An operand kind: how a key's value is read.
#[derive(Clone, Copy)]
enum Kind {
    Tile,
    Scalar,
    F32,
    I64,
    Bool,
    Queue,
    /// One of the opcode's [`OpKind::engines`].
    Engine,
    Func,
    Alu,
    Red,
    Cmp,
}

/// A parsed value, before it is placed in its [`Op`].
enum Value {
    Tile(Tile),
    Scalar(Scalar),
    F32(f32),
    I64(i64),
    Bool(bool),
    Queue(DmaQueue),
    Engine(Engine),
    Func(ActFunc),
    Alu(AluOp),
    Red(ReduceOp),
    Cmp(CmpOp),
}

/// An opcode: its keys in canonical order and how to build the op from their values.
struct Spec {
    kind: OpKind,
    keys: &'static [(&'static str, Kind)],
    build: fn(&mut Slots) -> LResult<Op>,
}

/// The values given on one instruction line, indexed like [`Spec::keys`].
struct Slots<'s> {
    spec: &'s Spec,
    /// Where the opcode is (missing keys are reported there).
    op_pos: usize,
    vals: [Option<Value>; MAX_KEYS],
    /// Where each given key is.
    pos: [usize; MAX_KEYS],
}

impl Slots<'_> {
    /// The error for key `i` absent (`missing`) or of the wrong kind (a bug in [`SPECS`]).
    fn bad(&self, i: usize, missing: bool) -> Fail {
        let key = self.spec.keys.get(i).map_or("?", |k| k.0);
        if missing {
            let msg = format!("missing required key '{key}' for {}", self.spec.kind.name());
            fail(self.op_pos, msg)
        } else {
            fail(
                self.op_pos,
                format!("internal error: key '{key}' read as the wrong kind"),
            )
        }
    }

    /// The engine in slot `i`, or the opcode's default (the first of [`OpKind::engines`]).
    fn engine(&mut self, i: usize) -> LResult<Engine> {
        match self.vals[i].take() {
            Some(Value::Engine(e)) => Ok(e),
            None => Ok(self.spec.kind.engines()[0]),
            Some(_) => Err(self.bad(i, false)),
        }
    }

    /// Both of two paired keys, or neither.
    fn pair<A, B>(
        &self,
        a: Option<A>,
        i: usize,
        b: Option<B>,
        j: usize,
    ) -> LResult<Option<(A, B)>> {
        let (given, other) = match (a, b) {
            (Some(a), Some(b)) => return Ok(Some((a, b))),
            (None, None) => return Ok(None),
            (Some(_), None) => (i, j),
            (None, Some(_)) => (j, i),
        };
        let name = |k: usize| self.spec.keys.get(k).map_or("?", |k| k.0);
        let msg = format!(
            "key '{}' needs '{}' too: give both or neither",
            name(given),
            name(other)
        );
        Err(fail(self.pos[given], msg))
    }
}

/// Take a required value of variant `$v` from slot `$i`.
macro_rules! req {
    ($s:ident, $i:expr, $v:ident) => {
        match $s.vals[$i].take() {
            Some(Value::$v(x)) => x,
            other => return Err($s.bad($i, other.is_none())),
        }
    };
}

/// Take an optional value of variant `$v` from slot `$i`.
macro_rules! opt {
    ($s:ident, $i:expr, $v:ident) => {
        match $s.vals[$i].take() {
            Some(Value::$v(x)) => Some(x),
            None => None,
            Some(_) => return Err($s.bad($i, false)),
        }
    };
}

/// Every opcode, in the order error messages list them.
const SPECS: [Spec; 13] = [
    Spec {
        kind: OpKind::DmaCopy,
        keys: &[
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("queue", Kind::Queue),
        ],
        build: |s| {
            Ok(Op::DmaCopy {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
                queue: opt!(s, 2, Queue).unwrap_or(DmaQueue {
                    engine: 0,
                    queue: 0,
                }),
            })
        },
    },
    Spec {
        kind: OpKind::Matmul,
        keys: &[
            ("dst", Kind::Tile),
            ("stationary", Kind::Tile),
            ("moving", Kind::Tile),
            ("accumulate", Kind::Bool),
        ],
        build: |s| {
            Ok(Op::Matmul {
                dst: req!(s, 0, Tile),
                stationary: req!(s, 1, Tile),
                moving: req!(s, 2, Tile),
                accumulate: opt!(s, 3, Bool).unwrap_or(false),
            })
        },
    },
    Spec {
        kind: OpKind::Transpose,
        keys: &[("dst", Kind::Tile), ("src", Kind::Tile)],
        build: |s| {
            Ok(Op::Transpose {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::Activation,
        keys: &[
            ("func", Kind::Func),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("scale", Kind::Scalar),
            ("bias", Kind::Scalar),
            ("reduce", Kind::Red),
            ("reduce_dst", Kind::Tile),
        ],
        build: |s| {
            let func = req!(s, 0, Func);
            let dst = req!(s, 1, Tile);
            let src = req!(s, 2, Tile);
            let scale = opt!(s, 3, Scalar).unwrap_or(Scalar::Imm(1.0));
            let bias = opt!(s, 4, Scalar).unwrap_or(Scalar::Imm(0.0));
            let (r, rd) = (opt!(s, 5, Red), opt!(s, 6, Tile));
            let reduce = s.pair(r, 5, rd, 6)?;
            Ok(Op::Activation(Box::new(Activation {
                func,
                dst,
                src,
                scale,
                bias,
                reduce,
            })))
        },
    },
    Spec {
        kind: OpKind::TensorTensor,
        keys: &[
            ("engine", Kind::Engine),
            ("op", Kind::Alu),
            ("dst", Kind::Tile),
            ("a", Kind::Tile),
            ("b", Kind::Tile),
        ],
        build: |s| {
            Ok(Op::TensorTensor {
                engine: s.engine(0)?,
                op: req!(s, 1, Alu),
                dst: req!(s, 2, Tile),
                a: req!(s, 3, Tile),
                b: req!(s, 4, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::TensorScalar,
        keys: &[
            ("engine", Kind::Engine),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("op0", Kind::Alu),
            ("scalar0", Kind::Scalar),
            ("op1", Kind::Alu),
            ("scalar1", Kind::Scalar),
        ],
        build: |s| {
            let engine = s.engine(0)?;
            let dst = req!(s, 1, Tile);
            let src = req!(s, 2, Tile);
            let op0 = (req!(s, 3, Alu), req!(s, 4, Scalar));
            let (o1, s1) = (opt!(s, 5, Alu), opt!(s, 6, Scalar));
            let op1 = s.pair(o1, 5, s1, 6)?;
            Ok(Op::TensorScalar(Box::new(TensorScalar {
                engine,
                dst,
                src,
                op0,
                op1,
            })))
        },
    },
    Spec {
        kind: OpKind::TensorReduce,
        keys: &[
            ("engine", Kind::Engine),
            ("op", Kind::Red),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
        ],
        build: |s| {
            Ok(Op::TensorReduce {
                engine: s.engine(0)?,
                op: req!(s, 1, Red),
                dst: req!(s, 2, Tile),
                src: req!(s, 3, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::TensorCopy,
        keys: &[
            ("engine", Kind::Engine),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
        ],
        build: |s| {
            Ok(Op::TensorCopy {
                engine: s.engine(0)?,
                dst: req!(s, 1, Tile),
                src: req!(s, 2, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::Memset,
        keys: &[
            ("engine", Kind::Engine),
            ("dst", Kind::Tile),
            ("value", Kind::F32),
        ],
        build: |s| {
            Ok(Op::Memset {
                engine: s.engine(0)?,
                dst: req!(s, 1, Tile),
                value: opt!(s, 2, F32).unwrap_or(0.0),
            })
        },
    },
    Spec {
        kind: OpKind::Iota,
        keys: &[
            ("dst", Kind::Tile),
            ("base", Kind::I64),
            ("channel_multiplier", Kind::I64),
            ("step", Kind::I64),
        ],
        build: |s| {
            Ok(Op::Iota {
                dst: req!(s, 0, Tile),
                base: opt!(s, 1, I64).unwrap_or(0),
                channel_multiplier: opt!(s, 2, I64).unwrap_or(0),
                step: opt!(s, 3, I64).unwrap_or(1),
            })
        },
    },
    Spec {
        kind: OpKind::AffineSelect,
        keys: &[
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("cmp", Kind::Cmp),
            ("base", Kind::I64),
            ("channel_multiplier", Kind::I64),
            ("step", Kind::I64),
            ("fill", Kind::F32),
        ],
        build: |s| {
            Ok(Op::AffineSelect {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
                cmp: req!(s, 2, Cmp),
                base: opt!(s, 3, I64).unwrap_or(0),
                channel_multiplier: opt!(s, 4, I64).unwrap_or(0),
                step: opt!(s, 5, I64).unwrap_or(1),
                fill: req!(s, 6, F32),
            })
        },
    },
    Spec {
        kind: OpKind::BnStats,
        keys: &[("dst", Kind::Tile), ("src", Kind::Tile)],
        build: |s| {
            Ok(Op::BnStats {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::BnAggr,
        keys: &[("dst", Kind::Tile), ("src", Kind::Tile)],
        build: |s| {
            Ok(Op::BnAggr {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
            })
        },
    },
];

/// Every opcode's keys fit the slot array (checked at compile time).
const _: () = {
    let mut i = 0;
    while i < SPECS.len() {
        assert!(SPECS[i].keys.len() <= MAX_KEYS);
        i += 1;
    }
};
