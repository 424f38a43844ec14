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
    let bytes = read_bounded(path, MAX_TEXT_INPUT_BYTES)?;
    decode(bytes, &path.display().to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Largest text input read whole: 256 MiB, several times the largest input any command could use
/// (a million-instruction trace is about 60 MB of text).
pub const MAX_TEXT_INPUT_BYTES: u64 = 256 << 20;

/// The bytes of a text input of at most `limit_bytes`: a file that says it is larger is refused
/// before it is read; streams that are not files (`/dev/zero`, pipes) are read in chunks up to
/// the limit and refused at their first NUL byte, which no text input holds. The refusals are
/// `InvalidData` errors whose message says what and the limit.
pub fn read_bounded(path: &Path, limit_bytes: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let refuse = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let too_big = |n: String| {
        refuse(format!(
            "{n} bytes; text inputs are limited to {limit_bytes} bytes ({} MiB)",
            limit_bytes >> 20
        ))
    };
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > limit_bytes {
        return Err(too_big(meta.len().to_string()));
    }
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut r = file.take(limit_bytes + 1);
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(at) = chunk[..n].iter().position(|&b| b == 0) {
            let offset = bytes.len() + at;
            return Err(refuse(format!("byte {offset} is NUL: not a text file")));
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    if bytes.len() as u64 > limit_bytes {
        return Err(too_big(format!("more than {limit_bytes}")));
    }
    Ok(bytes)
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
