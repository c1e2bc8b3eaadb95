//! The server's side of the wire: an incremental request decoder.

use crate::name::{FileName, MAX_FILE_NAME_LEN, is_file_name_byte};
use crate::{Request, Status};

/// The longest request line the decoder accepts, CRLF excluded. A longer
/// line is refused with 101 as soon as it passes this length. HFTP.md asks
/// for a limit above 6 MiB, so that a 5 MiB file name stays a legal
/// request.
pub const MAX_LINE_LEN: u64 = 8 * 1024 * 1024;

/// What the decoder makes of one request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "the file name is inline so that decoding never allocates; boxing it would"
)]
pub enum RequestEvent {
    /// A well-formed request, for the server to carry out.
    Request(Request),
    /// A request refused without touching any file: the status to send.
    /// After a fatal one the decoder yields nothing more.
    Refused(Status),
}

/// An incremental request decoder for one connection: feed it bytes in
/// any split, get one [`RequestEvent`] per request line, in order.
///
/// It classifies each line while it streams past instead of buffering it,
/// so its memory is a few counters and one [`FileName`] whatever arrives: a
/// 5 MiB file name costs nothing more than a short one (and is answered
/// 202, as no file can have it). It never allocates.
///
/// The status of a bad line follows HFTP.md's precedence: 100 as soon as a
/// bare `\n` arrives; at the CRLF, 101 for a byte outside 0x20–0x7E, then
/// 200, then 201, then 202 for a name longer than any file's. A line longer
/// than [`MAX_LINE_LEN`] is 101 at once. After a fatal status, or after
/// `quit`, the decoder is [closed](RequestDecoder::is_closed) and ignores
/// the rest.
///
/// ```
/// use hftp_proto::{RequestEvent, Request, RequestDecoder, Status};
///
/// let mut decoder = RequestDecoder::new();
/// let events: Vec<RequestEvent> = decoder.events(b"get_file_listing\r\nget_meta").collect();
/// assert_eq!(events, [RequestEvent::Request(Request::GetFileListing)]);
/// let events: Vec<RequestEvent> = decoder.events(b"dta\r\nqui\nt\r\n").collect();
/// assert_eq!(events, [
///     RequestEvent::Refused(Status::NoSuchCommand),
///     RequestEvent::Refused(Status::BadEol),
/// ]);
/// assert!(decoder.is_closed());
/// ```
#[derive(Debug, Clone)]
pub struct RequestDecoder {
    /// Bytes of the current line so far, its CRLF excluded.
    line_len: u64,
    /// The previous byte was a `\r`: the next one decides CRLF or lone CR.
    after_cr: bool,
    /// The line holds a byte outside 0x20–0x7E: it ends as 101.
    has_bad_byte: bool,
    /// The line holds a byte other than a space: a line without one is
    /// blank, and ends as 101.
    has_word: bool,
    /// 200 or 201, once decided; the line is then only scanned for 100/101.
    refusal: Option<Status>,
    /// Index of the element being read: 0 is the command.
    field: u32,
    /// Bytes of the element being read.
    field_len: u64,
    /// The start of element 0, enough to tell the commands apart.
    command_prefix: [u8; LONGEST_COMMAND],
    command: Option<Command>,
    name: FileName,
    /// The real length of the name, which may exceed what `name` stores.
    name_len: u64,
    /// OFFSET and SIZE of `get_slice` so far, saturating at `u64::MAX`.
    offset: u64,
    size: u64,
    closed: bool,
}

const LONGEST_COMMAND: usize = "get_file_listing".len();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    GetFileListing,
    GetMetadata,
    GetSlice,
    Help,
    Quit,
}

impl Command {
    fn parse(word: &[u8]) -> Option<Command> {
        match word {
            b"get_file_listing" => Some(Command::GetFileListing),
            b"get_metadata" => Some(Command::GetMetadata),
            b"get_slice" => Some(Command::GetSlice),
            b"help" => Some(Command::Help),
            b"quit" => Some(Command::Quit),
            _ => None,
        }
    }

    /// What argument `index` (from 1) must be.
    fn argument(self, index: u32) -> Argument {
        match (self, index) {
            (Command::GetMetadata | Command::GetSlice, 1) => Argument::Name,
            (Command::GetSlice, 2) => Argument::Offset,
            (Command::GetSlice, 3) => Argument::Size,
            (Command::GetSlice, 4) => Argument::Raw,
            _ => Argument::Excess,
        }
    }

    /// Whether the command takes `count` arguments: `get_slice` takes an
    /// optional fifth element, `raw`.
    fn takes(self, count: u32) -> bool {
        match self {
            Command::GetFileListing | Command::Help | Command::Quit => count == 0,
            Command::GetMetadata => count == 1,
            Command::GetSlice => count == 3 || count == 4,
        }
    }
}

