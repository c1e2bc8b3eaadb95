//! The event-driven engine, the default: a few event-loop threads, each
//! serving many connections over non-blocking sockets (mio, so epoll on
//! Linux).
//!
//! A connection costs its session and socket, and the input its session
//! has not taken yet: socket reads, file reads and a slice body's wire
//! bytes go through buffers of the loop, shared by its connections. Every
//! loop accepts from the server's listening sockets and shares out what
//! it accepts. A connection's turn
//! reads at most once and writes at most [`TURN_BYTES`] before the loop
//! serves the others, so neither one client's 10 GiB slice nor a client
//! that pipelines as fast as it is answered stalls the rest of its loop.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hftp_proto::Action;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::conn::{CloseCause, Conn, Files, LOOP_CHUNK_LEN, READ_LEN};
use crate::metadata_cache::MetadataCache;
use crate::proxy::{HEADER_TIME, Header, HeaderReader};
use crate::server::{
    ACCEPT_BACKOFF, AcceptFailures, AcceptOutcome, Counted, DRAIN_BYTES, DRAIN_TIME, ServerState,
};

/// Bytes one connection may write in one turn before the loop moves on to
/// the others (and it reads at most once a turn).
const TURN_BYTES: usize = 1024 * 1024;
/// How often timeouts are checked: idle timeouts are whole seconds, and a
/// sweep of every connection costs a comparison each.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
const WAKER: Token = Token(usize::MAX);
/// Listening sockets take the tokens below the waker's, connections the
/// slab's keys from 0: the two never meet.
const FIRST_LISTENER: usize = usize::MAX - 1;

/// How the loops share out the connections they accept: round robin, so
/// that every loop (every core) gets its part whichever loop woke first.
#[derive(Debug)]
pub(crate) struct Handoff {
    /// Connections accepted for each loop, not taken by it yet.
    inboxes: Vec<Mutex<Vec<(TcpStream, SocketAddr)>>>,
    wakers: Vec<Waker>,
    next: AtomicUsize,
}

impl Handoff {
    /// The hand-off between loops that `wakers` wake, in loop order.
    pub(crate) fn new(wakers: Vec<Waker>) -> Handoff {
        Handoff {
            inboxes: wakers.iter().map(|_| Mutex::new(Vec::new())).collect(),
            wakers,
            next: AtomicUsize::new(0),
        }
    }

    /// Wakes every loop (for the shutdown).
    pub(crate) fn wake_all(&self) {
        for waker in &self.wakers {
            if let Err(error) = waker.wake() {
                log::warn!("cannot wake an event loop: {error}");
            }
        }
    }

    /// The loop the next accepted connection goes to.
    fn next_loop(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.wakers.len()
    }

    fn give(&self, to: usize, stream: TcpStream, peer: SocketAddr) {
        self.inboxes[to]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((stream, peer));
        if let Err(error) = self.wakers[to].wake() {
            log::warn!("cannot wake an event loop: {error}");
        }
    }

