//! The thread-pool engine, the course seed's design: a fixed pool of
//! workers, each owning one connection at a time with blocking reads and
//! writes, until it closes.
//!
//! Kept beside the event loops for teaching and comparison: it serves
//! exactly as many clients at once as it has workers, so a pool's worth of
//! idle clients keeps everyone else waiting (HFTP.md's *Connection life*
//! forbids that; the `events` engine keeps it).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hftp_proto::Action;

use crate::conn::{Conn, End, FILE_CHUNK_LEN, wire_len};
use crate::proxy::{HEADER_TIME, Header, HeaderReader};
use crate::server::{DRAIN_BYTES, DRAIN_TIME, Shared};

/// Bytes a worker reads from its socket at once: its own buffer, so kept
/// small (an event loop's serves many connections).
const WORKER_READ_LEN: usize = 16 * 1024;

/// Serves one connection, accepted at `accepted`, until it closes.
pub(crate) fn serve(mut stream: TcpStream, accepted: Instant, shared: &Shared) {
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(error) => {
            log::debug!("connection lost before it was served: {error}");
            return;
        }
    };
    if shared.is_shutting_down() {
        log::debug!("{peer}: dropped, shutting down");
        return;
    }
    // Replies are written whole; Nagle would only delay the last piece.
    if let Err(error) = stream.set_nodelay(true) {
        log::warn!("{peer}: cannot configure the socket: {error}");
        return;
    }
    // The idle clock runs from the accept, so idle connections queued
    // behind each other time out together rather than one pool-sized
    // round after another.
    let mut conn = Conn::new(shared.session, peer, accepted);
    let mut input = vec![0; WORKER_READ_LEN];
    let mut file_buf = vec![0; FILE_CHUNK_LEN];
    if shared.proxy_protocol {
        match read_header(&mut stream, accepted + HEADER_TIME, &mut input) {
            Ok((client, rest)) => {
                if let Some(client) = client {
                    conn.set_client(client);
                }
                if !rest.is_empty() {
                    // Sent at some time since the accept, as queued bytes are.
                    conn.feed(&rest, &shared.dir, &mut file_buf, accepted);
                }
            }
            Err(end) => {
                conn.log_end(&end);
                return;
            }
        }
    }
    let queued = Queued {
        bytes: bytes_waiting(&stream),
        accepted,
    };
    let end = run(
        &mut stream,
        &mut conn,
        shared,
        queued,
        &mut input,
        &mut file_buf,
    );
    conn.log_end(&end);
    if end.is_graceful() {
        close_gracefully(&mut stream, &mut input);
    }
}

/// Reads the PROXY header, by `deadline`: the client it names and the
/// bytes after it.
fn read_header(
    stream: &mut TcpStream,
    deadline: Instant,
    input: &mut [u8],
) -> Result<(Option<std::net::SocketAddr>, Vec<u8>), End> {
    let mut reader = HeaderReader::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let why = format!("no PROXY header within {} s", HEADER_TIME.as_secs());
            return Err(End::NoHeader(why));
        }
        stream.set_read_timeout(Some(left)).map_err(End::Socket)?;
        let read = match stream.read(input) {
            Ok(0) => {
                let why = "the connection closed before its PROXY header".to_owned();
                return Err(End::NoHeader(why));
            }
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted || is_timeout(&error) => continue,
            Err(error) => return Err(End::Socket(error)),
        };
        match reader.push(&input[..read]) {
            Header::Incomplete => {}
            Header::Bad(why) => return Err(End::NoHeader(why)),
            Header::Done { client, rest } => return Ok((client, rest)),
        }
    }
}

/// The bytes that were waiting when a worker took the connection: they
/// came at some time since the accept, so the session hears of them as
/// sent then, not as fresh.
struct Queued {
    bytes: usize,
    accepted: Instant,
}

