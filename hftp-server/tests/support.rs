//! Shared helpers: start the server, talk to it, decode its replies.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use hftp_proto::{FileName, ReplyEvent, Request, Status};
use hftp_test_support::{ReplyFailure, ReplyReader, ServerProcess, socket};
pub use hftp_test_support::{noise, wire, wire_all};
use tempfile::TempDir;
use wait_timeout::ChildExt;

/// How long a test waits for any one read before it fails instead of
/// hanging. Not a synchronisation: nothing is expected to take this long.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const BIN: &str = env!("CARGO_BIN_EXE_hftp-server");

/// The engine the suite runs against: `HFTP_TEST_ENGINE` (`events` or
/// `threads`; `cargo xtask ci` runs the suite once with each), else the
/// server's default.
fn engine_args() -> Vec<String> {
    match std::env::var("HFTP_TEST_ENGINE") {
        Ok(engine) if !engine.is_empty() => vec!["--engine".into(), engine],
        _ => Vec::new(),
    }
}

/// A running server over a temporary directory; killed on drop.
pub struct Server {
    process: ServerProcess,
    pub addr: SocketAddr,
    /// The served directory.
    pub dir: PathBuf,
    _served: Option<TempDir>,
    logs: TempDir,
}

impl Server {
    /// A server of a fresh, empty temporary directory.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A server of a fresh temporary directory, with extra options.
    pub fn start_with(args: &[&str]) -> Server {
        let served = tempfile::tempdir().expect("a temporary directory");
        let dir = served.path().to_owned();
        let mut server = Server::serve(&dir, args);
        server._served = Some(served);
        server
    }

    /// A server of `dir`, which the caller keeps.
    pub fn serve(dir: &Path, args: &[&str]) -> Server {
        Server::serve_logging_to(dir, args, None)
    }

    /// A server of a fresh temporary directory whose stderr is a pipe that
    /// nobody reads (so it fills up after 64 KiB of log).
    pub fn start_with_unread_stderr(args: &[&str]) -> Server {
        let served = tempfile::tempdir().expect("a temporary directory");
        let dir = served.path().to_owned();
        let mut server = Server::serve_logging_to(&dir, args, Some(Stdio::piped()));
        server._served = Some(served);
        server
    }

