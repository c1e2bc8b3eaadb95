//! `hftp-server`: serves the regular files of a directory over HFTP.

use std::io::Write;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{ArgAction, Parser, ValueEnum};
use hftp_server::logger::{self, Format};
use hftp_server::{Addresses, Config, Engine, Running, Server};
use log::LevelFilter;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

/// How long replies in flight may take to finish after a stop signal.
const GRACE_PERIOD: Duration = Duration::from_secs(10);
/// How often the shutdown says how many connections it still waits for.
const GRACE_REPORT_EVERY: Duration = Duration::from_secs(2);
/// The signals that stop the server gracefully.
const STOP_SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Serve the regular files of a directory over HFTP, the Home-made File
/// Transfer Protocol.
///
/// On start it prints one line to stdout, `Serving DIR on ADDR:PORT` (with
/// the real port; for several addresses `on ADDR:PORT and ADDR:PORT`; the
/// last word is always an address to connect to), then logs to stderr:
/// one line per request, `PEER "REQUEST" STATUS BYTES B in MS ms`. SIGINT or SIGTERM stops it: no new
/// requests are taken, replies in flight get up to ten seconds to finish
/// (a second signal cuts them short), then it exits with status 0. SIGHUP
/// and SIGQUIT do the same.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The address to listen on: an IPv4 or IPv6 address, or a host name
    /// (all of its addresses) [default: every IPv4 and IPv6 address].
    #[arg(short, long, value_name = "HOST", env = "HFTP_ADDR", value_parser = resolve)]
    address: Option<Host>,

    /// The port to listen on; 0 picks a free one.
    #[arg(short, long, env = "HFTP_PORT", default_value_t = 19500)]
    port: u16,

    /// The directory to serve (or give it as DIR) [env: HFTP_DIR] [default:
    /// .]. It is looked up at every request, so it may be deleted and
    /// re-created while the server runs.
    #[arg(short, long, value_name = "DIR", conflicts_with = "dir")]
    datadir: Option<PathBuf>,

    /// The directory to serve, as `-d` does.
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Set SO_REUSEPORT, so that several servers can listen on the same
    /// port on one machine, the kernel sharing out the connections.
    #[arg(long)]
    reuse_port: bool,

    /// Expect a PROXY protocol header (v1 or v2, as HAProxy's `send-proxy`
    /// and `send-proxy-v2` send) at the start of every connection, and log
    /// the client it names. A connection without one, or with a bad one,
    /// is closed.
    #[arg(long)]
    proxy_protocol: bool,

    /// How connections are served: `events`, a few event loops each serving
    /// many connections (an idle or slow client costs only its own
    /// connection); or `threads`, the course seed's fixed pool of blocking
    /// workers (serves as many clients at once as it has workers).
    #[arg(long, value_enum, default_value_t = EngineName::Events)]
    engine: EngineName,

    /// Event-loop threads of the `events` engine [default: one per CPU].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    loops: Option<u16>,

    /// Worker threads of the `threads` engine: how many clients are served
    /// at the same time. More clients wait for a free worker.
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u16).range(1..=16384))]
    workers: u16,

    /// Close a connection that makes no progress for this many seconds:
    /// it sends nothing, and reads none of its pending replies.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,

    /// List and serve hidden files (names starting with `.`).
    #[arg(long)]
    hidden: bool,

    /// `stat` the file at every `get_metadata`. By default the `events`
    /// engine remembers the answer for a name asked for again and forgets
    /// it the moment inotify reports a change to the file, the directory
    /// or a mount, so answers stay those of a fresh `stat`; it is already
    /// off on network and layered file systems. For comparisons, or
    /// should a change ever slip past it.
    #[arg(long)]
    no_metadata_cache: bool,

    /// Log more: -v adds debug detail, -vv everything.
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,

    /// Log less: -q only warnings and errors, -qq only errors.
    #[arg(short, long, action = ArgAction::Count)]
    quiet: u8,

    /// How log lines start: `rfc3339`, a UTC time and the level
    /// (`2026-12-01T23:13:38.738Z INFO  …`); or `journald`, for a systemd
    /// service, whose journal stamps each line itself: the level as a
    /// syslog priority prefix systemd reads (`<6>…` info, `<4>` warning,
    /// `<3>` error, `<7>` debug and trace), no time.
    #[arg(long, value_enum, value_name = "FORMAT", env = "HFTP_LOG_FORMAT",
          default_value_t = LogFormat::Rfc3339)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Rfc3339,
    Journald,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EngineName {
    Events,
    Threads,
}

