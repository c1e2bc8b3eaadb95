//! One soak client: random batches, every reply checked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hftp_proto::{ReplyEvent, Request, Status};
use hftp_test_support::{ReplyReader, Xorshift, wire};

use super::Tally;
use super::files::Files;
use super::mix::{Expect, Item, random_item};

/// How long a client waits for a reply before it counts an error.
const PATIENCE: Duration = Duration::from_secs(30);

/// One client: batches of random requests until `deadline`, reconnecting
/// after a close; every failure is counted in `tally`.
pub fn run(addr: SocketAddr, files: &Files, tally: &Tally, seed: u64, deadline: Instant) {
    let mut rng = Xorshift::new(seed);
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
            let mut some = [0; 4096];
            if let Err(error) = conn
                .stream
                .write_all(&wire(&request))
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
    pending: ReplyReader,
}

impl Connection {
    fn open(addr: SocketAddr) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.set_write_timeout(Some(PATIENCE))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            pending: ReplyReader::new(64 * 1024),
        })
    }

    /// Decodes the next reply and checks it against `item`; returns whether
    /// the server then (rightly) closed the connection.
    fn check(&mut self, item: &Item<'_>, tally: &Tally) -> Result<bool> {
        let mut status = None;
        let mut names = Vec::new();
        let mut size = None;
        let mut verified = 0usize;
        self.pending
            .read_reply(&mut self.stream, &item.request, |event| {
                match event {
                    ReplyEvent::Status(s) => status = Some(s),
                    ReplyEvent::FileName(name) | ReplyEvent::Command(name) => names.push(name),
                    ReplyEvent::Size(s) => size = Some(s),
                    ReplyEvent::Data(bytes) => {
                        let Expect::Data(expected) = item.expect else {
                            bail!("slice data in a reply that should have none");
                        };
                        let end = verified + bytes.len();
                        if expected.get(verified..end) != Some(bytes) {
                            bail!("wrong slice bytes in {verified}..{end}");
                        }
                        verified = end;
                    }
                    ReplyEvent::End => {}
                }
                Ok(())
            })?;
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
            if !self.pending.buffered().is_empty() {
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
