//! Printer of the trace text format: the canonical form, which [`super::parse::parse`] reads back
//! to the same program.

use super::Program;

/// Print a program as trace text.
pub fn print(program: &Program) -> String {
    let _ = program;
    String::new()
}
