//! A session: where the server is, and the connection to it, opened when
//! first needed and again after it is lost; with `--retry`, again and
//! again, waiting longer each time.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use hftp_client::{Client, Error, SliceEncoding};

use crate::address::{DEFAULT_PORT, Server};
use crate::cli::ServerArgs;
use crate::interrupt;

/// The longest wait between two attempts, however many failed: long
/// enough for a server to restart, short enough that a user waits.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// What `--retry` and `--retry-delay` say.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts after a connection failure, in a row, without a byte
    /// received between them.
    pub times: u32,
    /// The wait before the first of them; each next one waits twice as
    /// long, up to [`MAX_RETRY_DELAY`].
    pub delay: Duration,
}

impl Retry {
    /// The wait before attempt `failures` (from 1).
    fn delay(&self, failures: u32) -> Duration {
        let doubled = 2u32.saturating_pow(failures.saturating_sub(1));
        self.delay
            .saturating_mul(doubled)
            .min(MAX_RETRY_DELAY.max(self.delay))
    }
}

/// Failures that another connection may get past: the network's, or a
/// server that went away. Not a refusal, a malformed reply (the same
/// server would say it again) or a local failure.
pub fn is_transient(error: &Error) -> bool {
    matches!(
        error,
        Error::Connect(_) | Error::Io(_) | Error::Closed | Error::Broken
    )
}

#[derive(Debug)]
pub struct Session {
    host: String,
    port: u16,
    timeout: Option<Duration>,
    encoding: SliceEncoding,
    retry: Retry,
    quiet: bool,
    verbose: bool,
    client: Option<Connection>,
}

/// A connection that Ctrl-C cuts short (see `interrupt`).
#[derive(Debug)]
pub struct Connection {
    client: Client,
    _watch: interrupt::Watch,
}

impl Connection {
    /// Says `quit` and closes the connection.
    pub fn quit(self) -> Result<(), Error> {
        self.client.quit()
    }
}

impl Deref for Connection {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Session {
    pub fn new(args: &ServerArgs) -> Session {
        Session {
            host: args.host.host.clone(),
            port: args.host.port.unwrap_or(args.port),
            timeout: Some(Duration::from_secs_f64(args.timeout)).filter(|t| !t.is_zero()),
            encoding: args.slice_encoding(),
            retry: Retry {
                times: args.retry,
                delay: Duration::from_secs_f64(args.retry_delay),
            },
            quiet: args.quiet,
            verbose: args.verbose,
            client: None,
        }
    }

    /// A session of its own with `server`, at HFTP's default port unless
    /// it names one.
    pub fn elsewhere(&self, server: &Server) -> Session {
        Session {
            host: server.host.clone(),
            port: server.port.unwrap_or(DEFAULT_PORT),
            timeout: self.timeout,
            encoding: self.encoding,
            retry: self.retry,
            quiet: self.quiet,
            verbose: self.verbose,
            client: None,
        }
    }

