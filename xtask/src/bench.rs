//! `cargo xtask bench`: the end-to-end benchmark, and the concurrency
//! figures a server must reach.
//!
//! It builds `hftp-server` in release, serves a temporary directory, and
//! drives the server with the in-tree load generator ([`load`]); in the
//! same run it measures the references the targets are ratios of —
//! `redis-server` answering inline `PING` to the same generator, and the
//! same base64 bytes blasted over a loopback socket ([`slice`](mod@slice)).
//! Then the concurrency scenarios, each on a fresh server:
//! idle crowds ([`idle`]), slow clients ([`slowloris`]), stalled readers
//! ([`stalled`]) and concurrent listings ([`listing`]). Every engine the
//! server offers (`--engine`) runs every scenario, side by side; each
//! server runs with its default options, logging included. It prints a
//! Markdown table, also written to `target/bench/report.md`.
//!
//! `cargo xtask` builds xtask in the dev profile, and a load generator
//! built without optimisations would measure itself. So the dev build only
//! builds xtask in release and hands over to that binary ([`main`]).

mod crowd;
mod data;
mod download;
mod idle;
mod listing;
mod load;
mod logcost;
mod probe;
mod redis;
mod report;
mod slice;
mod slowloris;
mod stalled;

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::flags::BenchFlags;
use crate::process::{self, Engine, Server};
use crate::units::mib;
use data::{DataDir, PATTERN_LEN};
use load::{Scenario, Workload};
use probe::Exchange;
use redis::Redis;
use report::{Report, Row, Target, thousands};
use slice::{Body, FileCopy, Reading};

/// The file `get_metadata` asks about.
const SMALL_FILE: &str = "archivo.txt";
/// The file `get_slice` reads whole.
const SLICE_FILE: &str = "slice.bin";

/// The request and slice targets, as ratios to the references: at least
/// redis's PING rate for `get_metadata` at 50 connections, piped or not,
/// and 0.8 of the loopback blast for a slice.
const TARGET_UNPIPELINED: f64 = 1.0;
const TARGET_PIPELINED: f64 = 1.0;
const TARGET_SLICE: f64 = 0.8;
/// A raw slice against a raw blast of the same file: both read it, so
/// only the server's own work stands between the two.
const TARGET_RAW_SLICE: f64 = 0.9;
/// `hftp get` against curl from nginx: one connection, and four.
const TARGET_DOWNLOAD: f64 = 0.9;
const TARGET_DOWNLOAD_PARALLEL: f64 = 1.0;
const TARGET_RSS_MIB: f64 = 64.0;
/// Turns each server of a request scenario is measured in.
const REQUEST_TURNS: u32 = 10;
/// The connection count and depths the request targets are set at.
pub const TARGET_CONNECTIONS: usize = 50;
pub const TARGET_DEPTH_PIPELINED: usize = 16;

/// The counts of the concurrency scenarios. A quick run keeps them (opening
/// them takes a second or two) and shortens the windows instead: a
/// verdict at other counts would not judge the target.
const SLOWLORIS: usize = 1_000;
const SLOW_READERS: usize = 200;
const SLOW_READ_RATE: u64 = 60_000;
const DRIP_EVERY: Duration = Duration::from_secs(3);
const LISTING_CLIENTS: usize = 50;
const LISTING_FILES: usize = 100_000;
/// How long a fresh client may wait for its answer before it counts as
/// not answered.
const PATIENCE: Duration = Duration::from_secs(2);
/// Descriptors the bench keeps for itself beside a crowd (probes, redis,
/// the listing clients).
const SPARE_FDS: usize = 256;

/// The parts of a run, in the order they run.
pub const SECTIONS: [&str; 8] = [
    "requests", "logcost", "slices", "download", "idle", "slow", "stalled", "listing",
];

/// What the command line asked for.
#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    sections: Vec<String>,
    duration: Duration,
    connections: Vec<usize>,
    depths: Vec<usize>,
    slice_size: u64,
    slice_runs: usize,
    idle: usize,
    redis: bool,
}

