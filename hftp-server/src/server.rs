//! The listener, the acceptor, the worker pool and the shutdown.
//!
//! Threads: the caller's thread waits for SIGINT/SIGTERM; one acceptor
//! thread accepts and queues connections on a bounded channel; a fixed pool
//! of workers each takes a connection and owns it until it closes. When
//! every worker is busy and the queue is full, the acceptor blocks and new
//! clients wait in the kernel's backlog: never one thread per client.

use std::fs;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::connection::{self, Shared};
use crate::files::ServedDir;

/// How long replies in flight may take to finish after SIGINT/SIGTERM.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);
/// The pause after a failed `accept` (e.g. out of file descriptors), so a
/// lasting failure costs a log line every so often, not a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// A worker's stack: connections keep their buffers on the heap.
const WORKER_STACK: usize = 256 * 1024;
/// Accepted connections that may wait for a worker, per worker. Beyond
/// them, new clients wait in the kernel's backlog. Waiting here starts a
/// connection's idle clock, so idle connections queued behind each other
/// time out together rather than one pool-sized round after another.
const QUEUE_PER_WORKER: usize = 4;

/// A connection and when it was accepted.
type Accepted = (TcpStream, Instant);

/// What a server serves and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on.
    pub address: IpAddr,
    /// The port to listen on; 0 picks a free one.
    pub port: u16,
    /// The directory served, looked up by this path at every request.
    pub datadir: PathBuf,
    /// The number of worker threads: how many clients are served at once.
    pub workers: usize,
    /// How long a client may stay silent, or leave a reply unread.
    pub idle_timeout: Duration,
    /// Whether dot-files are listed and served.
    pub hidden: bool,
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    workers: usize,
    signals: Signals,
}

impl Server {
    /// Checks the directory, binds the listener and installs the
    /// SIGINT/SIGTERM handlers (so a signal that arrives from now on
    /// shuts the server down gracefully).
    pub fn bind(config: &Config) -> anyhow::Result<Server> {
        let dir = &config.datadir;
        let metadata =
            fs::metadata(dir).with_context(|| format!("cannot serve {}", dir.display()))?;
        if !metadata.is_dir() {
            bail!("cannot serve {}: not a directory", dir.display());
        }
        fs::read_dir(dir).with_context(|| format!("cannot serve {}", dir.display()))?;
        if config.workers == 0 {
            bail!("the server needs at least one worker");
        }
        raise_fd_limit();
        let address = SocketAddr::new(config.address, config.port);
        let listener =
            TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))?;
        let local_addr = listener
            .local_addr()
            .with_context(|| format!("cannot listen on {address}"))?;
        let signals =
            Signals::new([SIGINT, SIGTERM]).context("cannot install the signal handlers")?;
        Ok(Server {
            listener,
            local_addr,
            shared: Arc::new(Shared::new(
                ServedDir::new(dir.clone(), config.hidden),
                config.idle_timeout,
            )),
            workers: config.workers,
            signals,
        })
    }

    /// The address the server listens on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until SIGINT or SIGTERM, then stops taking new requests,
    /// lets the replies in flight finish (at most [`GRACE_PERIOD`], less if
    /// a second signal comes) and returns.
    pub fn run(mut self) -> anyhow::Result<()> {
        let (queue, waiting) = mpsc::sync_channel::<Accepted>(self.workers * QUEUE_PER_WORKER);
        let waiting = Arc::new(Mutex::new(waiting));
        for index in 0..self.workers {
            let waiting = Arc::clone(&waiting);
            let shared = Arc::clone(&self.shared);
            thread::Builder::new()
                .name(format!("hftp-worker-{index}"))
                .stack_size(WORKER_STACK)
                .spawn(move || work(&waiting, &shared))
                .context("cannot start the worker threads")?;
        }
        let shared = Arc::clone(&self.shared);
        let listener = self.listener;
        thread::Builder::new()
            .name("hftp-acceptor".to_owned())
            .spawn(move || accept(&listener, &queue, &shared))
            .context("cannot start the acceptor thread")?;
        log::info!(
            "serving {} on {} with {} workers",
            self.shared.dir.path().display(),
            self.local_addr,
            self.workers
        );

        if let Some(signal) = self.signals.forever().next() {
            log::info!("signal {signal}: shutting down");
        }
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + GRACE_PERIOD;
        loop {
            let busy = self.shared.busy.load(Ordering::SeqCst);
            if busy == 0 {
                log::info!("shut down");
                break;
            }
            if Instant::now() >= deadline {
                log::warn!("{busy} replies still in flight after the grace period");
                break;
            }
            if self.signals.pending().next().is_some() {
                log::warn!("second signal: {busy} replies still in flight are cut");
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
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

fn accept(listener: &TcpListener, queue: &SyncSender<Accepted>, shared: &Shared) {
    // Failures in a row: the first is a warning, the rest of the streak
    // only debug, so that running out of descriptors does not flood the log.
    let mut failures = 0u64;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) =>
            {
                log::debug!("accept: {error}");
                continue;
            }
            Err(error) => {
                if failures == 0 {
                    log::warn!("accept failed: {error}; retrying every {ACCEPT_BACKOFF:?}");
                } else {
                    log::debug!("accept failed again: {error}");
                }
                failures += 1;
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        if failures > 0 {
            log::info!("accept works again after {failures} failures");
            failures = 0;
        }
        if shared.shutting_down.load(Ordering::SeqCst) {
            continue;
        }
        let sent = match queue.try_send((stream, Instant::now())) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(accepted)) => {
                log::debug!("every worker is busy and the queue full: new clients wait");
                queue.send(accepted).map_err(|_| ())
            }
            Err(TrySendError::Disconnected(_)) => Err(()),
        };
        if sent.is_err() {
            log::error!("no worker left to serve connections");
            return;
        }
    }
}

fn work(waiting: &Mutex<Receiver<Accepted>>, shared: &Shared) {
    loop {
        // The lock is held only while waiting for the next connection.
        let next = waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok((stream, accepted)) = next else { return };
        // A bug in serving one connection must not shrink the pool.
        let served = panic::catch_unwind(AssertUnwindSafe(|| {
            connection::serve(stream, accepted, shared);
        }));
        if served.is_err() {
            log::error!("a connection panicked; the worker goes on");
        }
    }
}