impl Args {
    fn log_level(&self) -> LevelFilter {
        match (self.verbose, self.quiet) {
            (0, 0) => LevelFilter::Info,
            (1, _) => LevelFilter::Debug,
            (_, 0) => LevelFilter::Trace,
            (_, 1) => LevelFilter::Warn,
            (_, 2) => LevelFilter::Error,
            (_, _) => LevelFilter::Off,
        }
    }

    fn config(&self) -> Config {
        let datadir = self
            .dir
            .clone()
            .or_else(|| self.datadir.clone())
            .or_else(|| std::env::var_os("HFTP_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."));
        Config {
            addresses: self
                .address
                .as_ref()
                .map_or(Addresses::Every, |host| Addresses::These(host.0.clone())),
            port: self.port,
            datadir,
            engine: match self.engine {
                EngineName::Events => Engine::Events {
                    loops: self.loops.map_or_else(
                        || std::thread::available_parallelism().map_or(1, usize::from),
                        usize::from,
                    ),
                },
                EngineName::Threads => Engine::Threads {
                    workers: usize::from(self.workers),
                },
            },
            idle_timeout: Duration::from_secs(self.idle_timeout),
            hidden: self.hidden,
            reuse_port: self.reuse_port,
            proxy_protocol: self.proxy_protocol,
            // The allocator is ours: see `tune_allocator`.
            trim_heap: true,
            metadata_cache: !self.no_metadata_cache,
        }
    }
}

/// The addresses of a `-a` value.
#[derive(Debug, Clone)]
struct Host(Vec<IpAddr>);

/// An address, `[v6]`, or a host name's addresses (each once, in the
/// resolver's order).
fn resolve(text: &str) -> Result<Host, String> {
    let bare = text
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Host(vec![ip]));
    }
    if text.contains(':') || text.is_empty() {
        return Err("not an address or a host name (give the port with -p)".to_owned());
    }
    let found = (text, 0)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve it: {error}"))?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for addr in found {
        if !ips.contains(&addr.ip()) {
            ips.push(addr.ip());
        }
    }
    if ips.is_empty() {
        return Err("the name has no address".to_owned());
    }
    Ok(Host(ips))
}

fn main() -> ExitCode {
    tune_allocator();
    let args = Args::parse();
    let format = match args.log_format {
        LogFormat::Rfc3339 => Format::Rfc3339,
        LogFormat::Journald => Format::Journald,
    };
    logger::init(args.log_level(), format);
    let result = run(&args);
    logger::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hftp-server: {}", without_os_codes(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    raise_fd_limit();
    // From here on a stop signal waits for `serve_until_signalled`.
    let signals = Signals::new(STOP_SIGNALS).context("cannot install the signal handlers")?;
    let config = args.config();
    let server = Server::bind(&config)?;
    let addrs = server.where_to_connect();
    let running = server.start()?;
    {
        // Scripts and tests read this line to learn the port; it comes once
        // the engine serves. A closed stdout is not a reason to stop.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "Serving {} on {addrs}", config.datadir.display());
        let _ = stdout.flush();
    }
    serve_until_signalled(running, signals);
    Ok(())
}

