//! Servers to test against, and the `hftp` binary.
//!
//! [`RealServer`] runs the workspace's `hftp-server` binary, which must
//! already be built next to this test binary: `cargo nextest run
//! --workspace` (what `cargo xtask ci` runs) builds it; with `-p
//! hftp-client` alone, run `cargo build -p hftp-server` first.
//!
//! [`FakeServer`] is a small in-process server, built from `hftp-proto`'s
//! encoders, that can misbehave in ways our server never does but other
//! conforming servers may (bodies split over several base64 lines, closing
//! right after `quit`), and in ways no server should (cutting a reply
//! short, sending garbage), to test the client's side of each.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use hftp_proto::{
    FileName, Request, RequestDecoder, RequestEvent, SliceEncoder, Status, check_slice,
    encode_help, encode_listing, encode_metadata, encode_raw_slice_head, encode_status,
};
use hftp_test_support::{ServerProcess, binary_beside_test, split_body_into_lines};

/// How long the real server may take to say where it serves.
const START_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Deterministic, incompressible-looking test data.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    hftp_test_support::noise(seed, len)
}

/// The example of HFTP.md.
pub const ARCHIVO: &[u8] = b"!Que calor que hace hoy, pinta una birra!";

/// A directory of files to serve, deleted on drop.
pub fn served_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, data) in files {
        std::fs::write(dir.path().join(name), data).expect("a served file");
    }
    dir
}

/// A [`FakeServer`] serving one file with `quirks`, and an empty
/// directory to download into.
pub fn fake_with(name: &str, data: &[u8], quirks: Quirks) -> (FakeServer, tempfile::TempDir) {
    let server = FakeServer::start(&[(name, data)], quirks);
    (server, tempfile::tempdir().expect("a directory"))
}

/// The workspace's `hftp-server`, serving a directory on an ephemeral
/// port of 127.0.0.1; killed on drop.
pub struct RealServer {
    _process: ServerProcess,
    pub addr: SocketAddr,
}

impl RealServer {
    pub fn start(dir: &Path) -> RealServer {
        RealServer::start_at(dir, 0)
    }

    /// On `port` (0: an ephemeral one), e.g. that of a server just
    /// killed, as a restarted server would be.
    pub fn start_at(dir: &Path, port: u16) -> RealServer {
        RealServer::spawn(dir, port, &[])
    }

    /// With extra flags (an engine, a pool size, `-q`).
    pub fn start_with(dir: &Path, flags: &[&str]) -> RealServer {
        RealServer::spawn(dir, 0, flags)
    }