    fn take(&self, of: usize) -> Vec<(TcpStream, SocketAddr)> {
        std::mem::take(
            &mut *self.inboxes[of]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

/// An event loop, made on the thread that starts the server (so that it
/// can be woken for the shutdown) and run on a thread of its own.
#[derive(Debug)]
pub(crate) struct EventLoop {
    /// Which loop this is, in the [`Handoff`].
    index: usize,
    poll: Poll,
    /// Empty once the loop is shutting down.
    listeners: Vec<TcpListener>,
    shared: Arc<ServerState>,
    conns: Slab<Connection>,
    /// Connections whose turn ended with work left.
    ready: Vec<usize>,
    /// Accepting failed (out of descriptors, say): try again then.
    accept_paused_until: Option<Instant>,
    accept_failures: AcceptFailures,
    buffers: Buffers,
    /// The `get_metadata` answers of this loop's connections.
    metadata: MetadataCache,
}

/// A loop's buffers, which serve each of its connections in turn.
#[derive(Debug)]
struct Buffers {
    /// Socket reads.
    input: Vec<u8>,
    /// File reads of a slice.
    file_buf: Vec<u8>,
    /// A slice body's wire bytes made from `file_buf`, written to the
    /// socket from here.
    wire: Vec<u8>,
}

/// One connection of a loop.
#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    conn: Conn,
    /// What readiness the last events showed and no read or write has used
    /// up yet (mio's events are edge-triggered).
    readable: bool,
    writable: bool,
    /// Set once the last reply is sent: the write side is shut and the
    /// peer's last bytes are read and dropped until then.
    closing: Option<Closing>,
    /// `--proxy-protocol`: the PROXY header still being read, and by when
    /// it must be whole. The session sees nothing before it is.
    header: Option<(HeaderReader, Instant)>,
    _open: Counted,
}

#[derive(Debug)]
struct Closing {
    until: Instant,
    drained: u64,
}

/// What a connection's turn leaves to do.
enum Turn {
    /// Wait for the socket.
    Wait,
    /// Work is left: come back after the others had their turn.
    More,
    /// The connection is over (and closing gracefully, if the session ended
    /// it).
    Close(CloseCause),
    /// Gone: drop it.
    Drop,
}

impl EventLoop {
    /// A loop accepting from `listener`, and the waker that interrupts its
    /// wait (for the shutdown).
    pub(crate) fn new(
        index: usize,
        listeners: &[StdListener],
        shared: Arc<ServerState>,
    ) -> io::Result<(EventLoop, Waker)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let mut ours = Vec::with_capacity(listeners.len());
        for (number, listener) in listeners.iter().enumerate() {
            let listener = listener.try_clone()?;
            listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(listener);
            poll.registry().register(
                &mut listener,
                Token(FIRST_LISTENER - number),
                Interest::READABLE,
            )?;
            ours.push(listener);
        }
        let event_loop = EventLoop {
            index,
            poll,
            listeners: ours,
            shared: Arc::clone(&shared),
            conns: Slab::new(),
            ready: Vec::new(),
            accept_paused_until: None,
            accept_failures: AcceptFailures::default(),
            buffers: Buffers {
                input: vec![0; READ_LEN],
                file_buf: vec![0; LOOP_CHUNK_LEN],
                wire: vec![0; LOOP_CHUNK_LEN],
            },
            metadata: if shared.metadata_cache {
                MetadataCache::for_dir(shared.dir.path())
            } else {
                MetadataCache::off()
            },
        };
        Ok((event_loop, waker))
    }

    /// Serves until the shutdown, then until its connections have closed.
    pub(crate) fn run(mut self, handoff: &Handoff) {
        // A line per request: handed to the log writer once per round,
        // not one at a time.
        crate::logger::hold_lines();
        self.serve(handoff);
        crate::logger::release_lines();
    }

    fn serve(&mut self, handoff: &Handoff) {
        let mut events = Events::with_capacity(1024);
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        loop {
            let now = Instant::now();
            let mut wake_at = next_sweep;
            if let Some(paused) = self.accept_paused_until {
                wake_at = wake_at.min(paused);
            }
            let timeout = if self.ready.is_empty() {
                wake_at.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            crate::logger::release_lines();
            if let Err(error) = self.poll.poll(&mut events, Some(timeout))
                && error.kind() != ErrorKind::Interrupted
            {
                log::error!("event loop failed: {error}");
                return;
            }
            let now = Instant::now();
            if self.shared.is_cut() {
                self.cut();
                return;
            }
            for event in &events {
                match event.token() {
                    Token(token)
                        if token > FIRST_LISTENER - self.listeners.len() && token != WAKER.0 =>
                    {
                        self.accept(FIRST_LISTENER - token, handoff, now);
                    }
                    WAKER => {
                        for (stream, peer) in handoff.take(self.index) {
                            self.insert(stream, peer, now);
                        }
                    }
                    Token(key) => {
                        if let Some(connection) = self.conns.get_mut(key) {
                            connection.readable |=
                                event.is_readable() || event.is_read_closed() || event.is_error();
                            connection.writable |=
                                event.is_writable() || event.is_write_closed() || event.is_error();
                        }
                        self.drive(key, now);
                    }
                }
            }
            for key in std::mem::take(&mut self.ready) {
                self.drive(key, now);
            }
            if self.accept_paused_until.is_some_and(|until| now >= until) {
                self.accept_paused_until = None;
                for number in 0..self.listeners.len() {
                    self.accept(number, handoff, now);
                }
            }
            if self.shared.is_shutting_down() && !self.listeners.is_empty() {
                self.begin_shutdown(now);
            }
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP_EVERY;
            }
            if self.listeners.is_empty() && self.conns.is_empty() {
                return;
            }
        }
    }

    /// Accepts what listener `number` has queued.
    fn accept(&mut self, number: usize, handoff: &Handoff, now: Instant) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listeners.get(number) else {
                return;
            };
            let (stream, peer) = match AcceptOutcome::from(listener.accept()) {
                AcceptOutcome::Got(accepted) => accepted,
                AcceptOutcome::Drained => break,
                AcceptOutcome::Again => continue,
                AcceptOutcome::Failed(error) => {
                    self.accept_failures.failed(&error);
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            };
            self.accept_failures.succeeded();
            match handoff.next_loop() {
                to if to == self.index => self.insert(stream, peer, now),
                to => handoff.give(to, stream, peer),
            }
        }
    }

