//! Concurrent listings of one big directory, and the server's peak RSS.
//!
//! Why: 50 clients listing a 100k-file directory at once took the
//! thread-pool server to a peak of 1.04 GiB — every listing held its own
//! entries and its whole reply. Concurrent listings of one directory must
//! not multiply that cost; the target is a peak RSS (VmHWM) ≤ 64 MiB.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::load::count_line_ends;
use super::report::{Row, Target, thousands};
use crate::process::Server;
use crate::units::mib;

const TARGET_PEAK_MIB: f64 = 64.0;
/// How long one client may wait for the next bytes of its listing.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const STATUS_LINE: &[u8] = b"0 OK\r\n";

/// How the scenario runs.
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    pub clients: usize,
    /// Files in the served directory.
    pub files: usize,
}

/// The row of one fresh server serving the directory of `listing.files`
/// files.
pub fn row(server: &Server, listing: &Listing) -> Row {
    let before = server.memory("VmHWM");
    let timed = listings(server, listing);
    let peak = server.memory("VmHWM");
    let row = Row::new(
        format!(
            "{} clients listing {} files at once: server peak RSS (VmHWM)",
            listing.clients,
            thousands(listing.files)
        ),
        server,
        format!(
            "{} connections opened first, then each sends `get_file_listing` at the same \
             moment (a barrier) and reads its whole reply; the server's VmHWM after",
            listing.clients
        ),
    );
    match (before, timed, peak) {
        (Ok(before), Ok(elapsed), Ok(peak)) => row
            .figure(
                format!("{:.1} MiB", mib(peak)),
                format!(
                    "all in {:.2} s; {:.1} MiB before",
                    elapsed.as_secs_f64(),
                    mib(before)
                ),
            )
            .target(Target::AtMost {
                limit: TARGET_PEAK_MIB,
                value: mib(peak),
                unit: "MiB",
            }),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => row.failed(&error),
    }
}

/// Runs the listings; returns the time from the barrier to the last reply.
fn listings(server: &Server, listing: &Listing) -> Result<Duration> {
    let streams = (0..listing.clients)
        .map(|_| {
            let stream = TcpStream::connect(server.addr()).context("connect")?;
            stream.set_read_timeout(Some(READ_TIMEOUT))?;
            Ok(stream)
        })
        .collect::<Result<Vec<_>>>()?;
    let barrier = Barrier::new(streams.len() + 1);
    // The status line, one line per file, the empty line.
    let lines = listing.files + 2;
    thread::scope(|scope| {
        let handles: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                let barrier = &barrier;
                scope.spawn(move || read_listing(stream, lines, barrier))
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for handle in handles {
            match handle.join() {
                Ok(result) => result?,
                Err(_) => bail!("a listing client panicked"),
            }
        }
        Ok(start.elapsed())
    })
}

fn read_listing(mut stream: TcpStream, lines: usize, barrier: &Barrier) -> Result<()> {
    let mut buf = vec![0; 64 * 1024];
    barrier.wait();
    stream.write_all(b"get_file_listing\r\n")?;
    let mut seen = 0;
    // The reply's first bytes, kept until they show its status line.
    let mut head = Vec::new();
    while seen < lines {
        let read = stream.read(&mut buf).context("reading the listing")?;
        if read == 0 {
            bail!("the server closed after {seen} of {lines} lines");
        }
        if head.len() < STATUS_LINE.len() {
            head.extend_from_slice(&buf[..read.min(STATUS_LINE.len())]);
            let shown = head.len().min(STATUS_LINE.len());
            if head[..shown] != STATUS_LINE[..shown] {
                bail!("the listing began {:?}", String::from_utf8_lossy(&head));
            }
        }
        seen += count_line_ends(&buf[..read]);
    }
    Ok(())
}
