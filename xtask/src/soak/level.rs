//! Whether the server's memory levelled off during the run.

use std::time::Duration;

use crate::units::MIB;

/// The level check: the mean RSS of the last window must be within
/// `LEVEL_TOLERANCE` of the mean of the window before it — a server whose
/// memory still climbs after minutes of the same load holds something per
/// request.
const LEVEL_WINDOW: Duration = Duration::from_secs(100);
const LEVEL_TOLERANCE: f64 = 0.10;

/// Whether the server's RSS has levelled off: the mean of the samples of
/// the last [`LEVEL_WINDOW`] against the mean of the window before it.
#[derive(Debug, PartialEq)]
pub enum Level {
    /// The run was too short to have two windows.
    TooShort { ran: Duration },
    /// The means, in bytes, and whether they are within the tolerance.
    Judged { before: f64, last: f64, level: bool },
}

impl Level {
    /// Judges `samples` (time since the start, RSS) of a run of `ran`.
    pub fn judge(samples: &[(Duration, u64)], ran: Duration) -> Level {
        let too_short = Level::TooShort { ran };
        let Some(last_from) = ran.checked_sub(LEVEL_WINDOW) else {
            return too_short;
        };
        let Some(before_from) = last_from.checked_sub(LEVEL_WINDOW) else {
            return too_short;
        };
        let mean = |from: Duration, to: Duration| {
            let window: Vec<f64> = samples
                .iter()
                .filter(|&&(at, _)| at > from && at <= to)
                .map(|&(_, rss)| rss as f64)
                .collect();
            (!window.is_empty()).then(|| window.iter().sum::<f64>() / window.len() as f64)
        };
        match (mean(before_from, last_from), mean(last_from, ran)) {
            (Some(before), Some(last)) => Level::Judged {
                before,
                last,
                level: (last - before).abs() <= LEVEL_TOLERANCE * before,
            },
            _ => too_short,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let window = LEVEL_WINDOW.as_secs();
        let tolerance = LEVEL_TOLERANCE * 100.0;
        match *self {
            Level::TooShort { ran } => write!(
                f,
                "not judged: the last {window} s against the {window} s before needs a run of \
                 {} s or more, not {:.0} s",
                2 * window,
                ran.as_secs_f64()
            ),
            Level::Judged {
                before,
                last,
                level,
            } => write!(
                f,
                "last {window} s {:.1} MiB against {:.1} MiB the {window} s before ({:+.1}%): \
                 {}",
                last / MIB,
                before / MIB,
                (last / before - 1.0) * 100.0,
                if level {
                    format!("level (within ±{tolerance:.0}%)")
                } else {
                    format!("NOT LEVEL (beyond ±{tolerance:.0}%)")
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_level_compares_the_last_two_windows() {
        let secs = Duration::from_secs;
        // Every 10 s from 10 s to `end`, RSS from `rss(t)` in MiB.
        let run = |end: u64, rss: &dyn Fn(u64) -> u64| -> Vec<(Duration, u64)> {
            (1..=end / 10)
                .map(|i| (secs(i * 10), rss(i * 10) << 20))
                .collect()
        };
        let flat = run(600, &|_| 40);
        assert!(matches!(
            Level::judge(&flat, secs(600)),
            Level::Judged { level: true, .. }
        ));
        // Climbing 1 MiB every 10 s from 20 MiB: 70-79 against 60-69.
        let climbing = run(600, &|t| 20 + t / 10);
        assert!(matches!(
            Level::judge(&climbing, secs(600)),
            Level::Judged { level: false, .. }
        ));
        // An early climb that has stopped is level.
        let settled = run(600, &|t| if t < 300 { t / 10 } else { 30 });
        assert!(matches!(
            Level::judge(&settled, secs(600)),
            Level::Judged { level: true, .. }
        ));
        assert_eq!(
            Level::judge(&flat[..15], secs(150)),
            Level::TooShort { ran: secs(150) }
        );
        assert!(
            Level::judge(&[], secs(600))
                .to_string()
                .starts_with("not judged")
        );
        let shown = Level::judge(&climbing, secs(600)).to_string();
        assert!(shown.contains("NOT LEVEL"), "{shown}");
    }
}
