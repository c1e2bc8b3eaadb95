//! The catalogue: every case, numbered within its section of HFTP.md.
//!
//! Sections are numbered as HFTP.md's headings come: 1 Transport,
//! 2 Requests, 3 Replies, 4 Commands (4.1 `get_file_listing` … 4.6
//! `quit`), 5 File names, 6 Which error wins, 7 Connection life. A case's
//! number never changes meaning: new cases go at the end of a section.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Instant;

use hftp_proto::{
    FileName, SliceEncoder, Status, encode_help, encode_metadata, encode_raw_slice_head,
    encode_status,
};

use super::fixture::{
    ARCHIVO, ARCHIVO_DATA, BIG, BIG_LEN, BINARY, DIR, EMPTY, Fixture, HIDDEN, LINK_IN, LINK_OUT,
    SPARSE, SPARSE_END, SPARSE_LEN, SPARSE_MARK, SPARSE_MARK_AT, UNREADABLE, UNREQUESTABLE,
    big_data, binary_data, sparse_data,
};
use super::report::Outcome;
use super::wire::{Conn, Failure, PROBE, PROBE_REPLY, escape};
use super::{Config, Kit};

mod catalogue;
mod connection;

pub use catalogue::catalogue;

/// A section of HFTP.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// Requests: framing, bytes, splits, pipelining.
    Requests,
    /// Replies: which statuses close the connection.
    Replies,
    /// `get_file_listing`.
    Listing,
    /// `get_metadata FILENAME`.
    Metadata,
    /// `get_slice FILENAME OFFSET SIZE`.
    Slice,
    /// `get_slice FILENAME OFFSET SIZE raw`.
    RawSlice,
    /// `help`.
    Help,
    /// `quit`.
    Quit,
    /// File names: what a request may name.
    FileNames,
    /// Which error wins.
    Precedence,
    /// Connection life: disconnects, idle and slow clients, many clients.
    Connection,
}

impl Section {
    /// The section's number, as HFTP.md's headings come.
    pub fn number(self) -> &'static str {
        match self {
            Section::Requests => "2",
            Section::Replies => "3",
            Section::Listing => "4.1",
            Section::Metadata => "4.2",
            Section::Slice => "4.3",
            Section::RawSlice => "4.4",
            Section::Help => "4.5",
            Section::Quit => "4.6",
            Section::FileNames => "5",
            Section::Precedence => "6",
            Section::Connection => "7",
        }
    }

    /// The section's heading in HFTP.md.
    pub fn title(self) -> &'static str {
        match self {
            Section::Requests => "Requests",
            Section::Replies => "Replies",
            Section::Listing => "get_file_listing",
            Section::Metadata => "get_metadata FILENAME",
            Section::Slice => "get_slice FILENAME OFFSET SIZE",
            Section::RawSlice => "get_slice FILENAME OFFSET SIZE raw",
            Section::Help => "help",
            Section::Quit => "quit",
            Section::FileNames => "File names",
            Section::Precedence => "Which error wins",
            Section::Connection => "Connection life",
        }
    }
}

/// One numbered case of the catalogue.
#[derive(Debug, Clone)]
pub struct Case {
    /// `SECTION/N`, e.g. `4.3/4`.
    pub id: String,
    /// Where HFTP.md states the rule.
    pub section: Section,
    /// The rule checked, in a line.
    pub title: String,
    /// Whether the case needs the check's files in the served directory.
    pub needs_files: bool,
    /// The first kit whose expectations include the case.
    pub since: Kit,
    /// Whether the case loads the server (many connections) and so runs
    /// alone, after the others.
    pub alone: bool,
    script: Script,
}

/// What a case expects once its reply has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// The server answers a further request on the same connection.
    Open,
    /// The server closes the connection, sending nothing more.
    Closed,
}

#[derive(Debug, Clone)]
enum Script {
    /// Writes each chunk in turn (from another thread, so that a server
    /// that stops reading while its replies wait cannot deadlock the
    /// check), expects exactly `expect`, then `then`.
    Exchange {
        chunks: Vec<Vec<u8>>,
        expect: Vec<u8>,
        then: Then,
    },
    /// The exchange again on a fresh connection for each way of cutting
    /// `send` into two writes.
    Splits {
        send: Vec<u8>,
        expect: Vec<u8>,
        then: Then,
    },
    /// A listing, checked as a whole.
    Listing(Listed),
    Custom(fn(&Ctx) -> Result<(), Failure>),
}