    fn spawn(dir: &Path, port: u16, flags: &[&str]) -> RealServer {
        let binary = binary_beside_test("hftp-server");
        let mut command = Command::new(&binary);
        command
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-d"])
            .arg(dir)
            .args(flags)
            .stderr(Stdio::null());
        let process = ServerProcess::start(&mut command, START_PATIENCE)
            .unwrap_or_else(|error| panic!("{}: {error}", binary.display()));
        RealServer {
            addr: process.addr(),
            _process: process,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// How a [`FakeServer`] departs from our server's ways. By default it
/// is a server older than the 2026 kit: `help` gets 200 and a raw slice
/// 201.
#[derive(Debug, Clone, Default)]
pub struct Quirks {
    /// Know the 2026 kit: answer `help`, and raw slices with their
    /// `Content-Length` header (cut, stalled or refused as base64 ones
    /// are).
    pub new_kit: bool,
    /// Break slice bodies into lines of this many base64 characters.
    pub body_line_len: Option<usize>,
    /// Write replies one byte at a time.
    pub trickle: bool,
    /// Close the connection at `quit` without answering it.
    pub close_at_quit: bool,
    /// Cut the first N slice replies short: send `0 OK` and half the body,
    /// then close the connection.
    pub cut_slices: usize,
    /// Cut them before their body's first byte instead.
    pub cut_before_body: bool,
    /// Answer every request with this instead of a real reply.
    pub garbage: Option<&'static [u8]>,
    /// Read requests but never answer.
    pub silent: bool,
    /// Close the connection after answering this many requests.
    pub requests_per_connection: Option<usize>,
    /// Lines to list first, before the files' names: names that are not
    /// valid in HFTP, as a careless server lists them.
    pub listed_too: &'static [&'static [u8]],
    /// Send `0 OK` and half the body of every slice, then nothing more
    /// until the client closes the connection.
    pub stall_slices: bool,
    /// Refuse every non-empty `get_slice` with this status.
    pub refuse_slices: Option<Status>,
    /// Refuse a zero-length `get_slice` with 201, as some course servers
    /// do.
    pub refuse_empty_slices: bool,
    /// After the first slice reply, the file of this name holds these
    /// bytes instead: it changed during the download.
    pub change_after_first_slice: Option<(&'static str, Vec<u8>)>,
}

/// An in-process HFTP server over in-memory files, on an ephemeral port
/// of 127.0.0.1. Its threads end with the test process.
pub struct FakeServer {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// The `(offset, size)` of every `get_slice` received so far.
    pub slices: Arc<Mutex<Vec<(u64, u64)>>>,
    /// The `(offset, size)` of every raw `get_slice` received so far,
    /// answered or refused.
    pub raw_slices: Arc<Mutex<Vec<(u64, u64)>>>,
    /// How many slice replies have stalled (see [`Quirks::stall_slices`]).
    stalled: Arc<(Mutex<usize>, Condvar)>,
}

impl FakeServer {
    pub fn start(files: &[(&str, &[u8])], quirks: Quirks) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a listening socket");
        let addr = listener.local_addr().expect("its address");
        let files: BTreeMap<FileName, Arc<Vec<u8>>> = files
            .iter()
            .map(|(name, data)| {
                let name = FileName::new(name).expect("a valid name");
                (name, Arc::new(data.to_vec()))
            })
            .collect();
        let state = Arc::new(State {
            files: Mutex::new(files),
            cuts_left: Mutex::new(quirks.cut_slices),
            slices: Arc::new(Mutex::new(Vec::new())),
            raw_slices: Arc::new(Mutex::new(Vec::new())),
            stalled: Arc::new((Mutex::new(0), Condvar::new())),
        });
        let slices = Arc::clone(&state.slices);
        let raw_slices = Arc::clone(&state.raw_slices);
        let stalled = Arc::clone(&state.stalled);
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let state = Arc::clone(&state);
                let quirks = quirks.clone();
                thread::spawn(move || serve(stream, &state, &quirks));
            }
        });
        FakeServer {
            addr,
            connections,
            slices,
            raw_slices,
            stalled,
        }
    }

    /// Waits until `count` slice replies have stalled: their first half
    /// is sent, and the client is waiting for the rest.
    pub fn wait_for_stalls(&self, count: usize) {
        let (stalled, changed) = &*self.stalled;
        let stalled = stalled.lock().expect("the stall counter");
        let _stalled = changed
            .wait_while(stalled, |stalled| *stalled < count)
            .expect("the stall counter");
    }

    /// The `(offset, size)` of the base64 slices asked for so far, in the
    /// order they arrived.
    pub fn slices_asked(&self) -> Vec<(u64, u64)> {
        self.slices.lock().expect("the slice log").clone()
    }

    /// The `(offset, size)` of the raw slices asked for so far, in the
    /// order they arrived.
    pub fn raw_slices_asked(&self) -> Vec<(u64, u64)> {
        self.raw_slices.lock().expect("the slice log").clone()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// What a [`FakeServer`]'s connections share.
struct State {
    files: Mutex<BTreeMap<FileName, Arc<Vec<u8>>>>,
    cuts_left: Mutex<usize>,
    slices: Arc<Mutex<Vec<(u64, u64)>>>,
    raw_slices: Arc<Mutex<Vec<(u64, u64)>>>,
    stalled: Arc<(Mutex<usize>, Condvar)>,
}

fn serve(mut stream: TcpStream, state: &State, quirks: &Quirks) {
    let mut decoder = RequestDecoder::new();
    let mut input = vec![0; 64 * 1024];
    let mut answered = 0;
    loop {
        let read = match stream.read(&mut input) {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let mut out = Vec::new();
        let mut close = false;
        for event in decoder.events(&input[..read]) {
            if quirks.requests_per_connection == Some(answered) {
                close = true;
                break;
            }
            answered += 1;
            if quirks.silent {
                continue;
            }
            if let Some(garbage) = quirks.garbage {
                out.extend_from_slice(garbage);
                continue;
            }
            let files = state.files.lock().expect("the files").clone();
            match event {
                RequestEvent::Request(Request::GetFileListing) => {
                    let mut names: Vec<FileName> = files.keys().copied().collect();
                    let at = out.len() + "0 OK\r\n".len();
                    encode_listing(&mut names, &mut out);
                    for line in quirks.listed_too.iter().rev() {
                        let line = [line, &b"\r\n"[..]].concat();
                        out.splice(at..at, line);
                    }
                }
                RequestEvent::Request(Request::GetMetadata { name }) => match files.get(&name) {
                    Some(data) => encode_metadata(data.len() as u64, &mut out),
                    None => encode_status(Status::FileNotFound, &mut out),
                },
                // The habits of a server older than the 2026 kit.
                RequestEvent::Request(Request::GetSlice {
                    raw: true,
                    offset,
                    size,
                    ..
                }) if !quirks.new_kit => {
                    let mut log = state.raw_slices.lock().expect("the slice log");
                    log.push((offset, size));
                    encode_status(Status::InvalidArguments, &mut out);
                }
                RequestEvent::Request(Request::Help) if !quirks.new_kit => {
                    encode_status(Status::NoSuchCommand, &mut out);
                }
                RequestEvent::Request(Request::Help) => encode_help(&mut out),
                RequestEvent::Request(Request::GetSlice {
                    name,
                    offset,
                    size,
                    raw,
                }) => {
                    let log = if raw {
                        &state.raw_slices
                    } else {
                        &state.slices
                    };
                    log.lock().expect("the slice log").push((offset, size));
                    let Some(data) = files.get(&name) else {
                        encode_status(Status::FileNotFound, &mut out);
                        continue;
                    };
                    if let Err(status) = check_slice(offset, size, data.len() as u64) {
                        encode_status(status, &mut out);
                        continue;
                    }
                    match quirks.refuse_slices {
                        Some(status) if size > 0 => {
                            encode_status(status, &mut out);
                            close = status.is_fatal();
                            continue;
                        }
                        _ if size == 0 && quirks.refuse_empty_slices => {
                            encode_status(Status::InvalidArguments, &mut out);
                            continue;
                        }
                        _ => {}
                    }
                    if let Some((changed, data)) = &quirks.change_after_first_slice {
                        let changed = FileName::new(changed).expect("a valid name");
                        state
                            .files
                            .lock()
                            .expect("the files")
                            .insert(changed, Arc::new(data.clone()));
                    }
                    let slice = &data[offset as usize..][..size as usize];
                    let cut = {
                        let mut cuts_left = state.cuts_left.lock().expect("the cut counter");
                        let cut = *cuts_left > 0;
                        *cuts_left = cuts_left.saturating_sub(1);
                        cut
                    };
                    let before = out.len();
                    let head_len = if raw {
                        encode_raw_slice_head(size, &mut out);
                        let head_len = out.len() - before;
                        out.extend_from_slice(slice);
                        head_len
                    } else {
                        encode_slice(slice, quirks.body_line_len, &mut out);
                        "0 OK\r\n".len()
                    };
                    if quirks.stall_slices {
                        let body = out.len() - before - head_len;
                        out.truncate(out.len() - body / 2);
                        if stream.write_all(&out).is_ok() {
                            let (stalled, changed) = &*state.stalled;
                            *stalled.lock().expect("the stall counter") += 1;
                            changed.notify_all();
                            // Until the client goes away.
                            while matches!(stream.read(&mut input), Ok(n) if n > 0) {}
                        }
                        return;
                    }
                    if cut {
                        let body = out.len() - before - head_len;
                        let sent = if quirks.cut_before_body { 0 } else { body / 2 };
                        out.truncate(out.len() - (body - sent));
                        close = true;
                        break;
                    }
                }
                RequestEvent::Request(Request::Quit) => {
                    if !quirks.close_at_quit {
                        encode_status(Status::Ok, &mut out);
                    }
                    close = true;
                }
                RequestEvent::Refused(status) => {
                    encode_status(status, &mut out);
                    close = status.is_fatal();
                }
            }
        }
        let written = if quirks.trickle {
            out.chunks(1).try_for_each(|byte| stream.write_all(byte))
        } else {
            stream.write_all(&out)
        };
        if written.is_err() || close {
            return;
        }
    }
}

/// `0 OK` and the slice in base64, on lines of `line_len` characters if
/// given (one line otherwise).
fn encode_slice(slice: &[u8], line_len: Option<usize>, out: &mut Vec<u8>) {
    let mut reply = Vec::new();
    let mut encoder = SliceEncoder::new(slice.len() as u64, &mut reply);
    encoder.encode(slice, &mut reply);
    encoder.finish(&mut reply).expect("the whole slice was fed");
    match line_len {
        Some(line_len) => out.extend_from_slice(&split_body_into_lines(&reply, line_len)),
        None => out.extend_from_slice(&reply),
    }
}

/// A port on 127.0.0.1 where nothing listens (it was free a moment ago).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listening socket");
    listener.local_addr().expect("its address").port()
}

/// The `hftp` binary, set to talk to `port` on 127.0.0.1 and to run in
/// `dir`, with no HFTP_* variables from the environment.
pub fn hftp(port: u16, dir: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(hftp_command(port, dir))
}

/// [`hftp`] as a plain [`Command`], for runners other than assert_cmd.
pub fn hftp_command(port: u16, dir: &Path) -> Command {
    let mut command = hftp_anywhere(dir);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    command
}

/// [`hftp`] with no server named, in `dir`.
pub fn hftp_anywhere(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hftp"));
    command
        .current_dir(dir)
        .env_remove("HFTP_HOST")
        .env_remove("HFTP_PORT")
        .env_remove("HFTP_TIMEOUT")
        .env("HFTP_HISTORY", dir.join(".hftp_history"));
    command
}

/// Runs `command`, checks that it exits with `code`, and returns what it
/// wrote on stderr.
pub fn stderr_when(command: &mut assert_cmd::Command, code: i32) -> String {
    let output = command.assert().code(code).get_output().clone();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Checks that the file at `path` holds `expected` (without printing
/// megabytes when it does not).
#[track_caller]
pub fn assert_file(path: &Path, expected: &[u8]) {
    let got = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    assert!(
        got == expected,
        "{} holds {} bytes, not the {} expected",
        path.display(),
        got.len(),
        expected.len()
    );
}
