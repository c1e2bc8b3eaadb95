//! Slow clients: slowloris connections that send a request one byte at a
//! time and never finish it, slow readers that ask a large `get_slice` and
//! read it at a trickle, and a fresh client timed meanwhile.
//!
//! Why: testing found that 260 connections sending one byte every 20 s,
//! or 256 clients reading a slice at about 60 KB/s, locked every new
//! client out of the thread-pool server. HFTP.md forbids it: a slow client
//! costs its own connection only. The target: with 1,000 slowloris and 200
//! slow readers held, a fresh `get_metadata` at p99 ≤ 50 ms, none failed.

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::crowd::Crowd;
use super::probe::{self, Exchange, Probe};
use super::report::{Row, Target, thousands};
use super::slice;
use super::{SLICE_FILE, SMALL_FILE};
use crate::process::Server;

const TARGET_P99_MS: f64 = 50.0;
/// What a slowloris sends, a byte at a time: a request line that never
/// ends. Far below any line limit in the time a run takes.
const DRIP: &[u8] =
    b"get_metadata aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// How often the slow readers' reading thread wakes.
const READ_TICK: Duration = Duration::from_millis(20);

/// How the scenario runs.
#[derive(Debug, Clone, Copy)]
pub struct Slow {
    pub loris: usize,
    /// Each slowloris sends its next byte this often.
    pub drip_every: Duration,
    pub readers: usize,
    /// Bytes per second each slow reader reads.
    pub read_rate: u64,
    /// The size each slow reader asks for (the slice file's).
    pub slice_size: u64,
    pub window: Duration,
    pub patience: Duration,
}

/// What the crowd's own threads saw while the probe ran.
#[derive(Debug, Default)]
struct Seen {
    /// Slowloris connections whose next byte could not be sent.
    loris_cut: usize,
    /// Slow readers whose reply ended or failed before the run did.
    readers_cut: usize,
    /// Bytes the slow readers read, all together.
    read: u64,
}

/// The rows of one server: the fresh client's latency, and its failures.
pub fn rows(server: &Server, slow: &Slow, exchange: &Exchange) -> Result<Vec<Row>> {
    let request = slice::request(SLICE_FILE, slow.slice_size)?;
    // Readers first: they are the ones that hold a thread-pool server's
    // workers for good, so the pool fills as it would for a user.
    let mut readers = Crowd::open(server.addr(), slow.readers, &request);
    let mut loris = Crowd::open(server.addr(), slow.loris, b"");
    for stream in readers.streams.iter().chain(&loris.streams) {
        stream.set_nonblocking(true)?;
    }
    let probe = Probe::over(slow.window, slow.patience);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (probed, seen) = thread::scope(|scope| {
        let drip = scope.spawn(|| drip(&mut loris, slow.drip_every, &stop));
        let read = scope.spawn(|| read_slowly(&mut readers, slow.read_rate, &stop));
        let probed = probe::run(server.addr(), exchange, &probe);
        stop.store(true, Ordering::Relaxed);
        let loris_cut = drip.join().unwrap_or(usize::MAX);
        let (readers_cut, read) = read.join().unwrap_or((usize::MAX, 0));
        (
            probed,
            Seen {
                loris_cut,
                readers_cut,
                read,
            },
        )
    });
    let elapsed = started.elapsed().as_secs_f64();
    let per_reader = seen.read as f64 / elapsed / readers.len().max(1) as f64 / 1e3;
    let crowd = format!(
        "slowloris {}, {} cut; slow readers {}, {} cut, {per_reader:.0} KB/s each",
        loris.held(),
        thousands(seen.loris_cut),
        readers.held(),
        thousands(seen.readers_cut),
    );
    let client = format!(
        "{} slow readers (each sends `get_slice {SLICE_FILE} 0 {}` and reads {} KB/s), then \
         {} slowloris (each sends one byte of `{}…` every {} s, never a line end) ({}); \
         meanwhile {}",
        thousands(slow.readers),
        slow.slice_size,
        slow.read_rate / 1000,
        thousands(slow.loris),
        String::from_utf8_lossy(&DRIP[..16]),
        slow.drip_every.as_secs(),
        Crowd::rule(),
        probe.describe(&format!("get_metadata {SMALL_FILE}"))
    );
    let workload = format!(
        "fresh get_metadata beside {} slowloris + {} slow readers",
        thousands(slow.loris),
        thousands(slow.readers)
    );
    let whole = loris.is_whole() && readers.is_whole();
    Ok(vec![
        Row::new(workload.clone(), server, &client)
            .figure(probed.answered_text(), probed.latency_text())
            .target(Target::AtMost {
                limit: TARGET_P99_MS,
                value: if whole {
                    probed.p99_ms()
                } else {
                    f64::INFINITY
                },
                unit: "ms p99",
            }),
        Row::new(format!("{workload}: failures"), server, &client)
            .figure(
                format!("{} of {} failed", probed.failures, probed.tries),
                crowd,
            )
            .target(Target::None {
                count: probed.failures,
                what: "failure",
            }),
    ])
}

/// Sends each slowloris its next byte every `every`, spread evenly, until
/// `stop`; returns how many could not be sent to (closed by the server).
fn drip(loris: &mut Crowd, every: Duration, stop: &AtomicBool) -> usize {
    let count = loris.streams.len();
    if count == 0 {
        return 0;
    }
    let gap = every / u32::try_from(count).unwrap_or(u32::MAX);
    let mut sent = vec![0usize; count];
    let mut cut = vec![false; count];
    let start = Instant::now();
    let mut turn = 0u32;
    while !stop.load(Ordering::Relaxed) {
        for (index, stream) in loris.streams.iter_mut().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let due = start + every * turn + gap * u32::try_from(index).unwrap_or(0);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            if cut[index] {
                continue;
            }
            let byte = &DRIP[sent[index] % DRIP.len()..][..1];
            match stream.write(byte) {
                Ok(1) => sent[index] += 1,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                _ => cut[index] = true,
            }
        }
        turn += 1;
    }
    cut.iter().filter(|&&cut| cut).count()
}

/// Reads each slow reader's reply at `rate` bytes per second until `stop`;
/// returns how many replies ended or failed early, and the bytes read.
fn read_slowly(readers: &mut Crowd, rate: u64, stop: &AtomicBool) -> (usize, u64) {
    let mut buf = vec![0; 64 * 1024];
    let mut got = vec![0u64; readers.streams.len()];
    let mut cut = vec![false; readers.streams.len()];
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(READ_TICK);
        let allowed = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        for (index, stream) in readers.streams.iter_mut().enumerate() {
            let want = usize::try_from(allowed.saturating_sub(got[index]))
                .unwrap_or(usize::MAX)
                .min(buf.len());
            if cut[index] || want == 0 {
                continue;
            }
            match stream.read(&mut buf[..want]) {
                Ok(0) => cut[index] = true,
                Ok(read) => got[index] += read as u64,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(_) => cut[index] = true,
            }
        }
    }
    (cut.iter().filter(|&&cut| cut).count(), got.iter().sum())
}
