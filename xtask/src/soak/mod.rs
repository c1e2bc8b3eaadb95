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
//!
//! [`files`] makes the served files, [`mix`] draws the requests and what
//! each must get, [`client`] runs one client and checks every reply,
//! [`Tally`] adds up what the clients saw, [`level`] judges whether the
//! server's memory levelled off; this module runs them and reports.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::flags::SoakFlags;
use crate::process::{Engine, Server};
use crate::units::mib;
use files::Files;
use level::Level;

mod client;
mod files;
mod level;
mod mix;

/// How often the server's RSS is sampled during the run.
const RSS_SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// At most this many error messages are kept for the report.
const ERRORS_SHOWN: usize = 10;

/// What the command line asked for.
#[derive(Debug)]
struct Options {
    clients: usize,
    duration: Duration,
}

impl Options {
    fn new(flags: &SoakFlags) -> Options {
        let default = Duration::from_secs(if flags.quick { 10 } else { 60 });
        Options {
            clients: flags.clients,
            duration: flags.duration.unwrap_or(default),
        }
    }
}

/// `cargo xtask soak FLAGS`.
pub fn main(flags: &SoakFlags) -> Result<()> {
    if cfg!(debug_assertions) {
        return crate::release::hand_over("soak");
    }
    run(&Options::new(flags))
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
                    client::run(addr, files, tally, index as u64 + 1, deadline);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{Task, parse};

    fn options(line: &str) -> Result<Option<Options>> {
        Ok(match parse(&format!("soak {line}"))? {
            Some(Task::Soak(flags)) => Some(Options::new(&flags)),
            Some(other) => bail!("not soak: {other:?}"),
            None => None,
        })
    }

    #[test]
    fn options_and_their_defaults() -> Result<()> {
        let defaults = options("")?.context("options")?;
        assert_eq!((defaults.clients, defaults.duration.as_secs()), (100, 60));
        let quick = options("--quick --clients 7")?.context("options")?;
        assert_eq!((quick.clients, quick.duration.as_secs()), (7, 10));
        let long = options("--duration 600")?.context("options")?;
        assert_eq!(long.duration.as_secs(), 600);
        assert!(options("--help")?.is_none());
        assert!(options("--clients 0").is_err());
        assert!(options("--duration").is_err());
        assert!(options("--bogus").is_err());
        Ok(())
    }
}