#[derive(Clone, Copy)]
enum Argument {
    Name,
    Offset,
    Size,
    /// `get_slice`'s fifth element, which must be exactly `raw`.
    Raw,
    Excess,
}

const RAW: &[u8] = b"raw";

impl Default for RequestDecoder {
    fn default() -> RequestDecoder {
        RequestDecoder::new()
    }
}

impl RequestDecoder {
    /// A decoder at the start of a connection.
    pub const fn new() -> RequestDecoder {
        RequestDecoder {
            line_len: 0,
            after_cr: false,
            has_bad_byte: false,
            has_word: false,
            refusal: None,
            field: 0,
            field_len: 0,
            command_prefix: [0; LONGEST_COMMAND],
            command: None,
            name: FileName::empty(),
            name_len: 0,
            offset: 0,
            size: 0,
            closed: false,
        }
    }

    /// Reads `input` up to the end of the first request line in it.
    ///
    /// Returns how many bytes were consumed and the event of the line they
    /// completed. `None` means all of `input` was consumed and the line is
    /// not over yet (what matters of it is remembered). Once the decoder is
    /// closed, all input is consumed and ignored.
    #[must_use = "the bytes not consumed belong to the next call"]
    pub fn decode(&mut self, input: &[u8]) -> (usize, Option<RequestEvent>) {
        if self.closed {
            return (input.len(), None);
        }
        let mut index = 0;
        while index < input.len() {
            index += self.take_run(&input[index..]);
            let Some(&byte) = input.get(index) else {
                break;
            };
            index += 1;
            if let Some(event) = self.push(byte) {
                return (index, Some(event));
            }
        }
        (input.len(), None)
    }

    /// The fast path: takes the run of bytes at the start of `input` that
    /// only extend the element being read (command letters, name
    /// characters, digits), all at once. Everything else — separators, line
    /// ends, bad bytes, the byte that crosses the line limit — goes through
    /// [`push`](Self::push), one at a time. Returns the bytes taken.
    fn take_run(&mut self, input: &[u8]) -> usize {
        if self.after_cr || self.has_bad_byte || self.refusal.is_some() {
            return 0;
        }
        let room = usize::try_from(MAX_LINE_LEN - self.line_len).unwrap_or(usize::MAX);
        let input = &input[..input.len().min(room)];
        let run = match self.command.map(|command| command.argument(self.field)) {
            None => {
                let run = input
                    .iter()
                    .position(|&b| !matches!(b, 0x21..=0x7E))
                    .unwrap_or(input.len());
                let start = usize::try_from(self.field_len).unwrap_or(usize::MAX);
                if let Some(free) = self.command_prefix.get_mut(start..) {
                    let stored = free.len().min(run);
                    free[..stored].copy_from_slice(&input[..stored]);
                }
                run
            }
            Some(Argument::Name) => {
                let run = input
                    .iter()
                    .position(|&b| !is_file_name_byte(b))
                    .unwrap_or(input.len());
                self.name.extend(&input[..run]);
                self.name_len += run as u64;
                run
            }
            Some(number @ (Argument::Offset | Argument::Size)) => {
                let run = input
                    .iter()
                    .position(|&b| !b.is_ascii_digit())
                    .unwrap_or(input.len());
                let number = self.number_mut(number);
                for &digit in &input[..run] {
                    push_digit(number, digit);
                }
                run
            }
            Some(Argument::Raw | Argument::Excess) => 0,
        };
        self.has_word |= run > 0;
        self.field_len += run as u64;
        self.line_len += run as u64;
        run
    }

    /// The events of the request lines completed by `input`, in order.
    pub fn events<'a>(&'a mut self, input: &'a [u8]) -> RequestEvents<'a> {
        RequestEvents {
            decoder: self,
            input,
        }
    }

    /// Whether the connection is over: a fatal status or `quit` was
    /// decoded, and nothing more will be.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether part of a request line has arrived (a peer that leaves now
    /// leaves mid-request).
    pub fn is_mid_line(&self) -> bool {
        !self.closed && (self.line_len > 0 || self.after_cr)
    }

    fn push(&mut self, byte: u8) -> Option<RequestEvent> {
        if self.after_cr {
            self.after_cr = false;
            if byte == b'\n' {
                return Some(self.end_line());
            }
            self.bad_byte();
        }
        match byte {
            b'\n' => return Some(self.fatal(Status::BadEol)),
            // Counted once its fate is known: as the CRLF's, or as a lone
            // (bad) byte when the next byte is not `\n`.
            b'\r' => self.after_cr = true,
            0x20..=0x7E => {
                self.line_len += 1;
                self.has_word |= byte != b' ';
                if !self.has_bad_byte && self.refusal.is_none() {
                    self.classify(byte);
                }
            }
            _ => self.bad_byte(),
        }
        if self.line_len > MAX_LINE_LEN {
            return Some(self.fatal(Status::BadRequest));
        }
        None
    }