    /// Starts serving a connection accepted at `now`.
    fn insert(&mut self, mut stream: TcpStream, peer: SocketAddr, now: Instant) {
        if self.listeners.is_empty() {
            // Shutting down: handed over too late.
            return;
        }
        // Replies are written whole; Nagle would only delay the last piece.
        if let Err(error) = stream.set_nodelay(true) {
            log::debug!("{peer}: cannot configure the socket: {error}");
            return;
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(error) = self.poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("{peer}: cannot watch the socket: {error}");
            return;
        }
        entry.insert(Connection {
            stream,
            conn: Conn::new(self.shared.session, peer, now),
            readable: false,
            writable: false,
            closing: None,
            header: self
                .shared
                .proxy_protocol
                .then(|| (HeaderReader::default(), now + HEADER_TIME)),
            _open: self.shared.count_open(),
        });
    }

    /// Gives connection `key` its turn and acts on what it leaves.
    fn drive(&mut self, key: usize, now: Instant) {
        let Some(connection) = self.conns.get_mut(key) else {
            return;
        };
        let turn = connection.turn(&self.shared, &mut self.buffers, &mut self.metadata, now);
        match turn {
            Turn::Wait => {}
            Turn::More => self.ready.push(key),
            Turn::Close(end) => {
                connection.conn.log_end(&end);
                let graceful =
                    end.is_graceful() && connection.stream.shutdown(Shutdown::Write).is_ok();
                if graceful {
                    connection.closing = Some(Closing {
                        until: now + DRAIN_TIME,
                        drained: 0,
                    });
                    // The peer may have sent its last bytes already.
                    self.drive(key, now);
                } else {
                    self.remove(key);
                }
            }
            Turn::Drop => self.remove(key),
        }
    }

    fn remove(&mut self, key: usize) {
        if let Some(mut connection) = self.conns.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut connection.stream);
        }
    }

    /// Closes the connections whose time is up.
    fn sweep(&mut self, now: Instant) {
        let mut due = Vec::new();
        let mut late = Vec::new();
        for (key, connection) in &mut self.conns {
            match &connection.closing {
                Some(closing) if now >= closing.until => due.push(key),
                Some(_) => {}
                None if connection.header.is_some() => {
                    if connection.header.as_ref().is_some_and(|(_, by)| now >= *by) {
                        late.push(key);
                    }
                }
                None => {
                    if connection
                        .conn
                        .session
                        .poll_timeout()
                        .is_some_and(|deadline| now >= deadline)
                    {
                        connection.conn.session.handle_timeout(now);
                        due.push(key);
                    }
                }
            }
        }
        for key in late {
            if let Some(connection) = self.conns.get_mut(key) {
                let why = format!("no PROXY header within {} s", HEADER_TIME.as_secs());
                connection.conn.log_end(&CloseCause::NoHeader(why));
            }
            self.remove(key);
        }
        for key in due {
            if self.conns.get(key).is_some_and(|c| c.closing.is_some()) {
                self.remove(key);
            } else {
                self.drive(key, now);
            }
        }
        if self.conns.capacity() > 2 * self.conns.len() + 1024 {
            self.conns.shrink_to_fit();
        }
    }

    /// Closes every connection now, logging the replies it cuts short.
    fn cut(&mut self) {
        for mut connection in self.conns.drain() {
            if connection.closing.is_none() {
                connection.conn.log_end(&CloseCause::Cut);
            }
            let _ = self.poll.registry().deregister(&mut connection.stream);
        }
        self.listeners.clear();
    }

    /// Stops accepting and lets every connection finish the reply it is
    /// sending, then close.
    fn begin_shutdown(&mut self, now: Instant) {
        for mut listener in std::mem::take(&mut self.listeners) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(connection) = self.conns.get_mut(key) {
                connection.conn.session.begin_shutdown();
            }
            self.drive(key, now);
        }
    }
}

