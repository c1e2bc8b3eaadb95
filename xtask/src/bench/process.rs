//! What a bench run starts and must clean up: the served directory, the
//! server, and redis. Each stops or disappears when dropped, so a failed
//! run leaves nothing behind.

use std::env;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The small file's size: the one in HFTP.md's example.
pub const SMALL_FILE_LEN: usize = 3199;
/// The slice file repeats a pseudo-random pattern of this many bytes:
/// whole base64 groups (a multiple of 3), 1 MiB once encoded.
pub const PATTERN_LEN: usize = 3 << 18;
/// How long a server may take to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// [`Server::settled_rss`]: how often RSS is read, how long it must hold
/// still, and how long it may keep moving.
const SETTLE_POLL: Duration = Duration::from_millis(50);
const SETTLED_FOR: Duration = Duration::from_millis(500);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The pseudo-random bytes the data files are made of (xorshift64*, so
/// base64 and the kernel see no easy structure within a pattern).
pub fn pattern() -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(PATTERN_LEN + 8);
    while out.len() < PATTERN_LEN {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(PATTERN_LEN);
    out
}

/// A temporary served directory, removed when dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// Creates the directory `path`, emptied first if it exists, with
    /// `small` ([`SMALL_FILE_LEN`] bytes) and `large` (`size` bytes of the
    /// repeated [`pattern`]).
    pub fn create(path: PathBuf, small: &str, large: &str, size: u64) -> Result<DataDir> {
        let dir = DataDir::empty(path)?;
        let pattern = pattern();
        let small_path = dir.path.join(small);
        fs::write(&small_path, &pattern[..SMALL_FILE_LEN])
            .with_context(|| format!("could not write {}", small_path.display()))?;
        let large_path = dir.path.join(large);
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&large_path)?;
            let mut left = size;
            while left > 0 {
                let n = usize::try_from(left).map_or(PATTERN_LEN, |left| left.min(PATTERN_LEN));
                file.write_all(&pattern[..n])?;
                left -= n as u64;
            }
            file.sync_all()
        };
        write().with_context(|| format!("could not write {}", large_path.display()))?;
        Ok(dir)
    }

    /// Creates the directory `path`, emptied first if it exists, with
    /// `count` empty files named `f0000000`, `f0000001`, ….
    pub fn many(path: PathBuf, count: usize) -> Result<DataDir> {
        let dir = DataDir::empty(path)?;
        for index in 0..count {
            let file = dir.path.join(format!("f{index:07}"));
            File::create(&file).with_context(|| format!("could not create {}", file.display()))?;
        }
        Ok(dir)
    }

    fn empty(path: PathBuf) -> Result<DataDir> {
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("could not clear {}", path.display()))?;
        }
        fs::create_dir_all(&path)
            .with_context(|| format!("could not create {}", path.display()))?;
        Ok(DataDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_dir_all(&self.path) {
            eprintln!(
                "xtask bench: could not remove {}: {error}",
                self.path.display()
            );
        }
    }
}

/// A child process killed and reaped when dropped.
#[derive(Debug)]
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
    child: Guard,
    addr: SocketAddr,
    engine: Engine,
    /// The command line, as a user would type it.
    command: String,
    /// Bytes the server has logged to stderr so far.
    logged: Arc<AtomicU64>,
    /// Kept open: the server may still write to its stdout.
    _stdout: mpsc::Receiver<BufReader<ChildStdout>>,
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
        let child = Command::new(binary)
            .args(&args)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let mut child = Guard(child);
        let stdout = child.0.stdout.take().context("no stdout")?;
        let mut stderr = child.0.stderr.take().context("no stderr")?;
        let logged = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&logged);
        thread::spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            while let Ok(read @ 1..) = stderr.read(&mut buf) {
                counter.fetch_add(read as u64, Ordering::Relaxed);
            }
        });
        // The line is read in a thread so that a server that never prints
        // it fails the run instead of hanging it.
        let (line_tx, line_rx) = mpsc::channel();
        let (stdout_tx, stdout_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let read = stdout.read_line(&mut line).map(|_| line);
            let _ = line_tx.send(read);
            let _ = stdout_tx.send(stdout);
        });
        let line = match line_rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line.context("could not read the server's stdout")?,
            Err(_) => bail!("`{command}` did not say where it serves within {START_TIMEOUT:?}"),
        };
        // For several addresses, the last word is one to connect to.
        let addr = line
            .split_whitespace()
            .last()
            .and_then(|addr| addr.parse().ok())
            .with_context(|| {
                format!("`{command}` printed {line:?}, not `Serving DIR on ADDR:PORT`")
            })?;
        Ok(Server {
            child,
            addr,
            engine,
            command,
            logged,
            _stdout: stdout_rx,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
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
        let path = format!("/proc/{}/status", self.child.0.id());
        let status = fs::read_to_string(&path).with_context(|| format!("could not read {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .with_context(|| format!("no {field} in {path}"))
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
        matches!(self.child.0.try_wait(), Ok(None))
    }
}

/// A running `redis-server` without persistence, on a free loopback port.
#[derive(Debug)]
pub struct Redis {
    _child: Guard,
    addr: SocketAddr,
}

impl Redis {
    pub fn start(binary: &Path) -> Result<Redis> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .context("could not find a free port")?
            .port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let mut child = Guard(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ping(addr) {
                return Ok(Redis {
                    _child: child,
                    addr,
                });
            }
            if let Some(status) = child.0.try_wait()? {
                bail!("redis-server exited at start ({status})");
            }
            if Instant::now() > deadline {
                bail!("redis-server did not answer PING within {START_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn ping(addr: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(b"PING\r\n")?;
        let mut reply = [0; 7];
        stream.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    };
    attempt().unwrap_or(false)
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

    #[test]
    fn pattern_is_whole_base64_groups() {
        let pattern = pattern();
        assert_eq!(pattern.len(), PATTERN_LEN);
        assert_eq!(PATTERN_LEN % 3, 0);
        assert_ne!(pattern[..8], pattern[8..16]);
    }

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

    #[test]
    fn data_dir_is_made_and_removed() -> Result<()> {
        let path = env::temp_dir().join(format!("hftp-bench-test-{}", std::process::id()));
        let dir = DataDir::create(path, "a.txt", "b.bin", PATTERN_LEN as u64 + 7)?;
        let path = dir.path().to_owned();
        assert_eq!(
            fs::metadata(path.join("a.txt"))?.len(),
            SMALL_FILE_LEN as u64
        );
        assert_eq!(
            fs::metadata(path.join("b.bin"))?.len(),
            PATTERN_LEN as u64 + 7
        );
        drop(dir);
        assert!(!path.exists());
        Ok(())
    }
}
