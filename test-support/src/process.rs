//! The `hftp-server` process: started over a directory on a free port,
//! its `Serving DIR on ADDR:PORT` line read, killed when dropped; and the
//! memory figures of any process, from `/proc`.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A child process killed and reaped when dropped, so that a failed test
/// or run leaves nothing behind.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Kills the process at once (SIGKILL), as a crash would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `hftp-server`, killed when dropped.
///
/// ```no_run
/// use std::process::Command;
/// use std::time::Duration;
/// use hftp_test_support::ServerProcess;
///
/// let mut command = Command::new("target/debug/hftp-server");
/// command.args(["-a", "127.0.0.1", "-p", "0", "-d", "."]);
/// let server = ServerProcess::start(&mut command, Duration::from_secs(10))?;
/// println!("serving on {}", server.addr());
/// # Ok::<(), hftp_test_support::StartError>(())
/// ```
#[derive(Debug)]
pub struct ServerProcess {
    child: ChildGuard,
    addr: SocketAddr,
    /// The start-up line, its line end included.
    line: String,
    /// Kept open: the server may write to its stdout again, and must not
    /// find a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    /// Starts `command` (an `hftp-server` with its arguments; its stderr
    /// as the caller set it) with stdin closed and stdout piped, and waits
    /// up to `patience` for its `Serving DIR on ADDR:PORT` line. On any
    /// failure the process is killed before the error returns.
    pub fn start(command: &mut Command, patience: Duration) -> Result<ServerProcess, StartError> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(StartError::Spawn)?;
        let mut child = ChildGuard(child);
        let stdout = child.0.stdout.take().ok_or(StartError::NoStdout)?;
        // The line is read on a thread of its own, so that a server that
        // never prints it is an error after `patience`, not a hang.
        let (line_tx, line_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let read = stdout.read_line(&mut line).map(|_| line);
            let _ = line_tx.send((read, stdout));
        });
        let (line, stdout) = match line_rx.recv_timeout(patience) {
            Ok((line, stdout)) => (line.map_err(StartError::Read)?, stdout),
            Err(_) => return Err(StartError::Silent(patience)),
        };
        let Some(addr) = serving_address(&line) else {
            return Err(StartError::NotServing(line));
        };
        Ok(ServerProcess {
            child,
            addr,
            line,
            _stdout: stdout,
        })
    }

    /// The address the server said it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The line the server started with, `Serving DIR on ADDR:PORT` and
    /// its line end.
    pub fn serving_line(&self) -> &str {
        &self.line
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The process itself: to wait for it, take its stderr, signal it.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child.0
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }

    /// A memory figure of the server's `/proc/PID/status`, in KiB: see
    /// [`proc_status_kib`].
    pub fn memory_kib(&self, field: &str) -> io::Result<u64> {
        proc_status_kib(self.pid(), field)
    }
}

/// Why a server did not start.
#[derive(Debug)]
pub enum StartError {
    /// The binary could not be run.
    Spawn(io::Error),
    /// Its stdout was not piped.
    NoStdout,
    /// Its stdout could not be read.
    Read(io::Error),
    /// It said nothing within this time.
    Silent(Duration),
    /// Its first line (empty if it exited first) is not `Serving DIR on
    /// ADDR:PORT`.
    NotServing(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Spawn(error) => write!(f, "could not start the server: {error}"),
            StartError::NoStdout => f.write_str("the server's stdout is not a pipe"),
            StartError::Read(error) => write!(f, "could not read the server's stdout: {error}"),
            StartError::Silent(patience) => {
                write!(
                    f,
                    "the server did not say where it serves within {patience:?}"
                )
            }
            StartError::NotServing(line) => {
                write!(f, "not a `Serving DIR on ADDR:PORT` line: {line:?}")
            }
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Spawn(error) | StartError::Read(error) => Some(error),
            _ => None,
        }
    }
}

/// The address of the server's start-up line, `Serving DIR on
/// ADDR:PORT`: its last word, which is one to connect to even when it
/// serves several addresses (`... every IPv4 and IPv6 address, such as
/// [::1]:PORT`).
///
/// ```
/// use hftp_test_support::serving_address;
///
/// let addr = serving_address("Serving /srv/hftp on 127.0.0.1:19500\n");
/// assert_eq!(addr, Some("127.0.0.1:19500".parse()?));
/// assert_eq!(serving_address("error: no such directory\n"), None);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn serving_address(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("Serving ")?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// The binary `name` of this workspace, built beside the running test
/// binary: `<target>/<profile>/NAME` for a test in
/// `<target>/<profile>/deps/`. Cargo only says where the binaries of a
/// test's own package are (`CARGO_BIN_EXE_*`); this finds another
/// package's.
///
/// # Panics
///
/// When the binary is not there, saying how to build it.
pub fn binary_beside_test(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .expect("the test binary is in <target>/<profile>/deps");
    assert!(
        binary.is_file(),
        "{} is missing: these tests run it. Build it with `cargo build --bin {name}`, \
         or run `cargo nextest run --workspace`, which builds it.",
        binary.display()
    );
    binary
}

/// A memory figure of process `pid`'s `/proc/PID/status`, in KiB: `VmRSS`
/// (resident now), `VmHWM` (the peak so far), ...
pub fn proc_status_kib(pid: u32, field: &str) -> io::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path)?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {field} in {path}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_word_of_the_serving_line_is_the_address() {
        for (line, addr) in [
            ("Serving . on 127.0.0.1:4000\n", Some("127.0.0.1:4000")),
            ("Serving a b on [::1]:5\r\n", Some("[::1]:5")),
            (
                "Serving . on every IPv4 and IPv6 address, such as [::1]:7\n",
                Some("[::1]:7"),
            ),
            ("Serving . on\n", None),
            ("", None),
            ("127.0.0.1:4000\n", None),
        ] {
            let addr = addr.map(|addr| addr.parse().expect("an address"));
            assert_eq!(serving_address(line), addr, "{line:?}");
        }
    }

    #[test]
    fn this_process_has_a_resident_set() -> io::Result<()> {
        let rss = proc_status_kib(std::process::id(), "VmRSS")?;
        assert!(rss > 0);
        assert!(proc_status_kib(std::process::id(), "VmNothing").is_err());
        Ok(())
    }

    #[test]
    fn a_server_that_says_nothing_useful_is_an_error() {
        let mut echo = Command::new("sh");
        echo.args(["-c", "echo hello"]);
        let error = ServerProcess::start(&mut echo, Duration::from_secs(10));
        assert!(matches!(error, Err(StartError::NotServing(line)) if line == "hello\n"));
        let mut silent = Command::new("sleep");
        silent.arg("10");
        let error = ServerProcess::start(&mut silent, Duration::from_millis(100));
        assert!(matches!(error, Err(StartError::Silent(_))));
    }
}
