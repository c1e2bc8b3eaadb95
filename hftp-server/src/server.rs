//! The server's life: bind, start the engine's threads, shut down, join.
//!
//! [`Server::bind`] checks the directory and binds the listeners;
//! [`Server::start`] starts the engine and returns a [`Running`] server,
//! which owns every thread it started. A [`ServerHandle`] (any thread may
//! hold one) begins the graceful shutdown — no new connections, no new
//! requests, the replies in flight finish — or cuts every connection at
//! once; [`Running::join`] returns once every thread has ended.
//! [`Running::shutdown`] does all three with a grace period.
//!
//! Nothing here touches the process: no signal handlers, no resource
//! limits, no allocator tuning (the binary does those, in `main.rs`), and
//! the `log` records go to whatever logger the program installed.

use std::fs;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hftp_proto::SessionConfig;

use crate::Error;
use crate::events::{EventLoop, Handoff};
use crate::files::ServedDir;
use crate::listen::{self, Addresses, Listening};
use crate::threads::{self, Pool};

/// The pause after a failed `accept` (e.g. out of file descriptors), so a
/// lasting failure costs a log line every so often, not a busy loop.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// What an `accept` call's result means to the loop that made it.
pub(crate) enum AcceptOutcome<T> {
    Got(T),
    /// Nothing more queued (non-blocking sockets).
    Drained,
    /// Interrupted, or the client left before it was accepted: again.
    Again,
    /// A real failure, such as running out of descriptors.
    Failed(std::io::Error),
}

impl<T> From<std::io::Result<T>> for AcceptOutcome<T> {
    fn from(result: std::io::Result<T>) -> Self {
        use std::io::ErrorKind;
        match result {
            Ok(got) => AcceptOutcome::Got(got),
            Err(error) if error.kind() == ErrorKind::WouldBlock => AcceptOutcome::Drained,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) =>
            {
                AcceptOutcome::Again
            }
            Err(error) => AcceptOutcome::Failed(error),
        }
    }
}

/// Failed accepts in a row (out of descriptors, say): the first is a
/// warning, the rest of the streak only debug, so that a lasting failure
/// does not flood the log; the next success says how long it lasted.
#[derive(Debug, Default)]
pub(crate) struct AcceptFailures(u64);

impl AcceptFailures {
    /// `accept` failed with `error`; the caller pauses [`ACCEPT_BACKOFF`].
    pub(crate) fn failed(&mut self, error: &std::io::Error) {
        if self.0 == 0 {
            log::warn!("accept failed: {error}; retrying every {ACCEPT_BACKOFF:?}");
        } else {
            log::debug!("accept failed again: {error}");
        }
        self.0 += 1;
    }

    /// `accept` worked.
    pub(crate) fn succeeded(&mut self) {
        if self.0 > 0 {
            log::info!("accept works again after {} failures", self.0);
            self.0 = 0;
        }
    }
}

/// How long, and how many bytes, a closing connection reads and discards
/// after its last reply, so the peer gets a FIN rather than a reset.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(1);
pub(crate) const DRAIN_BYTES: u64 = 64 * 1024 * 1024;

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
    /// After each connection of the `threads` engine, hand the heap's
    /// free pages back to the system (glibc's `malloc_trim`). It acts on
    /// the whole process's allocator, so it is for a program that owns
    /// it, as `hftp-server` does (it also tunes glibc's arenas).
    pub trim_heap: bool,
    /// The `events` engine remembers what `get_metadata` found for a name
    /// asked for again, and forgets it as soon as the file, the directory
    /// or a mount changes (inotify tells it before the change's own call
    /// returns), so its answers are those of a fresh look-up. It stays off
    /// where it cannot be exact: a network or layered file system, a path
    /// through a link or `..`.
    pub metadata_cache: bool,
}

impl Config {
    /// Serves `datadir` on `127.0.0.1`, a free port, with the default
    /// engine of one event loop and the binary's defaults otherwise: what
    /// a test or an embedding program starts from.
    pub fn loopback(datadir: impl Into<PathBuf>) -> Config {
        Config {
            addresses: Addresses::These(vec![[127, 0, 0, 1].into()]),
            port: 0,
            datadir: datadir.into(),
            engine: Engine::Events { loops: 1 },
            idle_timeout: Duration::from_secs(60),
            hidden: false,
            reuse_port: false,
            proxy_protocol: false,
            trim_heap: false,
            metadata_cache: true,
        }
    }
}

/// What every engine thread shares: the served directory, the session
/// settings, and the shutdown's state.
#[derive(Debug)]
pub(crate) struct ServerState {
    pub(crate) dir: ServedDir,
    pub(crate) session: SessionConfig,
    /// Connections start with a PROXY header.
    pub(crate) proxy_protocol: bool,
    /// See [`Config::metadata_cache`].
    pub(crate) metadata_cache: bool,
    /// Set once the shutdown begins: no new connections or requests.
    shutting_down: AtomicBool,
    /// Set once the connections still open are to be closed at once.
    cut: AtomicBool,
    /// Connections open now (see [`Counted`]).
    open: Arc<AtomicUsize>,
    /// The engine's threads still running, and their end signalled.
    alive: Mutex<usize>,
    ended: Condvar,
}

