//! The cursor over one line: tokens, names, numbers and punctuation, and the "found ..." part of
//! every message.

use std::fmt;

use super::names::ENGINES;
use super::{LResult, fail};
use crate::isa::{DmaQueue, Engine};
use crate::numerics::DType;

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
pub(super) struct Cur<'a> {
    pub(super) s: &'a str,
    pub(super) pos: usize,
}

impl<'a> Cur<'a> {
    /// The byte at the cursor, if any.
    pub(super) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// Whether the line is consumed.
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Whether a token may end here.
    pub(super) fn at_ws_or_end(&self) -> bool {
        self.peek().is_none_or(is_ws)
    }

    /// Skip spaces and tabs.
    pub(super) fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// Consume `b` if it is next.
    pub(super) fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    /// Consume bytes while `f` holds (ASCII predicates only, to stay on character boundaries).
    pub(super) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii() && f(b)) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A plain token: up to whitespace or punctuation.
    pub(super) fn token(&mut self) -> &'a str {
        self.take_while(|b| !is_delim(b))
    }

    /// A NAME (`[A-Za-z_][A-Za-z0-9_.]*`), or "" when none starts here.
    pub(super) fn name(&mut self) -> &'a str {
        if !self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        {
            return "";
        }
        self.take_while(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    }

    /// A NAME that must be a whole token.
    pub(super) fn name_token(&mut self, what: &str) -> LResult<&'a str> {
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
    pub(super) fn describe(&self, pos: usize) -> String {
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
    pub(super) fn shown(&self, pos: usize, tok: &str) -> String {
        if tok.is_empty() {
            self.describe(pos)
        } else {
            quote(tok)
        }
    }

    /// Require byte `b`; `ctx` says what it is for.
    pub(super) fn expect(&mut self, b: u8, ctx: &str) -> LResult<()> {
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
    pub(super) fn expect_end(&mut self, what: &str) -> LResult<()> {
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
    pub(super) fn check_closed(&self, open: usize, what: &str) -> LResult<()> {
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
    pub(super) fn choice<T: Copy>(&mut self, table: &[(&str, T)], what: &str) -> LResult<T> {
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
    pub(super) fn engine(&mut self, allowed: &[Engine], op: &str) -> LResult<Engine> {
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
    pub(super) fn dtype(&mut self) -> LResult<DType> {
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
    pub(super) fn uint(&mut self, what: &str) -> LResult<u64> {
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
    pub(super) fn coord(&mut self, what: &str) -> LResult<u32> {
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
    pub(super) fn int_token(&mut self, key: &str) -> LResult<i64> {
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
    pub(super) fn uint_token<T: TryFrom<u64>>(&mut self, what: &str) -> LResult<T> {
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
    pub(super) fn float(&mut self, what: fmt::Arguments) -> LResult<f32> {
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
    pub(super) fn float64(&mut self, what: fmt::Arguments) -> LResult<f64> {
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
    pub(super) fn queue(&mut self) -> LResult<DmaQueue> {
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

    /// `R,C`: a PE tile's rows and columns (offsets or sizes), both 0..=65535.
    pub(super) fn pair(&mut self, what: &str) -> LResult<(u16, u16)> {
        let rows = self.uint_token_until_dot(what)?;
        if !self.eat(b',') {
            let msg = format!(
                "expected ',' between the rows and columns of {what} (as in 64,0), found {}",
                self.describe(self.pos)
            );
            return Err(fail(self.pos, msg));
        }
        let cols = self.uint_token_until_dot(what)?;
        Ok((rows, cols))
    }

    /// The engine part of `E.Q`.
    fn uint_token_until_dot(&mut self, what: &str) -> LResult<u16> {
        let at = self.pos;
        let v = self.uint(what)?;
        u16::try_from(v).map_err(|_| fail(at, format!("{what} {v} is out of range (0..=65535)")))
    }
}

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
