//! The server's side of one connection, as a state machine: bytes in,
//! actions out and their results back in, bytes out, time passed in.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use self::body::StreamedBody;
use crate::{
    Entry, FileName, LineHead, Listing, Request, RequestDecoder, RequestEvent, SliceEncoder,
    Status, check_slice, encode_help, encode_metadata, encode_raw_slice_head, encode_status,
    is_visible, servability,
};

/// Unsent reply bytes above which a session takes no more input and asks
/// for no more file data: what one connection may hold of replies,
/// whatever it asks and however slowly it reads.
pub const OUTPUT_LIMIT: usize = 32 * 1024;

/// Room for the longest reply the session writes in one go (a status
/// line, the reply to `get_metadata` or `help`, a raw slice's head): what
/// one request may add to output that is already at the limit.
const SHORT_REPLY_ROOM: usize = 128;

/// The output capacity a session grows to by itself: the limit and one
/// short reply past it.
const OUTPUT_CAPACITY: usize = OUTPUT_LIMIT + SHORT_REPLY_ROOM;

/// Pending output capacity a session keeps once its output is sent; a
/// larger buffer (grown by a slice or a listing) is given back, so an idle
/// connection holds little.
const KEPT_OUTPUT_CAPACITY: usize = 4 * 1024;

/// The longest base64 body that goes through the session's output (read
/// with [`Action::Read`], batched with the replies around it); a longer
/// one, like every raw body, is sent by the driver from the file
/// ([`Action::SendFile`]), in chunks as large as the driver's buffers.
const SMALL_BODY: u64 = OUTPUT_LIMIT as u64 / 2;

/// Log records a session holds before it stops taking requests until the
/// driver polls them.
const MAX_RECORDS: usize = 8;

/// How a server serves: the settings every session of it shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// How long a connection may make no progress — send nothing, and take
    /// none of its pending replies — before it is closed.
    pub idle_timeout: Duration,
    /// Whether hidden names (a leading `.`) are listed and served.
    pub show_hidden: bool,
}

/// What the driver must do for the session before it can go on: the
/// session's only window on the file system.
///
/// [`ServerSession::poll_action`] returns the same action until the driver
/// feeds its result back with the method named here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List the served directory; answer with
    /// [`handle_listing`](ServerSession::handle_listing).
    List,
    /// Look the name up for its size; answer with
    /// [`handle_metadata`](ServerSession::handle_metadata).
    Metadata(FileName),
    /// Open the name for reading; answer with
    /// [`handle_open`](ServerSession::handle_open), and keep the file open
    /// if that says so.
    Open(FileName),
    /// Read at most `len` bytes of the open file from `offset` (a short
    /// slice's body, which the session encodes into its output); answer
    /// with [`handle_read`](ServerSession::handle_read).
    Read {
        /// Where to read, in the file.
        offset: u64,
        /// The most bytes the session takes now (never 0).
        len: usize,
    },
    /// Send the next part of a slice's body from the open file, through
    /// the driver's own buffers: read the file from `offset` (as much as a
    /// buffer holds, at most `len` bytes; [`body_read_len`](
    /// ServerSession::body_read_len) says how much makes a write of a given
    /// size), turn what was read into wire
    /// bytes with [`body_chunk`](ServerSession::body_chunk), write those
    /// and report how many the socket took with
    /// [`handle_sent`](ServerSession::handle_sent). So a large body goes
    /// out in large writes while the connection holds no buffer of its own:
    /// what the socket did not take is read again next time. Asked for every
    /// raw body and every long base64 one, only while no other output is
    /// pending, so the bytes go out in order. When the socket takes nothing
    /// now (it would block), do not call `handle_sent`: wait until it is
    /// writable; the action stays the same until then, so a driver that
    /// loops on `poll_action` must leave the loop for it, as for output.
    SendFile {
        /// Where to read, in the file.
        offset: u64,
        /// How many bytes of the slice are left from there (never 0).
        len: u64,
    },
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side between requests.
    PeerClosed,
    /// The peer closed its side in the middle of a request line.
    PeerLeftMidRequest,
    /// The peer sent nothing for the idle timeout.
    Idle,
    /// The peer took none of its pending replies for the idle timeout.
    WriteStalled,
    /// The peer sent `quit`.
    Quit,
    /// A fatal status (1xx) was sent.
    Fatal(Status),
    /// The file shrank, or could not be read, while a slice was sent: the
    /// body is cut short, without its final CRLF.
    ShortSlice {
        /// How many promised bytes were not sent.
        missing: u64,
    },
    /// The server is shutting down (see
    /// [`begin_shutdown`](ServerSession::begin_shutdown)).
    ShuttingDown,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("the peer closed"),
            CloseReason::PeerLeftMidRequest => {
                f.write_str("the peer closed in the middle of a request")
            }
            CloseReason::Idle => f.write_str("idle timeout"),
            CloseReason::WriteStalled => f.write_str("the peer stopped reading its replies"),
            CloseReason::Quit => f.write_str("quit"),
            CloseReason::Fatal(status) => write!(f, "after {status}"),
            CloseReason::ShortSlice { missing } => write!(
                f,
                "a slice cut {missing} bytes short (the file shrank or failed)"
            ),
            CloseReason::ShuttingDown => f.write_str("the server is shutting down"),
        }
    }
}

