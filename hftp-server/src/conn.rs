//! What both engines do for a connection between socket reads and writes:
//! hand the session its input, carry out its file actions, log what it
//! answered. The engines only differ in how they wait for the socket.

use std::fmt;
use std::fs::File;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use hftp_proto::{
    Action, CloseReason, OUTPUT_LIMIT, ServerSession, SessionConfig, SliceEncoder, Status,
};

use crate::files::ServedDir;
use crate::logger;
use crate::metadata_cache::MetadataCache;

/// Bytes read from a socket at once by an event loop, whose buffers serve
/// all its connections.
pub(crate) const READ_LEN: usize = 64 * 1024;
/// File bytes read at once for a slice: the most one [`Action::Read`]
/// asks for (what fits in a session's output once base64-encoded), and
/// the size of the thread pool's file buffer, whose buffers are each
/// worker's, so each connection's own (a stalled reader's cost).
pub(crate) const FILE_CHUNK_LEN: usize = OUTPUT_LIMIT / 4 * 3;
/// The most wire bytes an event loop writes at once for a slice body, and
/// the size of each of its two slice buffers (shared by all its
/// connections, so no connection's cost). On a loopback socket 768 KiB
/// writes moved 1.5-2× the bytes of 32 KiB ones, and more than 384 KiB or
/// 1 MiB ones, raw and base64 alike (`cargo xtask bench --only slices`).
pub(crate) const LOOP_CHUNK_LEN: usize = 768 * 1024;

/// The room a slice body's wire bytes take when made of `read_len` file
/// bytes at most (see [`Conn::send_file_through`]).
pub(crate) fn wire_len(read_len: usize) -> usize {
    usize::try_from(SliceEncoder::encoded_len(read_len as u64)).unwrap_or(usize::MAX)
}

/// What a connection's file actions are carried out on: the served
/// directory, and the metadata cache of the loop or worker serving it.
#[derive(Debug)]
pub(crate) struct Files<'a> {
    pub(crate) dir: &'a ServedDir,
    pub(crate) metadata: &'a mut MetadataCache,
}

/// A connection's state beside its socket: the session, the input it has
/// not taken yet, and the file of the slice it is sending.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) session: ServerSession,
    /// The client, as the log names it: IPv4 peers of a dual-stack socket
    /// as plain IPv4, and the real client behind a proxy once its header
    /// said who that is.
    pub(crate) peer: SocketAddr,
    /// `peer`, formatted once: every log line of the connection names it.
    name: PeerName,
    /// Bytes read that the session has not taken yet; empty (and
    /// unallocated) for a connection with nothing pending.
    input: Vec<u8>,
    /// How much of `input` the session has taken (dropped all at once when
    /// it has taken the rest, not request by request).
    input_start: usize,
    file: Option<File>,
    /// Wire bytes the next slice chunk makes at most: doubled, up to the
    /// driver's buffer, each time the socket took a whole chunk, halved
    /// down to [`OUTPUT_LIMIT`] when it took only part. A fast reader
    /// gets big writes; a slow one does not make the server read again,
    /// chunk after chunk, the large rest its socket refused.
    chunk_len: usize,
    /// The peer sent its last byte; the session hears of it once it has
    /// taken all the input before it.
    eof: bool,
}

/// Why a connection ended: the session's reason, or the socket's failure.
#[derive(Debug)]
pub(crate) enum CloseCause {
    Session(CloseReason),
    Socket(io::Error),
    /// `--proxy-protocol`: the connection did not start with a good PROXY
    /// header, in time; why.
    NoHeader(String),
    /// The server's shutdown closed it, its grace period over.
    Cut,
}

impl CloseCause {
    /// Whether the connection is closed gracefully: write side first, then
    /// what the peer still sends read and dropped for a while, so that
    /// unread input does not turn the close into a reset that destroys the
    /// last reply in flight (the course's suite checks for a clean EOF
    /// after `quit`). Only worth it after a reply; an idle or stalled peer,
    /// or one that left, is closed at once.
    pub(crate) fn is_graceful(&self) -> bool {
        matches!(
            self,
            CloseCause::Session(
                CloseReason::Quit
                    | CloseReason::Fatal(_)
                    | CloseReason::ShortSlice { .. }
                    | CloseReason::ShuttingDown
            )
        )
    }
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseCause::Session(reason) => reason.fmt(f),
            CloseCause::Socket(error) => write!(f, "the connection failed: {error}"),
            CloseCause::NoHeader(why) => f.write_str(why),
            CloseCause::Cut => f.write_str("cut: the shutdown's grace period is over"),
        }
    }
}

