//! Every task's flags, declared once: what `cargo xtask --help` and each
//! task's `--help` print is read from the doc comments here.

use std::str::FromStr;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};

use crate::bench;

/// Project automation for the HFTP workspace, in the cargo-xtask style.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
#[command(arg_required_else_help = true)]
pub struct Xtask {
    #[command(subcommand)]
    pub task: Task,
}

#[derive(Debug, Subcommand)]
pub enum Task {
    /// The one test command: fmt, clippy, tests (the server's suite against
    /// both engines), doc tests, docs; stops at the first failure.
    Ci,
    /// The end-to-end benchmark against redis PING and a loopback blast;
    /// opt-in, not part of `ci`.
    ///
    /// Builds hftp-server in release, serves a temporary directory with it,
    /// and measures, in one run on this machine, for every engine the
    /// server offers (`--engine`; the server is always started with its
    /// default options, logging included), section by section:
    ///
    /// requests: get_metadata requests/s and per-batch latency (p50, p99)
    /// for every connection count and pipelining depth, against
    /// redis-server answering inline PING to the same load generator
    /// (skipped when redis-server is not on PATH); and logcost.
    ///
    /// logcost: get_metadata at 50 connections, depth 16, the default
    /// engine at its default log level against itself at -qq (also part
    /// of requests).
    ///
    /// slices: one get_slice of a large file, base64 and raw, decoded
    /// payload MB/s at the client, against the same reply bytes blasted
    /// over a loopback socket (base64 from memory; raw read from the file
    /// itself, as the server must); and the server's peak RSS.
    ///
    /// download: `hftp get` of the slice file to a local file, one
    /// connection and four, against curl fetching it from nginx on
    /// loopback (skipped when nginx is not installed).
    ///
    /// idle: 10,000 idle connections held at once: server RSS, and a fresh
    /// client's get_metadata latency meanwhile.
    ///
    /// slow: 1,000 slowloris connections plus 200 slow slice readers, and a
    /// fresh client's get_metadata latency and failures meanwhile.
    ///
    /// stalled: the RSS a stalled reader of a big slice costs the server.
    ///
    /// listing: 50 clients listing a 100,000-file directory at once: the
    /// server's peak RSS.
    ///
    /// It prints a Markdown table of the figures, their ratios, the
    /// project's targets (met / not met) and the command behind every row,
    /// and writes it to target/bench/report.md. It exits 0 when the run
    /// completed, whether or not the targets were met. The served files
    /// live in target/bench/ while it runs.
    ///
    /// The micro benchmarks of the protocol core are separate: `cargo bench
    /// -p hftp-proto`.
    Bench(BenchFlags),
    /// Many clients issuing random requests for a while, every reply
    /// checked byte for byte; opt-in, not part of `ci`.
    ///
    /// Builds hftp-server in release, serves a generated directory of files
    /// of varied sizes from target/soak/data, and runs the clients issuing
    /// random requests for the duration. Every reply is checked byte for
    /// byte against the files. Prints requests served, bytes verified,
    /// errors and the server's RSS at start, every 10 s and at the end,
    /// and whether RSS has levelled off: the mean of the last 100 s within
    /// ±10% of the 100 s before (runs of 200 s or more). Exits non-zero on
    /// any mismatch or error, or if the server dies. The server runs its
    /// default engine with its default options, logging included.
    Soak(SoakFlags),
}

/// `cargo xtask bench`'s flags.
#[derive(Debug, Args)]
pub struct BenchFlags {
    /// Short runs (a few minutes in all): 2 s per request scenario, a 256
    /// MiB slice, 3 slice runs, shorter probes.
    #[arg(long)]
    pub quick: bool,
    /// Run only these sections, comma-separated [default: all].
    #[arg(long, value_name = "LIST", value_delimiter = ',',
          value_parser = PossibleValuesParser::new(bench::SECTIONS))]
    pub only: Vec<String>,
    /// Measured seconds per request scenario [default: 10; quick: 2].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub duration: Option<Duration>,
    /// Connection counts of the request scenarios, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = positive::<usize>,
          default_values_t = [1, bench::TARGET_CONNECTIONS])]
    pub connections: Vec<usize>,
    /// Pipelining depths of the request scenarios, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = positive::<usize>,
          default_values_t = [1, bench::TARGET_DEPTH_PIPELINED])]
    pub depths: Vec<usize>,
    /// Size of the slice file in MiB [default: 1024; quick: 256].
    #[arg(long, value_name = "MIB", value_parser = positive::<u64>)]
    pub slice_mib: Option<u64>,
    /// Slice and blast runs, the best kept [default: 7; quick: 3].
    #[arg(long, value_name = "N", value_parser = positive::<usize>)]
    pub slice_runs: Option<usize>,
    /// Idle connections of the idle section.
    #[arg(long, value_name = "N", value_parser = positive::<usize>, default_value_t = 10_000)]
    pub idle: usize,
    /// Skip the redis reference even if it is installed.
    #[arg(long)]
    pub no_redis: bool,
}

/// `cargo xtask soak`'s flags.
#[derive(Debug, Args)]
pub struct SoakFlags {
    /// A short run: 10 s (unless --duration says otherwise).
    #[arg(long)]
    pub quick: bool,
    /// Clients at once, each on its own connection.
    #[arg(long, value_name = "N", value_parser = positive::<usize>, default_value_t = 100)]
    pub clients: usize,
    /// How long the clients run, in seconds [default: 60; quick: 10].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub duration: Option<Duration>,
}

/// A number above zero: a count, a size, seconds.
pub fn positive<T: FromStr + PartialOrd + Default>(value: &str) -> Result<T, String> {
    match value.trim().parse::<T>() {
        Ok(number) if number > T::default() => Ok(number),
        _ => Err(format!("takes a positive number, not `{value}`")),
    }
}

/// A positive, finite number of seconds, fractions allowed.
pub fn seconds(value: &str) -> Result<Duration, String> {
    let secs: f64 = positive(value)?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{value}` is too many seconds"))
}

/// What `args` (a task and its flags, as after `cargo xtask`) parse to;
/// `None` when they ask for help.
#[cfg(test)]
pub fn parse(args: &str) -> Result<Option<Task>, clap::Error> {
    let words = std::iter::once("xtask").chain(args.split_whitespace());
    match Xtask::try_parse_from(words) {
        Ok(xtask) => Ok(Some(xtask.task)),
        Err(error) if error.kind() == clap::error::ErrorKind::DisplayHelp => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn numbers_must_be_positive() {
        assert_eq!(positive::<usize>("7"), Ok(7));
        assert_eq!(positive::<f64>("0.5"), Ok(0.5));
        for bad in ["0", "-1", "", "x", "NaN"] {
            assert!(positive::<f64>(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(seconds("inf").is_err());
    }

    #[test]
    fn every_task_and_its_help_parse() -> Result<(), clap::Error> {
        assert!(matches!(parse("ci")?, Some(Task::Ci)));
        for help in ["--help", "bench --help", "soak -h", "help bench"] {
            assert!(parse(help)?.is_none(), "{help}");
        }
        assert!(parse("").is_err());
        assert!(parse("frobnicate").is_err());
        Ok(())
    }
}
