//! Idle connections: many clients that connect and send nothing, held at
//! once, and a fresh client timed meanwhile.
//!
//! Why: HFTP.md says an idle client costs the server its own connection
//! and never delays another's answer; the target asks the default engine
//! to hold 10,000 of them in at most 40 MiB with a fresh `get_metadata`
//! answered at p99 ≤ 20 ms. A fixed pool of blocking workers is expected
//! to fail here — its workers all sit on idle connections — and the row
//! shows how: the crowd the server took, and a fresh client not answered
//! within the probe's patience.

use std::time::Duration;

use super::SMALL_FILE;
use super::crowd::Crowd;
use super::probe::{self, Exchange, Probe};
use super::report::{Row, Target, thousands};
use crate::process::Server;
use crate::units::mib;

/// The targets for the default engine.
const TARGET_RSS_MIB: f64 = 40.0;
const TARGET_P99_MS: f64 = 20.0;

/// How the scenario runs.
#[derive(Debug, Clone, Copy)]
pub struct Idle {
    pub connections: usize,
    /// How long the fresh client is probed for.
    pub window: Duration,
    pub patience: Duration,
}

/// The two rows of one server: its RSS while the crowd is held, and the
/// fresh client's latency meanwhile.
pub fn rows(server: &Server, idle: &Idle, exchange: &Exchange) -> Vec<Row> {
    let crowd = Crowd::open(server.addr(), idle.connections, b"");
    let before = server.memory("VmRSS");
    let probe = Probe::over(idle.window, idle.patience);
    let probed = probe::run(server.addr(), exchange, &probe);
    let after = server.memory("VmRSS");
    let count = thousands(idle.connections);
    let client = format!(
        "{count} connections left idle ({}); meanwhile {}",
        Crowd::rule(),
        probe.describe(&format!("get_metadata {SMALL_FILE}"))
    );
    let rss_row = Row::new(
        format!("{count} idle connections: server RSS (VmRSS)"),
        server,
        &client,
    );
    let rss_row = match (before, after) {
        (Ok(before), Ok(after)) => {
            let rss = mib(before.max(after));
            rss_row
                .figure(format!("{rss:.1} MiB"), crowd.held())
                .target(Target::AtMost {
                    limit: TARGET_RSS_MIB,
                    value: if crowd.is_whole() { rss } else { f64::INFINITY },
                    unit: "MiB",
                })
        }
        (Err(error), _) | (_, Err(error)) => rss_row.failed(&error),
    };
    let latency_row = Row::new(
        format!("fresh get_metadata beside {count} idle connections"),
        server,
        &client,
    )
    .figure(probed.answered_text(), probed.latency_text())
    .target(Target::AtMost {
        limit: TARGET_P99_MS,
        value: if probed.failures == 0 {
            probed.p99_ms()
        } else {
            f64::INFINITY
        },
        unit: "ms p99",
    });
    drop(crowd);
    vec![rss_row, latency_row]
}
