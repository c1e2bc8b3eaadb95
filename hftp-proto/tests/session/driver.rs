//! The fake driver: runs a [`ServerSession`] the way a server's loop does
//! (input, actions, output, log, time), against an in-memory directory, an
//! in-memory peer and a simulated clock. No socket, file, thread or sleep.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::time::{Duration, Instant};

use hftp_proto::*;

/// A loop that makes progress this many times without settling is stuck.
const MAX_STEPS: usize = 1 << 24;

/// The served directory: each name's bytes, and what a lookup of a name
/// finds when it is not simply a readable file of that length.
#[derive(Debug, Clone, Default)]
pub struct FakeDir {
    pub files: BTreeMap<String, Vec<u8>>,
    /// What a lookup (the `stat` or the `open`) finds instead: a locked
    /// file, a directory, a failure, or a size the bytes no longer have
    /// (the file shrank after it was looked at).
    pub overrides: BTreeMap<String, Result<Entry, io::ErrorKind>>,
    /// Reads from this offset on fail, as a disk error would.
    pub reads_fail_from: Option<u64>,
    /// Reading the directory itself fails.
    pub listing_error: Option<io::ErrorKind>,
}

impl FakeDir {
    pub fn with(files: &[(&str, &[u8])]) -> FakeDir {
        FakeDir {
            files: files
                .iter()
                .map(|(name, data)| (name.to_string(), data.to_vec()))
                .collect(),
            ..FakeDir::default()
        }
    }

    pub fn lookup(&self, name: &str) -> Result<Entry, io::Error> {
        if let Some(found) = self.overrides.get(name) {
            return found.map_err(io::Error::from);
        }
        match self.files.get(name) {
            Some(data) => Ok(Entry::File {
                size: data.len() as u64,
                mode: 0o644,
                readable: true,
            }),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    /// Lists what a lookup finds to be a file, as a server does.
    pub fn listing(&self, show_hidden: bool) -> Result<Listing, io::Error> {
        if let Some(kind) = self.listing_error {
            return Err(kind.into());
        }
        let mut builder = ListingBuilder::new(show_hidden);
        let names: BTreeSet<&String> = self.files.keys().chain(self.overrides.keys()).collect();
        for name in names {
            let is_file = matches!(self.lookup(name), Ok(Entry::File { .. }));
            if is_file && builder.wants(name.as_bytes()) {
                builder.push(name.as_bytes());
            }
        }
        Ok(builder.finish())
    }

    fn read(&self, name: &str, offset: u64, len: usize) -> Result<&[u8], io::Error> {
        let data = self.files.get(name).map_or(&[][..], Vec::as_slice);
        let mut end = offset.saturating_add(len as u64);
        if let Some(failing) = self.reads_fail_from {
            if offset >= failing {
                return Err(io::ErrorKind::Other.into());
            }
            end = end.min(failing);
        }
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = usize::try_from(end).unwrap_or(usize::MAX).min(data.len());
        Ok(&data[start..end])
    }
}

/// One connection: the session, the server's side of the socket and the
/// files, and the peer at the other end.
///
/// The peer's side is what a test drives: [`send`](Driver::send),
/// [`shutdown_write`](Driver::shutdown_write), how much it reads
/// ([`window`](Driver::window)), and the clock ([`advance`](Driver::advance)).
/// Each of these runs the server's loop until it settles, checking on the
/// way what a real driver relies on (a `Read` fits the output's room,
/// reads follow each other, nothing is taken that was not offered).
#[derive(Debug)]
pub struct Driver {
    pub session: ServerSession,
    pub dir: FakeDir,
    pub now: Instant,
    /// Everything the peer sent: the driver has read `read` bytes of it from
    /// the socket, of which the session took `taken`; it holds the rest.
    sent: Vec<u8>,
    read: usize,
    taken: usize,
    peer_closed: bool,
    eof_given: bool,
    /// The sizes of the driver's successive socket reads, cycled.
    pub read_sizes: Vec<usize>,
    reads: usize,
    /// The most the socket takes in each successive write, cycled.
    pub write_sizes: Vec<usize>,
    writes: usize,
    /// The most bytes one file read returns (short reads are allowed).
    pub file_read_cap: usize,
    /// How many more bytes the peer's socket accepts: once 0, the peer
    /// reads nothing more and writes block.
    pub window: usize,
    /// Whether `received` and `answered` keep what comes: a memory test
    /// drops it, so that only the session's heap is measured.
    pub keep: bool,
    pub received: Vec<u8>,
    pub answered: Vec<Answered>,
    /// How many actions the driver carried out.
    pub actions: usize,
    /// The file kept open for the slice in progress, and where the next
    /// read must start.
    open: Option<(FileName, Option<u64>)>,
    /// The driver's buffer for a slice body's wire bytes (see
    /// `ServerSession::body_chunk`): its size is a test's to choose.
    pub wire: Vec<u8>,
    /// The most unsent output the session held at any point.
    pub max_pending: usize,
    /// The driver closed the connection (the session was finished).
    pub closed: bool,
}

impl Driver {
    pub fn new(config: SessionConfig, dir: FakeDir) -> Driver {
        let now = Instant::now();
        Driver {
            session: ServerSession::new(config, now),
            dir,
            now,
            sent: Vec::new(),
            read: 0,
            taken: 0,
            peer_closed: false,
            eof_given: false,
            read_sizes: vec![usize::MAX],
            reads: 0,
            write_sizes: vec![usize::MAX],
            writes: 0,
            file_read_cap: usize::MAX,
            window: usize::MAX,
            keep: true,
            received: Vec::new(),
            answered: Vec::new(),
            actions: 0,
            open: None,
            wire: vec![0; 4098],
            max_pending: 0,
            closed: false,
        }
    }

    /// The default settings, hidden names off.
    pub fn config() -> SessionConfig {
        SessionConfig {
            idle_timeout: Duration::from_secs(60),
            show_hidden: false,
        }
    }

    /// The peer sends `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.queue(bytes);
        self.run();
    }

    /// Puts `bytes` on the wire without running the loop, so that a memory
    /// test can set up before it measures.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.sent.extend_from_slice(bytes);
    }

