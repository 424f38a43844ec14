//! Printer of the trace text format: the canonical form, which [`super::parse::parse`] reads back
//! to the same program.

use super::Program;

/// Print a program as trace text.
pub fn print(program: &Program) -> String {
    let _ = program;
    String::new()
}

/// A tile in trace syntax (`name[0:128, 0:512]`).
pub fn tile(program: &Program, t: &super::Tile) -> String {
    let _ = (program, t);
    String::new()
}
