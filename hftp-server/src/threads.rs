//! The thread-pool engine, the course seed's design: a fixed pool of
//! workers, each owning one connection at a time with blocking reads and
//! writes, until it closes; one acceptor thread queueing the connections
//! of every listening socket for them.
//!
//! Kept beside the event loops for teaching and comparison: it serves
//! exactly as many clients at once as it has workers, so a pool's worth of
//! idle clients keeps everyone else waiting (HFTP.md's *Connection life*
//! forbids that; the `events` engine keeps it).
//!
//! The shutdown wakes the acceptor (a mio waker beside the listeners), so
//! it closes them and its queue: idle workers then end. A worker blocked
//! reading its client is woken by shutting its socket's read side (it
//! finishes the reply in flight, if any, and closes); a cut shuts both
//! sides, which ends any blocked write.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener as StdListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hftp_proto::Action;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::Error;
use crate::conn::{CloseCause, Conn, FILE_CHUNK_LEN, Files, wire_len};
use crate::logger;
use crate::metadata_cache::MetadataCache;
use crate::proxy::{HEADER_TIME, Header, HeaderReader};
use crate::server::{
    ACCEPT_BACKOFF, AcceptFailures, AcceptOutcome, DRAIN_BYTES, DRAIN_TIME, ServerState, Spawner,
};

/// Bytes a worker reads from its socket at once: its own buffer, so kept
/// small (an event loop's serves many connections).
const WORKER_READ_LEN: usize = 16 * 1024;
/// A worker's stack: connections keep their buffers on the heap.
const WORKER_STACK: usize = 256 * 1024;
/// Accepted connections that may wait for a worker, per worker. Beyond
/// them, new clients wait in the kernel's backlog.
const QUEUE_PER_WORKER: usize = 4;
/// A connection for the worker pool, and when it was accepted.
type Accepted = (TcpStream, Instant);
const WAKER: Token = Token(usize::MAX);

/// What the shutdown needs of a running pool: the acceptor's waker, and
/// each worker's connection, to wake a worker blocked on it.
#[derive(Debug)]
pub(crate) struct Pool {
    waker: Waker,
    /// Worker `i`'s connection, while it has one.
    serving: Vec<Mutex<Option<Arc<TcpStream>>>>,
}

impl Pool {
    /// Wakes the acceptor, which then closes the listeners and the queue,
    /// and every worker blocked reading its client.
    pub(crate) fn begin_shutdown(&self) {
        if let Err(error) = self.waker.wake() {
            log::warn!("cannot wake the acceptor: {error}");
        }
        self.shut(Shutdown::Read);
    }

    /// Closes every connection now: blocked reads and writes fail.
    pub(crate) fn cut(&self) {
        self.shut(Shutdown::Both);
    }

