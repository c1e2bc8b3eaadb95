//! Binary data is not written to a terminal unless asked for: its stray
//! control bytes can leave the terminal unusable. As curl does, the first
//! bytes decide: a NUL, or bytes that are not UTF-8, mean binary.

use std::io::{self, Write};

use hftp_client::Error;

/// How much of the data's start is looked at.
const SNIFF_LEN: usize = 64 * 1024;

/// Why a [`TerminalGuard`] refused the data, carried in its write error.
#[derive(Debug, thiserror::Error)]
#[error("binary output refused")]
struct BinaryRefused;

/// Whether `data`, the start of a file, looks binary: a NUL byte, or
/// bytes that are not UTF-8. A character cut at the end of `data` is not
/// held against it.
pub fn looks_binary(data: &[u8]) -> bool {
    let data = &data[..data.len().min(SNIFF_LEN)];
    if data.contains(&0) {
        return true;
    }
    match std::str::from_utf8(data) {
        Ok(_) => false,
        // `None`: only the end is cut short.
        Err(error) => error.error_len().is_some(),
    }
}

/// Passes data on to a terminal, unless its first write looks binary:
/// then nothing is written, and the write fails with an error that
/// [`is_refusal`] recognises.
pub struct TerminalGuard<W> {
    inner: W,
    checked: bool,
    refused: bool,
}

impl<W> TerminalGuard<W> {
    /// A guard that looks at the first write if `on`; else it passes
    /// everything.
    pub fn new(inner: W, on: bool) -> TerminalGuard<W> {
        TerminalGuard {
            inner,
            checked: !on,
            refused: false,
        }
    }

    /// Whether the data was refused.
    pub fn refused(&self) -> bool {
        self.refused
    }
}

impl<W: Write> Write for TerminalGuard<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.checked && !data.is_empty() {
            if looks_binary(data) {
                self.refused = true;
                return Err(io::Error::other(BinaryRefused));
            }
            self.checked = true;
        }
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether a transfer failed because a [`TerminalGuard`] refused it.
pub fn is_refusal(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io = match cause.downcast_ref::<Error>() {
            Some(Error::Write(io)) => io,
            _ => match cause.downcast_ref::<io::Error>() {
                Some(io) => io,
                None => return false,
            },
        };
        io.get_ref()
            .is_some_and(|inner| inner.is::<BinaryRefused>())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_looks_binary() {
        for text in [
            &b""[..],
            b"plain text\r\n",
            "acentos: \u{e1}\u{e9}\u{ed}\u{f3}\u{fa} \u{f1}".as_bytes(),
            // A character cut by the end of the chunk.
            &"\u{e1}".as_bytes()[..1],
            b"\x1b[1mbold\x1b[0m",
        ] {
            assert!(!looks_binary(text), "{:?}", text.escape_ascii().to_string());
        }
        for binary in [
            &b"\0"[..],
            b"text, then \0",
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xfe",
            b"latin-1: \xe1rbol",
        ] {
            assert!(
                looks_binary(binary),
                "{:?}",
                binary.escape_ascii().to_string()
            );
        }
        // Only the start counts.
        let mut late = vec![b'a'; SNIFF_LEN];
        late.push(0);
        assert!(!looks_binary(&late));
    }

    #[test]
    fn the_guard_writes_nothing_of_binary_data() {
        let mut guard = TerminalGuard::new(Vec::new(), true);
        let error = guard.write_all(b"\x7fELF\0\0").expect_err("refused");
        assert!(guard.inner.is_empty() && guard.refused());
        let error = anyhow::Error::new(Error::Write(error)).context("get a.out");
        assert!(is_refusal(&error));
        assert!(!is_refusal(&anyhow::Error::new(Error::Write(
            io::ErrorKind::BrokenPipe.into()
        ))));

        // Text first: what follows is not looked at.
        let mut guard = TerminalGuard::new(Vec::new(), true);
        guard.write_all(b"text").expect("written");
        guard.write_all(b"\0").expect("written");
        assert_eq!(guard.inner, b"text\0");

        // Off: nothing is looked at.
        let mut guard = TerminalGuard::new(Vec::new(), false);
        guard.write_all(b"\0").expect("written");
        assert_eq!(guard.inner, b"\0");
    }
}