impl Options {
    /// The run `flags` ask for, with the defaults of a quick run or a full one.
    fn new(flags: &BenchFlags) -> Options {
        let quick = flags.quick;
        Options {
            quick,
            sections: if flags.only.is_empty() {
                SECTIONS.map(str::to_owned).to_vec()
            } else {
                flags.only.clone()
            },
            duration: flags
                .duration
                .unwrap_or(Duration::from_secs(if quick { 2 } else { 10 })),
            connections: flags.connections.clone(),
            depths: flags.depths.clone(),
            slice_size: flags.slice_mib.unwrap_or(if quick { 256 } else { 1024 }) << 20,
            slice_runs: flags.slice_runs.unwrap_or(if quick { 3 } else { 7 }),
            idle: flags.idle,
            redis: !flags.no_redis,
        }
    }

    /// Unmeasured time before each half of a scenario, so that connection
    /// set-up and thread start do not count.
    fn warmup(&self) -> Duration {
        (self.duration / 10).min(Duration::from_secs(1))
    }

    fn runs(&self, section: &str) -> bool {
        self.sections.iter().any(|wanted| wanted == section)
    }

    /// How long a fresh client is probed beside a crowd.
    fn probe_window(&self) -> Duration {
        Duration::from_secs(if self.quick { 3 } else { 10 })
    }
}

/// `cargo xtask bench FLAGS`.
pub fn main(flags: &BenchFlags) -> Result<()> {
    if cfg!(debug_assertions) {
        return crate::release::hand_over("bench");
    }
    run(&Options::new(flags))
}