/// One answered request, for the driver's access log.
///
/// A record comes once the whole reply is in the output (most of it
/// already sent, for a slice: the session holds at most
/// [`OUTPUT_LIMIT`]), or once the reply was cut: the file shrank, the
/// peer stopped reading, or the driver lost the connection
/// ([`handle_disconnect`](ServerSession::handle_disconnect)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The start of the request line.
    pub line: LineHead,
    /// The status sent.
    pub status: Status,
    /// The reply's bytes, status line and body: all of them for a whole
    /// reply; for an aborted one, those that went out (or will, before a
    /// short slice's close).
    pub bytes: u64,
    /// When the request's last byte was handed to the session: the driver
    /// measures the time the answer took from it.
    pub received: Instant,
    /// Whether the reply was cut short rather than all sent.
    pub aborted: bool,
}

/// The reply being produced.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "a file name is inline so that a session allocates nothing per request"
)]
enum Reply {
    /// None: the next request may start.
    Idle,
    /// Waiting for the driver to carry out an action.
    Waiting(Waiting),
    /// A listing body being copied into the output as room allows.
    Listing { listing: Listing, sent: usize },
    /// A short base64 slice body: the driver feeds the file's bytes, the
    /// session encodes them into its output.
    Slice {
        encoder: SliceEncoder,
        position: u64,
    },
    /// A slice body the driver sends from the file itself.
    Streamed(StreamedBody),
}

#[derive(Debug, Clone, Copy)]
enum Waiting {
    Listing,
    Metadata(FileName),
    Open {
        name: FileName,
        offset: u64,
        size: u64,
        raw: bool,
    },
}

