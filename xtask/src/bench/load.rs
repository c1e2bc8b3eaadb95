//! The load generator: many connections, each writing `depth` pipelined
//! requests at once and reading until all their replies are in.
//!
//! Replies are counted by their line ends, not parsed, so that the same
//! generator costs the same against any server: `get_metadata`'s
//! `0 OK\r\nSIZE\r\n` is two lines, redis' `+PONG\r\n` one.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a connection waits for a reply before the run fails.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read from the socket at once.
const READ_BUF_LEN: usize = 64 * 1024;

/// One request and the reply it must get.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    /// The request, line end included.
    pub request: &'a [u8],
    /// Its exact reply, checked once per connection before the run.
    pub reply: &'a [u8],
    /// Lines (`\n`) in one reply.
    pub lines_per_reply: usize,
}

/// The reference's workload: redis answering inline `PING`.
pub const PING: Workload<'static> = Workload {
    request: b"PING\r\n",
    reply: b"+PONG\r\n",
    lines_per_reply: 1,
};

/// How hard to push.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Connections, one thread each.
    pub connections: usize,
    /// Requests written at once per connection.
    pub depth: usize,
    /// Time run but not measured first.
    pub warmup: Duration,
    /// Time measured.
    pub duration: Duration,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connection{}, depth {}",
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            self.depth
        )
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Replies of batches that started and ended inside the window.
    pub replies: u64,
    /// The window's length.
    pub window: Duration,
    /// Per-batch latencies in nanoseconds, sorted.
    latencies: Vec<u64>,
}

impl Outcome {
    /// One reply per latency (in nanoseconds, any order) within `window`.
    pub fn from_latencies(mut latencies: Vec<u64>, window: Duration) -> Outcome {
        latencies.sort_unstable();
        Outcome {
            replies: latencies.len() as u64,
            window,
            latencies,
        }
    }

    /// Replies per second.
    pub fn per_second(&self) -> f64 {
        self.replies as f64 / self.window.as_secs_f64()
    }

    /// All the runs as one (none: an empty run).
    pub fn merged(runs: impl IntoIterator<Item = Outcome>) -> Outcome {
        let mut all = Outcome {
            replies: 0,
            window: Duration::ZERO,
            latencies: Vec::new(),
        };
        for run in runs {
            all.replies += run.replies;
            all.window += run.window;
            all.latencies.extend(run.latencies);
        }
        all.latencies.sort_unstable();
        all
    }

    /// The `q`-quantile of the batch latencies (`0.0..=1.0`).
    pub fn latency(&self, q: f64) -> Option<Duration> {
        let last = self.latencies.len().checked_sub(1)?;
        // Nearest rank; the float-to-index cast is exact enough here.
        let rank = ((last as f64) * q).round() as usize;
        Some(Duration::from_nanos(self.latencies[rank.min(last)]))
    }

    /// `p50 21 µs · p99 40 µs`.
    pub fn latency_summary(&self) -> String {
        match (self.latency(0.5), self.latency(0.99)) {
            (Some(p50), Some(p99)) => format!("{} / {}", micros(p50), micros(p99)),
            _ => "no batch completed".to_owned(),
        }
    }
}

