//! The client's side of replies: an incremental reply decoder.

use crate::{FileName, FileNameError, Request, Status, base64};

/// The longest reply line the decoder accepts outside a slice body (status
/// lines, listing names, sizes), line end excluded.
pub const MAX_REPLY_LINE_LEN: usize = 4096;

/// Base64 characters decoded per [`ReplyEvent::Data`] at most: it bounds
/// the decoder's buffer.
const DECODE_CHUNK: usize = 64 * 1024;

/// One piece of a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyEvent<'a> {
    /// The status line; always the first event. Only `Ok` has a body.
    Status(Status),
    /// One name of a `get_file_listing` body.
    FileName(FileName),
    /// One command name of a `help` body (command names keep to the
    /// file-name rule).
    Command(FileName),
    /// The size in a `get_metadata` body.
    Size(u64),
    /// The next decoded bytes of a `get_slice` body.
    Data(&'a [u8]),
    /// The reply is complete; always the last event.
    End,
}

/// A reply that breaks HFTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The status line is not `CODE TEXT`.
    #[error("malformed status line")]
    BadStatusLine,
    /// The status code is not one HFTP defines.
    #[error("unknown status code {0}")]
    UnknownStatus(u16),
    /// A line outside a slice body is longer than [`MAX_REPLY_LINE_LEN`].
    #[error("reply line longer than {MAX_REPLY_LINE_LEN} bytes")]
    LineTooLong,
    /// A listing line is not a valid file name.
    #[error("listing holds an invalid file name: {0}")]
    BadFileName(FileNameError),
    /// The metadata body is not a decimal size that fits 64 bits.
    #[error("metadata body is not a decimal size")]
    BadSize,
    /// The slice body is not valid base64 of the requested length.
    #[error("slice body is not valid base64 of the requested size")]
    BadBase64,
    /// A raw slice's header is not `Content-Length: SIZE` and an empty
    /// line, or a `help` line is not a command name.
    #[error("raw slice header or help line malformed")]
    BadHeader,
    /// The connection ended before the reply did.
    #[error("the reply was cut short")]
    Truncated,
}

// Not `#[from]`: that would make the name's error the source as well as
// part of the message, and a chain of causes would print it twice.
impl From<FileNameError> for ReplyError {
    fn from(error: FileNameError) -> ReplyError {
        ReplyError::BadFileName(error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Listing,
    Metadata,
    Slice { size: u64 },
    RawSlice { size: u64 },
    Help,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StatusLine,
    ListingLine,
    MetadataLine,
    /// Decoded bytes of the slice still to come.
    Slice {
        remaining: u64,
    },
    /// The slice is complete; its line end is next.
    SliceEnd,
    /// A raw slice's `Content-Length` line, then its empty line, then its
    /// bytes.
    RawHeader {
        size: u64,
    },
    RawBlank {
        size: u64,
    },
    Raw {
        remaining: u64,
    },
    /// The lines of a `help` body.
    HelpLine,
    /// The last piece was yielded; `End` is next.
    Ending,
    Done,
}

/// An incremental decoder for the reply to one request: feed it the bytes
/// that arrive, in any split, and get the status and body piece by piece.
///
/// It is lenient where that costs nothing (a line may end in a bare `\n`,
/// a slice body may be split over several base64 lines, as some servers
/// do) and strict where a wrong answer could slip through (status codes,
/// file names, sizes, base64 and the slice's exact length). Its memory is
/// bounded: one short line and one decode buffer.
///
/// ```
/// use hftp_proto::{FileName, ReplyDecoder, ReplyEvent, Request, Status};
///
/// let request = Request::GetSlice { name: FileName::new("archivo.txt")?, offset: 5, size: 20, raw: false };
/// let mut decoder = ReplyDecoder::new(&request);
/// let mut input: &[u8] = b"0 OK\r\nY2Fsb3IgcXVlIGhh\r\nY2UgaG95LCA=\r\n";
/// let mut body = Vec::new();
/// loop {
///     let (consumed, event) = decoder.decode(input)?;
///     input = &input[consumed..];
///     match event {
///         Some(ReplyEvent::Status(status)) => assert_eq!(status, Status::Ok),
///         Some(ReplyEvent::Data(bytes)) => body.extend_from_slice(bytes),
///         Some(ReplyEvent::End) => break,
///         Some(other) => unreachable!("{other:?}"),
///         None => unreachable!("the whole reply is in the input"),
///     }
/// }
/// assert_eq!(body, b"calor que hace hoy, ");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReplyDecoder {
    body: Body,
    state: State,
    line: Vec<u8>,
    /// Base64 characters of a group split across inputs or lines.
    quad: [u8; 4],
    quad_len: usize,
    decoded: Vec<u8>,
}

impl ReplyDecoder {
    /// A decoder for the reply to `request`.
    pub fn new(request: &Request) -> ReplyDecoder {
        let mut decoder = ReplyDecoder {
            body: Body::None,
            state: State::Done,
            line: Vec::new(),
            quad: [0; 4],
            quad_len: 0,
            decoded: Vec::new(),
        };
        decoder.reset(request);
        decoder
    }