    /// The session for a file on `server` (none: this session's): this
    /// one, or one of `others`, opened there on first use.
    pub fn pick<'a>(
        &'a mut self,
        server: Option<&Server>,
        others: &'a mut Vec<Session>,
    ) -> &'a mut Session {
        let Some(server) = server else {
            return self;
        };
        let wanted = self.elsewhere(server);
        if wanted.host == self.host && wanted.port == self.port {
            return self;
        }
        let at = match others
            .iter()
            .position(|other| other.host == wanted.host && other.port == wanted.port)
        {
            Some(at) => at,
            None => {
                others.push(wanted);
                others.len() - 1
            }
        };
        &mut others[at]
    }

    /// Prints a note on stderr (what is going on, not an error), unless
    /// `-q`.
    pub fn note(&self, note: std::fmt::Arguments<'_>) {
        if !self.quiet {
            eprintln!("{note}");
        }
    }

    /// Whether `-q` asks for no notes and no progress bar.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// The server as messages name it: `host:port`.
    pub fn server(&self) -> String {
        Server {
            host: self.host.clone(),
            port: Some(self.port),
        }
        .with_port(self.port)
    }

    /// The session's connection, opened now if there is none or the last
    /// one was lost.
    pub fn client(&mut self) -> Result<&mut Client, Error> {
        if self.client.as_ref().is_some_and(|c| c.is_broken()) {
            self.client = None;
        }
        if self.client.is_none() {
            self.client = Some(self.connect()?);
        }
        self.client.as_deref_mut().ok_or(Error::Broken)
    }

    /// Runs `request` (which must be safe to repeat) on the session's
    /// connection. If a connection kept from earlier turns out to be lost
    /// (the server may have closed it while idle), it is opened again and
    /// `request` retried at once; after any other connection failure, as
    /// `--retry` says. Never after Ctrl-C.
    pub fn retrying<T>(
        &mut self,
        mut request: impl FnMut(&mut Client) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut reused = self.is_connected();
        let mut failures = 0;
        loop {
            let error = match self.client().and_then(&mut request) {
                Err(error) if is_transient(&error) && !interrupt::is_set() => error,
                result => return result,
            };
            if std::mem::take(&mut reused) {
                continue;
            }
            failures += 1;
            self.back_off(failures, error, None)?;
        }
    }

    /// After the `failures`th connection failure in a row, `error`: waits
    /// before the next attempt, saying so, or gives `error` back if
    /// `--retry` allows no more (or Ctrl-C stops the wait).
    pub fn back_off(
        &self,
        failures: u32,
        error: Error,
        what: Option<&dyn std::fmt::Display>,
    ) -> Result<(), Error> {
        if failures > self.retry.times || interrupt::is_set() {
            return Err(error);
        }
        let delay = self.retry.delay(failures);
        let what = what.map(|what| format!("{what}: ")).unwrap_or_default();
        self.note(format_args!(
            "hftp: {what}{}; retry {failures} of {} in {:.1}s",
            crate::failure::describe(&error, &self.server()),
            self.retry.times,
            delay.as_secs_f64()
        ));
        if interrupt::wait(delay) {
            return Err(error);
        }
        Ok(())
    }

    /// A new connection of its own, e.g. for one segment of a parallel
    /// download.
    pub fn connect(&self) -> Result<Connection, Error> {
        let mut client = Client::connect((self.host.as_str(), self.port), self.timeout)?;
        client.set_slice_encoding(self.encoding);
        if self.verbose {
            client.set_transcript(Some(Box::new(|line| eprintln!("{line}"))));
        }
        let watch = interrupt::watch(&client);
        Ok(Connection {
            client,
            _watch: watch,
        })
    }

    /// Whether a connection is open (it may still turn out to be lost).
    pub fn is_connected(&self) -> bool {
        self.client
            .as_ref()
            .is_some_and(|connection| !connection.is_broken())
    }

    /// Says `quit` on the open connection, if any. Failures are not
    /// worth reporting: the work is done.
    pub fn close(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.quit();
        }
    }
}

/// What a transfer fetches its slices on: the session's connection, or
/// one of its own (a segment of a parallel download); either is opened
/// again after a loss.
pub trait Connector {
    /// The connection, opened now if there is none or it was lost.
    fn client(&mut self) -> Result<&mut Client, Error>;
    /// The session it belongs to, for its `--retry`.
    fn session(&self) -> &Session;
}

impl Connector for Session {
    fn client(&mut self) -> Result<&mut Client, Error> {
        Session::client(self)
    }

    fn session(&self) -> &Session {
        self
    }
}

/// A connection of its own to a session's server.
#[derive(Debug)]
pub struct OwnConnection<'a> {
    session: &'a Session,
    connection: Option<Connection>,
}

impl<'a> OwnConnection<'a> {
    /// Opened at first use.
    pub fn new(session: &'a Session) -> OwnConnection<'a> {
        OwnConnection {
            session,
            connection: None,
        }
    }

    /// Says `quit` on it, if it is open; the work is done, so failures
    /// do not matter.
    pub fn close(self) {
        if let Some(connection) = self.connection {
            let _ = connection.quit();
        }
    }
}

impl Connector for OwnConnection<'_> {
    fn client(&mut self) -> Result<&mut Client, Error> {
        if self.connection.as_ref().is_some_and(|c| c.is_broken()) {
            self.connection = None;
        }
        if self.connection.is_none() {
            self.connection = Some(self.session.connect()?);
        }
        self.connection.as_deref_mut().ok_or(Error::Broken)
    }

    fn session(&self) -> &Session {
        self.session
    }
}