/// Serves until a stop signal, then shuts down: the replies in flight get
/// [`GRACE_PERIOD`] to finish (a second signal cuts them at once), with a
/// word every [`GRACE_REPORT_EVERY`] on how many connections are left.
fn serve_until_signalled(running: Running, mut signals: Signals) {
    let signal = signals.forever().next();
    let handle = running.handle();
    log::info!(
        "{}: shutting down; {} open, given up to {} s to finish (another signal stops at once)",
        signal.map_or("a signal", signal_name),
        plural(handle.open_connections(), "connection", "connections"),
        GRACE_PERIOD.as_secs()
    );
    handle.shutdown();
    let cut = Arc::new(AtomicBool::new(false));
    let second = signals.handle();
    {
        let handle = handle.clone();
        let cut = Arc::clone(&cut);
        thread::spawn(move || {
            if signals.forever().next().is_some() {
                log::warn!(
                    "second signal: {} cut",
                    plural(handle.open_connections(), "connection", "connections")
                );
                cut.store(true, Ordering::SeqCst);
                handle.cut();
            }
        });
    }
    let deadline = Instant::now() + GRACE_PERIOD;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if running.wait_timeout(left.min(GRACE_REPORT_EVERY)) {
            if !cut.load(Ordering::SeqCst) {
                log::info!("shut down");
            }
            break;
        }
        let open = plural(handle.open_connections(), "connection", "connections");
        if Instant::now() >= deadline {
            log::warn!("the grace period is over: {open} cut");
            handle.cut();
            break;
        }
        if !cut.load(Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            log::info!(
                "shutting down: {open} still open, {} s left",
                left.as_secs()
            );
        }
    }
    running.join();
    // Ends the thread waiting for a second signal.
    second.close();
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        SIGQUIT => "SIGQUIT",
        _ => "a signal",
    }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// Raises the soft limit on open files to the hard one, as most servers do:
/// every connection, queued or served, holds a descriptor, and the usual
/// soft limit (1024) is below what the pool and its queue may hold.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only writes the `rlimit` it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
        || limit.rlim_cur >= limit.rlim_max
    {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: `setrlimit` only reads the `rlimit` it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        log::debug!(
            "open files limit raised from {} to {}",
            limit.rlim_cur,
            limit.rlim_max
        );
    } else {
        log::debug!("open files limit stays at {}", limit.rlim_cur);
    }
}

/// `text` without the ` (os error N)` std appends to a system error: the
/// sentence before it already says what went wrong, in words.
fn without_os_codes(text: &str) -> String {
    const MARK: &str = " (os error ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let code_ends = digits > 0 && after[digits..].starts_with(')');
        let cut = if code_ends {
            at + MARK.len() + digits + 1
        } else {
            at + MARK.len()
        };
        out.push_str(&rest[..if code_ends { at } else { cut }]);
        rest = &rest[cut..];
    }
    out.push_str(rest);
    out
}

/// Keeps the server's resident memory near what its connections hold.
///
/// glibc gives each of up to 8 × cores threads' worth of arenas its own
/// heap, and raises its mmap threshold to the largest buffer freed so far
/// (up to 32 MiB): after a few slices every read, reply and chunk buffer
/// came from one of 16 fragmented heaps that never shrink, and a
/// 100-client soak grew RSS from 3 to 90 MiB. With a fixed threshold,
/// buffers of 64 KiB and more (each connection's read buffer, slice
/// chunks, grown replies) are mapped on their own and unmapped when freed;
/// with two arenas the small rest is shared.
/// Nothing allocates per request, so arena contention does not matter.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets malloc parameters; called before any
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_codes_are_dropped_and_the_rest_kept() {
        for (text, expected) in [
            (
                "cannot listen on 127.0.0.1:80: Permission denied (os error 13)",
                "cannot listen on 127.0.0.1:80: Permission denied",
            ),
            ("a (os error 2): b (os error 98)", "a: b"),
            ("kept (os error x)", "kept (os error x)"),
            ("kept (os error 12", "kept (os error 12"),
            ("plain", "plain"),
        ] {
            assert_eq!(without_os_codes(text), expected, "{text}");
        }
    }
}