    /// The peer closes its sending side.
    pub fn shutdown_write(&mut self) {
        self.peer_closed = true;
        self.run();
    }

    /// The peer's socket accepts `n` more bytes.
    pub fn open_window(&mut self, n: usize) {
        self.window = self.window.saturating_add(n);
        self.run();
    }

    /// The server starts shutting down.
    pub fn begin_shutdown(&mut self) {
        self.session.begin_shutdown();
        self.run();
    }

    /// The clock moves on by `by`; the driver wakes as a real one does: its
    /// loop runs (offering what it holds again), then its timer fires if due.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.run();
        if self
            .session
            .poll_timeout()
            .is_some_and(|deadline| deadline <= self.now)
        {
            self.session.handle_timeout(self.now);
        }
        self.run();
    }

    /// Bytes the peer sent that the session has not taken.
    pub fn unread(&self) -> usize {
        self.sent.len() - self.taken
    }

    /// Runs the loop until nothing more happens.
    pub fn run(&mut self) {
        for _ in 0..MAX_STEPS {
            if self.closed || !self.step() {
                return;
            }
        }
        panic!("the driver loop never settled");
    }

    /// One turn of the loop; whether anything happened.
    fn step(&mut self) -> bool {
        let mut progress = self.input();
        self.note_pending();
        progress |= self.carry_out_actions();
        self.note_pending();
        progress |= self.output();
        self.note_pending();
        while let Some(record) = self.session.poll_answered() {
            if self.keep {
                self.answered.push(record);
            }
            progress = true;
        }
        if self.session.is_finished() {
            assert!(
                self.session.poll_timeout().is_none(),
                "a finished session asks for no timer"
            );
            self.closed = true;
            progress = true;
        }
        progress
    }

    fn note_pending(&mut self) {
        self.max_pending = self.max_pending.max(self.session.pending_output().len());
    }

    /// Offers what the driver holds; once the session took it all, reads
    /// more if the session wants it, or learns of the peer's end.
    fn input(&mut self) -> bool {
        let mut progress = false;
        if self.taken == self.read && self.session.wants_read() && self.read < self.sent.len() {
            let size = self.read_sizes[self.reads % self.read_sizes.len()];
            self.reads += 1;
            self.read += size.min(self.sent.len() - self.read);
            progress = true;
        }
        if self.taken < self.read {
            let held = &self.sent[self.taken..self.read];
            let taken = self.session.handle_input(held, self.now);
            assert!(taken <= held.len(), "the session took more than offered");
            self.taken += taken;
            progress |= taken > 0;
        } else if self.peer_closed
            && !self.eof_given
            && self.read == self.sent.len()
            && self.session.wants_read()
        {
            // A real driver reads 0 bytes here: the peer's end.
            self.session.handle_eof();
            self.eof_given = true;
            progress = true;
        }
        progress
    }

    fn carry_out_actions(&mut self) -> bool {
        let mut progress = false;
        while let Some(action) = self.session.poll_action() {
            self.actions += 1;
            progress = true;
            match action {
                Action::List => {
                    let listing = self.dir.listing(self.session.config().show_hidden);
                    self.session.handle_listing(listing);
                }
                Action::Metadata(name) => {
                    let lookup = self.dir.lookup(name.as_str());
                    self.session.handle_metadata(lookup);
                }
                Action::Open(name) => {
                    let lookup = self.dir.lookup(name.as_str());
                    let keep = self.session.handle_open(lookup);
                    self.open = keep.then_some((name, None));
                }
                Action::Read { offset, len } => self.read_file(offset, len),
                Action::SendFile { offset, len } => {
                    if !self.send_file(offset, len) {
                        // The socket takes nothing now: wait until it does.
                        progress = false;
                        break;
                    }
                }
            }
        }
        progress
    }

    fn read_file(&mut self, offset: u64, len: usize) {
        let Some((name, next)) = &mut self.open else {
            panic!("a Read while no file is kept open");
        };
        assert!(len > 0, "a Read of 0 bytes");
        if let Some(next) = next {
            assert_eq!(offset, *next, "reads follow each other");
        }
        let room = OUTPUT_LIMIT.saturating_sub(self.session.pending_output().len());
        assert!(
            len / 3 * 4 <= room,
            "a Read of {len} bytes with room for {room} bytes of output"
        );
        let read = self
            .dir
            .read(name.as_str(), offset, len.min(self.file_read_cap));
        *next = Some(offset + read.as_ref().map_or(0, |data| data.len() as u64));
        if !self.session.handle_read(read) {
            self.open = None;
        }
    }

    /// Sends the next chunk of a slice body as a real driver does: reads
    /// the file into its buffer, has the session make the chunk in `wire`,
    /// and writes as much as the socket takes (the file ended when the
    /// chunk is empty). Returns false, sending nothing, when the socket
    /// takes nothing now.
    fn send_file(&mut self, offset: u64, len: u64) -> bool {
        let Some((name, next)) = &mut self.open else {
            panic!("a SendFile while no file is kept open");
        };
        assert!(len > 0, "a SendFile of 0 bytes");
        assert!(
            self.session.pending_output().is_empty(),
            "a SendFile while output is pending"
        );
        if let Some(next) = next {
            // A base64 body starts again at a group it sent in part.
            assert!(offset + 2 >= *next, "sends follow each other");
        }
        let size = self.write_sizes[self.writes % self.write_sizes.len()];
        if size.min(self.window) == 0 {
            return false;
        }
        // A file read is short only at the end of the file, which the
        // session relies on for base64 (a group is three bytes).
        let want = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(self.file_read_cap.max(3));
        let read = self.dir.read(name.as_str(), offset, want).unwrap_or(&[]);
        let chunk = self.session.body_chunk(read, &mut self.wire);
        let n = chunk.len().min(size).min(self.window);
        self.writes += 1;
        if self.keep {
            self.received.extend_from_slice(&chunk[..n]);
        }
        self.window -= n;
        *next = Some(offset);
        if !self.session.handle_sent(n as u64, self.now) {
            self.open = None;
        }
        true
    }

    fn output(&mut self) -> bool {
        let pending = self.session.pending_output();
        let size = self.write_sizes[self.writes % self.write_sizes.len()];
        let n = pending.len().min(size).min(self.window);
        if n == 0 {
            return false;
        }
        self.writes += 1;
        if self.keep {
            self.received.extend_from_slice(&pending[..n]);
        }
        self.window -= n;
        self.session.consumed(n, self.now);
        true
    }
}
