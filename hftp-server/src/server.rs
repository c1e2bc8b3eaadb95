//! The listener, the engines and the shutdown.
//!
//! Threads: the caller's thread waits for a stop signal; the engine's
//! threads serve. `events` (the default) runs a few event loops, each
//! accepting from the one listening socket and serving many connections;
//! `threads` runs one acceptor queueing connections for a fixed pool of
//! blocking workers. Both drive the same [`ServerSession`](hftp_proto::ServerSession)
//! per connection.

use std::fs;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hftp_proto::SessionConfig;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::events::{EventLoop, Handoff};
use crate::files::ServedDir;
use crate::listen::{self, Addresses, Listening};
use crate::threads;

/// How long replies in flight may take to finish after a stop signal.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);
/// The pause after a failed `accept` (e.g. out of file descriptors), so a
/// lasting failure costs a log line every so often, not a busy loop.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long, and how many bytes, a closing connection reads and discards
/// after its last reply, so the peer gets a FIN rather than a reset.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(1);
pub(crate) const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// A worker's stack: connections keep their buffers on the heap.
const WORKER_STACK: usize = 256 * 1024;
/// Accepted connections that may wait for a worker, per worker. Beyond
/// them, new clients wait in the kernel's backlog.
const QUEUE_PER_WORKER: usize = 4;
/// A connection for the worker pool, and when it was accepted.
type Accepted = (TcpStream, Instant);
/// How often the shutdown says how many connections it still waits for.
const GRACE_REPORT_EVERY: Duration = Duration::from_secs(2);
/// The signals that stop the server gracefully.
const STOP_SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// How connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A few event loops over non-blocking sockets: a connection costs
    /// only its session while it waits.
    Events {
        /// How many event-loop threads.
        loops: usize,
    },
    /// A fixed pool of blocking workers, one connection each at a time.
    Threads {
        /// How many workers: how many clients are served at once.
        workers: usize,
    },
}

/// What a server serves and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// The addresses to listen on.
    pub addresses: Addresses,
    /// The port to listen on; 0 picks a free one.
    pub port: u16,
    /// The directory served, looked up by this path at every request.
    pub datadir: PathBuf,
    /// How connections are served.
    pub engine: Engine,
    /// How long a client may make no progress: send nothing, and read none
    /// of its pending replies.
    pub idle_timeout: Duration,
    /// Whether dot-files are listed and served.
    pub hidden: bool,
    /// `SO_REUSEPORT` on the listening sockets, so that several servers
    /// share one port.
    pub reuse_port: bool,
    /// Every connection starts with a PROXY protocol header (v1 or v2)
    /// naming the real client; one without is closed.
    pub proxy_protocol: bool,
}

/// What every engine thread shares: the served directory, the session
/// settings, and the shutdown bookkeeping.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: ServedDir,
    pub(crate) session: SessionConfig,
    /// Connections start with a PROXY header.
    pub(crate) proxy_protocol: bool,
    /// Set once on a stop signal.
    shutting_down: AtomicBool,
    /// Work the shutdown waits for: connections answering (threads), or
    /// loops still serving (events).
    pub(crate) busy: AtomicUsize,
}

impl Shared {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listening: Listening,
    shared: Arc<Shared>,
    engine: Engine,
    signals: Signals,
}

/// A started engine: how to wake it for the shutdown.
enum Running {
    Events(Arc<Handoff>),
    Threads,
}

impl Server {
    /// Checks the directory, binds the listener and installs the handlers
    /// of the stop signals (so a signal that arrives from now on shuts the
    /// server down gracefully).
    pub fn bind(config: &Config) -> anyhow::Result<Server> {
        let dir = &config.datadir;
        let metadata =
            fs::metadata(dir).with_context(|| format!("cannot serve {}", dir.display()))?;
        if !metadata.is_dir() {
            bail!("cannot serve {}: not a directory", dir.display());
        }
        fs::read_dir(dir).with_context(|| format!("cannot serve {}", dir.display()))?;
        match config.engine {
            Engine::Events { loops: 0 } => bail!("the server needs at least one event loop"),
            Engine::Threads { workers: 0 } => bail!("the server needs at least one worker"),
            _ => {}
        }
        raise_fd_limit();
        let options = listen::Options {
            reuse_port: config.reuse_port,
        };
        let listening = Listening::bind(&config.addresses, config.port, options)?;
        let signals = Signals::new(STOP_SIGNALS).context("cannot install the signal handlers")?;
        Ok(Server {
            listening,
            shared: Arc::new(Shared {
                dir: ServedDir::new(dir.clone(), config.hidden),
                session: SessionConfig {
                    idle_timeout: config.idle_timeout,
                    show_hidden: config.hidden,
                },
                proxy_protocol: config.proxy_protocol,
                shutting_down: AtomicBool::new(false),
                busy: AtomicUsize::new(0),
            }),
            engine: config.engine,
            signals,
        })
    }