    /// A server of `dir` logging to `stderr`, or to a file [`stderr`]
    /// reads.
    fn serve_logging_to(dir: &Path, args: &[&str], stderr: Option<Stdio>) -> Server {
        let logs = tempfile::tempdir().expect("a temporary directory");
        let stderr = stderr.unwrap_or_else(|| {
            fs::File::create(logs.path().join("stderr"))
                .expect("a log file")
                .into()
        });
        // Loopback and a free port, unless the test says otherwise.
        let mut defaults = Vec::new();
        for (flag, value) in [("-a", "127.0.0.1"), ("-p", "0")] {
            if !args.contains(&flag) {
                defaults.extend([flag, value]);
            }
        }
        let mut command = Command::new(BIN);
        command
            .args(defaults)
            .arg("-d")
            .arg(dir)
            .args(engine_args())
            .args(args)
            .stderr(stderr);
        let process = ServerProcess::start(&mut command, PATIENCE).unwrap_or_else(|error| {
            panic!(
                "{error}; stderr: {}",
                fs::read_to_string(logs.path().join("stderr")).unwrap_or_default()
            )
        });
        Server {
            addr: process.addr(),
            process,
            dir: dir.to_owned(),
            _served: None,
            logs,
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits until the server's log holds `needle` at least `count` times
    /// (bounded by [`PATIENCE`]): for events only the log shows, such as
    /// a connection the server cut.
    pub fn wait_for_log(&self, needle: &str, count: usize) {
        let deadline = std::time::Instant::now() + PATIENCE;
        while self.stderr().matches(needle).count() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "no {count} × {needle:?} in the log: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        let bytes = fs::read(self.logs.path().join("stderr")).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Writes `content` to `name` in the served directory.
    pub fn file(&self, name: &str, content: impl AsRef<[u8]>) {
        fs::write(self.dir.join(name), content).expect("a file in the served directory");
    }

    /// A line of `/proc/PID/status` in KiB, e.g. `VmHWM`.
    pub fn memory_kib(&self, field: &str) -> u64 {
        self.process
            .memory_kib(field)
            .unwrap_or_else(|error| panic!("the server's /proc status: {error}"))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.pid()).expect("a pid");
        // SAFETY: `kill` has no memory-safety preconditions.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill: {}", io::Error::last_os_error());
    }

    /// Waits for the process to exit (bounded by [`PATIENCE`]).
    pub fn wait(&mut self) -> ExitStatus {
        match self
            .process
            .child()
            .wait_timeout(PATIENCE)
            .expect("waiting for the server")
        {
            Some(status) => status,
            None => panic!("the server did not exit; stderr: {}", self.stderr()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.kill();
        if std::thread::panicking() {
            eprintln!("--- server stderr ---\n{}", self.stderr());
        }
    }
}

/// What a reply said, decoded by `hftp_proto::ReplyDecoder`.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// A status without a body (any refusal, and `quit`'s `0 OK`).
    Status(Status),
    Listing(Vec<String>),
    Size(u64),
    Data(Vec<u8>),
}

/// A test client over one connection.
pub struct Client {
    pub stream: TcpStream,
    /// Bytes received but not yet decoded.
    pending: ReplyReader,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("a read timeout");
        stream
            .set_write_timeout(Some(PATIENCE))
            .expect("a write timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            pending: ReplyReader::new(64 * 1024),
        }
    }

    /// The client's end of the connection, as the server's log names it.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("a connected socket")
    }

    /// Shrinks the socket's receive buffer (which also stops its
    /// autotuning), so that little of a reply fits in the kernel: a reply
    /// of a few MiB is then still being written while the client does not
    /// read, whatever the machine's `tcp_rmem`.
    pub fn small_receive_buffer(&self) {
        socket::set_receive_buffer(&self.stream, 64 * 1024).expect("SO_RCVBUF");
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to the server");
    }

    /// Sends `request` without reading its reply.
    pub fn send_request(&mut self, request: &Request) {
        self.send(&wire(request));
    }

    /// Sends `requests` in one write, without reading their replies.
    pub fn send_requests(&mut self, requests: &[Request]) {
        self.send(&wire_all(requests));
    }

    /// Sends `request` and decodes its reply.
    pub fn ask(&mut self, request: &Request) -> Reply {
        self.send_request(request);
        self.reply(request)
    }

    /// Decodes the next reply, expected to answer `request`.
    pub fn reply(&mut self, request: &Request) -> Reply {
        decode_next(&mut self.pending, &mut self.stream, request)
    }

    /// The next status line of a reply without a body (the answer to a
    /// malformed request, which no `Request` can encode).
    pub fn status(&mut self) -> Status {
        match self.reply(&Request::Quit) {
            Reply::Status(status) => status,
            other => panic!("not a bare status: {other:?}"),
        }
    }

    /// Exactly the next `len` raw bytes.
    pub fn read_some(&mut self, len: usize) -> Vec<u8> {
        if let Err(error) = self.pending.fill_to(&mut self.stream, len) {
            panic!(
                "{error} after {:?}",
                String::from_utf8_lossy(self.pending.buffered())
            );
        }
        let some = self.pending.buffered()[..len].to_vec();
        self.pending.consume(len);
        some
    }

    /// Asserts the server closed the connection cleanly (EOF, not a reset)
    /// with nothing more to say.
    pub fn expect_eof(&mut self) {
        assert_eq!(self.pending.buffered(), b"", "unexpected bytes before EOF");
        let mut buf = [0; 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Ok(read) => panic!("unexpected bytes before EOF: {:?}", &buf[..read]),
            Err(error) => panic!("no clean EOF: {error}"),
        }
    }

    /// Everything up to EOF, raw; a reset after some bytes is an error.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        let mut all = self.pending.take_buffered();
        self.stream.read_to_end(&mut all).expect("a clean EOF");
        all
    }