fn run(
    stream: &mut TcpStream,
    conn: &mut Conn,
    shared: &Shared,
    mut queued: Queued,
    input: &mut [u8],
    file_buf: &mut [u8],
) -> End {
    let mut wire = Vec::new();
    loop {
        {
            // Counted busy before the shutdown flag is read: the shutdown
            // sets the flag before it waits for `busy` to fall to zero, so
            // either it waits for this reply or this reply sees the flag.
            let _busy = Busy::enter(&shared.busy);
            if shared.is_shutting_down() {
                conn.session.begin_shutdown();
            }
            conn.advance(&shared.dir, file_buf, Instant::now());
            loop {
                let sent = if conn.session.pending_output().is_empty() {
                    match send_file_some(stream, conn, file_buf, &mut wire) {
                        Some(sent) => sent,
                        None => break,
                    }
                } else {
                    write_some(stream, conn)
                };
                if let Err(error) = sent {
                    return End::Socket(error);
                }
                conn.advance(&shared.dir, file_buf, Instant::now());
            }
            if shared.is_shutting_down() {
                conn.session.begin_shutdown();
            }
        }
        if let Some(reason) = conn.session.close_reason() {
            return End::Session(reason);
        }
        if !conn.wants_read() {
            // The session has more to do without reading (input it kept
            // back); the next round does it.
            continue;
        }
        let timeout = wait_until(conn.session.poll_timeout());
        if let Err(error) = stream.set_read_timeout(timeout) {
            return End::Socket(error);
        }
        let now = Instant::now();
        match stream.read(input) {
            Ok(0) => conn.feed_eof(&shared.dir, file_buf, now),
            Ok(read) => {
                let old = read.min(queued.bytes);
                queued.bytes -= old;
                conn.feed(&input[..old], &shared.dir, file_buf, queued.accepted);
                conn.feed(&input[old..read], &shared.dir, file_buf, now);
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => conn.session.handle_timeout(now),
            Err(error) => return End::Socket(error),
        }
    }
}

/// Writes some of the session's pending output, within its deadline: a
/// peer that leaves its replies unread is closed by the session's
/// `handle_timeout`, which drops the output.
fn write_some(stream: &mut TcpStream, conn: &mut Conn) -> io::Result<()> {
    stream.set_write_timeout(wait_until(conn.session.poll_timeout()))?;
    match stream.write(conn.session.pending_output()) {
        Ok(0) => Err(ErrorKind::WriteZero.into()),
        Ok(written) => {
            conn.session.consumed(written, Instant::now());
            Ok(())
        }
        Err(error) if error.kind() == ErrorKind::Interrupted => Ok(()),
        Err(error) if is_timeout(&error) => {
            conn.session.handle_timeout(Instant::now());
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Sends some of a slice body from its file through `file_buf` and
/// `wire`, if the session asks, within its deadline, as [`write_some`]
/// writes. `wire` is allocated at the first body, so a connection that asks
/// for none does not pay for it.
fn send_file_some(
    stream: &mut TcpStream,
    conn: &mut Conn,
    file_buf: &mut [u8],
    wire: &mut Vec<u8>,
) -> Option<io::Result<()>> {
    if !matches!(conn.session.poll_action(), Some(Action::SendFile { .. })) {
        return None;
    }
    if let Err(error) = stream.set_write_timeout(wait_until(conn.session.poll_timeout())) {
        return Some(Err(error));
    }
    if wire.is_empty() {
        wire.resize(wire_len(file_buf.len()), 0);
    }
    match conn.send_file_through(stream, file_buf, wire, Instant::now())? {
        Ok(_) => Some(Ok(())),
        Err(error) if error.kind() == ErrorKind::Interrupted => Some(Ok(())),
        Err(error) if is_timeout(&error) => {
            conn.session.handle_timeout(Instant::now());
            Some(Ok(()))
        }
        Err(error) => Some(Err(error)),
    }
}

/// A socket timeout reaching `deadline`: `None` waits for ever, and a
/// deadline already past waits a moment (a zero timeout would mean none).
fn wait_until(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|deadline| {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    })
}

/// How many bytes wait unread in `stream`'s receive queue (0 if unknown:
/// the peer is then treated as having just sent them, in its favour).
fn bytes_waiting(stream: &TcpStream) -> usize {
    let mut waiting: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points
    // to `waiting`, alive for the call; the descriptor is open (borrowed
    // from `stream`).
    let done = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut waiting) };
    if done == 0 {
        usize::try_from(waiting).unwrap_or(0)
    } else {
        0
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Counts a connection as answering while it lives.
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn enter(count: &'a AtomicUsize) -> Busy<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(count)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Ends the connection after its last reply (see [`End::is_graceful`]).
fn close_gracefully(stream: &mut TcpStream, scratch: &mut [u8]) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + DRAIN_TIME;
    let mut drained = 0u64;
    while drained < DRAIN_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(scratch) {
            Ok(0) => break,
            Ok(read) => drained += read as u64,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}