    /// The (first) address the server listens on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.listening.addrs[0]
    }

    /// Every address the server listens on, with the real port.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.listening.addrs
    }

    /// Where a client can connect, in words: the addresses bound, or, for
    /// every address, loopback examples. The last word is an address a
    /// client on this host can use.
    pub fn where_to_connect(&self) -> String {
        self.listening.describe().to_string()
    }

    /// Starts the engine's threads, then calls `started` (the server is
    /// serving from then on), then serves until a stop signal (SIGINT,
    /// SIGTERM, SIGHUP or SIGQUIT): it stops taking new requests, lets the
    /// replies in flight finish (at most [`GRACE_PERIOD`], less if a
    /// second signal comes) and returns.
    pub fn run(mut self, started: impl FnOnce()) -> anyhow::Result<()> {
        let running = self.start()?;
        log::debug!(
            "serving {} on {} with {:?}",
            self.shared.dir.path().display(),
            self.listening.describe(),
            self.engine
        );
        started();

        let signal = self.signals.forever().next();
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        if let Running::Events(handoff) = &running {
            handoff.wake_all();
        }
        let open = crate::conn::open_connections();
        log::info!(
            "{}: shutting down; {} open, given up to {} s to finish (another signal stops at once)",
            signal.map_or("a signal", signal_name),
            plural(open, "connection", "connections"),
            GRACE_PERIOD.as_secs()
        );
        let started = Instant::now();
        let deadline = started + GRACE_PERIOD;
        let mut next_report = started + GRACE_REPORT_EVERY;
        loop {
            let busy = self.shared.busy.load(Ordering::SeqCst);
            let open = crate::conn::open_connections();
            if busy == 0 {
                log::info!("shut down");
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                log::warn!(
                    "the grace period is over: {} cut",
                    plural(open, "connection", "connections")
                );
                break;
            }
            if now >= next_report {
                log::info!(
                    "shutting down: {} still open, {} s left",
                    plural(open, "connection", "connections"),
                    deadline.saturating_duration_since(now).as_secs()
                );
                next_report += GRACE_REPORT_EVERY;
            }
            if self.signals.pending().next().is_some() {
                log::warn!(
                    "second signal: {} cut",
                    plural(open, "connection", "connections")
                );
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn start(&self) -> anyhow::Result<Running> {
        match self.engine {
            Engine::Events { loops } => {
                let mut event_loops = Vec::with_capacity(loops);
                let mut wakers = Vec::with_capacity(loops);
                for index in 0..loops {
                    let (event_loop, waker) =
                        EventLoop::new(index, &self.listening.listeners, Arc::clone(&self.shared))
                            .context("cannot start the event loops")?;
                    event_loops.push(event_loop);
                    wakers.push(waker);
                }
                let handoff = Arc::new(Handoff::new(wakers));
                for (index, event_loop) in event_loops.into_iter().enumerate() {
                    let shared = Arc::clone(&self.shared);
                    let loop_handoff = Arc::clone(&handoff);
                    shared.busy.fetch_add(1, Ordering::SeqCst);
                    let spawned = thread::Builder::new()
                        .name(format!("hftp-loop-{index}"))
                        .spawn(move || {
                            let served = panic::catch_unwind(AssertUnwindSafe(|| {
                                event_loop.run(&loop_handoff);
                            }));
                            if served.is_err() {
                                log::error!("an event loop panicked; its connections are lost");
                            }
                            shared.busy.fetch_sub(1, Ordering::SeqCst);
                        });
                    if let Err(error) = spawned {
                        self.shared.busy.fetch_sub(1, Ordering::SeqCst);
                        return Err(error).context("cannot start the event loops");
                    }
                }
                Ok(Running::Events(handoff))
            }
            Engine::Threads { workers } => {
                let (queue, waiting) = mpsc::sync_channel::<Accepted>(workers * QUEUE_PER_WORKER);
                let waiting = Arc::new(Mutex::new(waiting));
                for index in 0..workers {
                    let waiting = Arc::clone(&waiting);
                    let shared = Arc::clone(&self.shared);
                    thread::Builder::new()
                        .name(format!("hftp-worker-{index}"))
                        .stack_size(WORKER_STACK)
                        .spawn(move || work(&waiting, &shared))
                        .with_context(|| format!("cannot start {workers} worker threads"))?;
                }
                for listener in &self.listening.listeners {
                    let shared = Arc::clone(&self.shared);
                    let listener = listener
                        .try_clone()
                        .context("cannot start the acceptor thread")?;
                    let queue = queue.clone();
                    thread::Builder::new()
                        .name("hftp-acceptor".to_owned())
                        .spawn(move || accept(&listener, &queue, &shared))
                        .context("cannot start the acceptor thread")?;
                }
                Ok(Running::Threads)
            }
        }
    }
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
        if shared.is_shutting_down() {
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
            threads::serve(stream, accepted, shared);
        }));
        if served.is_err() {
            log::error!("a connection panicked; the worker goes on");
        }
        return_freed_memory();
    }
}

/// Hands the heap's free pages back to the system once a connection's
/// buffers are gone. glibc keeps them otherwise, and with many threads
/// sharing two arenas the holes add up: a 70 s, 100-client soak ended at
/// 47.6 MiB RSS (peak 64.4) without this and 37.8 MiB (peak 57.5) with it,
/// at the same request rate.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    // SAFETY: malloc_trim only releases free memory of malloc's own heaps;
    // it takes malloc's locks and touches no memory that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}
