//! `cargo xtask bench`: the end-to-end benchmark of issue 6.
//!
//! It builds `hftp-server` in release, serves a temporary directory, and
//! drives the server with the in-tree load generator ([`load`]); in the
//! same run it measures the references the targets are ratios of —
//! `redis-server` answering inline `PING` to the same generator, and the
//! same base64 bytes blasted over a loopback socket ([`slice`](mod@slice)) — then
//! prints a Markdown table, also written to `target/bench/report.md`.
//!
//! `cargo xtask` builds xtask in the dev profile, and a load generator
//! built without optimisations would measure itself. So the dev build only
//! builds xtask in release and hands over to that binary ([`main`]).

mod load;
pub(crate) mod process;
mod report;
mod slice;

use std::fs;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use load::{Scenario, Workload};
use process::{DataDir, Redis, Server};
use report::{Report, Row, Target};
use slice::Reading;

const USAGE: &str = "\
usage: cargo xtask bench [OPTIONS]

Builds hftp-server in release, serves a temporary directory with it, and
measures, in one run on this machine:
  - get_metadata requests/s and per-batch latency (p50, p99) for every
    connection count and pipelining depth, against redis-server answering
    inline PING to the same load generator (skipped when redis-server is
    not on PATH);
  - one get_slice of a large file, decoded payload MB/s at the client,
    against the same base64 bytes blasted over a loopback socket;
  - the server's peak RSS.
It prints a Markdown table of the figures, their ratios and the targets of
issue 6 (met / not met), and writes it to target/bench/report.md. It exits
0 when the run completed, whether or not the targets were met. The served
files live in target/bench/data while it runs.

options:
  --quick              short runs (whole bench under a minute): 2 s per
                       scenario and a 256 MiB slice
  --duration SECS      measured seconds per scenario [default: 10; quick: 2]
  --connections LIST   connection counts, comma-separated [default: 1,50]
  --depths LIST        pipelining depths, comma-separated [default: 1,16]
  --slice-mib MIB      size of the slice file [default: 1024; quick: 256]
  --slice-runs N       slice and blast runs, the best kept [default: 7; quick: 3]
  --no-redis           skip the redis reference even if it is installed
  -h, --help           this text

The micro benchmarks of the protocol core are separate:
  cargo bench -p hftp-proto
";

/// The file `get_metadata` asks about.
const SMALL_FILE: &str = "archivo.txt";
/// The file `get_slice` reads whole.
const SLICE_FILE: &str = "slice.bin";

/// `hftp-server --workers` when not given.
const SERVER_DEFAULT_WORKERS: usize = 256;

/// The targets of issue 6, as ratios to the references.
const TARGET_UNPIPELINED: f64 = 0.8;
const TARGET_PIPELINED: f64 = 0.5;
const TARGET_SLICE: f64 = 0.75;
const TARGET_RSS_MIB: f64 = 64.0;
/// The connection count and depths the request targets are set at.
const TARGET_CONNECTIONS: usize = 50;
const TARGET_DEPTH_PIPELINED: usize = 16;

/// What the command line asked for.
#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    duration: Duration,
    connections: Vec<usize>,
    depths: Vec<usize>,
    slice_size: u64,
    slice_runs: usize,
    redis: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Option<Options>> {
        let quick = args.iter().any(|arg| arg == "--quick");
        let mut options = Options {
            quick,
            duration: Duration::from_secs(if quick { 2 } else { 10 }),
            connections: vec![1, TARGET_CONNECTIONS],
            depths: vec![1, TARGET_DEPTH_PIPELINED],
            slice_size: if quick { 256 } else { 1024 } << 20,
            slice_runs: if quick { 3 } else { 7 },
            redis: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .with_context(|| format!("`{arg}` needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "--quick" => {}
                "--no-redis" => options.redis = false,
                "--duration" => {
                    let secs: f64 = parse_number(arg, value()?)?;
                    if !(secs.is_finite() && secs > 0.0) {
                        bail!("`--duration` must be a positive number of seconds");
                    }
                    options.duration = Duration::from_secs_f64(secs);
                }
                "--connections" => options.connections = parse_list(arg, value()?)?,
                "--depths" => options.depths = parse_list(arg, value()?)?,
                "--slice-mib" => {
                    let mib: u64 = parse_number(arg, value()?)?;
                    if mib == 0 {
                        bail!("`--slice-mib` must be at least 1");
                    }
                    options.slice_size = mib << 20;
                }
                "--slice-runs" => {
                    options.slice_runs = parse_number(arg, value()?)?;
                    if options.slice_runs == 0 {
                        bail!("`--slice-runs` must be at least 1");
                    }
                }
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown option `{other}`\n\n{USAGE}"),
            }
        }
        Ok(Some(options))
    }

    /// Unmeasured time before each half of a scenario, so that connection
    /// set-up and thread start do not count.
    fn warmup(&self) -> Duration {
        (self.duration / 10).min(Duration::from_secs(1))
    }
}

fn parse_number<T: std::str::FromStr>(option: &str, value: &str) -> Result<T> {
    value
        .parse()
        .ok()
        .with_context(|| format!("`{option}` takes a number, not `{value}`"))
}

