//! What the default access log costs: `get_metadata` throughput of the
//! default engine at its default log level against the same server at
//! `-qq` (errors only), measured in turns, one after the other.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::load::{self, Scenario, Workload};
use super::report::{Row, Target};
use crate::process::{Engine, Server};

/// The logged server must keep at least this share of the quiet one's
/// rate (nginx's buffered `access_log` costs about that).
pub const TARGET: f64 = 0.9;

/// Turns each server is measured in.
const TURNS: u32 = 10;

pub struct LogCost<'a> {
    pub binary: &'a Path,
    pub dir: &'a Path,
    pub engine: Engine,
    pub workload: Workload<'a>,
    pub connections: usize,
    pub depth: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// The row: logged req/s, quiet req/s as the reference, their ratio.
pub fn row(cost: &LogCost<'_>) -> Result<Row> {
    let logged = Server::start(cost.binary, cost.dir, cost.engine)?;
    let quiet = Server::start_with(cost.binary, cost.dir, cost.engine, &["-qq"])?;
    let scenario = Scenario {
        connections: cost.connections,
        depth: cost.depth,
        warmup: cost.warmup,
        duration: cost.duration / 2,
    };
    let outcomes = load::in_turns(&[&logged, &quiet], &scenario, TURNS, |server, scenario| {
        load::run(server.addr(), &cost.workload, scenario)
            .with_context(|| format!("get_metadata against `{}`", server.command()))
    });
    let [ours, theirs] = <[_; 2]>::try_from(outcomes)
        .map_err(|_| anyhow::anyhow!("in_turns returns one outcome per target"))?;
    let (ours, theirs) = (ours?, theirs?);
    let ratio = ours.per_second() / theirs.per_second();
    let mut row = Row::new(
        format!(
            "get_metadata, default log vs -qq, {} conns, depth {}",
            cost.connections, cost.depth
        ),
        &logged,
        format!(
            "as the request rows, but in {TURNS} turns of each server, alternating (logged, \
             quiet, quiet, logged, ...); the reference is `{}`, the same server logging only \
             errors",
            quiet.command()
        ),
    )
    .figure(
        format!("{} req/s", super::si(ours.per_second())),
        ours.latency_summary(),
    );
    row.reference = format!("-qq {} req/s", super::si(theirs.per_second()));
    row.reference_latency = theirs.latency_summary();
    row.ratio = Some(ratio);
    row.target = Some(Target::Ratio {
        at_least: TARGET,
        ratio: Some(ratio),
    });
    Ok(row)
}
