//! Replies read off a socket with `hftp_proto::ReplyDecoder`, and
//! requests put on one.

use std::fmt;
use std::io::{self, ErrorKind, Read};

use hftp_proto::{ReplyDecoder, ReplyError, ReplyEvent, Request};

/// The bytes read from a connection and not yet decoded, and the loop
/// that reads, feeds the decoder and reads again until a reply ends.
///
/// It holds one buffer, of `read_len` bytes unless a caller asks for more
/// at once ([`fill_to`](ReplyReader::fill_to)); what a reply leaves
/// (pipelined replies) is kept for the next.
///
/// ```
/// use hftp_proto::{FileName, ReplyEvent, Request};
/// use hftp_test_support::{ReplyFailure, ReplyReader};
///
/// let request = Request::GetMetadata { name: FileName::new("archivo.txt")? };
/// let mut wire: &[u8] = b"0 OK\r\n41\r\n0 OK\r\n";
/// let mut reader = ReplyReader::new(64 * 1024);
/// let mut size = None;
/// reader.read_reply(&mut wire, &request, |event| {
///     if let ReplyEvent::Size(s) = event {
///         size = Some(s);
///     }
///     Ok::<(), ReplyFailure>(())
/// })?;
/// assert_eq!(size, Some(41));
/// assert_eq!(reader.buffered(), b"0 OK\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ReplyReader {
    buf: Vec<u8>,
    /// The undecoded bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    read_len: usize,
}

impl ReplyReader {
    /// An empty reader that reads up to `read_len` bytes at a time.
    pub fn new(read_len: usize) -> ReplyReader {
        ReplyReader {
            buf: vec![0; read_len.max(1)],
            start: 0,
            end: 0,
            read_len: read_len.max(1),
        }
    }

    /// The bytes read and not yet decoded.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drops the first `len` buffered bytes.
    pub fn consume(&mut self, len: usize) {
        self.start = (self.start + len).min(self.end);
    }

    /// Takes every buffered byte out.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let taken = self.buffered().to_vec();
        (self.start, self.end) = (0, 0);
        taken
    }

    /// Reads once from `stream` (again on `Interrupted`) into the buffer;
    /// returns how many bytes came, 0 at EOF.
    pub fn fill(&mut self, stream: &mut impl Read) -> io::Result<usize> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        if self.buf.len() - self.end < self.read_len {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            }
            if self.buf.len() - self.end < self.read_len {
                self.buf.resize(self.end + self.read_len, 0);
            }
        }
        loop {
            match stream.read(&mut self.buf[self.end..]) {
                Ok(read) => {
                    self.end += read;
                    return Ok(read);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads from `stream` until at least `len` bytes are buffered; fails
    /// with `UnexpectedEof` if the stream ends first.
    pub fn fill_to(&mut self, stream: &mut impl Read, len: usize) -> io::Result<()> {
        while self.end - self.start < len {
            if self.fill(stream)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    /// Decodes the reply to `request`, reading from `stream` whenever the
    /// decoder has used up what is buffered, and hands each piece before
    /// its end to `on_event`. Stops at the reply's end, leaving what
    /// follows buffered; at the first error of `on_event`, of the reply
    /// or of the stream.
    pub fn read_reply<E: From<ReplyFailure>>(
        &mut self,
        stream: &mut impl Read,
        request: &Request,
        mut on_event: impl FnMut(ReplyEvent<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut decoder = ReplyDecoder::new(request);
        loop {
            let (consumed, event) = decoder
                .decode(&self.buf[self.start..self.end])
                .map_err(ReplyFailure::Decode)?;
            self.start += consumed;
            match event {
                Some(ReplyEvent::End) => return Ok(()),
                Some(event) => on_event(event)?,
                None => match self.fill(stream) {
                    Ok(0) => return Err(ReplyFailure::Closed.into()),
                    Ok(_) => {}
                    Err(error) => return Err(ReplyFailure::Io(error).into()),
                },
            }
        }
    }
}

/// Why a reply could not be read whole.
#[derive(Debug)]
pub enum ReplyFailure {
    /// The bytes are not a reply to the request.
    Decode(ReplyError),
    /// The connection ended in the middle of the reply.
    Closed,
    /// Reading failed (a timeout, a reset).
    Io(io::Error),
}

impl fmt::Display for ReplyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyFailure::Decode(error) => write!(f, "a reply that breaks HFTP: {error}"),
            ReplyFailure::Closed => f.write_str("the connection ended in the middle of a reply"),
            ReplyFailure::Io(error) => write!(f, "reading a reply: {error}"),
        }
    }
}

impl std::error::Error for ReplyFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplyFailure::Decode(error) => Some(error),
            ReplyFailure::Io(error) => Some(error),
            ReplyFailure::Closed => None,
        }
    }
}