    /// Makes the decoder ready for the reply to `request`, reusing its
    /// buffers.
    pub fn reset(&mut self, request: &Request) {
        self.body = match *request {
            Request::GetFileListing => Body::Listing,
            Request::GetMetadata { .. } => Body::Metadata,
            Request::GetSlice {
                size, raw: false, ..
            } => Body::Slice { size },
            Request::GetSlice {
                size, raw: true, ..
            } => Body::RawSlice { size },
            Request::Help => Body::Help,
            Request::Quit => Body::None,
        };
        self.state = State::StatusLine;
        self.line.clear();
        self.quad_len = 0;
    }

    /// Reads `input` up to the next piece of the reply.
    ///
    /// Returns how many bytes were consumed and the piece they completed.
    /// `None` means all of `input` was consumed without completing one.
    /// Some pieces consume nothing: the [`ReplyEvent::End`] after a reply
    /// with no body (a refusal, `quit`'s `0 OK`) or after a size comes from
    /// a further call, even with empty input, so call until `End` or
    /// `None`. After `End` nothing more is consumed: what follows belongs
    /// to the next reply.
    #[must_use = "the bytes not consumed belong to the next call"]
    pub fn decode<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<ReplyEvent<'a>>), ReplyError> {
        match self.state {
            State::Done => Ok((0, None)),
            State::Ending => {
                self.state = State::Done;
                Ok((0, Some(ReplyEvent::End)))
            }
            State::Slice { remaining } => self.slice_body(input, remaining),
            State::SliceEnd => self.slice_end(input),
            State::Raw { remaining } => Ok(self.raw_body(input, remaining)),
            State::StatusLine
            | State::ListingLine
            | State::MetadataLine
            | State::RawHeader { .. }
            | State::RawBlank { .. }
            | State::HelpLine => {
                let Some(consumed) = self.read_line(input)? else {
                    return Ok((input.len(), None));
                };
                let event = self.line_event()?;
                self.line.clear();
                if event.is_none() {
                    // A raw slice's header lines make no event: go on to
                    // what follows them, as `None` means "all taken".
                    let (more, event) = self.decode(&input[consumed..])?;
                    return Ok((consumed + more, event));
                }
                Ok((consumed, event))
            }
        }
    }

