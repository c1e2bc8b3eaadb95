//! One connection of a case: bytes sent, bytes expected, and a record of
//! both for the report when they differ.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Instant;

/// How many bytes of what was sent and received a failure keeps: enough to
/// see the difference, not a 16 MiB request.
const KEPT: usize = 512;

/// What went wrong in a case: what was sent, what was expected, what
/// arrived instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The first bytes sent on the connection that failed.
    pub sent: Vec<u8>,
    /// How many bytes were sent in all.
    pub sent_len: u64,
    /// What the server should have done.
    pub expected: String,
    /// The bytes received around where the reply went wrong.
    pub got: Vec<u8>,
    /// How many bytes were received in all.
    pub got_len: u64,
    /// What happened instead, in words.
    pub why: String,
}

impl Failure {
    /// A failure that is not about one connection's bytes.
    pub(crate) fn plain(expected: impl Into<String>, why: impl Into<String>) -> Failure {
        Failure {
            sent: Vec::new(),
            sent_len: 0,
            expected: expected.into(),
            got: Vec::new(),
            got_len: 0,
            why: why.into(),
        }
    }

    /// The same failure, said to be on connection `which` of several.
    pub(crate) fn on(mut self, which: &str) -> Failure {
        self.why = format!("{which}: {}", self.why);
        self
    }
}

/// `bytes` as a quoted string, escaped so that every byte is visible and
/// long runs of one byte are counted rather than repeated; `total` is how
/// many there were, when only the first ones are kept.
pub fn escape(bytes: &[u8], total: u64) -> String {
    let mut out = String::from("\"");
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let run = bytes[index..].iter().take_while(|&&b| b == byte).count();
        let shown = match byte {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            b'\t' => "\\t".to_string(),
            0 => "\\0".to_string(),
            b'\\' => "\\\\".to_string(),
            b'"' => "\\\"".to_string(),
            0x20..=0x7e => char::from(byte).to_string(),
            _ => format!("\\x{byte:02x}"),
        };
        if run > 16 {
            let _ = write!(out, "\"+\"{shown}\"×{run}+\"");
            index += run;
        } else {
            out.push_str(&shown);
            index += 1;
        }
    }
    out.push('"');
    let out = out.replace("\"\"+", "").replace("+\"\"", "");
    if total > bytes.len() as u64 {
        format!("{out}… ({total} bytes)")
    } else {
        out
    }
}

/// A connection to the server under test, every read and write bounded by
/// the case's deadline.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    deadline: Instant,
    sent: Vec<u8>,
    sent_len: u64,
    /// Everything received and not yet matched.
    got: Vec<u8>,
    got_len: u64,
    /// Whether the server has closed its side.
    eof: bool,
}

/// The request whose answer shows that a connection is still open, and
/// that answer. No kit's server serves a file of that name (it has
/// nothing to do with the check's own files).
pub(crate) const PROBE: &[u8] = b"get_metadata hftp-check-probe-no-such-file\r\n";
pub(crate) const PROBE_REPLY: &[u8] = b"202 FILE NOT FOUND\r\n";