impl Conn {
    pub(crate) fn new(config: SessionConfig, peer: SocketAddr, now: Instant) -> Conn {
        let peer = canonical(peer);
        log::debug!("{peer}: connected");
        Conn {
            session: ServerSession::new(config, now),
            peer,
            name: PeerName::new(peer),
            input: Vec::new(),
            input_start: 0,
            file: None,
            chunk_len: OUTPUT_LIMIT,
            eof: false,
        }
    }

    /// The PROXY header named the real client: the log names it from now
    /// on.
    pub(crate) fn set_client(&mut self, client: SocketAddr) {
        let client = canonical(client);
        log::debug!("{}: the proxy's connection for {client}", self.peer);
        self.peer = client;
        self.name = PeerName::new(client);
    }

    /// Whether reading the socket is of use now: the session takes input
    /// and nothing read before is still waiting for it.
    pub(crate) fn wants_read(&self) -> bool {
        !self.eof && self.input_is_empty() && self.session.wants_read()
    }

    /// Hands freshly read bytes to the session, keeping what it does not
    /// take yet, and answers as far as it can.
    pub(crate) fn feed(
        &mut self,
        read: &[u8],
        files: &mut Files<'_>,
        scratch: &mut [u8],
        now: Instant,
    ) {
        log::trace!(
            "{}: received {} bytes: \"{}\"",
            self.peer,
            read.len(),
            read[..read.len().min(80)].escape_ascii()
        );
        files.metadata.note_input();
        if self.input_is_empty() {
            // Straight from the engine's buffer: pipelined requests are
            // answered one after another without being copied, and only
            // what the session cannot take yet is kept.
            let taken = self.answer(read, files, scratch, now);
            self.input.extend_from_slice(&read[taken..]);
        } else {
            // Behind bytes the session has not taken yet.
            self.input.drain(..self.input_start);
            self.input_start = 0;
            self.input.extend_from_slice(read);
        }
        self.advance(files, scratch, now);
    }

    /// The peer sent its last byte.
    pub(crate) fn feed_eof(&mut self, files: &mut Files<'_>, scratch: &mut [u8], now: Instant) {
        log::trace!("{}: end of input", self.peer);
        self.eof = true;
        self.advance(files, scratch, now);
    }

    /// Lets the session go as far as it can without the socket: input it
    /// kept back, then its file actions, until it waits for the socket.
    pub(crate) fn advance(&mut self, files: &mut Files<'_>, scratch: &mut [u8], now: Instant) {
        let input = std::mem::take(&mut self.input);
        let taken = self.answer(&input[self.input_start..], files, scratch, now);
        self.input = input;
        self.input_start += taken;
        if self.input_is_empty() {
            self.input = Vec::new();
            self.input_start = 0;
            if self.eof {
                self.session.handle_eof();
            }
        }
    }

    /// Hands `input` to the session and carries out the file actions it
    /// asks for, request after request, until it waits for the socket or
    /// takes no more; returns how many bytes it took.
    fn answer(
        &mut self,
        input: &[u8],
        files: &mut Files<'_>,
        scratch: &mut [u8],
        now: Instant,
    ) -> usize {
        let mut taken = 0;
        loop {
            let took = self.session.handle_input(&input[taken..], now);
            taken += took;
            let acted = match self.session.poll_action() {
                // The socket's business: see `send_file_through`.
                None | Some(Action::SendFile { .. }) => false,
                Some(action) => {
                    log::trace!("{}: {action:?}", self.peer);
                    self.carry_out(action, files, scratch);
                    true
                }
            };
            self.log_answered();
            if !acted && (took == 0 || taken == input.len()) {
                return taken;
            }
        }
    }

    fn input_is_empty(&self) -> bool {
        self.input_start == self.input.len()
    }

