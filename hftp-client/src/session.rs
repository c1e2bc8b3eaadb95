//! A session: where the server is, and the connection to it, opened when
//! first needed and again after it is lost.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use hftp_client::{Client, Error, SliceEncoding};

use crate::address::{DEFAULT_PORT, Server};
use crate::cli::ServerArgs;
use crate::interrupt;

#[derive(Debug)]
pub struct Session {
    host: String,
    port: u16,
    timeout: Option<Duration>,
    encoding: SliceEncoding,
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
    /// `request` retried once (unless Ctrl-C is what cut it).
    pub fn retrying<T>(
        &mut self,
        mut request: impl FnMut(&mut Client) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let reused = self.is_connected();
        match request(self.client()?) {
            Err(Error::Io(_) | Error::Closed) if reused && !interrupt::is_set() => {
                request(self.client()?)
            }
            result => result,
        }
    }

    /// A new connection of its own, e.g. for one segment of a parallel
    /// download.
    pub fn connect(&self) -> Result<Connection, Error> {
        let mut client = Client::connect((self.host.as_str(), self.port), self.timeout)?;
        client.set_slice_encoding(self.encoding);
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
