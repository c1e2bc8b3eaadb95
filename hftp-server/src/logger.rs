//! A small stderr logger for the `log` facade: one line per record,
//! `HH:MM:SS.mmm LEVEL message` (UTC).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{LevelFilter, Log, Metadata, Record};

/// Installs the logger with `level` as the most verbose level shown.
/// Later calls change nothing.
pub fn init(level: LevelFilter) {
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(level);
    }
}

#[derive(Debug)]
struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = since_epoch.as_secs() % 86_400;
        // One write per line, so lines from different threads never mix;
        // a closed stderr is ignored.
        let line = format!(
            "{:02}:{:02}:{:02}.{:03} {:<5} {}\n",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            since_epoch.subsec_millis(),
            record.level(),
            record.args()
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}
