//! Parser of the trace text format (see `traces/README.md`).
//!
//! A hand-rolled byte scanner, one pass over the text: traces of millions of lines come from
//! kernel generators, so the parser allocates only what the [`Program`] keeps (names, shapes and
//! access-pattern dimensions) and resolves buffer names through a hash map. It checks syntax, names
//! and the format's own rules; bounds and resource checks belong to the chip simulator.
//!
//! Every error names the 1-based line and column (in characters) of the offending token and says
//! what was expected and what was found. No input makes it panic.
//!
//! Rooms: [`parse`] walks the lines (header, kernel name, body); `buffer` reads declarations
//! (shapes, initialisers), `instr` an instruction's `KEY=VALUE` operands against its opcode's
//! entry in `specs`, `tile` the tile and access-pattern syntax, `cursor` the tokens and numbers
//! of one line; `names` holds the name tables the printer shares.

mod buffer;
mod cursor;
mod instr;
mod names;
mod specs;
mod tile;

use std::collections::HashMap;

use super::{Error, Program, Result, TRACE_VERSION};
use cursor::Cur;
pub(crate) use names::{ACT_FUNCS, ALU_OPS};
pub(super) use names::{CMP_OPS, REDUCE_OPS, name_of};

/// Parse trace text; `file` names it in error messages.
pub fn parse(text: &str, file: &str) -> Result<Program> {
    let mut parser = Parser {
        names: HashMap::new(),
        program: Program::default(),
        rest: "",
        line: 0,
        version: TRACE_VERSION,
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
    /// The format version the header names.
    version: u32,
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
                Stage::Header => header(&mut c).map(|v| {
                    self.version = v;
                    Stage::Kernel
                }),
                Stage::Kernel => self.kernel(&mut c).map(|()| Stage::Body),
                Stage::Body => self.body_line(&mut c).map(|()| Stage::Body),
            };
            stage = step.map_err(|f| error(file, self.line, code, f))?;
        }
        let missing = match stage {
            Stage::Header => {
                "expected the header 'trnsim-trace 1' or 'trnsim-trace 2', found end of file"
            }
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

    /// The error for a feature of format `since` in a file headed with an older version.
    fn needs(&self, since: u32, at: usize, what: impl std::fmt::Display) -> LResult<()> {
        if since <= self.version {
            return Ok(());
        }
        let msg = format!(
            "{what} needs trnsim-trace {since} (this file is headed 'trnsim-trace {}')",
            self.version
        );
        Err(fail(at, msg))
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

/// `trnsim-trace VERSION` with a version this build reads (1 to [`TRACE_VERSION`]): the version.
fn header(c: &mut Cur) -> LResult<u32> {
    let at = c.pos;
    if c.token() != "trnsim-trace" || !c.at_ws_or_end() {
        let msg = format!(
            "missing header: expected 'trnsim-trace 1' or 'trnsim-trace {TRACE_VERSION}' as the \
             first line, found {}",
            c.describe(at)
        );
        return Err(fail(at, msg));
    }
    c.skip_ws();
    let v_at = c.pos;
    let version = c.uint("the format version")?;
    if !(1..=u64::from(TRACE_VERSION)).contains(&version) {
        let msg = format!(
            "unsupported trace version {version}; this build reads versions 1 to {TRACE_VERSION}"
        );
        return Err(fail(v_at, msg));
    }
    c.expect_end("the header")?;
    Ok(version as u32)
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
