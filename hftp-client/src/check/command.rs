//! `hftp check`: the command line of the checker.

// The doc comments of `CheckArgs` are clap's help texts, shown as
// written: the `[IPV6]:PORT` of a usage form is text, not a rustdoc link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{Config, Kit, run};

/// Exit code when every case that ran passed.
pub const PASSED: u8 = 0;
/// Exit code when a case failed.
pub const FAILED: u8 = 1;
/// Exit code when the server's name cannot be resolved.
pub const NO_SERVER: u8 = 4;
/// Exit code when the served directory or a report file cannot be written.
pub const LOCAL_FAILURE: u8 = 6;

/// The long help of `hftp check`.
pub const LONG_ABOUT: &str = "\
Check an HFTP server against HFTP.md: a numbered catalogue of cases, each
tied to a section of the page (4.3/4 is the fourth case of section 4.3,
get_slice), run over raw TCP. The report shows each section's cases with ✔
or ✘; a failed case shows what was sent, what was expected and what arrived,
with every byte visible (\\r, \\n, \\0, \\xNN).

Cases that need files on the server (sizes, slices, links, hidden and
unreadable files) run only with --datadir, the directory the server serves
as this machine sees it: the check creates its files there (all named
hftp-check-*, plus .hftp-check-hidden) and removes them when it ends. Without
it they are listed as skipped.

Exit codes:
  0  every case that ran passed
  1  a case failed
  4  the server's address cannot be resolved
  6  the files or a report cannot be written";

/// Options of `hftp check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The server to check: HOST, HOST:PORT or [IPV6]:PORT
    /// [default: --host and --port]
    #[arg(value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    /// The directory the server serves, where cases create their files
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Which year's course kit to expect: 2019, 2024, 2025 or 2026
    /// (help, raw slices, blank line 101, unreadable file 199)
    #[arg(long, value_name = "YEAR", default_value_t = 2026,
          value_parser = parse_kit)]
    pub kit: u16,
    /// Cases run at the same time
    #[arg(short = 'j', long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Seconds a case may take before it fails (a hung server fails the
    /// case, not the run)
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    pub case_timeout: u64,
    /// Also write the report as JUnit XML to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the report as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Runs `hftp check`; `default_server` is `HOST:PORT` from the global
/// options. Returns the exit code.
pub fn main(args: &CheckArgs, default_server: &str) -> u8 {
    let server = match &args.server {
        Some(server)
            if server.contains(':')
                && !server.starts_with('[')
                && server.matches(':').count() == 1 =>
        {
            server.clone()
        }
        Some(server) if server.starts_with('[') && server.contains("]:") => server.clone(),
        Some(server) => format!("{server}:19500"),
        None => default_server.to_string(),
    };
    let addr = match resolve(&server) {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("hftp: check: cannot resolve {server}: {error}");
            return NO_SERVER;
        }
    };
    // Ctrl-C stops starting cases, so that the check still removes its
    // files before it exits.
    let stop = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop));
    let config = Config {
        addr,
        datadir: args.datadir.clone(),
        kit: Kit::from_year(args.kit).unwrap_or(Kit::K2026),
        jobs: usize::from(args.jobs),
        timeout: Duration::from_secs(args.case_timeout.max(1)),
        stop: Some(stop),
    };
    let report = match run(&config) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("hftp: check: {error}: {}", error.source);
            return LOCAL_FAILURE;
        }
    };
    print!("{}", report.text());
    for (path, text) in [(&args.junit, report.junit()), (&args.json, report.json())] {
        if let Some(path) = path
            && let Err(error) = write(path, &text)
        {
            eprintln!("hftp: check: cannot write {}: {error}", path.display());
            return LOCAL_FAILURE;
        }
    }
    if report.passed() { PASSED } else { FAILED }
}

fn parse_kit(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .and_then(Kit::from_year)
        .map(Kit::year)
        .ok_or_else(|| "expected 2019, 2024, 2025 or 2026".to_string())
}

fn resolve(server: &str) -> std::io::Result<SocketAddr> {
    server
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