impl Connection {
    /// Moves the connection along as far as its socket allows, reading at
    /// most once and writing at most [`TURN_BYTES`].
    fn turn(
        &mut self,
        shared: &ServerState,
        buffers: &mut Buffers,
        metadata: &mut MetadataCache,
        now: Instant,
    ) -> Turn {
        let Buffers {
            input,
            file_buf,
            wire,
        } = buffers;
        if let Some(closing) = &mut self.closing {
            return drain(&mut self.stream, closing, &mut self.readable, input);
        }
        let files = &mut Files {
            dir: &shared.dir,
            metadata,
        };
        if self.header.is_some()
            && let Some(turn) = self.read_header(files, input, file_buf, now)
        {
            return turn;
        }
        let conn = &mut self.conn;
        let mut moved = 0;
        let mut has_read = false;
        loop {
            conn.advance(files, file_buf, now);
            while self.writable {
                // A write the socket took only part of found its buffer
                // full: writing again before it drains (which raises a new
                // edge) would only cost a system call, and for a slice a
                // file read and an encoding too, to learn that it would
                // block.
                let written = if conn.session.pending_output().is_empty() {
                    match conn.send_file_through(&mut self.stream, file_buf, wire, now) {
                        Some(sent) => sent.map(|sent| {
                            self.writable = !sent.socket_full;
                            usize::try_from(sent.bytes).unwrap_or(usize::MAX)
                        }),
                        None => break,
                    }
                } else {
                    let pending = conn.session.pending_output();
                    match self.stream.write(pending) {
                        Ok(0) => Err(ErrorKind::WriteZero.into()),
                        Ok(written) => {
                            self.writable = written == pending.len();
                            conn.session.consumed(written, now);
                            Ok(written)
                        }
                        Err(error) => Err(error),
                    }
                };
                match written {
                    Ok(written) => {
                        conn.advance(files, file_buf, now);
                        moved += written;
                        if moved >= TURN_BYTES {
                            return Turn::More;
                        }
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => self.writable = false,
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(error) => return Turn::Close(CloseCause::Socket(error)),
                }
            }
            if let Some(reason) = conn.session.close_reason()
                && conn.session.is_finished()
            {
                return Turn::Close(CloseCause::Session(reason));
            }
            let sending = !conn.session.pending_output().is_empty()
                || matches!(conn.session.poll_action(), Some(Action::SendFile { .. }));
            if sending || !self.readable || !conn.wants_read() {
                return Turn::Wait;
            }
            if has_read {
                // One read a turn: a client that sends its next requests
                // as fast as it gets its replies would otherwise keep the
                // loop to itself while the others wait.
                return Turn::More;
            }
            match self.stream.read(input) {
                Ok(0) => conn.feed_eof(files, file_buf, now),
                Ok(read) => {
                    // A short read leaves `readable` set, unlike a short
                    // write: the read it costs next turn often finds the
                    // client's next requests, sent while the others had
                    // their turn, without a round through epoll (the
                    // bench's 50 connections were 4-10% slower when a short
                    // read cleared it).
                    conn.feed(&input[..read], files, file_buf, now);
                    has_read = true;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => self.readable = false,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Turn::Close(CloseCause::Socket(error)),
            }
        }
    }
}

impl Connection {
    /// Reads the PROXY header as far as the socket allows: `None` once it
    /// is whole (and what followed it fed to the session), else what the
    /// turn ends with.
    fn read_header(
        &mut self,
        files: &mut Files<'_>,
        input: &mut [u8],
        file_buf: &mut [u8],
        now: Instant,
    ) -> Option<Turn> {
        if let Some(reason) = self.conn.session.close_reason() {
            return Some(Turn::Close(CloseCause::Session(reason)));
        }
        let (reader, _) = self.header.as_mut()?;
        loop {
            if !self.readable {
                return Some(Turn::Wait);
            }
            let read = match self.stream.read(input) {
                Ok(0) => {
                    let why = "the connection closed before its PROXY header".to_owned();
                    return Some(Turn::Close(CloseCause::NoHeader(why)));
                }
                Ok(read) => read,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    self.readable = false;
                    continue;
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Some(Turn::Close(CloseCause::Socket(error))),
            };
            match reader.push(&input[..read]) {
                Header::Incomplete => {}
                Header::Bad(why) => return Some(Turn::Close(CloseCause::NoHeader(why))),
                Header::Done { client, rest } => {
                    self.header = None;
                    if let Some(client) = client {
                        self.conn.set_client(client);
                    }
                    if !rest.is_empty() {
                        self.conn.feed(&rest, files, file_buf, now);
                    }
                    return None;
                }
            }
        }
    }
}

/// Reads and drops what a closing connection's peer still sends (see
/// [`CloseCause::is_graceful`]).
fn drain(
    stream: &mut TcpStream,
    closing: &mut Closing,
    readable: &mut bool,
    scratch: &mut [u8],
) -> Turn {
    if !*readable {
        return Turn::Wait;
    }
    loop {
        match stream.read(scratch) {
            Ok(0) => return Turn::Drop,
            Ok(read) => {
                closing.drained += read as u64;
                if closing.drained >= DRAIN_BYTES {
                    return Turn::Drop;
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                *readable = false;
                return Turn::Wait;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Turn::Drop,
        }
    }
}
