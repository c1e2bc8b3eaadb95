//! What a log shows of a request line: its start and its length, kept in
//! a fixed buffer whatever the line's size (the decoder itself keeps no
//! text).

use std::fmt;

/// Request lines are logged up to this many bytes.
const LOGGED_LINE_LEN: usize = 80;

/// The first 80 bytes of a request line and its length:
/// what the log shows of it, whatever its size.
///
/// A [`ServerSession`](crate::ServerSession) keeps one for the request it
/// is answering and hands it out with each [`Answered`](crate::Answered)
/// record; it is formatted only when a log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineHead {
    bytes: [u8; LOGGED_LINE_LEN],
    kept: usize,
    len: u64,
}

impl Default for LineHead {
    fn default() -> LineHead {
        LineHead {
            bytes: [0; LOGGED_LINE_LEN],
            kept: 0,
            len: 0,
        }
    }
}

impl LineHead {
    /// Notes bytes consumed for the current line.
    pub fn push(&mut self, consumed: &[u8]) {
        let room = &mut self.bytes[self.kept..];
        let taken = room.len().min(consumed.len());
        room[..taken].copy_from_slice(&consumed[..taken]);
        self.kept += taken;
        self.len += consumed.len() as u64;
    }

    /// Appends what [`Display`](fmt::Display) shows to `out`, without the
    /// formatting machinery: a server logs one per request, and most lines
    /// need no escaping, so they are copied whole.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let (head, whole) = self.shown();
        out.push(b'"');
        if head.iter().all(|&byte| SHOWN_AS_IS[usize::from(byte)]) {
            out.extend_from_slice(head);
        } else {
            out.extend(head.escape_ascii());
        }
        out.push(b'"');
        if !whole {
            out.extend_from_slice(format!("... ({} bytes)", self.len).as_bytes());
        }
    }

    /// The bytes shown, and whether they are the whole line.
    fn shown(&self) -> (&[u8], bool) {
        let mut head = &self.bytes[..self.kept];
        let whole = self.len == self.kept as u64;
        if whole {
            head = head
                .strip_suffix(b"\r\n")
                .or_else(|| head.strip_suffix(b"\n"))
                .unwrap_or(head);
        }
        (head, whole)
    }

    /// Starts the next line.
    pub fn clear(&mut self) {
        self.kept = 0;
        self.len = 0;
    }
}

/// The bytes `escape_ascii` leaves as they are: printable ASCII but for
/// quotes and the backslash. A table, not four comparisons: the check runs
/// over every byte of every logged request.
const SHOWN_AS_IS: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0x20;
    while byte < 0x7f {
        table[byte] = !matches!(byte as u8, b'"' | b'\\' | b'\'');
        byte += 1;
    }
    table
};

/// The line for the log, quoted and escaped, with its line end dropped and,
/// when cut, its length. Formatted only when a log record shows it, so a
/// request costs no allocation when the log is quiet.
impl fmt::Display for LineHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, whole) = self.shown();
        write!(f, "\"{}\"", head.escape_ascii())?;
        if !whole {
            write!(f, "... ({} bytes)", self.len)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line as the log shows it, then the next line; `write_to`
    /// shows the same.
    fn take(line: &mut LineHead) -> String {
        let shown = line.to_string();
        let mut written = Vec::new();
        line.write_to(&mut written);
        assert_eq!(String::from_utf8_lossy(&written), shown);
        line.clear();
        shown
    }

    #[test]
    fn every_byte_is_written_as_display_shows_it() {
        let mut line = LineHead::default();
        for byte in 0..=u8::MAX {
            line.push(&[b'a', byte, b'z', b'\n']);
            let shown = take(&mut line);
            let escaped: String = [byte].escape_ascii().to_string();
            assert_eq!(shown, format!("\"a{escaped}z\""), "byte {byte:#04x}");
        }
    }

    #[test]
    fn the_log_shows_the_start_of_a_line() {
        let mut line = LineHead::default();
        line.push(b"get_meta");
        line.push(b"data a\r\n");
        assert_eq!(take(&mut line), r#""get_metadata a""#);
        line.push(b"qui\n");
        assert_eq!(take(&mut line), r#""qui""#);
        line.push(b"a\tb\0\r\n");
        assert_eq!(take(&mut line), r#""a\tb\x00""#);
        line.push(b"a\"b'c\\d \x7f\r\n");
        assert_eq!(take(&mut line), r#""a\"b\'c\\d \x7f""#);
        let long = [b'x'; 1000];
        line.push(&long);
        line.push(b"\r\n");
        assert_eq!(
            take(&mut line),
            format!("\"{}\"... (1002 bytes)", "x".repeat(80))
        );
        assert_eq!(take(&mut line), r#""""#);
    }
}