/// The whole benchmark, in the optimised build.
fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    eprintln!("xtask bench: building hftp-server in release");
    crate::release::build(&["build", "--release", "-p", "hftp-server"])?;
    let binary = crate::release::binary("hftp-server");
    let engines = Engine::all(&binary)?;
    let mut notes = Vec::new();
    if !engines.iter().any(|engine| engine.is_choice()) {
        notes.push(
            "This hftp-server has no `--engine` flag: only its one engine (the thread pool) \
             was measured."
                .to_owned(),
        );
    }

    eprintln!(
        "xtask bench: writing a {} MiB slice file",
        options.slice_size >> 20
    );
    // Under target/, not /tmp: a run stopped by Ctrl-C leaves its gigabyte
    // where the next run (or `cargo clean`) clears it.
    let bench_dir = crate::release::target_dir().join("bench");
    let data = DataDir::create(
        bench_dir.join("data"),
        SMALL_FILE,
        SLICE_FILE,
        options.slice_size,
    )?;
    let exchange = Exchange::get_metadata(SMALL_FILE)?;
    let mut report = Report::new(context(options));

    let log_cost = |report: &mut Report| {
        log_cost(options, &binary, data.path(), &engines, &exchange, report);
    };
    if options.runs("logcost") && !options.runs("requests") {
        log_cost(&mut report);
    }
    if options.runs("requests") || options.runs("slices") || options.runs("download") {
        let servers = engines
            .iter()
            .map(|&engine| Server::start(&binary, data.path(), engine))
            .collect::<Result<Vec<_>>>()?;
        if options.runs("requests") {
            let redis = start_redis(options, &mut notes)?;
            requests(options, &servers, &exchange, redis.as_ref(), &mut report)?;
            notes.push(stat_note(&data.path().join(SMALL_FILE))?);
            log_cost(&mut report);
            // Only what a measurement compares runs during it: a redis
            // that has just answered millions of PINGs, though idle, cost
            // the slice runs ~0.7x instead of ~0.9x of the blast in full
            // runs.
            drop(redis);
        }
        if options.runs("slices") {
            for body in [Body::Base64, Body::Raw] {
                slices(
                    body,
                    options,
                    &servers,
                    data.path(),
                    &mut report,
                    &mut notes,
                )?;
            }
        }
        if options.runs("download") {
            downloads(
                options,
                &servers,
                &data,
                &bench_dir,
                &mut report,
                &mut notes,
            )?;
        }
        for server in &servers {
            let row = Row::new("hftp-server peak RSS (VmHWM)", server, "the rows above");
            report.push(match server.memory("VmHWM") {
                Ok(rss) => row
                    .figure(format!("{:.1} MiB", mib(rss)), "")
                    .target(Target::AtMost {
                        limit: TARGET_RSS_MIB,
                        value: mib(rss),
                        unit: "MiB",
                    }),
                Err(error) => row.failed(&error),
            });
        }
        log_note(&servers, "the request and slice rows", &mut notes);
    }

    let mut fresh = Fresh {
        binary: &binary,
        engines: &engines,
        report: &mut report,
        notes: &mut notes,
    };
    let fds = usize::try_from(process::raise_fd_limit()).unwrap_or(usize::MAX);
    let crowd_room = fds.saturating_sub(SPARE_FDS);
    if options.runs("idle") {
        let connections = options.idle.min(crowd_room);
        if connections < options.idle {
            fresh.notes.push(format!(
                "The bench's open-files limit ({fds}) let it open {} idle connections, not {}.",
                thousands(connections),
                thousands(options.idle)
            ));
        }
        let idle = idle::Idle {
            connections,
            window: options.probe_window(),
            patience: PATIENCE,
        };
        fresh.each_engine(data.path(), "idle", |server| {
            Ok(idle::rows(server, &idle, &exchange))
        });
    }
    if options.runs("slow") {
        let slow = slowloris::Slow {
            loris: SLOWLORIS.min(crowd_room / 2),
            drip_every: DRIP_EVERY,
            readers: SLOW_READERS.min(crowd_room / 2),
            read_rate: SLOW_READ_RATE,
            slice_size: options.slice_size,
            window: options.probe_window() * 2,
            patience: PATIENCE,
        };
        fresh.each_engine(data.path(), "slow", |server| {
            slowloris::rows(server, &slow, &exchange)
        });
    }
    if options.runs("stalled") {
        let stalled = stalled::Stalled {
            slice_size: options.slice_size,
            crowd: if options.quick { 20 } else { 100 },
        };
        fresh.each_engine(data.path(), "stalled", |server| {
            stalled::rows(server, &stalled, &exchange)
        });
    }
    drop(data);
    if options.runs("listing") {
        eprintln!(
            "xtask bench: writing a directory of {} files",
            thousands(LISTING_FILES)
        );
        let listing = listing::Listing {
            clients: LISTING_CLIENTS,
            files: LISTING_FILES,
        };
        let dir = DataDir::many(bench_dir.join("listing"), LISTING_FILES)?;
        fresh.each_engine(dir.path(), "listing", |server| {
            Ok(vec![listing::row(server, &listing)])
        });
    }

    notes.push(format!(
        "Each request scenario measures {:.1} s per server in {REQUEST_TURNS} turns, hftp engines \
         then redis, then the reverse, and so on, the first after {:.2} s of warm-up; latency \
         is per batch (write of `depth` requests → last reply). The slice is decoded with \
         `hftp_proto::ReplyDecoder`; the blast reader, like the diagnostic row, only counts \
         bytes. Slice figures are payload MB/s (10⁶ B/s; base64 bytes × 3/4), the best of {} \
         runs. Every concurrency row is measured on a server started for it alone.",
        options.duration.as_secs_f64(),
        options.warmup().as_secs_f64(),
        options.slice_runs,
    ));
    notes.push("Micro benchmarks: `cargo bench -p hftp-proto`.".to_owned());
    notes.push(format!(
        "Whole run: {:.0} s.",
        started.elapsed().as_secs_f64()
    ));
    report.notes = notes;

    let markdown = report.to_markdown();
    print!("{markdown}");
    fs::create_dir_all(&bench_dir)
        .with_context(|| format!("could not create {}", bench_dir.display()))?;
    let path = bench_dir.join("report.md");
    fs::write(&path, &markdown).with_context(|| format!("could not write {}", path.display()))?;
    eprintln!("xtask bench: report written to {}", path.display());
    Ok(())
}