    fn carry_out(&mut self, action: Action, files: &mut Files<'_>, scratch: &mut [u8]) {
        match action {
            Action::List => self.session.handle_listing(files.dir.listing()),
            Action::Metadata(name) => {
                let lookup = files.metadata.lookup(files.dir, &name);
                log_lookup_failure(self.peer, &lookup);
                self.session.handle_metadata(lookup);
            }
            Action::Open(name) => {
                let opened = files.dir.open(&name);
                log_lookup_failure(self.peer, &opened);
                let (entry, file) = match opened {
                    Ok((entry, file)) => (Ok(entry), file),
                    Err(error) => (Err(error), None),
                };
                self.file = if self.session.handle_open(entry) {
                    file
                } else {
                    None
                };
            }
            Action::SendFile { .. } => {}
            Action::Read { offset, len } => {
                let len = len.min(scratch.len());
                let buf = &mut scratch[..len];
                let read = match &self.file {
                    Some(file) => read_at(file, buf, offset),
                    None => Err(io::Error::other("no open file for the slice")),
                };
                if let Err(error) = &read {
                    log::error!("{}: reading a slice failed: {error}", self.peer);
                }
                if !self.session.handle_read(read.map(|read| &buf[..read])) {
                    self.file = None;
                }
            }
        }
    }

    /// The access log: one line per request, when its answer is complete
    /// (or cut): `PEER "LINE" CODE TEXT BYTES B in MS ms`, or `CODE TEXT
    /// aborted after BYTES B in MS ms`. Written as bytes, not through
    /// `log::info!`: it is the one line per request.
    fn log_answered(&mut self) {
        // Not the turn's time: most answers take less than a turn. One read
        // of the clock for the answers completed so far, which also stamps
        // their lines.
        let mut now = None;
        while let Some(answered) = self.session.poll_answered() {
            let now = *now.get_or_insert_with(Instant::now);
            let micros = now.saturating_duration_since(answered.received).as_micros();
            let micros = u64::try_from(micros).unwrap_or(u64::MAX);
            let status = answered.status;
            let level = if status.is_fatal() && !answered.aborted {
                log::Level::Warn
            } else {
                log::Level::Info
            };
            logger::log_bytes(level, now, |out| {
                out.extend_from_slice(self.name.as_bytes());
                out.push(b' ');
                answered.line.write_to(out);
                out.push(b' ');
                // `CODE TEXT`: the status line without its CRLF.
                let line = status.line().as_bytes();
                out.extend_from_slice(line.strip_suffix(b"\r\n").unwrap_or(line));
                out.extend_from_slice(if answered.aborted {
                    b" aborted after "
                } else {
                    b" "
                });
                logger::push_decimal(out, answered.bytes);
                out.extend_from_slice(b" B in ");
                logger::push_millis(out, micros);
                out.extend_from_slice(b" ms");
            });
        }
    }

    /// Logs the end of the connection, and the reply it cut, if any.
    pub(crate) fn log_end(&mut self, end: &CloseCause) {
        if let CloseCause::Socket(_) | CloseCause::Cut = end {
            self.session.handle_disconnect();
        }
        self.log_answered();
        // The server cutting a client is news to an operator; a client
        // that leaves, or quits, is the connection's ordinary life (-v).
        match end {
            CloseCause::Session(
                CloseReason::Idle | CloseReason::WriteStalled | CloseReason::ShortSlice { .. },
            ) => log::info!("{}: closed: {end}", self.peer),
            // A balancer misconfigured, or a client going around it.
            CloseCause::NoHeader(_) => log::warn!("{}: closed: {end}", self.peer),
            _ => log::debug!("{}: closed: {end}", self.peer),
        }
    }
}

