//! Input files as text: bytes that are not UTF-8 are an [`Error`] at the line and column of the
//! first bad byte, not std's "stream did not contain valid UTF-8" without a place.

use std::io;
use std::path::Path;

use super::document::position;
use super::error::{Error, Location, Result};

/// The key of an encoding error (no key is at fault).
pub const ENCODING_KEY: &str = "(encoding)";

/// `bytes` as text; `file` names it in errors. Invalid UTF-8 is located at its first bad byte.
pub fn decode(bytes: Vec<u8>, file: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = e.utf8_error().valid_up_to();
        // The prefix is valid by construction.
        let before = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
        let (line, column) = position(before, good);
        let bad = bytes.get(good).copied().unwrap_or_default();
        Error::new(
            Location::At {
                file: file.to_string(),
                line,
                column,
            },
            ENCODING_KEY,
            format!("invalid UTF-8 (byte 0x{bad:02X} at byte offset {good}); expected UTF-8 text"),
        )
    })
}

/// Read the file at `path` as text, for readers that take `io::Result<String>` (a trace a
/// scenario names, a hardware file): invalid UTF-8 is an [`io::ErrorKind::InvalidData`] error
/// that carries the located [`Error`], which [`located`] gets back.
pub fn read_text(path: &Path) -> io::Result<String> {
    let bytes = std::fs::read(path)?;
    decode(bytes, &path.display().to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The located error [`read_text`] put in `e`, if it is one.
pub fn located(e: &io::Error) -> Option<Error> {
    e.get_ref()?.downcast_ref::<Error>().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_byte_is_located() {
        let e = decode(b"ab\nc\xc3\xa9d \xff\n".to_vec(), "f.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.txt:2:5: (encoding): invalid UTF-8 (byte 0xFF at byte offset 8); expected UTF-8 text"
        );
        let e = decode(b"\xc3".to_vec(), "f").unwrap_err();
        assert_eq!(e.location.to_string(), "f:1:1");
        assert_eq!(decode(b"ok\n".to_vec(), "f").unwrap(), "ok\n");
        let io = io::Error::new(io::ErrorKind::InvalidData, e.clone());
        assert_eq!(located(&io), Some(e));
        assert_eq!(located(&io::Error::other("x")), None);
    }
}
