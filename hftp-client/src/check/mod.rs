//! `hftp check`: a conformance tester for any HFTP server.
//!
//! A numbered catalogue of cases ([`catalogue`]), each tied to a section of
//! HFTP.md, is run over raw TCP against a server ([`run`]); the result is a
//! [`Report`] that prints as text (✔/✘ per case, with what was sent,
//! expected and received), as JSON or as JUnit XML.
//!
//! Cases that need files on the server create them in the served
//! directory when [`Config::datadir`] names it (and remove them when the
//! run ends); without it they are skipped, and the report says so.
//!
//! ```no_run
//! use std::time::Duration;
//! use hftp_client::check::{run, Config, Kit};
//!
//! let config = Config {
//!     addr: "127.0.0.1:19500".parse()?,
//!     datadir: None,
//!     kit: Kit::K2026,
//!     jobs: 4,
//!     timeout: Duration::from_secs(10),
//!     stop: None,
//! };
//! let report = run(&config)?;
//! print!("{}", report.text());
//! assert!(report.passed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cases;
#[cfg(feature = "cli")]
pub mod command;
mod fixture;
mod report;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use cases::{Case, Section, catalogue};
pub use report::{CaseResult, Outcome, Report};
pub use wire::Failure;

/// Which year's course kit the server is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kit {
    /// The 2019 kit: the four commands.
    K2019,
    /// The 2024 kit: as 2019.
    K2024,
    /// The 2025 kit: as 2019.
    K2025,
    /// The 2026 kit: `help`, raw slices, a blank line is 101, a file
    /// nobody may read is 199.
    K2026,
}

impl Kit {
    /// The kit of this year, if there is one.
    pub fn from_year(year: u16) -> Option<Kit> {
        match year {
            2019 => Some(Kit::K2019),
            2024 => Some(Kit::K2024),
            2025 => Some(Kit::K2025),
            2026 => Some(Kit::K2026),
            _ => None,
        }
    }

    /// The year of the kit.
    pub fn year(self) -> u16 {
        match self {
            Kit::K2019 => 2019,
            Kit::K2024 => 2024,
            Kit::K2025 => 2025,
            Kit::K2026 => 2026,
        }
    }
}

/// What to check, and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server.
    pub addr: SocketAddr,
    /// The directory the server serves, as this machine sees it: cases
    /// that need files create them there. `None` skips those cases.
    pub datadir: Option<PathBuf>,
    /// Whose expectations apply.
    pub kit: Kit,
    /// Cases run at the same time.
    pub jobs: usize,
    /// How long one case may take before it fails, so that a server that
    /// hangs fails that case instead of hanging the run.
    pub timeout: Duration,
    /// When set, no further case starts: the rest are skipped.
    pub stop: Option<Arc<AtomicBool>>,
}

/// A failure of the check itself (not of the server): the served
/// directory could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("cannot prepare {path}")]
pub struct SetupError {
    /// What could not be created.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Runs every case of the [`catalogue`] that applies to `config`.
///
/// The files created in [`Config::datadir`] are removed before this
/// returns, whatever the cases found.
pub fn run(config: &Config) -> Result<Report, SetupError> {
    run_cases(config, &catalogue())
}

/// Runs `cases` (a part of the [`catalogue`], say) as [`run`] does.
pub fn run_cases(config: &Config, cases: &[Case]) -> Result<Report, SetupError> {
    let fixture = match &config.datadir {
        Some(dir) => Some(fixture::Fixture::create(dir)?),
        None => None,
    };
    let started = Instant::now();
    let results: Vec<Mutex<Option<CaseResult>>> = cases.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    // Cases that load the server (many connections at once) run after the
    // others, alone, so that they neither starve nor are starved by them.
    let (alone, shared): (Vec<usize>, Vec<usize>) =
        (0..cases.len()).partition(|&index| cases[index].alone);
    let run_one = |index: usize| {
        let case = &cases[index];
        let started = Instant::now();
        let stopped = config
            .stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::Relaxed));
        let outcome = if stopped {
            Outcome::Skipped("interrupted".to_string())
        } else {
            case.run(config, fixture.as_ref())
        };
        let result = CaseResult {
            id: case.id.clone(),
            section: case.section,
            title: case.title.clone(),
            outcome,
            elapsed: started.elapsed(),
        };
        if let Ok(mut slot) = results[index].lock() {
            *slot = Some(result);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.clamp(1, 256) {
            scope.spawn(|| {
                while let Some(&index) = shared.get(next.fetch_add(1, Ordering::Relaxed)) {
                    run_one(index);
                }
            });
        }
    });
    for index in alone {
        run_one(index);
    }
    drop(fixture);
    let results = results
        .into_iter()
        .filter_map(|slot| slot.into_inner().ok().flatten())
        .collect();
    Ok(Report {
        server: config.addr,
        kit: config.kit,
        datadir: config.datadir.clone(),
        results,
        elapsed: started.elapsed(),
    })
}