/// What the concurrency sections share: the server, its engines, and the
/// report they add to.
struct Fresh<'a> {
    binary: &'a Path,
    engines: &'a [Engine],
    report: &'a mut Report,
    notes: &'a mut Vec<String>,
}

impl Fresh<'_> {
    /// Runs one section's `rows` on a fresh server of each engine serving
    /// `dir`, in turn, so that no engine's figures carry another
    /// scenario's memory or load. A section that fails on one engine is a
    /// row saying so; the run goes on.
    fn each_engine(
        &mut self,
        dir: &Path,
        section: &str,
        rows: impl Fn(&Server) -> Result<Vec<Row>>,
    ) {
        for &engine in self.engines {
            eprintln!("xtask bench: {section}, engine {}", engine.label());
            let server = match Server::start(self.binary, dir, engine) {
                Ok(server) => server,
                Err(error) => {
                    self.notes.push(format!(
                        "The {section} rows of engine {} are missing: {error:#}.",
                        engine.label()
                    ));
                    continue;
                }
            };
            match rows(&server) {
                Ok(rows) => rows.into_iter().for_each(|row| self.report.push(row)),
                Err(error) => self
                    .report
                    .push(Row::new(section, &server, "").failed(&error)),
            }
            log_note(
                std::slice::from_ref(&server),
                &format!("its {section} rows"),
                self.notes,
            );
        }
    }
}

/// Says how much each server logged: the default log is part of the cost.
fn log_note(servers: &[Server], during: &str, notes: &mut Vec<String>) {
    for server in servers {
        notes.push(format!(
            "`{}` logged {} to stderr during {during} (read and counted by the bench).",
            server.command(),
            bytes(server.logged())
        ));
    }
}

fn start_redis(options: &Options, notes: &mut Vec<String>) -> Result<Option<Redis>> {
    if !options.redis {
        notes.push("redis reference skipped (`--no-redis`).".to_owned());
        return Ok(None);
    }
    let Some(binary) = process::find_on_path("redis-server") else {
        notes.push(
            "redis-server is not on PATH: no request reference, so the request targets are \
             not measured (`apt-get install redis-server`)."
                .to_owned(),
        );
        return Ok(None);
    };
    let redis = Redis::start(&binary)?;
    eprintln!("xtask bench: redis-server serving on {}", redis.addr());
    Ok(Some(redis))
}

/// The system call a `get_metadata` costs without the events engine's
/// metadata cache, and redis's PING does not: one `stat` of the file (the server's fast path; std's
/// `symlink_metadata` makes the same call), timed here as the mean of many.
fn stat_note(path: &Path) -> Result<String> {
    const CALLS: u32 = 200_000;
    let start = Instant::now();
    for _ in 0..CALLS {
        fs::symlink_metadata(path).with_context(|| format!("could not stat {}", path.display()))?;
    }
    let each = start.elapsed() / CALLS;
    Ok(format!(
        "A `get_metadata` costs the threads engine one `stat` of the file, a system call \
         redis's `PING` does not make: on this machine one took {} ns (mean of {} calls by the \
         bench, one thread), so {TARGET_DEPTH_PIPELINED} of them cost {:.1} µs per batch before \
         any reply is written. The events engine remembers the answer for a name asked for again \
         and pays one `epoll_wait` per socket read instead, to learn of any change first \
         (`hftp-server --no-metadata-cache` turns that off).",
        each.as_nanos(),
        thousands(CALLS as usize),
        (each * TARGET_DEPTH_PIPELINED as u32).as_secs_f64() * 1e6,
    ))
}

/// The line under the report's title: the command, the commit, the machine.
fn context(options: &Options) -> String {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(crate::workspace_root())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |output| String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        );
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let args: Vec<String> = std::env::args().skip(2).collect();
    format!(
        "`cargo xtask bench{}{}` · working tree at {commit} · {cpus} CPUs · {:.0} s per \
         request scenario",
        if args.is_empty() { "" } else { " " },
        args.join(" "),
        options.duration.as_secs_f64(),
    )
}

