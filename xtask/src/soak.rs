//! `cargo xtask soak`: many clients issuing random requests against the
//! release server for a while, every reply checked byte for byte against
//! the files; opt-in, not part of `ci`.
//!
//! The files have the sizes where a slice is most likely to go wrong:
//! empty, one byte, around the 3-byte groups of base64, around the
//! server's read chunk, and megabytes. Clients mix listings, metadata,
//! slices of every size, pipelined batches, refusals of each kind, fatal
//! requests, `quit`, and connections dropped in the middle of a slice.
//! Replies are decoded with `hftp_proto::ReplyDecoder`.

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hftp_proto::{FileName, ReplyDecoder, ReplyEvent, Request, Status};

use crate::bench::process::{Engine, Server};

const USAGE: &str = "\
usage: cargo xtask soak [--quick] [--clients N] [--duration SECS]

Builds hftp-server in release, serves a generated directory of files of
varied sizes from target/soak/data, and runs N clients (default 100)
issuing random requests for SECS seconds (default 60; --quick: 10). Every
reply is checked byte for byte against the files. Prints requests served,
bytes verified, errors and the server's RSS at start, every 10 s and at
the end, and whether RSS has levelled off: the mean of the last 100 s
within ±10% of the 100 s before (runs of 200 s or more); exits non-zero
on any mismatch or error, or if the server dies. The server runs its
default engine with its default options, logging included.
";

/// How long a client waits for a reply before it counts an error.
const PATIENCE: Duration = Duration::from_secs(30);
/// How often the server's RSS is sampled during the run.
const RSS_SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// The level check: the mean RSS of the last window must be within
/// `LEVEL_TOLERANCE` of the mean of the window before it — a server whose
/// memory still climbs after minutes of the same load holds something per
/// request.
const LEVEL_WINDOW: Duration = Duration::from_secs(100);
const LEVEL_TOLERANCE: f64 = 0.10;
/// At most this many error messages are kept for the report.
const ERRORS_SHOWN: usize = 10;

#[derive(Debug)]
struct Options {
    clients: usize,
    duration: Duration,
}

impl Options {
    fn parse(args: &[String]) -> Result<Option<Options>> {
        let mut options = Options {
            clients: 100,
            duration: Duration::from_secs(60),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .with_context(|| format!("`{name}` needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "--quick" => options.duration = Duration::from_secs(10),
                "--clients" => options.clients = positive("--clients", value("--clients")?)?,
                "--duration" => {
                    options.duration =
                        Duration::from_secs(positive("--duration", value("--duration")?)?);
                }
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown option `{other}`\n\n{USAGE}"),
            }
        }
        Ok(Some(options))
    }
}

fn positive<T: std::str::FromStr + PartialEq + Default>(option: &str, value: &str) -> Result<T> {
    match value.parse::<T>() {
        Ok(number) if number != T::default() => Ok(number),
        _ => bail!("`{option}` takes a positive number, not `{value}`"),
    }
}

/// `cargo xtask soak ARGS`.
pub fn main(args: &[String]) -> Result<()> {
    let Some(options) = Options::parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    if cfg!(debug_assertions) {
        return crate::release::hand_over("soak", args);
    }
    run(&options)
}

/// The served files: name and content.
struct Files {
    files: Vec<(FileName, Vec<u8>)>,
    /// The listing the server must give: every name, byte-wise sorted.
    listing: Vec<FileName>,
}

impl Files {
    const SIZES: [(&'static str, usize); 20] = [
        ("empty", 0),
        ("one", 1),
        ("two", 2),
        ("three", 3),
        ("four", 4),
        ("five", 5),
        ("six", 6),
        ("seven", 7),
        ("k-1.bin", 1023),
        ("k.bin", 1024),
        ("k_plus_1.bin", 1025),
        // Around the server's file read chunk (hftp_server::connection::
        // CHUNK_LEN, 192 KiB) and its earlier 48 KiB.
        ("chunk48k-1", 3 * 16 * 1024 - 1),
        ("chunk48k", 3 * 16 * 1024),
        ("chunk48k.plus.1", 3 * 16 * 1024 + 1),
        ("chunk-1", 3 * 64 * 1024 - 1),
        ("chunk", 3 * 64 * 1024),
        ("chunk.plus.1", 3 * 64 * 1024 + 1),
        ("MB-1", 1_000_000),
        ("MB-3", 3 * 1024 * 1024 + 1),
        ("MB-8", 8 * 1024 * 1024 + 2),
    ];

    /// Writes the files into a fresh `dir`.
    fn create(dir: &Path) -> Result<Files> {
        if dir.exists() {
            fs::remove_dir_all(dir)
                .with_context(|| format!("could not clear {}", dir.display()))?;
        }
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        let mut files = Vec::new();
        for (seed, (name, size)) in (1..).zip(Files::SIZES) {
            let content = Rng::new(seed).bytes(size);
            let path = dir.join(name);
            fs::write(&path, &content)
                .with_context(|| format!("could not write {}", path.display()))?;
            files.push((FileName::new(name)?, content));
        }
        let mut listing: Vec<FileName> = files.iter().map(|(name, _)| *name).collect();
        listing.sort();
        Ok(Files { files, listing })
    }

    fn total_len(&self) -> usize {
        self.files.iter().map(|(_, content)| content.len()).sum()
    }
}

/// A small xorshift generator: reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..=max`.
    fn upto(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(bound) => self.next() % bound,
            None => self.next(),
        }
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.upto(len as u64 - 1)).unwrap_or(0)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            bytes.extend_from_slice(&self.next().to_le_bytes());
        }
        bytes.truncate(len);
        bytes
    }
}

