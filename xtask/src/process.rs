//! The processes xtask starts and must clean up: `hftp-server` (over
//! [`hftp_test_support::ServerProcess`], which the crates' tests start it
//! with too) and the references a bench compares it with. Each is killed
//! when dropped, so a failed run leaves nothing behind.

use std::env;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
pub use hftp_test_support::ChildGuard;
use hftp_test_support::ServerProcess;

/// How long a server may take to say it is ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// [`Server::settled_rss`]: how often RSS is read, how long it must hold
/// still, and how long it may keep moving.
const SETTLE_POLL: Duration = Duration::from_millis(50);
const SETTLED_FOR: Duration = Duration::from_millis(500);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which of the server's engines a run starts.
///
/// The server is being given `--engine events|threads`; until its `--help`
/// lists the flag, the bench runs the one server there is, and says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engine(Option<&'static str>);

impl Engine {
    /// The engines `binary` offers, in the order the report shows them.
    pub fn all(binary: &Path) -> Result<Vec<Engine>> {
        let help = Command::new(binary)
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("could not run {} --help", binary.display()))?;
        if !help.status.success() {
            bail!("`{} --help` failed ({})", binary.display(), help.status);
        }
        Ok(
            if String::from_utf8_lossy(&help.stdout).contains("--engine") {
                vec![Engine(Some("events")), Engine(Some("threads"))]
            } else {
                vec![Engine(None)]
            },
        )
    }

    /// Whether the server has more than one engine to choose from.
    pub fn is_choice(self) -> bool {
        self.0.is_some()
    }

    /// The engine's name in the report.
    pub fn label(self) -> &'static str {
        self.0.unwrap_or("threads (no --engine)")
    }
}

/// A running `hftp-server`.
#[derive(Debug)]
pub struct Server {
    process: ServerProcess,
    engine: Engine,
    /// The command line, as a user would type it.
    command: String,
    /// Bytes the server has logged to stderr so far.
    logged: Arc<AtomicU64>,
}

impl Server {
    /// Starts `binary` serving `dir` on a free loopback port with `engine`
    /// and every other option at its default (logging included: the cost
    /// of the default log is part of what a user gets), and waits for its
    /// `Serving DIR on ADDR:PORT` line. Its stderr is read and counted as
    /// a terminal or a log collector would, so logging never stalls on a
    /// full pipe.
    pub fn start(binary: &Path, dir: &Path, engine: Engine) -> Result<Server> {
        Server::start_with(binary, dir, engine, &[])
    }

    /// [`start`](Server::start) with `extra` options after the others.
    pub fn start_with(binary: &Path, dir: &Path, engine: Engine, extra: &[&str]) -> Result<Server> {
        let mut args = vec![
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            "0".to_owned(),
            "-d".to_owned(),
        ];
        if let Engine(Some(name)) = engine {
            args.splice(0..0, ["--engine".to_owned(), name.to_owned()]);
        }
        // Before `-d`, whose value the directory is.
        let at = args.len() - 1;
        args.splice(at..at, extra.iter().map(|&arg| arg.to_owned()));
        let name = binary.file_name().map_or_else(
            || binary.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        // The report names the directory as a student would from the
        // workspace root; the server is given it whole.
        let shown = dir
            .strip_prefix(crate::workspace_root())
            .unwrap_or(dir)
            .display();
        let command = format!("{name} {} {shown}", args.join(" "));
        let mut process = ServerProcess::start(
            Command::new(binary)
                .args(&args)
                .arg(dir)
                .stderr(Stdio::piped()),
            START_TIMEOUT,
        )
        .with_context(|| format!("`{command}`"))?;
        let mut stderr = process.child().stderr.take().context("no stderr")?;
        let logged = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&logged);
        thread::spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            while let Ok(read @ 1..) = stderr.read(&mut buf) {
                counter.fetch_add(read as u64, Ordering::Relaxed);
            }
        });
        Ok(Server {
            process,
            engine,
            command,
            logged,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The command line the server was started with.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Bytes the server has written to its log so far.
    pub fn logged(&self) -> u64 {
        self.logged.load(Ordering::Relaxed)
    }

    /// A memory figure of the server's `/proc/PID/status` in bytes, e.g.
    /// `VmRSS` (now) or `VmHWM` (peak so far).
    pub fn memory(&self, field: &str) -> Result<u64> {
        let kib = self
            .process
            .memory_kib(field)
            .with_context(|| format!("the memory of `{}`", self.command))?;
        Ok(kib * 1024)
    }

    /// `VmRSS` once it has stopped moving: unchanged for [`SETTLED_FOR`],
    /// or whatever it is after [`SETTLE_TIMEOUT`]. A connection's buffers
    /// are touched as its reply is produced, a little after the request.
    pub fn settled_rss(&self) -> Result<u64> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let mut last = self.memory("VmRSS")?;
        let mut since = Instant::now();
        while Instant::now() < deadline {
            thread::sleep(SETTLE_POLL);
            let now = self.memory("VmRSS")?;
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= SETTLED_FOR {
                break;
            }
        }
        Ok(last)
    }

    /// Whether the server is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }
}

/// Waits until `ready` says the process `child` (called `name`) serves,
/// for at most [`START_TIMEOUT`]; fails at once if it exits first.
pub fn wait_until_ready(
    child: &mut ChildGuard,
    name: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !ready() {
        if let Some(status) = child.0.try_wait()? {
            bail!("{name} exited at start ({status})");
        }
        if Instant::now() > deadline {
            bail!("{name} did not answer within {START_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Raises this process's soft limit on open files to its hard limit and
/// returns the limit now in force: the crowds of idle and slow clients
/// hold one descriptor each, far above the usual soft limit of 1024. The
/// server started afterwards inherits it (and raises its own anyway).
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` only writes the `rlimit` it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: `setrlimit` only reads the `rlimit` it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        limit.rlim_max
    } else {
        limit.rlim_cur
    }
}

/// The first executable called `name` in `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn engines_are_read_from_the_help() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;

        let dir = env::temp_dir().join(format!("hftp-bench-engines-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let offered = |help: &str| -> Result<Vec<&'static str>> {
            let script = dir.join("server");
            fs::write(&script, format!("#!/bin/sh\necho '{help}'\n"))?;
            fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
            Ok(Engine::all(&script)?
                .into_iter()
                .map(Engine::label)
                .collect())
        };
        let both = offered("  --engine <ENGINE>  [default: events]");
        let one = offered("  --workers <N>");
        fs::remove_dir_all(&dir)?;
        assert_eq!(both?, ["events", "threads"]);
        assert_eq!(one?, ["threads (no --engine)"]);
        Ok(())
    }
}