#[derive(Debug, Clone, Copy)]
enum Listed {
    /// Lines of valid, non-hidden names, then an empty line.
    WellFormed,
    /// In byte-wise order.
    Sorted,
    Shows(&'static str),
    Hides(&'static str),
}

/// What a running case knows.
#[derive(Debug)]
pub(crate) struct Ctx {
    addr: SocketAddr,
    deadline: Instant,
}

impl Case {
    pub(crate) fn run(&self, config: &Config, fixture: Option<&Fixture>) -> Outcome {
        if self.since > config.kit {
            return Outcome::Skipped(format!(
                "only from the {} kit; checking the {} kit",
                self.since.year(),
                config.kit.year()
            ));
        }
        if self.needs_files && fixture.is_none() {
            return Outcome::Skipped(
                "needs its files on the server: give --datadir DIR".to_string(),
            );
        }
        let ctx = Ctx {
            addr: config.addr,
            deadline: Instant::now() + config.timeout,
        };
        match self.script.run(&ctx) {
            Ok(()) => Outcome::Passed,
            Err(failure) => Outcome::Failed(failure),
        }
    }

    fn files(&mut self) -> &mut Case {
        self.needs_files = true;
        self
    }

    fn since(&mut self, kit: Kit) -> &mut Case {
        self.since = kit;
        self
    }

    fn alone(&mut self) -> &mut Case {
        self.alone = true;
        self
    }
}

impl Script {
    fn run(&self, ctx: &Ctx) -> Result<(), Failure> {
        match self {
            Script::Exchange {
                chunks,
                expect,
                then,
            } => exchange(ctx, chunks, expect, *then),
            Script::Splits { send, expect, then } => {
                for at in split_points(send.len()) {
                    let chunks = [send[..at].to_vec(), send[at..].to_vec()];
                    exchange(ctx, &chunks, expect, *then)
                        .map_err(|failure| failure.on(&format!("cut after byte {at}")))?;
                }
                Ok(())
            }
            Script::Listing(listed) => listing(ctx, *listed),
            Script::Custom(run) => run(ctx),
        }
    }
}

/// Every cut of a short request; for a long one, cuts near each end and
/// a spread between.
fn split_points(len: usize) -> Vec<usize> {
    if len <= 80 {
        return (1..len).collect();
    }
    let mut points: Vec<usize> = (1..32).chain(len - 32..len).collect();
    points.extend((1..16).map(|i| i * len / 16));
    points.sort_unstable();
    points.dedup();
    points
}

fn exchange(ctx: &Ctx, chunks: &[Vec<u8>], expect: &[u8], then: Then) -> Result<(), Failure> {
    let mut conn = Conn::open(ctx.addr, ctx.deadline)?;
    with_writer(&mut conn, chunks, |conn| conn.expect(expect))?;
    match then {
        Then::Open => conn.expect_open(),
        Then::Closed => conn.expect_closed(),
    }
}

/// Writes `chunks` from another thread while `read` reads; returns once
/// both are done. A failed read shuts the socket down, which ends the
/// writes too.
fn with_writer<T>(
    conn: &mut Conn,
    chunks: &[Vec<u8>],
    read: impl FnOnce(&mut Conn) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let mut writer = conn.writer()?;
    for chunk in chunks {
        conn.note_sent(chunk);
    }
    let _ = writer.set_write_timeout(Some(conn.time_left()));
    std::thread::scope(|scope| {
        let writes = scope.spawn(move || {
            for chunk in chunks {
                // The server may rightly close before it has read it all.
                if writer.write_all(chunk).is_err() {
                    break;
                }
            }
        });
        let result = read(conn);
        if result.is_err() {
            conn.abort();
        }
        let _ = writes.join();
        result
    })
}

fn listing(ctx: &Ctx, listed: Listed) -> Result<(), Failure> {
    let mut conn = Conn::open(ctx.addr, ctx.deadline)?;
    conn.send(b"get_file_listing\r\n")?;
    conn.expect(b"0 OK\r\n")?;
    let mut names: Vec<Vec<u8>> = Vec::new();
    loop {
        let line = conn.line("a listing: names, one a line, then an empty line")?;
        let Some(name) = line.strip_suffix(b"\r\n") else {
            return Err(conn.fail(
                "a line ending in CRLF",
                format!(
                    "the line {} ends in a bare LF",
                    escape(&line, line.len() as u64)
                ),
            ));
        };
        if name.is_empty() {
            break;
        }
        names.push(name.to_vec());
        if names.len() > 1_000_000 {
            return Err(conn.fail("an empty line after the names", "more than a million names"));
        }
    }
    let shown = |name: &[u8]| escape(name, name.len() as u64);
    let wrong = |expected: &str, why: String| Err(Failure::plain(expected, why));
    match listed {
        Listed::WellFormed => {
            for name in &names {
                match FileName::from_bytes(name) {
                    Err(_) => {
                        return wrong(
                            "only names a request can carry",
                            format!("listed {}", shown(name)),
                        );
                    }
                    Ok(name) if name.is_hidden() => {
                        return wrong(
                            "no hidden names (the server's default)",
                            format!("listed {}", shown(name.as_bytes())),
                        );
                    }
                    Ok(_) => {}
                }
            }
        }
        Listed::Sorted => {
            if let Some(pair) = names.windows(2).find(|pair| pair[0] >= pair[1]) {
                return wrong(
                    "names in byte-wise order, each once",
                    format!("{} is listed before {}", shown(&pair[0]), shown(&pair[1])),
                );
            }
        }
        Listed::Shows(name) => {
            if !names.iter().any(|listed| listed == name.as_bytes()) {
                return wrong(
                    format!("{name} listed").as_str(),
                    format!("it is not among the {} names listed", names.len()),
                );
            }
        }
        Listed::Hides(name) => {
            if names.iter().any(|listed| listed == name.as_bytes()) {
                return wrong(
                    format!("{name} not listed").as_str(),
                    "it is listed".to_string(),
                );
            }
        }
    }
    conn.expect_open()
}

/// A name that no server serves: the check never creates it.
const ABSENT: &str = "hftp-check-absent";

fn request(words: &[&str]) -> Vec<u8> {
    let mut line = words.join(" ").into_bytes();
    line.extend_from_slice(b"\r\n");
    line
}

fn status(status: Status) -> Vec<u8> {
    let mut out = Vec::new();
    encode_status(status, &mut out);
    out
}

fn metadata(size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_metadata(size, &mut out);
    out
}

fn slice(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = SliceEncoder::new(data.len() as u64, &mut out);
    encoder.encode(data, &mut out);
    // The encoder was given exactly `data.len()` bytes, so it is whole.
    let _ = encoder.finish(&mut out);
    out
}

fn raw(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_raw_slice_head(data.len() as u64, &mut out);
    out.extend_from_slice(data);
    out
}

fn help() -> Vec<u8> {
    let mut out = Vec::new();
    encode_help(&mut out);
    out
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn x(send: &[u8], expect: Vec<u8>, then: Then) -> Script {
    Script::Exchange {
        chunks: vec![send.to_vec()],
        expect,
        then,
    }
}

fn bytewise(send: &[u8], expect: Vec<u8>, then: Then) -> Script {
    Script::Exchange {
        chunks: send.iter().map(|&byte| vec![byte]).collect(),
        expect,
        then,
    }
}

fn splits(send: &[u8], expect: Vec<u8>, then: Then) -> Script {
    Script::Splits {
        send: send.to_vec(),
        expect,
        then,
    }
}

struct Catalogue {
    cases: Vec<Case>,
    section: Section,
    number: usize,
}

impl Catalogue {
    fn section(&mut self, section: Section) {
        self.section = section;
        self.number = 0;
    }

    fn add(&mut self, title: &str, script: Script) -> &mut Case {
        self.number += 1;
        self.cases.push(Case {
            id: format!("{}/{}", self.section.number(), self.number),
            section: self.section,
            title: title.to_string(),
            needs_files: false,
            since: Kit::K2019,
            alone: false,
            script,
        });
        let last = self.cases.len() - 1;
        &mut self.cases[last]
    }
}

/// How many clients the load cases open at once: more than the pool of a
/// server with a thread per connection usually has.
pub(crate) const CLIENTS: usize = 100;