/// What every client adds up.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    refusals: AtomicU64,
    bytes_verified: AtomicU64,
    connections: AtomicU64,
    abandoned: AtomicU64,
    errors: AtomicU64,
    messages: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut messages = self
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if messages.len() < ERRORS_SHOWN {
            messages.push(message);
        }
    }

    fn count(&self, counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

/// The whole soak, in the optimised build.
fn run(options: &Options) -> Result<()> {
    eprintln!("xtask soak: building hftp-server in release");
    crate::release::build(&["build", "--release", "-p", "hftp-server"])?;
    let dir = crate::release::target_dir().join("soak").join("data");
    let files = Files::create(&dir)?;
    let binary = crate::release::binary("hftp-server");
    // The first engine is the server's default.
    let engine = Engine::all(&binary)?
        .into_iter()
        .next()
        .context("the server offers no engine")?;
    let mut server = Server::start(&binary, &dir, engine)?;
    let rss_start = server.memory("VmRSS")?;
    eprintln!(
        "xtask soak: {} clients for {} s against hftp-server on {}",
        options.clients,
        options.duration.as_secs(),
        server.addr()
    );

    let tally = Tally::default();
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut rss_samples = Vec::new();
    thread::scope(|scope| {
        for index in 0..options.clients {
            let (files, tally, addr) = (&files, &tally, server.addr());
            thread::Builder::new()
                .name(format!("soak-client-{index}"))
                .spawn_scoped(scope, move || {
                    client(addr, files, tally, index as u64 + 1, deadline);
                })
                .map(drop)
                .unwrap_or_else(|error| tally.error(format!("cannot start a client: {error}")));
        }
        // Meanwhile, the server's RSS over time: whether it levels off.
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            thread::sleep(left.min(RSS_SAMPLE_EVERY));
            if let Ok(rss) = server.memory("VmRSS") {
                rss_samples.push((started.elapsed(), rss));
            }
        }
    });
    let elapsed = started.elapsed();

    let alive = server.is_running();
    let rss_end = server.memory("VmRSS").unwrap_or(0);
    let rss_peak = server.memory("VmHWM").unwrap_or(0);
    if !alive {
        tally.error("the server died".to_owned());
    }
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let requests = load(&tally.requests);
    let errors = load(&tally.errors);
    let mut report = String::new();
    let _ = writeln!(
        report,
        "xtask soak: {} clients, {:.1} s, {} files ({:.1} MiB) in {}",
        options.clients,
        elapsed.as_secs_f64(),
        files.files.len(),
        mib(files.total_len() as u64),
        dir.display()
    );
    let _ = writeln!(
        report,
        "  requests served  {requests} ({:.0}/s; {} refusals checked)",
        requests as f64 / elapsed.as_secs_f64(),
        load(&tally.refusals)
    );
    let _ = writeln!(
        report,
        "  bytes verified   {} ({:.1} MiB of slice payload)",
        load(&tally.bytes_verified),
        mib(load(&tally.bytes_verified))
    );
    let _ = writeln!(
        report,
        "  connections      {} ({} dropped mid-slice on purpose)",
        load(&tally.connections),
        load(&tally.abandoned)
    );
    let _ = writeln!(report, "  errors           {errors}");
    let _ = writeln!(
        report,
        "  server RSS       start {:.1} MiB, end {:.1} MiB, peak {:.1} MiB; {}",
        mib(rss_start),
        mib(rss_end),
        mib(rss_peak),
        if alive { "still running" } else { "DIED" }
    );
    let samples: Vec<String> = rss_samples
        .iter()
        .map(|&(_, rss)| format!("{:.0}", mib(rss)))
        .collect();
    let _ = writeln!(
        report,
        "  RSS every {} s   {} MiB",
        RSS_SAMPLE_EVERY.as_secs(),
        samples.join(" ")
    );
    let _ = writeln!(
        report,
        "  RSS level        {}",
        Level::judge(&rss_samples, elapsed)
    );
    let _ = writeln!(
        report,
        "  server           `{}`, {:.1} MB logged to stderr",
        server.command(),
        server.logged() as f64 / 1e6
    );
    for message in tally
        .messages
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        let _ = writeln!(report, "  error: {message}");
    }
    print!("{report}");
    if errors > 0 {
        bail!("{errors} errors");
    }
    if requests == 0 {
        bail!("no request was served");
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Whether the server's RSS has levelled off: the mean of the samples of
/// the last [`LEVEL_WINDOW`] against the mean of the window before it.
#[derive(Debug, PartialEq)]
enum Level {
    /// The run was too short to have two windows.
    TooShort { ran: Duration },
    /// The means, in bytes, and whether they are within the tolerance.
    Judged { before: f64, last: f64, level: bool },
}

impl Level {
    /// Judges `samples` (time since the start, RSS) of a run of `ran`.
    fn judge(samples: &[(Duration, u64)], ran: Duration) -> Level {
        let too_short = Level::TooShort { ran };
        let Some(last_from) = ran.checked_sub(LEVEL_WINDOW) else {
            return too_short;
        };
        let Some(before_from) = last_from.checked_sub(LEVEL_WINDOW) else {
            return too_short;
        };
        let mean = |from: Duration, to: Duration| {
            let window: Vec<f64> = samples
                .iter()
                .filter(|&&(at, _)| at > from && at <= to)
                .map(|&(_, rss)| rss as f64)
                .collect();
            (!window.is_empty()).then(|| window.iter().sum::<f64>() / window.len() as f64)
        };
        match (mean(before_from, last_from), mean(last_from, ran)) {
            (Some(before), Some(last)) => Level::Judged {
                before,
                last,
                level: (last - before).abs() <= LEVEL_TOLERANCE * before,
            },
            _ => too_short,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let window = LEVEL_WINDOW.as_secs();
        let tolerance = LEVEL_TOLERANCE * 100.0;
        match *self {
            Level::TooShort { ran } => write!(
                f,
                "not judged: the last {window} s against the {window} s before needs a run of \
                 {} s or more, not {:.0} s",
                2 * window,
                ran.as_secs_f64()
            ),
            Level::Judged {
                before,
                last,
                level,
            } => write!(
                f,
                "last {window} s {:.1} MiB against {:.1} MiB the {window} s before ({:+.1}%): \
                 {}",
                last / f64::from(1 << 20),
                before / f64::from(1 << 20),
                (last / before - 1.0) * 100.0,
                if level {
                    format!("level (within ±{tolerance:.0}%)")
                } else {
                    format!("NOT LEVEL (beyond ±{tolerance:.0}%)")
                }
            ),
        }
    }
}

/// What a request must get.
enum Expect<'a> {
    Listing(&'a [FileName]),
    Size(u64),
    Data(&'a [u8]),
    /// A refusal; `close` for a fatal one (and `quit`'s `0 OK`).
    Status {
        status: Status,
        close: bool,
    },
}

/// One item of a batch: the bytes sent, the request its reply decodes as,
/// and what it must be.
struct Item<'a> {
    wire: Vec<u8>,
    request: Request,
    expect: Expect<'a>,
}

impl<'a> Item<'a> {
    fn request(request: Request, expect: Expect<'a>) -> Item<'a> {
        let mut wire = Vec::new();
        request.encode(&mut wire);
        Item {
            wire,
            request,
            expect,
        }
    }

    /// A line no `Request` can encode, answered with a bare status.
    fn raw(line: &[u8], status: Status) -> Item<'a> {
        Item {
            wire: line.to_vec(),
            request: Request::Quit,
            expect: Expect::Status {
                status,
                close: status.is_fatal(),
            },
        }
    }
}

/// A random item of the mix.
fn random_item<'a>(rng: &mut Rng, files: &'a Files) -> Item<'a> {
    let (name, content) = &files.files[rng.index(files.files.len())];
    let len = content.len() as u64;
    let refused = |status| Expect::Status {
        status,
        close: false,
    };
    match rng.upto(99) {
        0..=7 => Item::request(Request::GetFileListing, Expect::Listing(&files.listing)),
        8..=24 => Item::request(Request::GetMetadata { name: *name }, Expect::Size(len)),
        25..=84 => {
            // Mostly small slices, some up to the whole file.
            let size = match rng.upto(9) {
                0..=5 => rng.upto(len.min(64)),
                6..=8 => rng.upto(len.min(256 * 1024)),
                _ => rng.upto(len),
            };
            let offset = rng.upto(len - size);
            let range =
                usize::try_from(offset).unwrap_or(0)..usize::try_from(offset + size).unwrap_or(0);
            Item::request(
                Request::GetSlice {
                    name: *name,
                    offset,
                    size,
                    raw: rng.upto(2) == 1,
                },
                Expect::Data(&content[range]),
            )
        }
        85..=87 => Item::request(
            Request::GetSlice {
                name: *name,
                offset: rng.upto(len + 1),
                size: len + 1,
                raw: false,
            },
            refused(Status::OffsetExceedsFileSize),
        ),
        88..=89 => Item::request(
            Request::GetMetadata {
                name: FileName::new("missing").unwrap_or(*name),
            },
            refused(Status::FileNotFound),
        ),
        90..=91 => Item::raw(b"get_metadata ../etc/passwd\r\n", Status::InvalidArguments),
        92..=93 => Item::raw(b"get_slice one -1 1\r\n", Status::InvalidArguments),
        94..=95 => Item::raw(b"GET_FILE_LISTING\r\n", Status::NoSuchCommand),
        96 => Item::raw(
            b"get_slice one 99999999999999999999999 1\r\n",
            Status::OffsetExceedsFileSize,
        ),
        97 => Item::raw(b"get_file_listing\n", Status::BadEol),
        98 => Item::raw(b"get_file\0listing\r\n", Status::BadRequest),
        _ => Item::request(
            Request::Quit,
            Expect::Status {
                status: Status::Ok,
                close: true,
            },
        ),
    }
}

