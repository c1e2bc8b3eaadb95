//! Stalled readers: clients that ask a big `get_slice` and read nothing,
//! and what each costs the server in resident memory.
//!
//! Why: a stalled reader is the cheapest way to make a server hold a
//! reply, and HFTP.md asks a server's memory per connection to stay small
//! whatever the client does. The thread-pool server held 464 KiB per
//! stalled reader (a worker's stack and buffers); the target is ≤ 64 KiB.
//! The kernel's socket buffers are not in the server's RSS, so this is
//! the server's own cost. One reader is the target's figure; a crowd of them, averaged, is the
//! steadier per-connection figure beside it.

use anyhow::{Context, Result};

use super::crowd::Crowd;
use super::data::SMALL_FILE_LEN;
use super::probe::{self, Exchange, Probe};
use super::report::{Row, Target, thousands};
use super::slice::{self, Body, Reading};
use super::{SLICE_FILE, SMALL_FILE};
use crate::process::Server;

const TARGET_KIB: f64 = 64.0;
/// A raw slice in flight against a tiny one: a page or two of noise.
const TARGET_RAW_KIB: f64 = 8.0;
/// The warm-up slice: enough to take the server's slice path through
/// every buffer it has once.
const WARM_SLICE: u64 = 4 << 20;

/// How the scenario runs.
#[derive(Debug, Clone, Copy)]
pub struct Stalled {
    /// The size each stalled reader asks for (the slice file's).
    pub slice_size: u64,
    /// The readers of the averaged row.
    pub crowd: usize,
}

/// One [`WARM_SLICE`] read whole per CPU, on connections one after the
/// other: the events engine hands them to its loops in turn (one loop per
/// CPU by default), so each loop's slice buffers are used once; the thread
/// pool's first workers alike.
fn warm_every_loop(server: &Server, body: Body) -> Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    for _ in 0..cpus {
        slice::hftp_slice(server.addr(), SLICE_FILE, WARM_SLICE, body, Reading::Count)?;
    }
    Ok(())
}

/// The rows of one fresh server: one stalled reader's RSS growth, and a
/// crowd's growth per connection.
pub fn rows(server: &Server, stalled: &Stalled, exchange: &Exchange) -> Result<Vec<Row>> {
    let request = slice::request(SLICE_FILE, stalled.slice_size)?;
    // What every connection's first request costs once (code paged in,
    // the allocator's first arenas) is not any one connection's.
    let warm = Probe {
        tries: 1,
        every: std::time::Duration::ZERO,
        patience: std::time::Duration::from_secs(5),
    };
    let warmed = probe::run(server.addr(), exchange, &warm);
    if let Some(why) = warmed.first_failure {
        anyhow::bail!("the warm-up get_metadata failed: {why}");
    }
    warm_every_loop(server, Body::Base64).context("the warm-up get_slice")?;
    let kib = |bytes: u64| bytes as f64 / 1024.0;
    let baseline = server.settled_rss()?;
    let one = Crowd::open(server.addr(), 1, &request);
    let with_one = server.settled_rss()?;
    let more = Crowd::open(server.addr(), stalled.crowd.saturating_sub(1), &request);
    let with_crowd = server.settled_rss()?;
    let held = one.len() + more.len();
    let one_whole = one.is_whole();
    drop((one, more));
    // A raw slice's body goes from the file to the socket through the
    // engine's own buffer: once that has been used (a raw warm-up slice),
    // one in flight must cost no more than a tiny one read whole.
    warm_every_loop(server, Body::Raw).context("the raw warm-up get_slice")?;
    slice::hftp_slice(
        server.addr(),
        SMALL_FILE,
        SMALL_FILE_LEN as u64,
        Body::Raw,
        Reading::Count,
    )
    .context("the small raw slice")?;
    let after_small_raw = server.settled_rss()?;
    let raw_request = slice::body_request(SLICE_FILE, stalled.slice_size, Body::Raw)?;
    let raw = Crowd::open(server.addr(), 1, &raw_request);
    let with_raw = server.settled_rss()?;
    let raw_growth = kib(with_raw.saturating_sub(after_small_raw));
    let one_growth = kib(with_one.saturating_sub(baseline));
    let per_connection = kib(with_crowd.saturating_sub(baseline)) / held.max(1) as f64;
    let asks = format!("`get_slice {SLICE_FILE} 0 {}`", stalled.slice_size);
    let before = format!(
        "after one `get_metadata {SMALL_FILE}` and one {} MiB slice read whole per CPU (an \
         event loop's buffers, one loop per CPU, serve all its connections), VmRSS once \
         settled (unchanged for 0.5 s)",
        WARM_SLICE >> 20
    );
    Ok(vec![
        Row::new(
            format!(
                "1 stalled reader of a {} MiB slice: RSS growth",
                stalled.slice_size >> 20
            ),
            server,
            format!(
                "{before}; then one connection sends {asks} and reads nothing; VmRSS settled again"
            ),
        )
        .figure(
            format!("{one_growth:.0} KiB"),
            format!("baseline {:.1} MiB", kib(baseline) / 1024.0),
        )
        .target(Target::AtMost {
            limit: TARGET_KIB,
            value: if one_whole {
                one_growth
            } else {
                f64::INFINITY
            },
            unit: "KiB",
        }),
        Row::new(
            format!(
                "{} stalled readers: RSS growth per connection (diagnostic)",
                thousands(stalled.crowd)
            ),
            server,
            format!(
                "{before}; then {} connections each send {asks} and read nothing; VmRSS \
                 settled again, growth divided by the connections held",
                thousands(stalled.crowd)
            ),
        )
        .figure(
            format!("{per_connection:.0} KiB"),
            format!(
                "{} held; +{:.1} MiB",
                thousands(held),
                kib(with_crowd.saturating_sub(baseline)) / 1024.0
            ),
        ),
        Row::new(
            format!(
                "a raw {} MiB slice in flight: RSS above a raw {SMALL_FILE_LEN}-byte one's",
                stalled.slice_size >> 20
            ),
            server,
            format!(
                "the stalled readers gone, a raw {} MiB warm-up slice per CPU and one raw `get_slice \
                 {SMALL_FILE} 0 {SMALL_FILE_LEN} raw` read whole, VmRSS settled; then one connection sends `get_slice \
                 {SLICE_FILE} 0 {} raw` and reads nothing (the server has sent what the \
                 socket buffers hold); VmRSS settled again",
                WARM_SLICE >> 20,
                stalled.slice_size
            ),
        )
        .figure(
            format!("{raw_growth:.0} KiB"),
            format!("baseline {:.1} MiB", kib(after_small_raw) / 1024.0),
        )
        .target(Target::AtMost {
            limit: TARGET_RAW_KIB,
            value: if raw.is_whole() {
                raw_growth
            } else {
                f64::INFINITY
            },
            unit: "KiB",
        }),
    ])
}