/// The protocol side of one HFTP connection on a server: every rule of
/// HFTP.md about a connection, with no socket, file, thread or clock.
///
/// The driver owns the socket and the files, and calls, in a loop:
///
/// 1. **Input** — [`handle_input`](Self::handle_input) with the bytes it
///    read; the session says how many it took. It stops taking bytes while
///    a reply is in progress or its output is over [`OUTPUT_LIMIT`], so
///    the driver keeps the rest and offers it again before reading more;
///    [`wants_read`](Self::wants_read) says whether reading more is of
///    any use. At end of input, once all was taken,
///    [`handle_eof`](Self::handle_eof).
/// 2. **Actions** — while [`poll_action`](Self::poll_action) returns one,
///    carry it out and feed the result to the `handle_*` it names.
/// 3. **Output** — send [`pending_output`](Self::pending_output) and
///    report what the socket took with [`consumed`](Self::consumed).
/// 4. **Log** — [`poll_answered`](Self::poll_answered) until `None`.
/// 5. **Time** — wake at [`poll_timeout`](Self::poll_timeout) and call
///    [`handle_timeout`](Self::handle_timeout).
///
/// Once [`close_reason`](Self::close_reason) is set the session takes no
/// more input; when its pending output is also sent
/// ([`is_finished`](Self::is_finished)), the driver closes the connection.
///
/// ```
/// use std::time::{Duration, Instant};
/// use hftp_proto::{Action, CloseReason, Entry, ServerSession, SessionConfig};
///
/// let config = SessionConfig { idle_timeout: Duration::from_secs(60), show_hidden: false };
/// let now = Instant::now();
/// let mut session = ServerSession::new(config, now);
/// let input = b"get_metadata a.txt\r\nquit\r\n";
/// let mut taken = session.handle_input(input, now);
/// assert_eq!(session.poll_action(), Some(Action::Metadata("a.txt".parse()?)));
/// session.handle_metadata(Ok(Entry::File { size: 3199, mode: 0o644, readable: true }));
/// taken += session.handle_input(&input[taken..], now);
/// assert_eq!(taken, input.len());
/// assert_eq!(session.pending_output(), b"0 OK\r\n3199\r\n0 OK\r\n");
/// session.consumed(session.pending_output().len(), now);
/// assert_eq!(session.close_reason(), Some(CloseReason::Quit));
/// assert!(session.is_finished());
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
#[derive(Debug)]
pub struct ServerSession {
    config: SessionConfig,
    decoder: RequestDecoder,
    reply: Reply,
    /// Reply bytes; those before `out_start` are sent.
    out: Vec<u8>,
    out_start: usize,
    /// The start of the request line being decoded or answered.
    line: LineHead,
    records: VecDeque<Answered>,
    /// When the request being answered was received, and where its reply
    /// starts in the stream of bytes sent.
    received: Instant,
    reply_start: u64,
    /// Reply bytes the driver has sent so far (taken from the output or
    /// sent from a file).
    sent: u64,
    /// The peer will send nothing more.
    eof: bool,
    shutting_down: bool,
    close: Option<CloseReason>,
    /// The last time the peer sent something or took some output.
    last_progress: Instant,
}