impl ServerState {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Whether the connections still open are to be closed now.
    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Sets the server shutting down and cut, for an engine that failed to
    /// start all its threads: those it started end at once.
    pub(crate) fn abandon(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Counts a connection as open while the result lives.
    pub(crate) fn count_open(&self) -> Counted {
        self.open.fetch_add(1, Ordering::Relaxed);
        Counted(Arc::clone(&self.open))
    }

    fn alive(&self) -> MutexGuard<'_, usize> {
        self.alive.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open connection, for [`ServerHandle::open_connections`].
#[derive(Debug)]
pub(crate) struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The threads an engine starts, each counted while it runs so that a
/// shutdown can wait for them with a bound, and joined at the end.
#[derive(Debug)]
pub(crate) struct Spawner {
    shared: Arc<ServerState>,
    handles: Vec<JoinHandle<()>>,
}

impl Spawner {
    /// Starts `body` on a thread named `name` (with a stack of `stack`
    /// bytes, or the default), counted alive until it returns or panics.
    pub(crate) fn spawn(
        &mut self,
        name: String,
        stack: Option<usize>,
        body: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        /// Counts the thread ended, however it ends.
        struct Alive(Arc<ServerState>);
        impl Drop for Alive {
            fn drop(&mut self) {
                let mut alive = self.0.alive();
                *alive -= 1;
                if *alive == 0 {
                    self.0.ended.notify_all();
                }
            }
        }
        let mut builder = thread::Builder::new().name(name);
        if let Some(stack) = stack {
            builder = builder.stack_size(stack);
        }
        *self.shared.alive() += 1;
        let alive = Alive(Arc::clone(&self.shared));
        let spawned = builder.spawn(move || {
            let _alive = alive;
            body();
        });
        match spawned {
            Ok(handle) => {
                self.handles.push(handle);
                Ok(())
            }
            // The closure, and with it the count, was dropped.
            Err(error) => Err(error),
        }
    }
}

/// A bound server, ready to [`start`](Server::start).
#[derive(Debug)]
pub struct Server {
    listening: Listening,
    shared: Arc<ServerState>,
    engine: Engine,
    trim_heap: bool,
}

/// How to wake a started engine's threads for the shutdown.
#[derive(Debug)]
enum Wake {
    Events(Arc<Handoff>),
    Threads(Arc<Pool>),
}

impl Server {
    /// Checks the directory and binds the listeners (connections queue in
    /// the kernel from now on; they are served once the server starts).
    pub fn bind(config: &Config) -> Result<Server, Error> {
        let dir = &config.datadir;
        let unreadable = |source| Error::Unreadable {
            dir: dir.clone(),
            source,
        };
        if !fs::metadata(dir).map_err(unreadable)?.is_dir() {
            return Err(Error::NotADirectory { dir: dir.clone() });
        }
        fs::read_dir(dir).map_err(unreadable)?;
        match config.engine {
            Engine::Events { loops: 0 } => return Err(Error::NoThreads("event loop")),
            Engine::Threads { workers: 0 } => return Err(Error::NoThreads("worker")),
            _ => {}
        }
        let options = listen::Options {
            reuse_port: config.reuse_port,
        };
        let listening = Listening::bind(&config.addresses, config.port, options)?;
        Ok(Server {
            listening,
            shared: Arc::new(ServerState {
                dir: ServedDir::new(dir.clone(), config.hidden),
                session: SessionConfig {
                    idle_timeout: config.idle_timeout,
                    show_hidden: config.hidden,
                },
                proxy_protocol: config.proxy_protocol,
                metadata_cache: config.metadata_cache,
                shutting_down: AtomicBool::new(false),
                cut: AtomicBool::new(false),
                open: Arc::new(AtomicUsize::new(0)),
                alive: Mutex::new(0),
                ended: Condvar::new(),
            }),
            engine: config.engine,
            trim_heap: config.trim_heap,
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

    /// Starts the engine's threads: the server serves from now on, until
    /// a [`ServerHandle`] shuts it down. If a thread cannot be started,
    /// those already started are stopped and joined before the error
    /// returns.
    pub fn start(mut self) -> Result<Running, Error> {
        let mut spawner = Spawner {
            shared: Arc::clone(&self.shared),
            handles: Vec::new(),
        };
        let listeners = &self.listening.listeners;
        let started = match self.engine {
            Engine::Events { loops } => {
                start_loops(loops, listeners, &self.shared, &mut spawner).map(Wake::Events)
            }
            Engine::Threads { workers } => threads::start(
                workers,
                listeners,
                &self.shared,
                &mut spawner,
                self.trim_heap,
            )
            .map(Wake::Threads),
        };
        let (wake, error) = match started {
            Ok(wake) => (Some(wake), None),
            Err(error) => (None, Some(error)),
        };
        let running = Running {
            handle: ServerHandle {
                shared: Arc::clone(&self.shared),
                control: Arc::new(Control {
                    wake,
                    // The engine holds copies of these; they close at the
                    // shutdown, so that the port is free once the engine
                    // lets go of its own.
                    listeners: Mutex::new(std::mem::take(&mut self.listening.listeners)),
                }),
            },
            handles: spawner.handles,
            addrs: self.listening.addrs.clone(),
        };
        if let Some(error) = error {
            running.handle.cut();
            running.join();
            return Err(error);
        }
        log::debug!(
            "serving {} on {} with {:?}",
            self.shared.dir.path().display(),
            self.listening.describe(),
            self.engine
        );
        Ok(running)
    }
}

fn start_loops(
    loops: usize,
    listeners: &[std::net::TcpListener],
    shared: &Arc<ServerState>,
    spawner: &mut Spawner,
) -> Result<Arc<Handoff>, Error> {
    let failed = |source| Error::Start {
        what: "the event loops",
        source,
    };
    let mut event_loops = Vec::with_capacity(loops);
    let mut wakers = Vec::with_capacity(loops);
    for index in 0..loops {
        let (event_loop, waker) =
            EventLoop::new(index, listeners, Arc::clone(shared)).map_err(failed)?;
        event_loops.push(event_loop);
        wakers.push(waker);
    }
    let handoff = Arc::new(Handoff::new(wakers));
    for (index, event_loop) in event_loops.into_iter().enumerate() {
        let loop_handoff = Arc::clone(&handoff);
        spawner
            .spawn(format!("hftp-loop-{index}"), None, move || {
                let served = panic::catch_unwind(AssertUnwindSafe(|| {
                    event_loop.run(&loop_handoff);
                }));
                if served.is_err() {
                    log::error!("an event loop panicked; its connections are lost");
                }
            })
            .map_err(|source| {
                // The loops started so far stop at once.
                shared.abandon();
                handoff.wake_all();
                failed(source)
            })?;
    }
    Ok(handoff)
}

/// A started server: it serves until a [`ServerHandle`] shuts it down,
/// and owns its threads until [`join`](Running::join).
///
/// Dropping it without joining leaves the threads running, serving.
#[derive(Debug)]
#[must_use = "a server serves until it is shut down and joined"]
pub struct Running {
    handle: ServerHandle,
    handles: Vec<JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
}

/// What [`Running::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Connections still open when the grace period ended, closed then
    /// with their replies cut short (0 if every one finished).
    pub cut: usize,
}

impl Running {
    /// A handle to shut the server down from anywhere.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The (first) address the server listens on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every address the server listens on, with the real port.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Waits until every thread of the server has ended (after a shutdown)
    /// or `timeout` has passed: whether they all have.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let shared = &self.handle.shared;
        let deadline = Instant::now().checked_add(timeout);
        let mut alive = shared.alive();
        while *alive > 0 {
            let left = deadline.map_or(Duration::MAX, |deadline| {
                deadline.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return false;
            }
            alive = shared
                .ended
                .wait_timeout(alive, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Waits for every thread the server started, then returns: the
    /// listening sockets are closed and every connection is gone. Only a
    /// shut-down server ends; call [`ServerHandle::shutdown`] first.
    pub fn join(self) {
        for handle in self.handles {
            // A panic was caught and logged where it could be; a thread
            // that still panicked has nothing left to say here.
            let _ = handle.join();
        }
    }

    /// Shuts down gracefully: stops taking connections and requests,
    /// lets the replies in flight finish for at most `grace`, cuts the
    /// connections still open then, and joins every thread.
    pub fn shutdown(self, grace: Duration) -> Stopped {
        self.handle.shutdown();
        let mut cut = 0;
        if !self.wait_timeout(grace) {
            cut = self.handle.open_connections();
            self.handle.cut();
        }
        self.join();
        Stopped { cut }
    }
}

/// Shuts a [`Running`] server down; cheap to clone, and usable from any
/// thread (a signal handler's, say).
#[derive(Debug, Clone)]
pub struct ServerHandle {
    shared: Arc<ServerState>,
    control: Arc<Control>,
}

#[derive(Debug)]
struct Control {
    /// `None` only for an engine that failed to start.
    wake: Option<Wake>,
    /// The listening sockets, until the shutdown.
    listeners: Mutex<Vec<std::net::TcpListener>>,
}

impl ServerHandle {
    /// Begins the graceful shutdown and returns at once: the listeners
    /// close, no new request is taken, and each connection closes once the
    /// reply it is sending is complete. [`Running::wait_timeout`] and
    /// [`Running::join`] wait for the end. Calling it again does nothing.
    pub fn shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        self.control
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        match &self.control.wake {
            Some(Wake::Events(handoff)) => handoff.wake_all(),
            Some(Wake::Threads(pool)) => pool.begin_shutdown(),
            None => {}
        }
    }

    /// Shuts down at once: as [`shutdown`](ServerHandle::shutdown), and
    /// every connection still open is closed now, its reply cut short.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shutdown();
        if let Some(Wake::Threads(pool)) = &self.control.wake {
            pool.cut();
        }
    }

    /// Whether the shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.is_shutting_down()
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }
}