impl Conn {
    pub(crate) fn open(addr: SocketAddr, deadline: Instant) -> Result<Conn, Failure> {
        let left = deadline.saturating_duration_since(Instant::now());
        let stream =
            TcpStream::connect_timeout(&addr, left.max(std::time::Duration::from_millis(1)))
                .map_err(|error| {
                    Failure::plain("a connection", format!("cannot connect to {addr}: {error}"))
                })?;
        // Each write is its own segment, so that splits reach the server
        // as split as the network lets them.
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            deadline,
            sent: Vec::new(),
            sent_len: 0,
            got: Vec::new(),
            got_len: 0,
            eof: false,
        })
    }

    /// A second handle on the socket, to write from another thread while
    /// this one reads (a server that stops reading while its replies are
    /// not read would otherwise deadlock the two).
    pub(crate) fn writer(&self) -> Result<TcpStream, Failure> {
        self.stream
            .try_clone()
            .map_err(|error| self.fail("a connection", format!("cannot clone the socket: {error}")))
    }

    /// Notes bytes another handle sent, for the report.
    pub(crate) fn note_sent(&mut self, bytes: &[u8]) {
        let room = KEPT.saturating_sub(self.sent.len());
        self.sent.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.sent_len += bytes.len() as u64;
    }

    /// Sends `bytes` in one write.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.note_sent(bytes);
        let left = self.left()?;
        let _ = self.stream.set_write_timeout(Some(left));
        self.stream.write_all(bytes).map_err(|error| {
            self.fail(
                "the server to read the request",
                format!("the send failed: {error}"),
            )
        })
    }

    /// Shuts both directions, which ends a write blocked on another
    /// handle of the socket.
    pub(crate) fn abort(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// What is left of the case's time.
    pub(crate) fn time_left(&self) -> std::time::Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .max(std::time::Duration::from_millis(1))
    }

    pub(crate) fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    fn left(&self) -> Result<std::time::Duration, Failure> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.fail("an answer", "the case's time ran out"));
        }
        Ok(left)
    }

    /// Reads once more; `Ok(false)` at the end of the stream.
    fn fill(&mut self, expected: &str) -> Result<bool, Failure> {
        if self.eof {
            return Ok(false);
        }
        let left = self.left()?;
        let _ = self.stream.set_read_timeout(Some(left));
        let mut buffer = [0; 64 * 1024];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(read) => {
                    self.got.extend_from_slice(&buffer[..read]);
                    self.got_len += read as u64;
                    return Ok(true);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // A reset is how a server that closes with our bytes still
                // unread ends the connection: for us, an end.
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                    self.eof = true;
                    return Ok(false);
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.fail(expected, "no answer before the case's time ran out"));
                }
                Err(error) => return Err(self.fail(expected, format!("the read failed: {error}"))),
            }
        }
    }

    /// Reads exactly `expected` next, failing at the first byte that
    /// differs.
    pub(crate) fn expect(&mut self, expected: &[u8]) -> Result<(), Failure> {
        self.expect_as(
            expected,
            &escape(&expected[..expected.len().min(KEPT)], expected.len() as u64),
        )
    }

    /// [`Conn::expect`], with the expectation said in words.
    pub(crate) fn expect_as(&mut self, expected: &[u8], said: &str) -> Result<(), Failure> {
        // Only the bytes that arrived since the last look are compared, so
        // that a reply of megabytes costs one pass.
        let mut verified = 0;
        loop {
            let have = self.got.len().min(expected.len());
            if self.got[verified..have] != expected[verified..have] {
                let at = self
                    .got
                    .iter()
                    .zip(expected)
                    .take_while(|(a, b)| a == b)
                    .count();
                return Err(self.fail_at(said, at, format!("differs at byte {at} of the reply")));
            }
            if have == expected.len() {
                self.got.drain(..have);
                return Ok(());
            }
            verified = have;
            if !self.fill(said)? {
                return Err(self.fail(said, "the connection closed before the whole reply"));
            }
        }
    }

    /// Reads one line (up to its `\n`, which is kept).
    pub(crate) fn line(&mut self, said: &str) -> Result<Vec<u8>, Failure> {
        loop {
            if let Some(at) = self.got.iter().position(|&b| b == b'\n') {
                return Ok(self.got.drain(..=at).collect());
            }
            if self.got.len() > 64 * 1024 {
                return Err(self.fail(said, "a line of more than 64 KiB"));
            }
            if !self.fill(said)? {
                return Err(self.fail(said, "the connection closed in the middle of a line"));
            }
        }
    }

    /// Checks that the server closes the connection, sending nothing more.
    pub(crate) fn expect_closed(&mut self) -> Result<(), Failure> {
        let said = "then the connection closed";
        loop {
            if !self.got.is_empty() {
                return Err(self.fail(said, "more bytes after the reply"));
            }
            if !self.fill(said)? {
                return Ok(());
            }
        }
    }

    /// Checks that the connection is still served: nothing extra has
    /// arrived, and a request gets its answer.
    pub(crate) fn expect_open(&mut self) -> Result<(), Failure> {
        if !self.got.is_empty() {
            return Err(self.fail("nothing more", "more bytes after the reply"));
        }
        self.send(PROBE)?;
        self.expect_as(
            PROBE_REPLY,
            "the connection still open: \"202 FILE NOT FOUND\\r\\n\" for a further request",
        )
    }

    /// Checks that nothing at all arrives and the server closes.
    pub(crate) fn expect_nothing_then_close(&mut self) -> Result<(), Failure> {
        self.expect_closed().map_err(|failure| Failure {
            expected: "no reply, then the connection closed".into(),
            ..failure
        })
    }

    pub(crate) fn fail(&self, expected: impl Into<String>, why: impl Into<String>) -> Failure {
        self.fail_at(&expected.into(), 0, why)
    }

    fn fail_at(&self, expected: &str, at: usize, why: impl Into<String>) -> Failure {
        // From a little before the first difference.
        let from = at.saturating_sub(64).min(self.got.len());
        let got = &self.got[from..self.got.len().min(from + KEPT)];
        let mut why = why.into();
        if from > 0 {
            let _ = write!(why, " (shown from byte {from})");
        }
        if self.eof {
            why.push_str("; the server closed the connection");
        }
        Failure {
            sent: self.sent.clone(),
            sent_len: self.sent_len,
            expected: expected.to_string(),
            got: got.to_vec(),
            got_len: self.got.len() as u64,
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_what_cannot_be_read_and_counts_runs() {
        assert_eq!(
            escape(b"get\t\0\r\n\x80\"\\", 9),
            r#""get\t\0\r\n\x80\"\\""#
        );
        let mut long = b"get_metadata ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 100));
        long.extend_from_slice(b"\r\n");
        assert_eq!(
            escape(&long, 1000),
            r#""get_metadata "+"a"×100+"\r\n"… (1000 bytes)"#
        );
    }
}