/// One client: batches of random requests until `deadline`, reconnecting
/// after a close; every failure is counted in `tally`.
fn client(addr: SocketAddr, files: &Files, tally: &Tally, seed: u64, deadline: Instant) {
    let mut rng = Rng::new(seed);
    let mut connection: Option<Connection> = None;
    while Instant::now() < deadline {
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match Connection::open(addr) {
                Ok(conn) => {
                    tally.count(&tally.connections, 1);
                    connection.insert(conn)
                }
                Err(error) => {
                    tally.error(format!("connect: {error}"));
                    return;
                }
            },
        };
        // Now and then, leave in the middle of a large slice.
        if rng.upto(199) == 0 {
            let (name, content) = &files.files[files.files.len() - 1];
            let request = Request::GetSlice {
                name: *name,
                offset: 0,
                size: content.len() as u64,
                raw: false,
            };
            let mut wire = Vec::new();
            request.encode(&mut wire);
            let mut some = [0; 4096];
            if let Err(error) = conn
                .stream
                .write_all(&wire)
                .and_then(|()| conn.stream.read_exact(&mut some))
            {
                tally.error(format!("before leaving mid-slice: {error}"));
            }
            tally.count(&tally.abandoned, 1);
            connection = None;
            continue;
        }
        // A pipelined batch: everything written at once, then the replies.
        let depth = if rng.upto(3) == 0 { 1 + rng.upto(7) } else { 1 };
        let mut batch = Vec::new();
        for _ in 0..depth {
            let item = random_item(&mut rng, files);
            let closes = matches!(item.expect, Expect::Status { close: true, .. });
            batch.push(item);
            if closes {
                break;
            }
        }
        let wire: Vec<u8> = batch.iter().flat_map(|item| item.wire.clone()).collect();
        if let Err(error) = conn.stream.write_all(&wire) {
            tally.error(format!("write: {error}"));
            connection = None;
            continue;
        }
        let mut closed = false;
        for item in &batch {
            match conn.check(item, tally) {
                Ok(close) => {
                    tally.count(&tally.requests, 1);
                    closed |= close;
                }
                Err(error) => {
                    tally.error(format!(
                        "{:?}: {error:#}",
                        String::from_utf8_lossy(&item.wire)
                    ));
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            connection = None;
        }
    }
}

/// One connection and the bytes read but not yet decoded.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Connection {
    fn open(addr: SocketAddr) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_write_timeout(Some(PATIENCE))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
        })
    }

    /// Reads more bytes; fails at EOF.
    fn fill(&mut self) -> Result<()> {
        self.buf.drain(..self.start);
        self.start = 0;
        let len = self.buf.len();
        self.buf.resize(len + 64 * 1024, 0);
        let read = loop {
            match self.stream.read(&mut self.buf[len..]) {
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        self.buf.truncate(len + read.as_ref().copied().unwrap_or(0));
        match read {
            Ok(0) => bail!("the server closed the connection in the middle of a reply"),
            Ok(_) => Ok(()),
            Err(error) => Err(error).context("reading a reply"),
        }
    }

    /// Decodes the next reply and checks it against `item`; returns whether
    /// the server then (rightly) closed the connection.
    fn check(&mut self, item: &Item<'_>, tally: &Tally) -> Result<bool> {
        let mut decoder = ReplyDecoder::new(&item.request);
        let mut status = None;
        let mut names = Vec::new();
        let mut size = None;
        let mut verified = 0usize;
        loop {
            let (consumed, event) = decoder
                .decode(&self.buf[self.start..])
                .context("a reply that breaks HFTP")?;
            self.start += consumed;
            match event {
                None => self.fill()?,
                Some(ReplyEvent::Status(s)) => status = Some(s),
                Some(ReplyEvent::FileName(name) | ReplyEvent::Command(name)) => names.push(name),
                Some(ReplyEvent::Size(s)) => size = Some(s),
                Some(ReplyEvent::Data(bytes)) => {
                    let Expect::Data(expected) = item.expect else {
                        bail!("slice data in a reply that should have none");
                    };
                    let end = verified + bytes.len();
                    if expected.get(verified..end) != Some(bytes) {
                        bail!("wrong slice bytes in {verified}..{end}");
                    }
                    verified = end;
                }
                Some(ReplyEvent::End) => break,
            }
        }
        let status = status.context("no status")?;
        let close = match (&item.expect, status) {
            (Expect::Listing(expected), Status::Ok) if names == *expected => false,
            (Expect::Size(expected), Status::Ok) if size == Some(*expected) => false,
            (Expect::Data(expected), Status::Ok) if verified == expected.len() => {
                tally.count(&tally.bytes_verified, verified as u64);
                false
            }
            (
                Expect::Status {
                    status: expected,
                    close,
                },
                status,
            ) if status == *expected => {
                if status != Status::Ok {
                    tally.count(&tally.refusals, 1);
                }
                *close
            }
            (_, status) => {
                bail!("unexpected reply: {status}, {names:?}, {size:?}, {verified} bytes")
            }
        };
        if close {
            // The server must close right after: EOF, nothing more.
            if self.start < self.buf.len() {
                bail!("bytes after a reply that closes the connection");
            }
            let mut byte = [0; 1];
            match self.stream.read(&mut byte) {
                Ok(0) => {}
                Ok(_) => bail!("bytes after a reply that closes the connection"),
                Err(error) => return Err(error).context("no clean close after the reply"),
            }
        }
        Ok(close)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() -> Result<()> {
        let parse = |args: &[&str]| {
            Options::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
        };
        let defaults = parse(&[])?.context("options")?;
        assert_eq!((defaults.clients, defaults.duration.as_secs()), (100, 60));
        let quick = parse(&["--quick", "--clients", "7"])?.context("options")?;
        assert_eq!((quick.clients, quick.duration.as_secs()), (7, 10));
        let long = parse(&["--duration", "600"])?.context("options")?;
        assert_eq!(long.duration.as_secs(), 600);
        assert!(parse(&["--help"])?.is_none());
        assert!(parse(&["--clients", "0"]).is_err());
        assert!(parse(&["--duration"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        Ok(())
    }

    #[test]
    fn rss_level_compares_the_last_two_windows() {
        let secs = Duration::from_secs;
        // Every 10 s from 10 s to `end`, RSS from `rss(t)` in MiB.
        let run = |end: u64, rss: &dyn Fn(u64) -> u64| -> Vec<(Duration, u64)> {
            (1..=end / 10)
                .map(|i| (secs(i * 10), rss(i * 10) << 20))
                .collect()
        };
        let flat = run(600, &|_| 40);
        assert!(matches!(
            Level::judge(&flat, secs(600)),
            Level::Judged { level: true, .. }
        ));
        // Climbing 1 MiB every 10 s from 20 MiB: 70-79 against 60-69.
        let climbing = run(600, &|t| 20 + t / 10);
        assert!(matches!(
            Level::judge(&climbing, secs(600)),
            Level::Judged { level: false, .. }
        ));
        // An early climb that has stopped is level.
        let settled = run(600, &|t| if t < 300 { t / 10 } else { 30 });
        assert!(matches!(
            Level::judge(&settled, secs(600)),
            Level::Judged { level: true, .. }
        ));
        assert_eq!(
            Level::judge(&flat[..15], secs(150)),
            Level::TooShort { ran: secs(150) }
        );
        assert!(
            Level::judge(&[], secs(600))
                .to_string()
                .starts_with("not judged")
        );
        let shown = Level::judge(&climbing, secs(600)).to_string();
        assert!(shown.contains("NOT LEVEL"), "{shown}");
    }

    #[test]
    fn random_items_ask_for_what_the_files_hold() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-soak-test-{}", std::process::id()));
        let files = Files::create(&dir)?;
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let item = random_item(&mut rng, &files);
            if let (
                Request::GetSlice {
                    name, offset, size, ..
                },
                Expect::Data(data),
            ) = (item.request, &item.expect)
            {
                let (_, content) = files
                    .files
                    .iter()
                    .find(|(n, _)| *n == name)
                    .context("a served file")?;
                let offset = usize::try_from(offset)?;
                assert_eq!(content[offset..][..usize::try_from(size)?], **data);
            }
        }
        fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