/// The wire form of `request`, CRLF included.
pub fn wire(request: &Request) -> Vec<u8> {
    wire_all(std::slice::from_ref(request))
}

/// The wire form of `requests`, one after the other: a pipelined batch.
pub fn wire_all(requests: &[Request]) -> Vec<u8> {
    let mut wire = Vec::new();
    for request in requests {
        request.encode(&mut wire);
    }
    wire
}

/// Rewrites a base64 slice reply (`0 OK`, its body on one line) so that
/// the body spans lines of `line_len` characters, as some other servers
/// send it; an empty body stays one empty line.
///
/// ```
/// use hftp_test_support::split_body_into_lines;
///
/// let reply = split_body_into_lines(b"0 OK\r\nYWJjZGVm\r\n", 4);
/// assert_eq!(reply, b"0 OK\r\nYWJj\r\nZGVm\r\n");
/// ```
pub fn split_body_into_lines(reply: &[u8], line_len: usize) -> Vec<u8> {
    let (status, body) = reply.split_at(b"0 OK\r\n".len());
    let body = &body[..body.len() - 2];
    let mut out = status.to_vec();
    for line in body.chunks(line_len) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    if body.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hftp_proto::{FileName, Status};

    /// A reader that hands out its bytes a few at a time.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let len = self.1.min(buf.len()).min(self.0.len());
            buf[..len].copy_from_slice(&self.0[..len]);
            self.0 = &self.0[len..];
            Ok(len)
        }
    }

    #[test]
    fn replies_split_anywhere_read_the_same() -> Result<(), ReplyFailure> {
        let slice = Request::GetSlice {
            name: FileName::new("f").expect("a name"),
            offset: 0,
            size: 6,
            raw: false,
        };
        let wire = b"0 OK\r\nYWJjZGVm\r\n0 OK\r\n";
        for step in 1..wire.len() {
            let mut stream = Trickle(wire, step);
            let mut reader = ReplyReader::new(3);
            let mut data = Vec::new();
            reader.read_reply(&mut stream, &slice, |event| {
                if let ReplyEvent::Data(bytes) = event {
                    data.extend_from_slice(bytes);
                }
                Ok::<_, ReplyFailure>(())
            })?;
            assert_eq!(data, b"abcdef");
            let mut status = None;
            reader.read_reply(&mut stream, &Request::Quit, |event| {
                if let ReplyEvent::Status(s) = event {
                    status = Some(s);
                }
                Ok::<_, ReplyFailure>(())
            })?;
            assert_eq!(status, Some(Status::Ok));
        }
        Ok(())
    }

    #[test]
    fn a_reply_cut_short_is_an_error() {
        let mut reader = ReplyReader::new(16);
        let cut: Result<(), ReplyFailure> =
            reader.read_reply(&mut &b"0 OK\r\n"[..], &Request::GetFileListing, |_| Ok(()));
        assert!(matches!(cut, Err(ReplyFailure::Closed)), "{cut:?}");
    }

    #[test]
    fn fill_to_grows_the_buffer() -> io::Result<()> {
        let mut reader = ReplyReader::new(2);
        reader.fill_to(&mut Trickle(b"abcdefgh", 3), 7)?;
        assert!(reader.buffered().starts_with(b"abcdefg"));
        reader.consume(2);
        assert!(reader.take_buffered().starts_with(b"cdefg"));
        assert_eq!(reader.buffered(), b"");
        Ok(())
    }
}
