//! Crowds: many connections opened to one server and held while something
//! else is measured (idle, slowloris, slow and stalled readers).
//!
//! Each connect is bounded, and the crowd stops growing at the first one
//! that fails: a server that stops accepting (a full pool, queue and
//! backlog) is a result to report, and waiting out every remaining
//! connect's SYN retries would turn it into a hang.
//!
//! All connect from 127.0.0.1: the largest crowd (10,000) and the probes'
//! closed connections in TIME_WAIT stay well inside the ~28k ephemeral
//! ports of one source address, and every server of a run listens on a
//! port of its own, so no 4-tuple is reused.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::report::thousands;

/// How long one connect may take before the crowd stops growing. Loopback
/// connects take microseconds, but a listener whose backlog is full for a
/// moment (a server still starting its threads) drops the SYN, and the
/// retries come after 1 s and 3 s: 4 s lets two of them through.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// How long opening a whole crowd may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// Connections held open to one server.
#[derive(Debug)]
pub struct Crowd {
    pub streams: Vec<TcpStream>,
    wanted: usize,
    /// Why the crowd is smaller than asked, if it is.
    stopped: Option<String>,
}

impl Crowd {
    /// Opens `wanted` connections to `addr`, each sending `first` once
    /// connected (nothing if empty).
    pub fn open(addr: SocketAddr, wanted: usize, first: &[u8]) -> Crowd {
        let deadline = Instant::now() + OPEN_TIMEOUT;
        let mut streams = Vec::with_capacity(wanted);
        let mut stopped = None;
        while streams.len() < wanted {
            if Instant::now() > deadline {
                stopped = Some(format!("opening took over {} s", OPEN_TIMEOUT.as_secs()));
                break;
            }
            let opened = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
                .context("connect")
                .and_then(|mut stream| {
                    if !first.is_empty() {
                        stream.write_all(first).context("first write")?;
                    }
                    Ok(stream)
                });
            match opened {
                Ok(stream) => streams.push(stream),
                Err(error) => {
                    stopped = Some(format!(
                        "connection {} failed: {:#}",
                        thousands(streams.len() + 1),
                        error
                    ));
                    break;
                }
            }
        }
        Crowd {
            streams,
            wanted,
            stopped,
        }
    }

    /// How a crowd is opened, for the report's commands.
    pub fn rule() -> String {
        format!(
            "connections opened one by one, each connect ≤ {} s, and a crowd stops at the \
             first that fails",
            CONNECT_TIMEOUT.as_secs()
        )
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether every connection asked for was opened.
    pub fn is_whole(&self) -> bool {
        self.stopped.is_none()
    }

    /// `10,000 held`, or `1,410 of 10,000 held (connection 1,411 failed: …)`.
    pub fn held(&self) -> String {
        match &self.stopped {
            None => format!("{} held", thousands(self.len())),
            Some(why) => format!(
                "{} of {} held ({why})",
                thousands(self.len()),
                thousands(self.wanted)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use anyhow::Result;

    use super::*;

    #[test]
    fn a_crowd_is_held_and_counted() -> Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let crowd = Crowd::open(listener.local_addr()?, 20, b"x");
        assert_eq!(crowd.len(), 20);
        assert!(crowd.is_whole());
        assert_eq!(crowd.held(), "20 held");
        Ok(())
    }

    #[test]
    fn a_refused_connect_stops_the_crowd() -> Result<()> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        // The listener is gone: the port refuses.
        let crowd = Crowd::open(addr, 5, b"");
        assert_eq!(crowd.len(), 0);
        assert!(!crowd.is_whole());
        assert!(
            crowd
                .held()
                .starts_with("0 of 5 held (connection 1 failed: connect")
        );
        Ok(())
    }
}