    /// Whether the whole reply has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Checks, when the connection has ended, that the reply was whole.
    pub fn finish(&self) -> Result<(), ReplyError> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(ReplyError::Truncated),
        }
    }

    /// Adds `input` to the current line; returns the bytes consumed once
    /// the line is complete (its end stripped from `self.line`).
    fn read_line(&mut self, input: &[u8]) -> Result<Option<usize>, ReplyError> {
        let (taken, complete) = match memchr::memchr(b'\n', input) {
            Some(at) => (at + 1, true),
            None => (input.len(), false),
        };
        let body = &input[..taken - usize::from(complete)];
        if self.line.len() + body.len() > MAX_REPLY_LINE_LEN + 1 {
            return Err(ReplyError::LineTooLong);
        }
        self.line.extend_from_slice(body);
        if !complete {
            return Ok(None);
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(Some(taken))
    }

    fn line_event(&mut self) -> Result<Option<ReplyEvent<'static>>, ReplyError> {
        match self.state {
            State::StatusLine => {
                let status = parse_status_line(&self.line)?;
                self.state = match (status, self.body) {
                    (Status::Ok, Body::Listing) => State::ListingLine,
                    (Status::Ok, Body::Metadata) => State::MetadataLine,
                    (Status::Ok, Body::Slice { size: 0 }) => State::SliceEnd,
                    (Status::Ok, Body::Slice { size }) => State::Slice { remaining: size },
                    (Status::Ok, Body::RawSlice { size }) => State::RawHeader { size },
                    (Status::Ok, Body::Help) => State::HelpLine,
                    _ => State::Ending,
                };
                Ok(Some(ReplyEvent::Status(status)))
            }
            State::ListingLine if self.line.is_empty() => {
                self.state = State::Done;
                Ok(Some(ReplyEvent::End))
            }
            State::ListingLine => Ok(Some(ReplyEvent::FileName(FileName::from_bytes(
                &self.line,
            )?))),
            State::HelpLine if self.line.is_empty() => {
                self.state = State::Done;
                Ok(Some(ReplyEvent::End))
            }
            State::HelpLine => Ok(Some(ReplyEvent::Command(
                FileName::from_bytes(&self.line).map_err(|_| ReplyError::BadHeader)?,
            ))),
            State::RawHeader { size } => {
                let length = self
                    .line
                    .strip_prefix(b"Content-Length: ")
                    .and_then(parse_decimal);
                if length != Some(size) {
                    return Err(ReplyError::BadHeader);
                }
                self.state = State::RawBlank { size };
                Ok(None)
            }
            State::RawBlank { size } => {
                if !self.line.is_empty() {
                    return Err(ReplyError::BadHeader);
                }
                self.state = match size {
                    0 => State::Ending,
                    remaining => State::Raw { remaining },
                };
                Ok(None)
            }
            State::MetadataLine => {
                let size = parse_decimal(&self.line).ok_or(ReplyError::BadSize)?;
                self.state = State::Ending;
                Ok(Some(ReplyEvent::Size(size)))
            }
            _ => Ok(None),
        }
    }

    fn slice_body(
        &mut self,
        input: &[u8],
        remaining: u64,
    ) -> Result<(usize, Option<ReplyEvent<'_>>), ReplyError> {
        // Line breaks may split a body over several lines; skip them.
        let skipped = input
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(input.len());
        let input = &input[skipped..];
        if self.quad_len == 0 {
            // Fast path: whole groups straight from the input, all but the
            // last group of the slice, which may carry padding.
            let window = &input[..input.len().min(DECODE_CHUNK)];
            let run = memchr::memchr2(b'\r', b'\n', window).unwrap_or(window.len());
            let groups_before_last = usize::try_from((remaining - 1) / 3).unwrap_or(usize::MAX);
            let groups = (run / 4).min(groups_before_last);
            if groups > 0 {
                self.decoded.clear();
                base64::decode_append(&input[..groups * 4], &mut self.decoded)
                    .map_err(|_| ReplyError::BadBase64)?;
                if self.decoded.len() != groups * 3 {
                    // Padding before the last group.
                    return Err(ReplyError::BadBase64);
                }
                self.state = State::Slice {
                    remaining: remaining - self.decoded.len() as u64,
                };
                return Ok((skipped + groups * 4, Some(ReplyEvent::Data(&self.decoded))));
            }
        }
        // Slow path: one group, gathered across inputs and line breaks.
        let mut used = 0;
        while self.quad_len < 4 {
            let Some(&byte) = input.get(used) else {
                return Ok((skipped + used, None));
            };
            used += 1;
            if byte != b'\r' && byte != b'\n' {
                self.quad[self.quad_len] = byte;
                self.quad_len += 1;
            }
        }
        self.quad_len = 0;
        self.decoded.clear();
        base64::decode_append(&self.quad, &mut self.decoded).map_err(|_| ReplyError::BadBase64)?;
        let got = self.decoded.len() as u64;
        // Only the last group may be short (padded), and none may overrun.
        if got > remaining || (got < 3 && got != remaining) {
            return Err(ReplyError::BadBase64);
        }
        self.state = match remaining - got {
            0 => State::SliceEnd,
            left => State::Slice { remaining: left },
        };
        Ok((skipped + used, Some(ReplyEvent::Data(&self.decoded))))
    }

    /// The next bytes of a raw body, as they are: borrowed from `input`,
    /// not copied.
    fn raw_body<'a>(&mut self, input: &'a [u8], remaining: u64) -> (usize, Option<ReplyEvent<'a>>) {
        let taken = input
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if taken == 0 {
            return (0, None);
        }
        self.state = match remaining - taken as u64 {
            0 => State::Ending,
            left => State::Raw { remaining: left },
        };
        (taken, Some(ReplyEvent::Data(&input[..taken])))
    }

    fn slice_end(&mut self, input: &[u8]) -> Result<(usize, Option<ReplyEvent<'_>>), ReplyError> {
        for (index, &byte) in input.iter().enumerate() {
            match byte {
                b'\r' => {}
                b'\n' => {
                    self.state = State::Done;
                    return Ok((index + 1, Some(ReplyEvent::End)));
                }
                _ => return Err(ReplyError::BadBase64),
            }
        }
        Ok((input.len(), None))
    }
}

fn parse_status_line(line: &[u8]) -> Result<Status, ReplyError> {
    let code = match line.iter().position(|&b| b == b' ') {
        Some(space) => &line[..space],
        None => line,
    };
    let code = parse_decimal(code).ok_or(ReplyError::BadStatusLine)?;
    let code = u16::try_from(code).map_err(|_| ReplyError::BadStatusLine)?;
    Status::from_code(code).ok_or(ReplyError::UnknownStatus(code))
}

/// One or more ASCII digits that fit 64 bits.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &byte| {
        let digit = byte.checked_sub(b'0').filter(|d| *d <= 9)?;
        value.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests;