fn micros(duration: Duration) -> String {
    let us = duration.as_secs_f64() * 1e6;
    if us >= 1_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

/// Measures every target in `turns` short turns of `scenario`, in the
/// order first to last, then last to first, and so on; each target's
/// turns merged into one outcome. On a shared machine the speed drifts
/// over seconds: two long halves each measured a different machine (one
/// build's log cost ranged 0.79 to 1.21 across runs), many short turns
/// spread every target over the whole run. Each target runs
/// `scenario.duration` in all; its first turn warms up for
/// `scenario.warmup`, the later ones only for their connections' first
/// replies. A target whose turn fails keeps that error and runs no more.
pub fn in_turns<T>(
    targets: &[T],
    scenario: &Scenario,
    turns: u32,
    mut run: impl FnMut(&T, &Scenario) -> Result<Outcome>,
) -> Vec<Result<Outcome>> {
    let first = Scenario {
        duration: scenario.duration / turns.max(1),
        ..*scenario
    };
    let later = Scenario {
        warmup: (scenario.warmup / 10).min(first.duration / 4),
        ..first
    };
    let mut runs: Vec<Result<Vec<Outcome>>> = targets.iter().map(|_| Ok(Vec::new())).collect();
    for turn in 0..turns.max(1) {
        let scenario = if turn == 0 { &first } else { &later };
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if turn % 2 == 1 {
            order.reverse();
        }
        for index in order {
            if let Ok(outcomes) = &mut runs[index] {
                match run(&targets[index], scenario) {
                    Ok(outcome) => outcomes.push(outcome),
                    Err(error) => runs[index] = Err(error),
                }
            }
        }
    }
    runs.into_iter()
        .map(|outcomes| outcomes.map(Outcome::merged))
        .collect()
}

/// Drives the server at `addr` with `workload` as `scenario` says.
pub fn run(addr: SocketAddr, workload: &Workload<'_>, scenario: &Scenario) -> Result<Outcome> {
    // Connect and check every connection first, so that neither set-up
    // nor a wrong reply (a 202 would be one line, not two) skews the run.
    let streams = (0..scenario.connections)
        .map(|_| connect_checked(addr, workload))
        .collect::<Result<Vec<_>>>()?;
    let measure_from = Instant::now() + scenario.warmup;
    let until = measure_from + scenario.duration;
    let batch = workload.request.repeat(scenario.depth);
    let lines_per_batch = scenario.depth * workload.lines_per_reply;
    let per_connection = thread::scope(|scope| {
        let handles: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                let batch = &batch;
                scope.spawn(move || drive(stream, batch, lines_per_batch, measure_from, until))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| match handle.join() {
                Ok(result) => result,
                Err(_) => bail!("a load generator thread panicked"),
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let mut batches = 0u64;
    let mut latencies = Vec::new();
    for connection in per_connection {
        batches += connection.len() as u64;
        latencies.extend(connection);
    }
    latencies.sort_unstable();
    Ok(Outcome {
        replies: batches * scenario.depth as u64,
        window: scenario.duration,
        latencies,
    })
}

fn connect_checked(addr: SocketAddr, workload: &Workload<'_>) -> Result<TcpStream> {
    let mut stream =
        TcpStream::connect(addr).with_context(|| format!("could not connect to {addr}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream.write_all(workload.request)?;
    let mut reply = vec![0; workload.reply.len()];
    stream
        .read_exact(&mut reply)
        .context("no whole reply to the first request")?;
    if reply != workload.reply {
        bail!(
            "the first request got {:?}, not {:?}",
            String::from_utf8_lossy(&reply),
            String::from_utf8_lossy(workload.reply)
        );
    }
    Ok(stream)
}

/// One connection's loop; returns the latency of each batch that started
/// and ended inside the window.
fn drive(
    mut stream: TcpStream,
    batch: &[u8],
    lines_per_batch: usize,
    measure_from: Instant,
    until: Instant,
) -> Result<Vec<u64>> {
    let mut buf = vec![0; READ_BUF_LEN];
    let mut latencies = Vec::with_capacity(1 << 16);
    loop {
        let sent = Instant::now();
        if sent >= until {
            return Ok(latencies);
        }
        stream.write_all(batch).context("write failed")?;
        let mut lines = 0;
        while lines < lines_per_batch {
            let read = stream.read(&mut buf).context("read failed")?;
            if read == 0 {
                bail!("the server closed the connection");
            }
            lines += count_line_ends(&buf[..read]);
        }
        if lines > lines_per_batch {
            bail!("more reply lines than requests sent");
        }
        let done = Instant::now();
        if sent >= measure_from && done <= until {
            latencies.push(nanos(done - sent));
        }
    }
}

/// A latency as the nanoseconds [`Outcome`] keeps.
pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

pub fn count_line_ends(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&byte| byte == b'\n').count()
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use super::*;

    /// A toy server answering every line with `+PONG`.
    fn pong_server() -> Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut writer = stream.try_clone()?;
                    for line in BufReader::new(stream).lines() {
                        line?;
                        writer.write_all(b"+PONG\r\n")?;
                    }
                    std::io::Result::Ok(())
                });
            }
        });
        Ok(addr)
    }

    fn scenario(connections: usize, depth: usize, warmup_ms: u64, duration_ms: u64) -> Scenario {
        Scenario {
            connections,
            depth,
            warmup: Duration::from_millis(warmup_ms),
            duration: Duration::from_millis(duration_ms),
        }
    }

    #[test]
    fn counts_replies_and_latencies() -> Result<()> {
        let addr = pong_server()?;
        let outcome = run(addr, &PING, &scenario(3, 4, 20, 200))?;
        assert!(outcome.replies > 0);
        assert_eq!(outcome.replies % 4, 0);
        assert_eq!(outcome.latencies.len() as u64 * 4, outcome.replies);
        assert!(outcome.latency(0.5) <= outcome.latency(0.99));
        Ok(())
    }

    #[test]
    fn a_wrong_first_reply_fails() -> Result<()> {
        let addr = pong_server()?;
        let workload = Workload {
            request: b"get_metadata x\r\n",
            reply: b"0 OK\r\n",
            lines_per_reply: 1,
        };
        assert!(run(addr, &workload, &scenario(1, 1, 0, 10)).is_err());
        Ok(())
    }

    #[test]
    fn quantiles() {
        let outcome = Outcome {
            replies: 100,
            window: Duration::from_secs(1),
            latencies: (1..=100).map(|us| us * 1000).collect(),
        };
        assert_eq!(outcome.per_second(), 100.0);
        assert_eq!(outcome.latency(0.5), Some(Duration::from_micros(51)));
        assert_eq!(outcome.latency(0.99), Some(Duration::from_micros(99)));
        assert_eq!(outcome.latency(1.0), Some(Duration::from_micros(100)));
        let merged = Outcome::merged([
            outcome,
            Outcome {
                replies: 50,
                window: Duration::from_secs(1),
                latencies: vec![0],
            },
        ]);
        assert_eq!(merged.per_second(), 75.0);
        assert_eq!(merged.latency(0.0), Some(Duration::ZERO));
    }

    #[test]
    fn turns_alternate_their_order_and_a_failure_stops_its_target() {
        let scenario = Scenario {
            connections: 1,
            depth: 1,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(4),
        };
        let mut calls = Vec::new();
        let outcomes = in_turns(&['a', 'b', 'c'], &scenario, 4, |&target, turn| {
            calls.push((target, turn.warmup, turn.duration));
            if target == 'c' && calls.len() > 3 {
                anyhow::bail!("c failed");
            }
            Ok(Outcome::from_latencies(vec![1], turn.duration))
        });
        let order: String = calls.iter().map(|&(target, _, _)| target).collect();
        assert_eq!(order, "abccbaabba");
        let second = Duration::from_secs(1);
        assert_eq!(calls[0], ('a', second, second));
        assert_eq!(calls[3], ('c', second / 10, second));
        let windows: Vec<_> = outcomes
            .iter()
            .map(|outcome| outcome.as_ref().map(|outcome| outcome.window).ok())
            .collect();
        assert_eq!(
            windows,
            [Some(scenario.duration), Some(scenario.duration), None]
        );
    }
}