    fn shut(&self, how: Shutdown) {
        for slot in &self.serving {
            if let Some(stream) = &*lock(slot) {
                // Fails only for a connection already gone.
                let _ = stream.shutdown(how);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts `workers` workers and the acceptor of `listeners`.
pub(crate) fn start(
    workers: usize,
    listeners: &[StdListener],
    shared: &Arc<ServerState>,
    spawner: &mut Spawner,
    trim_heap: bool,
) -> Result<Arc<Pool>, Error> {
    let failed = |what| move |source| Error::Start { what, source };
    let poll = Poll::new().map_err(failed("the acceptor"))?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(failed("the acceptor"))?;
    let mut ours = Vec::with_capacity(listeners.len());
    for (number, listener) in listeners.iter().enumerate() {
        let listener = listener.try_clone().map_err(failed("the acceptor"))?;
        listener
            .set_nonblocking(true)
            .map_err(failed("the acceptor"))?;
        poll.registry()
            .register(
                &mut SourceFd(&listener.as_raw_fd()),
                Token(number),
                Interest::READABLE,
            )
            .map_err(failed("the acceptor"))?;
        ours.push(listener);
    }
    let pool = Arc::new(Pool {
        waker,
        serving: (0..workers).map(|_| Mutex::new(None)).collect(),
    });
    let (queue, waiting) = mpsc::sync_channel::<Accepted>(workers * QUEUE_PER_WORKER);
    let waiting = Arc::new(Mutex::new(waiting));
    let abandon = |source| {
        // What started so far stops at once.
        shared.abandon();
        pool.begin_shutdown();
        Error::Start {
            what: "the worker threads",
            source,
        }
    };
    for index in 0..workers {
        let waiting = Arc::clone(&waiting);
        let shared = Arc::clone(shared);
        let pool = Arc::clone(&pool);
        spawner
            .spawn(
                format!("hftp-worker-{index}"),
                Some(WORKER_STACK),
                move || work(index, &waiting, &shared, &pool, trim_heap),
            )
            .map_err(abandon)?;
    }
    let acceptor = Acceptor {
        poll,
        listeners: ours,
        queue,
        shared: Arc::clone(shared),
    };
    spawner
        .spawn("hftp-acceptor".to_owned(), None, move || acceptor.run())
        .map_err(abandon)?;
    Ok(pool)
}

/// Accepts from every listening socket and queues what it accepts.
struct Acceptor {
    poll: Poll,
    /// Non-blocking copies of the listening sockets.
    listeners: Vec<StdListener>,
    queue: SyncSender<Accepted>,
    shared: Arc<ServerState>,
}

impl Acceptor {
    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let mut failures = AcceptFailures::default();
        let mut paused_until: Option<Instant> = None;
        loop {
            let timeout = paused_until.map(|until| until.saturating_duration_since(Instant::now()));
            if let Err(error) = self.poll.poll(&mut events, timeout)
                && error.kind() != ErrorKind::Interrupted
            {
                log::error!("the acceptor failed: {error}");
                return;
            }
            if self.shared.is_shutting_down() {
                // The listeners and the queue close here: queued
                // connections are dropped by the workers, which then end.
                return;
            }
            if paused_until.is_some_and(|until| Instant::now() < until) {
                continue;
            }
            paused_until = None;
            // Readiness is edge-triggered: each listener is emptied, and
            // after a failure all are tried again once the pause is over.
            for listener in &self.listeners {
                loop {
                    let stream = match AcceptOutcome::from(listener.accept()) {
                        AcceptOutcome::Got((stream, _)) => stream,
                        AcceptOutcome::Drained => break,
                        AcceptOutcome::Again => continue,
                        AcceptOutcome::Failed(error) => {
                            failures.failed(&error);
                            paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                            break;
                        }
                    };
                    failures.succeeded();
                    if !self.hand_over(stream) {
                        return;
                    }
                }
            }
        }
    }

    /// Queues `stream` for a worker, waiting while every worker is busy
    /// and the queue full; false once no worker is left.
    fn hand_over(&self, stream: TcpStream) -> bool {
        // Workers block on their sockets.
        if let Err(error) = stream.set_nonblocking(false) {
            log::debug!("cannot configure an accepted socket: {error}");
            return true;
        }
        let sent = match self.queue.try_send((stream, Instant::now())) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(accepted)) => {
                log::debug!("every worker is busy and the queue full: new clients wait");
                self.queue.send(accepted).map_err(|_| ())
            }
            Err(TrySendError::Disconnected(_)) => Err(()),
        };
        if sent.is_err() {
            log::error!("no worker left to serve connections");
        }
        sent.is_ok()
    }
}

fn work(
    index: usize,
    waiting: &Mutex<Receiver<Accepted>>,
    shared: &ServerState,
    pool: &Pool,
    trim_heap: bool,
) {
    // A line per request: handed to the log writer before each wait, not
    // one at a time.
    logger::hold_lines();
    loop {
        logger::release_lines();
        // The lock is held only while waiting for the next connection.
        let next = lock(waiting).recv();
        let Ok((stream, accepted)) = next else { return };
        let stream = Arc::new(stream);
        // Registered before the shutdown flag is read: the shutdown sets
        // the flag before it looks at the slots, so either it wakes this
        // connection or the connection sees the flag.
        *lock(&pool.serving[index]) = Some(Arc::clone(&stream));
        // A bug in serving one connection must not shrink the pool.
        let served = panic::catch_unwind(AssertUnwindSafe(|| {
            serve(&stream, accepted, shared);
        }));
        *lock(&pool.serving[index]) = None;
        if served.is_err() {
            log::error!("a connection panicked; the worker goes on");
        }
        drop(stream);
        if trim_heap {
            return_freed_memory();
        }
    }
}

/// Hands the heap's free pages back to the system once a connection's
/// buffers are gone. glibc keeps them otherwise, and with many threads
/// sharing two arenas the holes add up: a 70 s, 100-client soak ended at
/// 47.6 MiB RSS (peak 64.4) without this and 37.8 MiB (peak 57.5) with it,
/// at the same request rate.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    // SAFETY: malloc_trim only releases free memory of malloc's own heaps;
    // it takes malloc's locks and touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}

/// Serves one connection, accepted at `accepted`, until it closes.
fn serve(mut stream: &TcpStream, accepted: Instant, shared: &ServerState) {
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
    let _open = shared.count_open();
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
    // Off: a cache per worker would take an inotify instance each, and a
    // user has 128 of them.
    let mut metadata = MetadataCache::off();
    let mut files = Files {
        dir: &shared.dir,
        metadata: &mut metadata,
    };
    if shared.proxy_protocol {
        match read_header(stream, accepted + HEADER_TIME, &mut input) {
            Ok((client, rest)) => {
                if let Some(client) = client {
                    conn.set_client(client);
                }
                if !rest.is_empty() {
                    // Sent at some time since the accept, as queued bytes are.
                    conn.feed(&rest, &mut files, &mut file_buf, accepted);
                }
            }
            Err(end) => {
                conn.log_end(&end);
                return;
            }
        }
    }
    let queued = Queued {
        bytes: bytes_waiting(stream),
        accepted,
    };
    let end = run(
        &mut stream,
        &mut conn,
        shared,
        &mut files,
        queued,
        &mut input,
        &mut file_buf,
    );
    let end = match end {
        CloseCause::Socket(_) if shared.is_cut() => CloseCause::Cut,
        end => end,
    };
    conn.log_end(&end);
    if end.is_graceful() {
        close_gracefully(stream, &mut input);
    }
}

/// Reads the PROXY header, by `deadline`: the client it names and the
/// bytes after it.
fn read_header(
    mut stream: &TcpStream,
    deadline: Instant,
    input: &mut [u8],
) -> Result<(Option<std::net::SocketAddr>, Vec<u8>), CloseCause> {
    let mut reader = HeaderReader::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let why = format!("no PROXY header within {} s", HEADER_TIME.as_secs());
            return Err(CloseCause::NoHeader(why));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(CloseCause::Socket)?;
        let read = match stream.read(input) {
            Ok(0) => {
                let why = "the connection closed before its PROXY header".to_owned();
                return Err(CloseCause::NoHeader(why));
            }
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted || is_timeout(&error) => continue,
            Err(error) => return Err(CloseCause::Socket(error)),
        };
        match reader.push(&input[..read]) {
            Header::Incomplete => {}
            Header::Bad(why) => return Err(CloseCause::NoHeader(why)),
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
    stream: &mut &TcpStream,
    conn: &mut Conn,
    shared: &ServerState,
    files: &mut Files<'_>,
    mut queued: Queued,
    input: &mut [u8],
    file_buf: &mut [u8],
) -> CloseCause {
    let mut wire = Vec::new();
    loop {
        if shared.is_shutting_down() {
            conn.session.begin_shutdown();
        }
        conn.advance(files, file_buf, Instant::now());
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
                return CloseCause::Socket(error);
            }
            conn.advance(files, file_buf, Instant::now());
        }
        if shared.is_shutting_down() {
            conn.session.begin_shutdown();
        }
        if let Some(reason) = conn.session.close_reason() {
            return CloseCause::Session(reason);
        }
        if !conn.wants_read() {
            // The session has more to do without reading (input it kept
            // back); the next round does it.
            continue;
        }
        let timeout = wait_until(conn.session.poll_timeout());
        if let Err(error) = stream.set_read_timeout(timeout) {
            return CloseCause::Socket(error);
        }
        logger::release_lines();
        let read = stream.read(input);
        let now = Instant::now();
        match read {
            // The shutdown shut the read side to wake this worker.
            Ok(0) if shared.is_shutting_down() => conn.session.begin_shutdown(),
            Ok(0) => conn.feed_eof(files, file_buf, now),
            Ok(read) => {
                let old = read.min(queued.bytes);
                queued.bytes -= old;
                conn.feed(&input[..old], files, file_buf, queued.accepted);
                conn.feed(&input[old..read], files, file_buf, now);
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => conn.session.handle_timeout(now),
            Err(error) => return CloseCause::Socket(error),
        }
    }
}

/// Writes some of the session's pending output, within its deadline: a
/// peer that leaves its replies unread is closed by the session's
/// `handle_timeout`, which drops the output.
fn write_some(mut stream: &TcpStream, conn: &mut Conn) -> io::Result<()> {
    // Lines held are not held through a wait on a stalled client.
    logger::release_lines();
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
    stream: &mut &TcpStream,
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

/// Ends the connection after its last reply (see [`CloseCause::is_graceful`]).
fn close_gracefully(mut stream: &TcpStream, scratch: &mut [u8]) {
    logger::release_lines();
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