    fn bad_byte(&mut self) {
        self.line_len += 1;
        self.has_bad_byte = true;
    }

    /// Files a printable byte into the element being read.
    fn classify(&mut self, byte: u8) {
        if byte == b' ' {
            self.end_field();
            self.field += 1;
            self.field_len = 0;
            return;
        }
        self.field_len += 1;
        let Some(command) = self.command else {
            // Still reading the command.
            if let Some(slot) = self.command_prefix.get_mut(self.field_len as usize - 1) {
                *slot = byte;
            }
            return;
        };
        match command.argument(self.field) {
            Argument::Name if is_file_name_byte(byte) => {
                self.name.push(byte);
                self.name_len += 1;
            }
            number @ (Argument::Offset | Argument::Size) if byte.is_ascii_digit() => {
                push_digit(self.number_mut(number), byte);
            }
            Argument::Raw if RAW.get(self.field_len as usize - 1) == Some(&byte) => {}
            _ => self.refusal = Some(Status::InvalidArguments),
        }
    }

    /// Closes the element being read, at a space or at the CRLF.
    fn end_field(&mut self) {
        if self.field == 0 {
            let command = usize::try_from(self.field_len)
                .ok()
                .and_then(|len| self.command_prefix.get(..len))
                .and_then(Command::parse);
            match command {
                Some(command) => self.command = Some(command),
                None => self.refusal = Some(Status::NoSuchCommand),
            }
        } else if self.field_len == 0 {
            self.refusal = Some(Status::InvalidArguments);
        } else if self
            .command
            .map(|command| command.argument(self.field))
            .is_some_and(|argument| matches!(argument, Argument::Raw))
            && self.field_len != RAW.len() as u64
        {
            // A prefix of `raw`, such as `ra`.
            self.refusal = Some(Status::InvalidArguments);
        }
    }

    fn end_line(&mut self) -> RequestEvent {
        if self.has_bad_byte || !self.has_word {
            return self.fatal(Status::BadRequest);
        }
        if self.refusal.is_none() {
            self.end_field();
        }
        let event = match (self.refusal, self.command) {
            (Some(status), _) => RequestEvent::Refused(status),
            (None, Some(command)) if !command.takes(self.field) => {
                RequestEvent::Refused(Status::InvalidArguments)
            }
            (None, Some(_)) if self.name_len > MAX_FILE_NAME_LEN as u64 => {
                RequestEvent::Refused(Status::FileNotFound)
            }
            (None, Some(command)) => RequestEvent::Request(self.request(command)),
            // `end_field` sets a command or a refusal.
            (None, None) => RequestEvent::Refused(Status::NoSuchCommand),
        };
        self.closed = event == RequestEvent::Request(Request::Quit);
        self.start_line();
        event
    }

    fn start_line(&mut self) {
        self.line_len = 0;
        self.after_cr = false;
        self.has_bad_byte = false;
        self.has_word = false;
        self.refusal = None;
        self.field = 0;
        self.field_len = 0;
        self.command = None;
        self.name.clear();
        self.name_len = 0;
        self.offset = 0;
        self.size = 0;
    }

    fn request(&self, command: Command) -> Request {
        match command {
            Command::GetFileListing => Request::GetFileListing,
            Command::GetMetadata => Request::GetMetadata { name: self.name },
            Command::GetSlice => Request::GetSlice {
                name: self.name,
                offset: self.offset,
                size: self.size,
                raw: self.field == 4,
            },
            Command::Help => Request::Help,
            Command::Quit => Request::Quit,
        }
    }

    /// The number that `argument` (OFFSET or SIZE) is read into.
    fn number_mut(&mut self, argument: Argument) -> &mut u64 {
        match argument {
            Argument::Offset => &mut self.offset,
            _ => &mut self.size,
        }
    }

    fn fatal(&mut self, status: Status) -> RequestEvent {
        self.closed = true;
        RequestEvent::Refused(status)
    }
}

/// Appends a decimal digit to `number`, saturating at `u64::MAX` (such a
/// number is out of range for any file: 203).
fn push_digit(number: &mut u64, digit: u8) {
    *number = number
        .saturating_mul(10)
        .saturating_add(u64::from(digit - b'0'));
}

/// Iterator over the events of one chunk of input; see
/// [`RequestDecoder::events`].
#[derive(Debug)]
pub struct RequestEvents<'a> {
    decoder: &'a mut RequestDecoder,
    input: &'a [u8],
}

impl Iterator for RequestEvents<'_> {
    type Item = RequestEvent;

    fn next(&mut self) -> Option<RequestEvent> {
        if self.input.is_empty() {
            return None;
        }
        let (consumed, event) = self.decoder.decode(self.input);
        self.input = &self.input[consumed..];
        event
    }
}

#[cfg(test)]
mod tests;