    /// Reads up to EOF or a reset, whichever ends the connection; returns
    /// what arrived.
    pub fn read_until_closed(&mut self) -> Vec<u8> {
        let mut all = self.pending.take_buffered();
        let mut buf = [0; 64 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return all,
                Ok(read) => all.extend_from_slice(&buf[..read]),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    return all;
                }
                Err(error) => panic!("reading until closed: {error}"),
            }
        }
    }
}

/// The reply to `request` in `wire`, which holds it whole.
pub fn decode(request: &Request, wire: &[u8]) -> Reply {
    let mut pending = ReplyReader::new(wire.len());
    let reply = decode_next(&mut pending, &mut &wire[..], request);
    assert_eq!(pending.buffered(), b"", "bytes after the reply");
    reply
}

/// Decodes the reply to `request` from the front of `pending`, reading
/// more from `stream` when it needs more bytes.
fn decode_next(pending: &mut ReplyReader, stream: &mut impl Read, request: &Request) -> Reply {
    let mut status = None;
    let mut names = Vec::new();
    let mut size = None;
    let mut data = Vec::new();
    let read = pending.read_reply(stream, request, |event| {
        match event {
            ReplyEvent::Status(s) => status = Some(s),
            ReplyEvent::FileName(name) | ReplyEvent::Command(name) => {
                names.push(name.to_string());
            }
            ReplyEvent::Size(s) => size = Some(s),
            ReplyEvent::Data(bytes) => data.extend_from_slice(bytes),
            ReplyEvent::End => {}
        }
        Ok::<(), ReplyFailure>(())
    });
    match read {
        Ok(()) => {}
        Err(ReplyFailure::Closed) => panic!("the connection ended in the reply to {request:?}"),
        Err(ReplyFailure::Io(error)) => panic!("a reply from the server: {error}"),
        Err(ReplyFailure::Decode(error)) => panic!("a bad reply to {request:?}: {error}"),
    }
    let status = status.expect("a status line");
    match (status, request) {
        (Status::Ok, Request::GetFileListing | Request::Help) => Reply::Listing(names),
        (Status::Ok, Request::GetMetadata { .. }) => Reply::Size(size.expect("a size")),
        (Status::Ok, Request::GetSlice { .. }) => Reply::Data(data),
        (status, _) => Reply::Status(status),
    }
}

pub fn name(text: &str) -> FileName {
    FileName::new(text).expect("a valid file name")
}

pub fn metadata(file: &str) -> Request {
    Request::GetMetadata { name: name(file) }
}

pub fn slice(file: &str, offset: u64, size: u64) -> Request {
    Request::GetSlice {
        name: name(file),
        offset,
        size,
        raw: false,
    }
}

/// The same slice, raw (2026).
pub fn raw_slice(file: &str, offset: u64, size: u64) -> Request {
    Request::GetSlice {
        name: name(file),
        offset,
        size,
        raw: true,
    }
}

/// The lowest file descriptor number free in process `pid`.
pub fn lowest_free_fd(pid: u32) -> u64 {
    let mut used: Vec<u64> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's fds")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    used.sort_unstable();
    (0..)
        .find(|fd| used.binary_search(fd).is_err())
        .expect("a free fd")
}

/// Sets the soft RLIMIT_NOFILE of process `pid`; returns the old one.
pub fn set_fd_limit(pid: u32, soft: u64) -> libc::rlimit {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a valid rlimit to fill; a null new limit only reads.
    let got = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(got, 0, "prlimit: {}", io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit; the old one is not asked for.
    let set = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(set, 0, "prlimit: {}", io::Error::last_os_error());
    old
}