fn parse_list(option: &str, value: &str) -> Result<Vec<usize>> {
    let list = value
        .split(',')
        .map(|item| parse_number::<usize>(option, item.trim()))
        .collect::<Result<Vec<_>>>()?;
    if list.is_empty() || list.contains(&0) {
        bail!("`{option}` takes positive numbers, comma-separated");
    }
    Ok(list)
}

/// `cargo xtask bench ARGS`.
pub fn main(args: &[String]) -> Result<()> {
    let Some(options) = Options::parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    if cfg!(debug_assertions) {
        return crate::release::hand_over("bench", args);
    }
    run(&options)
}

/// The whole benchmark, in the optimised build.
fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    eprintln!("xtask bench: building hftp-server in release");
    crate::release::build(&["build", "--release", "-p", "hftp-server"])?;

    eprintln!(
        "xtask bench: writing a {} MiB slice file",
        options.slice_size >> 20
    );
    // Under target/, not /tmp: a run stopped by Ctrl-C leaves its gigabyte
    // where the next run (or `cargo clean`) clears it.
    let data = DataDir::create(
        crate::release::target_dir().join("bench").join("data"),
        SMALL_FILE,
        SLICE_FILE,
        options.slice_size,
    )?;
    // The server serves one connection per worker: more connections than
    // its default pool would wait, not be measured.
    let most = options.connections.iter().copied().max().unwrap_or(1);
    let workers = (most > SERVER_DEFAULT_WORKERS).then_some(most);
    let server = Server::start(&crate::release::binary("hftp-server"), data.path(), workers)?;
    eprintln!("xtask bench: hftp-server serving on {}", server.addr());

    let mut notes = Vec::new();
    let redis = if !options.redis {
        notes.push("redis reference skipped (`--no-redis`).".to_owned());
        None
    } else if let Some(binary) = process::find_on_path("redis-server") {
        let redis = Redis::start(&binary)?;
        eprintln!("xtask bench: redis-server serving on {}", redis.addr());
        Some(redis)
    } else {
        notes.push(
            "redis-server is not on PATH: no request reference, so the request targets are \
             not measured (`apt-get install redis-server`)."
                .to_owned(),
        );
        None
    };

    let mut report = Report::new(context(options));
    requests(options, server.addr(), redis.as_ref(), &mut report)?;
    // Only what a measurement compares runs during it: a redis that has
    // just answered millions of PINGs, though idle, cost the slice runs
    // ~0.7x instead of ~0.9x of the blast in full runs.
    drop(redis);
    slices(options, server.addr(), &mut report)?;

    let rss = server
        .memory("VmHWM")
        .context("could not read the server's peak RSS")?;
    report.push(Row {
        workload: "hftp-server peak RSS (VmHWM)".to_owned(),
        hftp: format!("{:.1} MiB", mib(rss)),
        hftp_latency: String::new(),
        reference: String::new(),
        reference_latency: String::new(),
        ratio: None,
        target: Some(Target::AtMost {
            limit: TARGET_RSS_MIB,
            value: mib(rss),
            unit: "MiB",
        }),
    });
    let served = data.path().to_owned();
    drop(server);
    drop(data);

    notes.push(format!(
        "Each request scenario measures {:.1} s per server, in two halves ordered hftp, redis, \
         redis, hftp, each after {:.2} s of warm-up, against files served from `{}`; latency \
         is per batch (write of `depth` requests → last reply). The slice is decoded with \
         `hftp_proto::ReplyDecoder`; the blast reader, like the diagnostic row, only counts \
         bytes. Slice figures are payload MB/s (10⁶ B/s; base64 bytes × 3/4), the best of {} \
         runs.",
        options.duration.as_secs_f64(),
        options.warmup().as_secs_f64(),
        served.display(),
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
    let dir = crate::release::target_dir().join("bench");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let path = dir.join("report.md");
    fs::write(&path, &markdown).with_context(|| format!("could not write {}", path.display()))?;
    eprintln!("xtask bench: report written to {}", path.display());
    Ok(())
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
    format!(
        "`cargo xtask bench{}` · working tree at {commit} · {cpus} CPUs · {:.0} s per scenario",
        if options.quick { " --quick" } else { "" },
        options.duration.as_secs_f64(),
    )
}

/// `get_metadata` against redis `PING`, scenario by scenario, the two
/// measured back to back so that the machine's noise hits both alike.
fn requests(
    options: &Options,
    hftp: SocketAddr,
    redis: Option<&Redis>,
    report: &mut Report,
) -> Result<()> {
    let mut request = Vec::new();
    hftp_proto::Request::GetMetadata {
        name: hftp_proto::FileName::new(SMALL_FILE).context("the small file's name")?,
    }
    .encode(&mut request);
    let expected = format!("0 OK\r\n{}\r\n", process::SMALL_FILE_LEN);
    let get_metadata = Workload {
        request: &request,
        reply: expected.as_bytes(),
        lines_per_reply: 2,
    };
    let ping = Workload {
        request: b"PING\r\n",
        reply: b"+PONG\r\n",
        lines_per_reply: 1,
    };
    for &connections in &options.connections {
        for &depth in &options.depths {
            let scenario = Scenario {
                connections,
                depth,
                warmup: options.warmup(),
                duration: options.duration / 2,
            };
            eprintln!("xtask bench: requests, {scenario}");
            // Two halves in the order hftp, redis, redis, hftp: a load
            // that drifts during the scenario hits both alike.
            let run_hftp = || {
                load::run(hftp, &get_metadata, &scenario)
                    .with_context(|| format!("get_metadata against hftp-server, {scenario}"))
            };
            let run_redis = |redis: &Redis| {
                load::run(redis.addr(), &ping, &scenario)
                    .with_context(|| format!("PING against redis-server, {scenario}"))
            };
            let first = run_hftp()?;
            let theirs = match redis {
                Some(redis) => Some(run_redis(redis)?.merge(run_redis(redis)?)),
                None => None,
            };
            let ours = first.merge(run_hftp()?);
            let ratio = theirs
                .as_ref()
                .map(|theirs| ours.per_second() / theirs.per_second());
            let target = match (connections, depth) {
                (TARGET_CONNECTIONS, 1) => Some(TARGET_UNPIPELINED),
                (TARGET_CONNECTIONS, TARGET_DEPTH_PIPELINED) => Some(TARGET_PIPELINED),
                _ => None,
            };
            report.push(Row {
                workload: format!(
                    "get_metadata, {connections} conn{}, depth {depth}",
                    if connections == 1 { "" } else { "s" }
                ),
                hftp: format!("{} req/s", si(ours.per_second())),
                hftp_latency: ours.latency_summary(),
                reference: theirs.as_ref().map_or_else(
                    || "redis PING: not run".to_owned(),
                    |theirs| format!("redis PING {} req/s", si(theirs.per_second())),
                ),
                reference_latency: theirs
                    .as_ref()
                    .map_or_else(String::new, load::Outcome::latency_summary),
                ratio,
                target: target.map(|at_least| Target::Ratio { at_least, ratio }),
            });
        }
    }
    Ok(())
}

/// One `get_slice` of the whole slice file against the loopback blast,
/// and, to tell the server's share from the client's, the same slice with
/// its reply only counted.
fn slices(options: &Options, hftp: SocketAddr, report: &mut Report) -> Result<()> {
    let size = options.slice_size;
    let blast_data = slice::BlastData::new(size);
    let (mut decoded, mut counted, mut blast) = (Best::default(), Best::default(), Best::default());
    for run in 1..=options.slice_runs {
        eprintln!(
            "xtask bench: get_slice of {} MiB and the loopback blast, run {run}/{}",
            size >> 20,
            options.slice_runs
        );
        decoded.add(
            slice::hftp_slice(hftp, SLICE_FILE, size, Reading::Decode)
                .context("get_slice against hftp-server")?,
        );
        counted.add(
            slice::hftp_slice(hftp, SLICE_FILE, size, Reading::Count)
                .context("get_slice against hftp-server, reply counted")?,
        );
        blast.add(slice::blast(&blast_data).context("the loopback blast")?);
    }
    let blast_mbps = mb_per_second(size, blast.0);
    let rows = [
        (
            format!("get_slice of {} MiB, decoded", size >> 20),
            decoded.0,
            Some(TARGET_SLICE),
        ),
        (
            format!("get_slice of {} MiB, only counted (diagnostic)", size >> 20),
            counted.0,
            None,
        ),
    ];
    for (workload, time, target) in rows {
        let mbps = mb_per_second(size, time);
        let ratio = Some(mbps / blast_mbps);
        report.push(Row {
            workload,
            hftp: format!("{mbps:.0} MB/s"),
            hftp_latency: format!("whole: {:.2} s", time.as_secs_f64()),
            reference: format!("loopback blast {blast_mbps:.0} MB/s"),
            reference_latency: format!("whole: {:.2} s", blast.0.as_secs_f64()),
            ratio,
            target: target.map(|at_least| Target::Ratio { at_least, ratio }),
        });
    }
    Ok(())
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
}

/// Decoded payload bytes per second, in MB/s (10⁶ bytes).
fn mb_per_second(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e6
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
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

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn quick_defaults_and_overrides() -> Result<()> {
        let options = Options::parse(&args("--quick --connections 2,8 --duration 0.5"))?
            .context("not help")?;
        assert!(options.quick);
        assert_eq!(options.connections, [2, 8]);
        assert_eq!(options.depths, [1, 16]);
        assert_eq!(options.duration, Duration::from_millis(500));
        assert_eq!(options.slice_size, 256 << 20);
        assert_eq!(options.slice_runs, 3);
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
            "--frobnicate",
        ] {
            assert!(Options::parse(&args(line)).is_err(), "{line}");
        }
    }

    #[test]
    fn help_is_not_a_run() -> Result<()> {
        assert!(Options::parse(&args("--quick -h"))?.is_none());
        Ok(())
    }

    #[test]
    fn si_prefixes() {
        assert_eq!(si(812.4), "812");
        assert_eq!(si(45_210.0), "45.2 k");
        assert_eq!(si(1_310_000.0), "1.31 M");
    }
}