impl Conn {
    /// Sends the next part of a slice body, if the session asks for it
    /// ([`Action::SendFile`]): read from the file into `read_buf`, made into
    /// wire bytes in `out_buf` (both the engine's, not the connection's) and
    /// written to `socket`; only what the socket took counts, and the rest
    /// is read again next time, so the connection keeps no buffer of its
    /// own. `None` if the session asks for nothing; else what went (no
    /// bytes: the file ended early, and the session closes), or the
    /// socket's error (`WouldBlock` when it is full).
    ///
    /// Not `sendfile(2)` for raw bodies: to a loopback TCP socket it moved
    /// 0.9-1.5 GB/s where `pread` and `write(2)` of the same file moved
    /// 1.5-3.2 GB/s.
    pub(crate) fn send_file_through(
        &mut self,
        socket: &mut impl io::Write,
        read_buf: &mut [u8],
        out_buf: &mut [u8],
        now: Instant,
    ) -> Option<io::Result<Sent>> {
        let Some(Action::SendFile { offset, len }) = self.session.poll_action() else {
            return None;
        };
        let room = out_buf.len();
        let wire = self.chunk_len.min(room);
        let most = self.session.body_read_len(wire).min(read_buf.len());
        let want = usize::try_from(len).map_or(most, |len| len.min(most));
        let read = match &self.file {
            Some(file) => read_at(file, &mut read_buf[..want], offset),
            None => Ok(0),
        };
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                // The `0 OK` is sent: all that is left is to cut the body
                // short, as for a file that shrank.
                log::error!("{}: reading a slice failed: {error}", self.peer);
                0
            }
        };
        let chunk = self.session.body_chunk(&read_buf[..read], out_buf);
        let sent = if chunk.is_empty() {
            Ok(Sent {
                bytes: 0,
                socket_full: false,
            })
        } else {
            socket.write(chunk).map(|written| {
                let socket_full = written < chunk.len();
                self.chunk_len = if socket_full {
                    (self.chunk_len / 2).max(OUTPUT_LIMIT)
                } else {
                    (self.chunk_len * 2).min(room)
                };
                Sent {
                    bytes: written as u64,
                    socket_full,
                }
            })
        };
        if let Ok(sent) = &sent
            && !self.session.handle_sent(sent.bytes, now)
        {
            self.file = None;
        }
        Some(sent)
    }
}

/// What one write of [`Conn::send_file_through`] did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) bytes: u64,
    /// The socket took less than it was given: its buffer is full, and a
    /// non-blocking one would only say `WouldBlock` until it drains.
    pub(crate) socket_full: bool,
}

fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, offset) {
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// `peer` as the log shows it: an IPv4 client of a dual-stack socket comes
/// as `::ffff:a.b.c.d`, which is `a.b.c.d`.
pub(crate) fn canonical(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

/// A peer's address as text, kept inline: formatted once per connection
/// rather than once per log line, without an allocation.
#[derive(Debug)]
struct PeerName {
    text: [u8; PEER_NAME_LEN],
    len: usize,
}

/// The longest `[v6%scope]:port` there is, and room.
const PEER_NAME_LEN: usize = 64;

impl PeerName {
    fn new(peer: SocketAddr) -> PeerName {
        use std::io::Write;
        let mut text = [0; PEER_NAME_LEN];
        let mut rest = &mut text[..];
        let len = match write!(rest, "{peer}") {
            Ok(()) => PEER_NAME_LEN - rest.len(),
            Err(_) => 0,
        };
        PeerName { text, len }
    }
}

impl PeerName {
    fn as_bytes(&self) -> &[u8] {
        &self.text[..self.len]
    }
}

/// The server's own failures (what maps to 199) are worth an error line;
/// a name that is not there is routine.
fn log_lookup_failure<T>(peer: SocketAddr, lookup: &io::Result<T>) {
    if let Err(error) = lookup {
        if Status::for_io_error(error) == Status::FileNotFound {
            log::debug!("{peer}: {error}");
        } else {
            log::error!("{peer}: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use hftp_proto::{SessionConfig, SliceEncoder, encode_raw_slice_head};
    use hftp_test_support::{Xorshift, noise};

    use super::*;

    /// A peer's socket that takes everything until it holds `fast_until`
    /// bytes, then at most `most` bytes a write (a random share of them
    /// when `random` is set), and keeps what it took.
    struct Socket {
        took: Vec<u8>,
        fast_until: usize,
        most: usize,
        random: Option<Xorshift>,
    }

    impl Socket {
        fn new(most: usize) -> Socket {
            Socket {
                took: Vec::new(),
                fast_until: 0,
                most,
                random: None,
            }
        }
    }

    impl io::Write for Socket {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let most = match &mut self.random {
                _ if self.took.len() < self.fast_until => usize::MAX,
                Some(random) => random.index(self.most + 1),
                None => self.most,
            };
            let took = most.min(buf.len());
            if took == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            self.took.extend_from_slice(&buf[..took]);
            Ok(took)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The whole reply to `get_slice slice.bin 0 LEN [raw]`, as an event
    /// loop sends it through `socket`; and the most wire bytes a chunk
    /// could make, before each send of the body.
    fn send_slice(
        file: &[u8],
        raw: bool,
        socket: &mut Socket,
    ) -> io::Result<(Vec<u8>, Vec<usize>)> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("slice.bin"), file)?;
        let served = ServedDir::new(dir.path(), false);
        let mut metadata = MetadataCache::off();
        let mut files = Files {
            dir: &served,
            metadata: &mut metadata,
        };
        let config = SessionConfig {
            idle_timeout: Duration::from_secs(60),
            show_hidden: false,
        };
        let now = Instant::now();
        let mut conn = Conn::new(config, (Ipv4Addr::LOCALHOST, 1).into(), now);
        let (mut read_buf, mut wire) = (vec![0; LOOP_CHUNK_LEN], vec![0; LOOP_CHUNK_LEN]);
        let request = format!(
            "get_slice slice.bin 0 {}{}\r\n",
            file.len(),
            if raw { " raw" } else { "" }
        );
        conn.feed(request.as_bytes(), &mut files, &mut read_buf, now);
        let mut chunks = Vec::new();
        loop {
            if matches!(conn.session.poll_action(), Some(Action::SendFile { .. })) {
                chunks.push(conn.chunk_len);
            }
            let pending = conn.session.pending_output();
            let wrote = if pending.is_empty() {
                match conn.send_file_through(socket, &mut read_buf, &mut wire, now) {
                    Some(sent) => sent.map(|_| ()),
                    None => break,
                }
            } else {
                io::Write::write(socket, pending).map(|written| conn.session.consumed(written, now))
            };
            match wrote {
                Err(error) if error.kind() != ErrorKind::WouldBlock => return Err(error),
                _ => conn.advance(&mut files, &mut read_buf, now),
            }
        }
        Ok((std::mem::take(&mut socket.took), chunks))
    }

    fn reply(file: &[u8], raw: bool) -> Vec<u8> {
        let mut reply = Vec::new();
        if raw {
            encode_raw_slice_head(file.len() as u64, &mut reply);
            reply.extend_from_slice(file);
        } else {
            // The encoder writes the status line itself.
            let mut encoder = SliceEncoder::new(file.len() as u64, &mut reply);
            encoder.encode(file, &mut reply);
            assert!(encoder.finish(&mut reply).is_ok());
        }
        reply
    }

    #[test]
    fn a_socket_that_takes_everything_gets_the_largest_chunks() -> io::Result<()> {
        let file = noise(7, 5 * LOOP_CHUNK_LEN + 11);
        for raw in [false, true] {
            let (took, chunks) = send_slice(&file, raw, &mut Socket::new(usize::MAX))?;
            assert!(took == reply(&file, raw), "raw {raw}: the reply differs");
            assert_eq!(chunks.iter().max(), Some(&LOOP_CHUNK_LEN), "raw {raw}");
        }
        Ok(())
    }

    #[test]
    fn a_slow_socket_keeps_chunks_small_and_every_byte_in_order() -> io::Result<()> {
        let file = noise(8, 4 * LOOP_CHUNK_LEN + 5);
        for raw in [false, true] {
            // Less than a first chunk each write: the chunk never grows.
            let (took, chunks) = send_slice(&file, raw, &mut Socket::new(FILE_CHUNK_LEN / 2))?;
            assert!(took == reply(&file, raw), "raw {raw}: the reply differs");
            assert_eq!(chunks.iter().max(), Some(&OUTPUT_LIMIT), "raw {raw}");
            // Fast for a while, then slow: back down to the first chunk.
            let mut slowing = Socket::new(FILE_CHUNK_LEN / 2);
            slowing.fast_until = 3 * LOOP_CHUNK_LEN;
            let (took, chunks) = send_slice(&file, raw, &mut slowing)?;
            assert!(took == reply(&file, raw), "raw {raw}: the reply differs");
            assert_eq!(chunks.iter().max(), Some(&LOOP_CHUNK_LEN), "raw {raw}");
            assert_eq!(chunks.last(), Some(&OUTPUT_LIMIT), "raw {raw}");
            // Any share of up to 100 KiB a write, none at times.
            let mut random = Socket::new(100 << 10);
            random.random = Some(Xorshift::new(u64::from(raw)));
            let (took, chunks) = send_slice(&file, raw, &mut random)?;
            assert!(took == reply(&file, raw), "raw {raw}: the reply differs");
            assert!(chunks.iter().all(|&chunk| chunk < LOOP_CHUNK_LEN));
        }
        Ok(())
    }
}
