//! A fresh client, timed: connect, one `get_metadata`, its reply, close —
//! again and again while a crowd loads the server. HFTP.md promises that a
//! slow or idle client "never delays another client's answer"; this is
//! the other client.
//!
//! Every try is bounded by its patience, and the probe gives up after a
//! few failures in a row, so a server that answers nobody costs seconds,
//! not `tries × patience`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::data::SMALL_FILE_LEN;
use super::load::{Outcome, nanos};

/// Failures in a row after which the probe stops trying.
const GIVE_UP_AFTER: usize = 3;

/// One request and the exact reply it must get.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Vec<u8>,
    pub reply: Vec<u8>,
}

impl Exchange {
    /// `get_metadata NAME` of the bench's small file.
    pub fn get_metadata(name: &str) -> Result<Exchange> {
        let mut request = Vec::new();
        hftp_proto::Request::GetMetadata {
            name: hftp_proto::FileName::new(name).context("the small file's name")?,
        }
        .encode(&mut request);
        Ok(Exchange {
            request,
            reply: format!("0 OK\r\n{SMALL_FILE_LEN}\r\n").into_bytes(),
        })
    }
}

/// How to probe.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// Tries at most.
    pub tries: usize,
    /// One try starts this often (or as soon as the previous one ends).
    pub every: Duration,
    /// How long one try may take, connect included.
    pub patience: Duration,
}

impl Probe {
    /// `every` 20 ms for `window`, each try allowed `patience`.
    pub fn over(window: Duration, patience: Duration) -> Probe {
        let every = Duration::from_millis(20);
        Probe {
            tries: usize::try_from(window.as_millis() / every.as_millis())
                .unwrap_or(1)
                .max(1),
            every,
            patience,
        }
    }

    /// What the client does, for the report's commands.
    pub fn describe(&self, what: &str) -> String {
        format!(
            "a fresh client every {} ms (at most {} tries, {:.0} s patience each, giving up \
             after {GIVE_UP_AFTER} failures in a row): connect, `{what}`, read the reply, \
             close; latency from connect to the reply's last byte",
            self.every.as_millis(),
            self.tries,
            self.patience.as_secs_f64()
        )
    }
}

/// What the probe saw.
#[derive(Debug)]
pub struct Probed {
    /// The tries that were answered.
    pub answered: Outcome,
    pub failures: usize,
    pub tries: usize,
    /// Why the first failed try failed.
    pub first_failure: Option<String>,
}

impl Probed {
    /// `200 of 200 answered`, or `0 of 3 answered (gave up: …)`.
    pub fn answered_text(&self) -> String {
        let answered = self.tries - self.failures;
        match &self.first_failure {
            None => format!("{answered} of {} answered", self.tries),
            Some(why) => format!(
                "{answered} of {} answered (first failure: {why})",
                self.tries
            ),
        }
    }

    /// `p50 / p99` of the answered tries.
    pub fn latency_text(&self) -> String {
        if self.answered.replies == 0 {
            "none answered".to_owned()
        } else {
            self.answered.latency_summary()
        }
    }

    /// The p99 in milliseconds; infinite when nothing was answered.
    pub fn p99_ms(&self) -> f64 {
        self.answered
            .latency(0.99)
            .map_or(f64::INFINITY, |p99| p99.as_secs_f64() * 1e3)
    }
}

/// Probes the server at `addr` as `probe` says.
pub fn run(addr: SocketAddr, exchange: &Exchange, probe: &Probe) -> Probed {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(probe.tries);
    let (mut tries, mut failures, mut in_a_row) = (0, 0, 0);
    let mut first_failure = None;
    while tries < probe.tries && in_a_row < GIVE_UP_AFTER {
        let due = started + probe.every * u32::try_from(tries).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        tries += 1;
        match try_once(addr, exchange, probe.patience) {
            Ok(latency) => {
                latencies.push(nanos(latency));
                in_a_row = 0;
            }
            Err(error) => {
                failures += 1;
                in_a_row += 1;
                first_failure.get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
    Probed {
        answered: Outcome::from_latencies(latencies, started.elapsed()),
        failures,
        tries,
        first_failure,
    }
}

fn try_once(addr: SocketAddr, exchange: &Exchange, patience: Duration) -> Result<Duration> {
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, patience)
        .with_context(|| format!("no connection within {:.0} s", patience.as_secs_f64()))?;
    let left = patience
        .checked_sub(start.elapsed())
        .filter(|left| !left.is_zero())
        .context("no time left after connecting")?;
    stream.set_read_timeout(Some(left))?;
    stream.set_nodelay(true)?;
    stream.write_all(&exchange.request).context("write")?;
    let mut reply = vec![0; exchange.reply.len()];
    if let Err(error) = stream.read_exact(&mut reply) {
        // A read timeout shows as EAGAIN ("Resource temporarily
        // unavailable"), which says nothing to a reader of the report.
        let why = match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => "timed out".to_owned(),
            _ => error.to_string(),
        };
        bail!(
            "no whole reply within {:.0} s: {why}",
            patience.as_secs_f64()
        );
    }
    let latency = start.elapsed();
    if reply != exchange.reply {
        bail!("the reply was {:?}", String::from_utf8_lossy(&reply));
    }
    Ok(latency)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn a_server_that_never_answers_costs_a_few_tries() -> Result<()> {
        // Connects succeed (the backlog takes them) but nobody accepts.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let exchange = Exchange::get_metadata("archivo.txt")?;
        let probe = Probe {
            tries: 100,
            every: Duration::from_millis(1),
            patience: Duration::from_millis(50),
        };
        let probed = run(listener.local_addr()?, &exchange, &probe);
        assert_eq!(
            (probed.tries, probed.failures),
            (GIVE_UP_AFTER, GIVE_UP_AFTER)
        );
        assert!(probed.p99_ms().is_infinite());
        assert!(
            probed
                .answered_text()
                .starts_with("0 of 3 answered (first failure: no whole")
        );
        Ok(())
    }

    #[test]
    fn an_answering_server_is_timed() -> Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let exchange = Exchange::get_metadata("archivo.txt")?;
        let reply = exchange.reply.clone();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                // The whole request is read: unread bytes at close would
                // reset the connection before the client reads the reply.
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                let _ = stream.write_all(&reply);
            }
        });
        let probe = Probe {
            tries: 5,
            every: Duration::from_millis(1),
            patience: Duration::from_secs(5),
        };
        let probed = run(addr, &exchange, &probe);
        assert_eq!((probed.tries, probed.failures), (5, 0));
        assert_eq!(probed.answered_text(), "5 of 5 answered");
        assert!(probed.p99_ms().is_finite());
        Ok(())
    }
}