/// `get_metadata` against redis `PING`, scenario by scenario, every engine
/// and redis measured back to back so that the machine's noise hits all
/// alike.
fn requests(
    options: &Options,
    servers: &[Server],
    exchange: &Exchange,
    redis: Option<&Redis>,
    report: &mut Report,
) -> Result<()> {
    let get_metadata = Workload {
        request: &exchange.request,
        reply: &exchange.reply,
        lines_per_reply: 2,
    };
    for &connections in &options.connections {
        for &depth in &options.depths {
            let scenario = Scenario {
                connections,
                depth,
                warmup: options.warmup(),
                duration: options.duration,
            };
            eprintln!("xtask bench: requests, {scenario}");
            // Every engine and redis in turns (see `load::in_turns`). A
            // server that fails is a row; redis failing is the machine's
            // problem and ends the run.
            let mut targets: Vec<(SocketAddr, &Workload<'_>, String)> = servers
                .iter()
                .map(|server| {
                    let what = format!("get_metadata against engine {}", server.engine().label());
                    (server.addr(), &get_metadata, what)
                })
                .collect();
            if let Some(redis) = redis {
                targets.push((
                    redis.addr(),
                    &load::PING,
                    "PING against redis-server".to_owned(),
                ));
            }
            let mut ours = load::in_turns(
                &targets,
                &scenario,
                REQUEST_TURNS,
                |(addr, workload, what), scenario| {
                    load::run(*addr, workload, scenario)
                        .with_context(|| format!("{what}, {scenario}"))
                },
            );
            let theirs = match redis {
                Some(_) => Some(ours.pop().context("no outcome for redis")??),
                None => None,
            };
            let target = match (connections, depth) {
                (TARGET_CONNECTIONS, 1) => Some(TARGET_UNPIPELINED),
                (TARGET_CONNECTIONS, TARGET_DEPTH_PIPELINED) => Some(TARGET_PIPELINED),
                _ => None,
            };
            let workload = format!(
                "get_metadata, {connections} conn{}, depth {depth}",
                if connections == 1 { "" } else { "s" }
            );
            let batch = if depth == 1 {
                format!("one `get_metadata {SMALL_FILE}` and reading its reply")
            } else {
                format!(
                    "{depth} × `get_metadata {SMALL_FILE}` at once and reading all {depth} \
                     replies"
                )
            };
            let client = format!(
                "{connections} connection{}, one thread each, writing {batch}, again and again; \
                 redis gets `PING` the same way",
                if connections == 1 { "" } else { "s" }
            );
            for (server, outcome) in servers.iter().zip(ours) {
                let row = Row::new(&workload, server, &client);
                let outcome = match outcome {
                    Ok(outcome) => outcome,
                    Err(error) => {
                        report.push(row.failed(&error));
                        continue;
                    }
                };
                let ratio = theirs
                    .as_ref()
                    .map(|theirs| outcome.per_second() / theirs.per_second());
                let mut row = row.figure(
                    format!("{} req/s", si(outcome.per_second())),
                    outcome.latency_summary(),
                );
                row.reference = theirs.as_ref().map_or_else(
                    || "redis PING: not run".to_owned(),
                    |theirs| format!("redis PING {} req/s", si(theirs.per_second())),
                );
                row.reference_latency = theirs
                    .as_ref()
                    .map_or_else(String::new, load::Outcome::latency_summary);
                row.ratio = ratio;
                row.target = target.map(|at_least| Target::Ratio { at_least, ratio });
                report.push(row);
            }
        }
    }
    Ok(())
}

/// The default engine's `get_metadata` rate at the default log level
/// against `-qq`, on two fresh servers of their own.
fn log_cost(
    options: &Options,
    binary: &Path,
    dir: &Path,
    engines: &[Engine],
    exchange: &Exchange,
    report: &mut Report,
) {
    let Some(&engine) = engines.first() else {
        return;
    };
    eprintln!("xtask bench: requests, the access log's cost");
    let cost = logcost::LogCost {
        binary,
        dir,
        engine,
        workload: Workload {
            request: &exchange.request,
            reply: &exchange.reply,
            lines_per_reply: 2,
        },
        connections: TARGET_CONNECTIONS,
        depth: TARGET_DEPTH_PIPELINED,
        warmup: options.warmup(),
        duration: options.duration,
    };
    match logcost::row(&cost) {
        Ok(row) => report.push(row),
        Err(error) => report.push(
            Row {
                workload: "get_metadata, default log vs -qq".to_owned(),
                engine: engine.label().to_owned(),
                ..Row::default()
            }
            .failed(&error),
        ),
    }
}

/// One `get_slice` of the whole slice file from every engine, with a body
/// of one kind, against a blast of the same reply bytes (base64 from
/// memory, since encoding is the server's work to measure; raw from the
/// file itself, as the server must read it), and, to tell the server's
/// share from the client's, the same slice with its reply only counted.
fn slices(
    body: Body,
    options: &Options,
    servers: &[Server],
    data_dir: &Path,
    report: &mut Report,
    notes: &mut Vec<String>,
) -> Result<()> {
    let size = options.slice_size;
    let blast_data = slice::BlastData::new(size, body);
    let slice_path = data_dir.join(SLICE_FILE);
    let (kind, request, target, blast_how) = match body {
        Body::Base64 => (
            "",
            format!("get_slice {SLICE_FILE} 0 {size}"),
            TARGET_SLICE,
            "the blast writes the same reply bytes, pre-encoded, from memory over a loopback \
             socket with a 4 MiB send buffer",
        ),
        Body::Raw => (
            "raw ",
            format!("get_slice {SLICE_FILE} 0 {size} raw"),
            TARGET_RAW_SLICE,
            "the blast writes the same reply bytes, its head and then the file itself, over a \
             loopback socket, by sendfile(2) and by pread/write of 768 KiB, the faster of the two",
        ),
    };
    let mut blast = Best::default();
    // A raw blast from memory too, for the note: the copy alone, no file
    // read.
    let mut from_memory = Best::default();
    let mut best = Best::per_server::<2>(servers);
    for run in 1..=options.slice_runs {
        eprintln!(
            "xtask bench: {kind}get_slice of {} MiB and the loopback blast, run {run}/{}",
            size >> 20,
            options.slice_runs
        );
        for (server, best) in servers.iter().zip(&mut best) {
            for (reading, best) in [Reading::Decode, Reading::Count].into_iter().zip(best) {
                Best::record(best, || {
                    slice::hftp_slice(server.addr(), SLICE_FILE, size, body, reading)
                });
            }
        }
        match body {
            Body::Base64 => blast.add(slice::blast(&blast_data).context("the loopback blast")?),
            Body::Raw => {
                for copy in [FileCopy::Sendfile, FileCopy::ReadWrite] {
                    blast.add(
                        slice::file_blast(&slice_path, size, copy)
                            .with_context(|| format!("the loopback blast by {copy:?}"))?,
                    );
                }
                from_memory.add(slice::blast(&blast_data).context("the loopback blast")?);
            }
        }
    }
    if body == Body::Raw {
        notes.push(format!(
            "The raw slice's reference reads the file, as the server must. The same raw reply \
             written from one {} KiB pattern held in cache, never touching the file, moved \
             {:.0} MB/s (best of {} runs).",
            PATTERN_LEN >> 10,
            mb_per_second(size, from_memory.0),
            options.slice_runs,
        ));
    }
    for (server, [decoded, counted]) in servers.iter().zip(best) {
        let rows = [
            (
                format!("{kind}get_slice of {} MiB, decoded", size >> 20),
                decoded,
                Some(target),
                "decoded with `hftp_proto::ReplyDecoder`",
            ),
            (
                format!(
                    "{kind}get_slice of {} MiB, only counted (diagnostic)",
                    size >> 20
                ),
                counted,
                None,
                "only counted, as the blast reader does",
            ),
        ];
        for (workload, time, target, reading) in rows {
            let client = format!(
                "one connection sends `{request}` and reads the reply 256 KiB at a time, \
                 {reading}; {blast_how}; best of {} runs",
                options.slice_runs
            );
            let row = Row::new(workload, server, client);
            let reference = format!("{kind}loopback blast");
            report.push(transfer_row(row, time, size, &reference, &blast, target));
        }
    }
    Ok(())
}

/// `hftp get` of the slice file to a local file, with one connection and
/// with four, against curl fetching it from nginx, best of the slice runs
/// each, interleaved.
fn downloads(
    options: &Options,
    servers: &[Server],
    data: &DataDir,
    bench_dir: &std::path::Path,
    report: &mut Report,
    notes: &mut Vec<String>,
) -> Result<()> {
    let Some(nginx_binary) = process::find_on_path("nginx").or_else(|| {
        let packaged = std::path::PathBuf::from("/usr/sbin/nginx");
        packaged.exists().then_some(packaged)
    }) else {
        notes.push(
            "nginx is not installed: no download reference, so the download targets are not \
             measured (`apt-get install nginx-light`)."
                .to_owned(),
        );
        return Ok(());
    };
    let Some(curl) = process::find_on_path("curl") else {
        notes.push("curl is not on PATH: the download rows are not measured.".to_owned());
        return Ok(());
    };
    eprintln!("xtask bench: building hftp in release");
    crate::release::build(&["build", "--release", "-p", "hftp-client"])?;
    let hftp = crate::release::binary("hftp");
    let nginx = download::Nginx::start(&nginx_binary, data.path(), &bench_dir.join("nginx"))?;
    let out = download::out_dir(bench_dir)?.join(SLICE_FILE);
    let size = options.slice_size;
    let mut reference = Best::default();
    let mut best = Best::per_server::<2>(servers);
    for run in 1..=options.slice_runs {
        eprintln!(
            "xtask bench: hftp get and curl of {} MiB, run {run}/{}",
            size >> 20,
            options.slice_runs
        );
        let mut curl_command = Command::new(&curl);
        curl_command
            .args(["-s", "-f", "-o"])
            .arg(&out)
            .arg(nginx.url(SLICE_FILE));
        reference.add(download::fetch(&mut curl_command, &out, size).context("curl from nginx")?);
        for (server, best) in servers.iter().zip(&mut best) {
            for (jobs, best) in ["1", "4"].into_iter().zip(best.iter_mut()) {
                Best::record(best, || {
                    let mut get = Command::new(&hftp);
                    get.args(["-H", "127.0.0.1", "-p"])
                        .arg(server.addr().port().to_string())
                        .args(["get", "-j", jobs, SLICE_FILE, "-o"])
                        .arg(&out);
                    download::fetch(&mut get, &out, size)
                });
            }
        }
    }
    for (server, [one, four]) in servers.iter().zip(best) {
        for (jobs, time, target) in [
            (1, one, TARGET_DOWNLOAD),
            (4, four, TARGET_DOWNLOAD_PARALLEL),
        ] {
            let row = Row::new(
                format!("hftp get of {} MiB to a file, -j {jobs}", size >> 20),
                server,
                format!(
                    "`hftp -H 127.0.0.1 -p PORT get -j {jobs} {SLICE_FILE} -o FILE` against \
                     `curl -s -f -o FILE` of the same file from nginx (one process, sendfile on), \
                     on loopback; both write to target/bench/download; best of {} runs",
                    options.slice_runs
                ),
            );
            report.push(transfer_row(
                row,
                time,
                size,
                "curl from nginx",
                &reference,
                Some(target),
            ));
        }
    }
    Ok(())
}

/// A row of a transfer of `size` bytes that took `time` (its best run),
/// against `reference` that took `reference_time`: MB/s each, the ratio,
/// and the target on it.
fn transfer_row(
    row: Row,
    time: Result<Best>,
    size: u64,
    reference: &str,
    reference_time: &Best,
    target: Option<f64>,
) -> Row {
    let time = match time {
        Ok(time) => time.0,
        Err(error) => return row.failed(&error),
    };
    let mbps = mb_per_second(size, time);
    let reference_mbps = mb_per_second(size, reference_time.0);
    let ratio = Some(mbps / reference_mbps);
    let mut row = row.figure(
        format!("{mbps:.0} MB/s"),
        format!("whole: {:.2} s", time.as_secs_f64()),
    );
    row.reference = format!("{reference} {reference_mbps:.0} MB/s");
    row.reference_latency = format!("whole: {:.2} s", reference_time.0.as_secs_f64());
    row.ratio = ratio;
    row.target = target.map(|at_least| Target::Ratio { at_least, ratio });
    row
}

/// The shortest of several runs.
#[derive(Debug)]
struct Best(Duration);

impl Default for Best {
    fn default() -> Best {
        Best(Duration::MAX)
    }
}

impl Best {
    fn add(&mut self, time: Duration) {
        self.0 = self.0.min(time);
    }

    /// For each server, `N` ways of measuring it, none run yet.
    fn per_server<const N: usize>(servers: &[Server]) -> Vec<[Result<Best>; N]> {
        servers
            .iter()
            .map(|_| std::array::from_fn(|_| Ok(Best::default())))
            .collect()
    }

    /// Runs one more try of a way of measuring unless an earlier one
    /// failed: its time counts, or its error ends that way's tries.
    fn record(best: &mut Result<Best>, run: impl FnOnce() -> Result<Duration>) {
        if let Ok(so_far) = best {
            match run() {
                Ok(time) => so_far.add(time),
                Err(error) => *best = Err(error),
            }
        }
    }
}

/// Decoded payload bytes per second, in MB/s (10⁶ bytes).
fn mb_per_second(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e6
}

/// A byte count in SI units: `812 B`, `45.2 kB`, `172.0 MB`.
fn bytes(count: u64) -> String {
    match count {
        0..1_000 => format!("{count} B"),
        1_000..1_000_000 => format!("{:.1} kB", count as f64 / 1e3),
        _ => format!("{:.1} MB", count as f64 / 1e6),
    }
}

/// A rate with an SI prefix: `812`, `45.2 k`, `1.31 M`.
fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{Task, parse};
    use anyhow::bail;

    /// The run `line` (flags after `cargo xtask bench`) asks for; `None`
    /// for help.
    fn options(line: &str) -> Result<Option<Options>> {
        Ok(match parse(&format!("bench {line}"))? {
            Some(Task::Bench(flags)) => Some(Options::new(&flags)),
            Some(other) => bail!("not bench: {other:?}"),
            None => None,
        })
    }

    #[test]
    fn quick_defaults_and_overrides() -> Result<()> {
        let quick = options("--quick --connections 2,8 --duration 0.5")?.context("not help")?;
        assert!(quick.quick);
        assert_eq!(quick.connections, [2, 8]);
        assert_eq!(quick.depths, [1, 16]);
        assert_eq!(quick.duration, Duration::from_millis(500));
        assert_eq!(quick.slice_size, 256 << 20);
        assert_eq!(quick.slice_runs, 3);
        let full = options("--only requests,idle")?.context("not help")?;
        assert_eq!((full.slice_size, full.slice_runs), (1024 << 20, 7));
        assert_eq!(full.sections, ["requests", "idle"]);
        assert_eq!(full.idle, 10_000);
        Ok(())
    }

    #[test]
    fn bad_options_are_refused() {
        for line in [
            "--connections 0",
            "--connections 1,,2",
            "--depths x",
            "--duration -1",
            "--duration",
            "--slice-mib 0",
            "--slice-runs 0",
            "--idle 0",
            "--only requests,everything",
            "--frobnicate",
        ] {
            assert!(options(line).is_err(), "{line}");
        }
    }

    #[test]
    fn help_is_not_a_run() -> Result<()> {
        assert!(options("--quick -h")?.is_none());
        Ok(())
    }

    #[test]
    fn si_prefixes() {
        assert_eq!(si(812.4), "812");
        assert_eq!(si(45_210.0), "45.2 k");
        assert_eq!(si(1_310_000.0), "1.31 M");
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(45_210), "45.2 kB");
        assert_eq!(bytes(172_000_000), "172.0 MB");
    }
}