impl ServerSession {
    /// A session for a connection accepted at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> ServerSession {
        ServerSession {
            config,
            decoder: RequestDecoder::new(),
            reply: Reply::Idle,
            out: Vec::new(),
            out_start: 0,
            line: LineHead::default(),
            records: VecDeque::new(),
            received: now,
            reply_start: 0,
            sent: 0,
            eof: false,
            shutting_down: false,
            close: None,
            last_progress: now,
        }
    }

    // Getters.

    /// The settings the session was made with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Whether the session would take more input now. False once it is
    /// closed, while a reply is in progress, or while its unsent output is
    /// over [`OUTPUT_LIMIT`]: a peer that pipelines without reading is
    /// read no further.
    pub fn wants_read(&self) -> bool {
        self.takes_requests() && !self.eof
    }

    /// Why the session ended, once it has: it takes no more input, and the
    /// driver closes the connection once [`is_finished`](Self::is_finished).
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close
    }

    /// Whether the connection is over and nothing is left to send.
    pub fn is_finished(&self) -> bool {
        self.close.is_some() && self.pending_output().is_empty()
    }

    /// Reply bytes waiting to be sent, in order.
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.out_start..]
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due: the idle
    /// timeout after the last progress. `None` once the session is closed
    /// (or if that instant cannot be represented).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.close.is_some() {
            return None;
        }
        self.last_progress.checked_add(self.config.idle_timeout)
    }

    /// What the driver must do next for the session, if anything. The same
    /// action is returned until its result is fed back.
    #[must_use]
    pub fn poll_action(&self) -> Option<Action> {
        match &self.reply {
            Reply::Waiting(Waiting::Listing) => Some(Action::List),
            Reply::Waiting(Waiting::Metadata(name)) => Some(Action::Metadata(*name)),
            Reply::Waiting(Waiting::Open { name, .. }) => Some(Action::Open(*name)),
            Reply::Slice { encoder, position } => {
                let room = OUTPUT_LIMIT.saturating_sub(self.pending_output().len());
                // Half the limit at least, so each read is worth its call.
                if room < OUTPUT_LIMIT / 2 {
                    return None;
                }
                let len = usize::try_from(encoder.remaining())
                    .unwrap_or(usize::MAX)
                    .min(room / 4 * 3);
                Some(Action::Read {
                    offset: *position,
                    len,
                })
            }
            Reply::Streamed(body) if self.pending_output().is_empty() => body
                .next_read()
                .map(|(offset, len)| Action::SendFile { offset, len }),
            Reply::Idle | Reply::Listing { .. } | Reply::Streamed(_) => None,
        }
    }

    /// The next answered request for the log, oldest first. The session
    /// keeps a few and takes no new request until they are polled.
    #[must_use]
    pub fn poll_answered(&mut self) -> Option<Answered> {
        let record = self.records.pop_front();
        if self.records.is_empty() && self.records.capacity() > MAX_RECORDS {
            self.records = VecDeque::new();
        }
        record
    }

    // Input.

    /// Takes the bytes the peer sent, arrived by `now`, and answers every
    /// request they complete as far as it can without the driver. Returns
    /// how many bytes it took: all of them, unless it stopped at a request
    /// that waits for an action, or for its output to be sent. The driver
    /// keeps the rest and offers it again.
    #[must_use = "the bytes not taken must be offered again"]
    pub fn handle_input(&mut self, input: &[u8], now: Instant) -> usize {
        let mut taken = 0;
        while taken < input.len() && self.takes_requests() {
            let (consumed, event) = self.decoder.decode(&input[taken..]);
            self.line.push(&input[taken..taken + consumed]);
            taken += consumed;
            match event {
                Some(event) => self.start(event, now),
                None => break,
            }
        }
        // Only bytes taken are progress: bytes offered again, which the
        // driver held since the peer sent them, say nothing of the peer now.
        if taken > 0 {
            self.last_progress = now;
        }
        if self.close.is_some() {
            // The decoder ignores what follows `quit` or a fatal status.
            return input.len();
        }
        taken
    }

    /// The peer will send nothing more (it closed or half-closed), and the
    /// driver holds no input the session has not taken. The reply in
    /// progress, if any, is still sent; then the session closes.
    pub fn handle_eof(&mut self) {
        self.eof = true;
        self.close_if_done();
    }

    /// The result of [`Action::List`]: the served directory's listing, or
    /// the failure to read it.
    pub fn handle_listing(&mut self, listing: Result<Listing, io::Error>) {
        if !matches!(self.reply, Reply::Waiting(Waiting::Listing)) {
            return;
        }
        match listing {
            Ok(listing) => {
                encode_status(Status::Ok, &mut self.out);
                self.reply = Reply::Listing { listing, sent: 0 };
                self.fill();
            }
            Err(error) => self.refuse(Status::for_io_error(&error)),
        }
    }

    /// The result of [`Action::Metadata`]: what the server found by that
    /// name (see [`servability`]).
    pub fn handle_metadata(&mut self, lookup: Result<Entry, io::Error>) {
        if !matches!(self.reply, Reply::Waiting(Waiting::Metadata(_))) {
            return;
        }
        match servability(&lookup) {
            Ok(size) => {
                encode_metadata(size, &mut self.out);
                self.finish_reply(Status::Ok);
            }
            Err(status) => self.refuse(status),
        }
    }

    /// The result of [`Action::Open`]: what the server found by that name
    /// once opened (see [`servability`]). Returns whether the driver keeps
    /// the file open for the [`Action::Read`]s that follow; it may close it
    /// once no more follow.
    #[must_use = "the file is to be kept open only when this says so"]
    pub fn handle_open(&mut self, lookup: Result<Entry, io::Error>) -> bool {
        let Reply::Waiting(Waiting::Open {
            offset, size, raw, ..
        }) = self.reply
        else {
            return false;
        };
        let checked =
            servability(&lookup).and_then(|file_size| check_slice(offset, size, file_size));
        match checked {
            Ok(()) if raw || SliceEncoder::encoded_len(size) > SMALL_BODY => {
                if raw {
                    encode_raw_slice_head(size, &mut self.out);
                } else {
                    encode_status(Status::Ok, &mut self.out);
                }
                self.reply = Reply::Streamed(StreamedBody::new(offset, size, raw));
                self.end_streamed_if_complete();
                matches!(self.reply, Reply::Streamed(_))
            }
            Ok(()) => {
                let encoder = SliceEncoder::new(size, &mut self.out);
                self.reply = Reply::Slice {
                    encoder,
                    position: offset,
                };
                self.end_slice_if_complete();
                matches!(self.reply, Reply::Slice { .. })
            }
            Err(status) => {
                self.refuse(status);
                false
            }
        }
    }

    /// The result of [`Action::Read`]: the bytes read (fewer than asked is
    /// fine; none means the file ended), or the failure to read. A file
    /// that ends early, or fails, cuts the slice short: the session closes
    /// after the bytes it has ([`CloseReason::ShortSlice`]). Returns
    /// whether more reads follow; once not, the driver may close the file.
    #[must_use = "the file may be closed once this is false"]
    pub fn handle_read(&mut self, read: Result<&[u8], io::Error>) -> bool {
        let Reply::Slice { encoder, position } = &mut self.reply else {
            return false;
        };
        match read {
            Ok(data) if !data.is_empty() => {
                let most = data
                    .len()
                    .min(usize::try_from(encoder.remaining()).unwrap_or(usize::MAX));
                // With the bytes carried from the last read, `most` bytes
                // make at most `most.div_ceil(3)` whole groups; the end of
                // the slice adds the last group and the CRLF.
                make_room(&mut self.out, &mut self.out_start, most.div_ceil(3) * 4 + 6);
                let taken = encoder.encode(data, &mut self.out);
                *position += taken as u64;
                self.end_slice_if_complete();
            }
            // The file ended, or failed: the `0 OK` cannot be taken back.
            Ok(_) | Err(_) => {
                let missing = encoder.remaining();
                self.abort_reply(self.produced());
                self.close = Some(CloseReason::ShortSlice { missing });
            }
        }
        matches!(self.reply, Reply::Slice { .. })
    }

    /// For [`Action::SendFile`]: the wire bytes that `read` — what the
    /// driver read of the file from the action's offset — makes next, in
    /// `out` or `read` itself. A raw body is `read` as it is; a base64 one
    /// is encoded into `out`, as many whole groups as fit (room for
    /// `SliceEncoder::encoded_len(read.len())` bytes takes all of `read`;
    /// it needs room for six at least). Empty when `read` is too short to
    /// make a byte: the file ended before the slice did (a read gives fewer
    /// than three bytes only at the end of the file).
    #[must_use]
    pub fn body_chunk<'a>(&self, read: &'a [u8], out: &'a mut [u8]) -> &'a [u8] {
        match &self.reply {
            Reply::Streamed(body) => body.chunk(read, out),
            _ => &[],
        }
    }

    /// For [`Action::SendFile`]: how many file bytes to read for
    /// [`body_chunk`](Self::body_chunk) to make at most `wire` bytes of
    /// them — `wire` itself for a raw body, three for every four for
    /// base64 (one group at least) — so that a driver sizing its writes
    /// reads no more than it will send. 0 when no body is streaming.
    #[must_use]
    pub fn body_read_len(&self, wire: usize) -> usize {
        match &self.reply {
            Reply::Streamed(body) => body.read_len(wire),
            _ => 0,
        }
    }

    /// The result of [`Action::SendFile`]: the socket took the first `sent`
    /// bytes of the last [`body_chunk`](Self::body_chunk), at `now`. 0
    /// means the file ended before the slice did (it shrank: the chunk was
    /// empty), which closes the session after the bytes it has
    /// ([`CloseReason::ShortSlice`]). Returns whether more is to be sent;
    /// once not, the driver may close the file.
    #[must_use = "the file may be closed once this is false"]
    pub fn handle_sent(&mut self, sent: u64, now: Instant) -> bool {
        let Reply::Streamed(body) = &mut self.reply else {
            return false;
        };
        if sent == 0 {
            let missing = body.missing();
            self.abort_reply(self.produced());
            self.close = Some(CloseReason::ShortSlice { missing });
            return false;
        }
        let sent = sent.min(body.unsent());
        body.advance(sent);
        self.sent += sent;
        self.last_progress = now;
        let tail = body.tail();
        if !tail.is_empty() {
            // The CRLF needs no file: it goes out with the next output.
            body.advance(tail.len() as u64);
            make_room(&mut self.out, &mut self.out_start, tail.len());
            self.out.extend_from_slice(tail);
        }
        self.end_streamed_if_complete();
        matches!(self.reply, Reply::Streamed(_))
    }

    /// Time has passed: at or after [`poll_timeout`](Self::poll_timeout),
    /// the session closes — idle if it had nothing to send, stalled if the
    /// peer left its replies unread — and drops its unsent output.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.poll_timeout() else {
            return;
        };
        if now < deadline {
            return;
        }
        let stalled = !self.pending_output().is_empty() || !matches!(self.reply, Reply::Idle);
        self.close = Some(if stalled {
            CloseReason::WriteStalled
        } else {
            CloseReason::Idle
        });
        self.abort_reply(self.sent);
        self.out = Vec::new();
        self.out_start = 0;
    }

    // Mutators.

    /// The server is stopping: no new request is started; the reply in
    /// progress, if any, is finished; then the session closes
    /// ([`CloseReason::ShuttingDown`]).
    pub fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        self.close_if_done();
    }

    /// The connection is gone before the session finished (the socket
    /// failed: the peer reset it, say): the reply in progress, if any, is
    /// recorded as aborted after the bytes that went out, and the session
    /// takes nothing more.
    pub fn handle_disconnect(&mut self) {
        if self.close.is_none() {
            self.close = Some(CloseReason::PeerClosed);
        }
        self.abort_reply(self.sent);
        self.out = Vec::new();
        self.out_start = 0;
    }

    /// The driver sent the first `n` bytes of
    /// [`pending_output`](Self::pending_output), at `now`.
    pub fn consumed(&mut self, n: usize, now: Instant) {
        let n = n.min(self.pending_output().len());
        if n > 0 {
            self.last_progress = now;
        }
        self.sent += n as u64;
        self.out_start += n;
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
            if matches!(self.reply, Reply::Idle) && self.out.capacity() > KEPT_OUTPUT_CAPACITY {
                self.out = Vec::new();
            }
        }
        self.fill();
    }

    // Internals.

    fn takes_requests(&self) -> bool {
        self.close.is_none()
            && !self.shutting_down
            && matches!(self.reply, Reply::Idle)
            && self.pending_output().len() <= OUTPUT_LIMIT
            && self.records.len() < MAX_RECORDS
    }

    /// Starts the reply to one decoded line.
    fn start(&mut self, event: RequestEvent, now: Instant) {
        self.compact();
        self.received = now;
        self.reply_start = self.produced();
        match event {
            RequestEvent::Refused(status) => self.refuse(status),
            RequestEvent::Request(request) => match request {
                Request::GetFileListing => self.reply = Reply::Waiting(Waiting::Listing),
                Request::GetMetadata { name } if is_visible(&name, self.config.show_hidden) => {
                    self.reply = Reply::Waiting(Waiting::Metadata(name));
                }
                Request::GetSlice {
                    name,
                    offset,
                    size,
                    raw,
                } if is_visible(&name, self.config.show_hidden) => {
                    self.reply = Reply::Waiting(Waiting::Open {
                        name,
                        offset,
                        size,
                        raw,
                    });
                }
                Request::GetMetadata { .. } | Request::GetSlice { .. } => {
                    self.refuse(Status::FileNotFound);
                }
                Request::Help => {
                    encode_help(&mut self.out);
                    self.finish_reply(Status::Ok);
                }
                Request::Quit => {
                    encode_status(Status::Ok, &mut self.out);
                    self.close = Some(CloseReason::Quit);
                    self.finish_reply(Status::Ok);
                }
            },
        }
    }

    /// Answers the request being handled with `status` alone.
    fn refuse(&mut self, status: Status) {
        encode_status(status, &mut self.out);
        if status.is_fatal() {
            self.close = Some(CloseReason::Fatal(status));
        }
        self.finish_reply(status);
    }

    /// The reply to the current request is all in the output.
    fn finish_reply(&mut self, status: Status) {
        self.reply = Reply::Idle;
        self.record(status, self.produced(), false);
        self.close_if_done();
    }

    /// Records the reply in progress as cut short where the stream of
    /// bytes sent ends at `end`, if one is: only a reply whose `0 OK` is
    /// out can be cut.
    fn abort_reply(&mut self, end: u64) {
        if matches!(
            self.reply,
            Reply::Listing { .. } | Reply::Slice { .. } | Reply::Streamed(_)
        ) {
            self.record(Status::Ok, end, true);
        }
        self.reply = Reply::Idle;
    }

    fn record(&mut self, status: Status, end: u64, aborted: bool) {
        self.records.push_back(Answered {
            line: self.line.clone(),
            status,
            bytes: end.saturating_sub(self.reply_start),
            received: self.received,
            aborted,
        });
        self.line.clear();
    }

    /// Reply bytes produced so far: sent, or waiting in the output.
    fn produced(&self) -> u64 {
        self.sent + self.pending_output().len() as u64
    }

    fn end_slice_if_complete(&mut self) {
        let Reply::Slice { encoder, .. } = &self.reply else {
            return;
        };
        if encoder.remaining() > 0 {
            return;
        }
        if let Reply::Slice { encoder, .. } = std::mem::replace(&mut self.reply, Reply::Idle) {
            // Nothing remains, so the encoder always finishes.
            if encoder.finish(&mut self.out).is_ok() {
                self.finish_reply(Status::Ok);
            }
        }
    }

    fn end_streamed_if_complete(&mut self) {
        if let Reply::Streamed(body) = &self.reply
            && body.unsent() == 0
        {
            self.finish_reply(Status::Ok);
        }
    }

    /// Copies as much of a listing in progress into the output as the
    /// limit allows.
    fn fill(&mut self) {
        let Reply::Listing { listing, sent } = &mut self.reply else {
            return;
        };
        let room = OUTPUT_LIMIT.saturating_sub(self.out.len() - self.out_start);
        let body = &listing.body()[*sent..];
        let copied = body.len().min(room);
        if copied == 0 {
            return;
        }
        make_room(&mut self.out, &mut self.out_start, copied);
        self.out.extend_from_slice(&body[..copied]);
        *sent += copied;
        if *sent == listing.body().len() {
            self.finish_reply(Status::Ok);
        }
    }

    /// Moves unsent output to the start of the buffer before more is
    /// appended, so the buffer never grows past what is unsent, and makes
    /// room for the reply's status line (or a whole short reply).
    fn compact(&mut self) {
        make_room(&mut self.out, &mut self.out_start, SHORT_REPLY_ROOM);
    }

    fn close_if_done(&mut self) {
        if self.close.is_some() || !matches!(self.reply, Reply::Idle) {
            return;
        }
        if self.shutting_down {
            self.close = Some(CloseReason::ShuttingDown);
        } else if self.eof {
            self.close = Some(if self.decoder.is_mid_line() {
                CloseReason::PeerLeftMidRequest
            } else {
                CloseReason::PeerClosed
            });
        }
    }
}

/// Makes room for `additional` more bytes of output, growing as a `Vec`
/// does but not past [`OUTPUT_CAPACITY`] unless more is needed: left to
/// grow by doubling, a buffer just past half the limit would hold nearly
/// twice the limit.
/// Drops the sent bytes at the front of `out` (those before `start`) and
/// makes room for `additional` more (see [`reserve_output`]). A free
/// function, so that it can run while the reply in progress is borrowed.
fn make_room(out: &mut Vec<u8>, start: &mut usize, additional: usize) {
    if *start > 0 {
        out.drain(..*start);
        *start = 0;
    }
    reserve_output(out, additional);
}

fn reserve_output(out: &mut Vec<u8>, additional: usize) {
    let needed = out.len() + additional;
    if needed > out.capacity() {
        let doubled = out.capacity().saturating_mul(2).min(OUTPUT_CAPACITY);
        out.reserve_exact(needed.max(doubled) - out.len());
    }
}

mod body;
#[cfg(test)]
mod tests;
