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
        if shown_as_is(head) {
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

/// Whether `escape_ascii` leaves every byte of `bytes` as it is: all are
/// printable ASCII but for quotes and the backslash. Eight bytes at a time:
/// the check runs over every byte of every logged request, and byte by byte
/// it cost more than the rest of the line's formatting.
fn shown_as_is(bytes: &[u8]) -> bool {
    let Some(last) = bytes.len().checked_sub(WORD) else {
        return bytes.iter().all(|&byte| byte_shown_as_is(byte));
    };
    let word = |at: usize| {
        let mut word = [0; WORD];
        word.copy_from_slice(&bytes[at..at + WORD]);
        u64::from_ne_bytes(word)
    };
    // The last word may overlap the one before: checking a byte twice
    // changes nothing. A plain loop: an iterator chain cost twice as much.
    let mut shown = word_shown_as_is(word(last));
    let mut at = 0;
    while shown && at < last {
        shown = word_shown_as_is(word(at));
        at += WORD;
    }
    shown
}

const WORD: usize = 8;
const ONES: u64 = u64::from_ne_bytes([1; WORD]);
const HIGH_BITS: u64 = ONES * 0x80;

fn byte_shown_as_is(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte) && !matches!(byte, b'"' | b'\\' | b'\'')
}

/// [`byte_shown_as_is`] for the eight bytes of `word` at once.
fn word_shown_as_is(word: u64) -> bool {
    // Each term sets the high bit of a byte that must be escaped (and
    // maybe of bytes above it, through a borrow or carry, which only
    // happens when some byte is flagged already).
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let delete_or_above = word.wrapping_add(ONES) | word;
    let flagged = below_space
        | delete_or_above
        | has_byte(word, b'"')
        | has_byte(word, b'\\')
        | has_byte(word, b'\'');
    flagged & HIGH_BITS == 0
}

/// The high bit of each byte of `word` equal to `byte` is set.
fn has_byte(word: u64, byte: u8) -> u64 {
    let zeroed = word ^ (ONES * u64::from(byte));
    zeroed.wrapping_sub(ONES) & !zeroed
}

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
    fn every_byte_at_every_place_of_a_line_is_escaped_as_display_does() {
        let mut line = LineHead::default();
        for len in 1..=20 {
            for at in 0..len {
                for byte in 0..=u8::MAX {
                    let mut bytes = vec![b'x'; len];
                    bytes[at] = byte;
                    line.push(&bytes);
                    line.push(b"\r\n");
                    let shown = take(&mut line);
                    let escaped: String = bytes.escape_ascii().to_string();
                    assert_eq!(shown, format!("\"{escaped}\""), "{bytes:?}");
                }
            }
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
