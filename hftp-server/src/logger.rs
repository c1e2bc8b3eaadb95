//! The server's logger for the `log` facade: one line per record,
//! `YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL message` (UTC, [`Format::Rfc3339`]) or
//! `<N>message` ([`Format::Journald`]), written to stderr by a background
//! thread.
//!
//! A serving thread formats its record into a buffer of its own, copies the
//! line into a shared queue under a lock held only for that copy, and goes
//! on: it never waits for stderr. A thread that logs a line per request (an
//! event loop, a worker) may [`hold_lines`]: its lines then gather in its
//! own buffer and go to the queue together, at [`release_lines`] or once
//! the buffer holds [`HELD_BYTES`], one lock per batch rather than per
//! line. One writer thread takes the whole queue at a time and writes it in
//! one go: as soon as [`GATHER_BYTES`] are queued, or [`GATHER_TIME`] after
//! the first line. Lines queued and being written never exceed a fixed
//! budget ([`DEFAULT_BUDGET`] for the server); a record that would go over
//! it is dropped and counted, and once a write succeeds again the writer
//! says `N log lines dropped`. So a stderr that is slow, full or never read
//! costs log lines, not service.
//!
//! [`flush`] (or `log::logger().flush()`) waits, for a bounded time, until
//! everything queued so far is written; the server calls it before exit.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// How many bytes of log lines the server's logger holds at most, queued or
/// being written, before it drops records. At about 100 bytes a line that
/// is some ten thousand lines: enough to ride out a burst, small beside the
/// server's other buffers.
pub const DEFAULT_BUDGET: usize = 1 << 20;

/// How long the writer lets lines gather before it writes them, unless
/// [`GATHER_BYTES`] of them are queued first (the thread that queues past
/// it wakes the writer: at a line per request and 700,000 requests/s, 20 ms
/// of lines are more than the budget).
pub const GATHER_TIME: Duration = Duration::from_millis(20);
/// See [`GATHER_TIME`]. Each wake-up of the writer takes a core from the
/// serving threads for a moment; a quarter of the budget keeps them few
/// and leaves room for the batch in flight.
pub const GATHER_BYTES: usize = 256 * 1024;

/// How a line starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// `2026-12-01T23:13:38.738Z INFO  message`: the time in UTC, to the
    /// millisecond, and the level padded to five letters.
    #[default]
    Rfc3339,
    /// `<6>message`: the level as the syslog priority prefix that systemd
    /// reads on a service's stderr (`SyslogLevelPrefix=`, on by default;
    /// see `sd-daemon(3)`): `<3>` error, `<4>` warning, `<6>` info, `<7>`
    /// debug and trace. No time: the journal stamps each line itself.
    Journald,
}

/// How often a thread reads the wall clock for its lines' times: between
/// two reads they are worked out from the monotonic instant the caller
/// passes, so a line costs no clock read of its own.
const WALL_CLOCK_EVERY: Duration = Duration::from_millis(250);

/// How long [`flush`] and `log::logger().flush()` wait for the writer.
/// Long enough for any working stderr to take a full budget, short enough
/// that a stderr nobody reads delays exit only a little.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// A serving thread's formatting buffer is kept between records up to this
/// capacity; one freak record does not pin a big buffer in every thread.
const KEPT_LINE_CAPACITY: usize = 2 * HELD_BYTES;

/// How many bytes of lines a thread that [holds](hold_lines) them gathers
/// before it hands them on by itself.
pub const HELD_BYTES: usize = 16 * 1024;

/// A thread's own buffer: the lines it formatted and has not handed on.
#[derive(Debug, Default)]
struct Local {
    lines: Vec<u8>,
    count: u64,
    holding: bool,
    stamp: Stamp,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// From now on this thread's lines gather until [`release_lines`] (or
/// [`HELD_BYTES`] of them). The thread must release them before it waits
/// for long, and before it ends.
pub fn hold_lines() {
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            local.holding = true;
        }
    });
}

/// Whether a line at `level` would be written by the installed logger.
pub fn enabled(level: Level) -> bool {
    LOGGER.get().is_some_and(|logger| level <= logger.level)
}

/// Logs a line whose message `write` appends as bytes, at `level`, through
/// the installed logger, stamped `at` (an instant just past, which the
/// caller read anyway): for the access log, a line per request, which the
/// formatting machinery of `log::info!` made cost a tenth of a request.
pub fn log_bytes(level: Level, at: Instant, write: impl FnOnce(&mut Vec<u8>)) {
    let Some(logger) = LOGGER.get() else { return };
    if level > logger.level {
        return;
    }
    let format = logger.format;
    let mut write = Some(write);
    let _ = LOCAL.try_with(|local| {
        let Ok(mut local) = local.try_borrow_mut() else {
            return;
        };
        let local = &mut *local;
        local
            .stamp
            .push_head_at(&mut local.lines, at, level, format);
        if let Some(write) = write.take() {
            write(&mut local.lines);
        }
        local.lines.push(b'\n');
        local.count += 1;
        if !local.holding || local.lines.len() >= HELD_BYTES {
            logger.hand_on(local);
        }
    });
    if let Some(write) = write {
        // This thread's buffer is busy or gone: a fresh one, once.
        let mut line = Vec::new();
        let mut stamp = Stamp::default();
        let now = stamp.since_epoch(at);
        push_head(&mut line, &mut stamp, now, level, format);
        write(&mut line);
        line.push(b'\n');
        logger.enqueue(&line, 1);
    }
}

/// Appends `value` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, value: u64) {
    push_digits(out, value, 1);
}

/// Appends `micros` microseconds as milliseconds with three decimals
/// (`1.234`).
pub fn push_millis(out: &mut Vec<u8>, micros: u64) {
    push_digits(out, micros / 1000, 1);
    out.push(b'.');
    push_digits(out, micros % 1000, 3);
}

/// Hands the lines this thread holds to the installed logger's writer.
pub fn release_lines() {
    let Some(logger) = LOGGER.get() else { return };
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut()
            && local.count > 0
        {
            logger.hand_on(&mut local);
        }
    });
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the logger, writing lines of `format` to stderr, with `level`
/// as the most verbose level shown. Later calls change nothing.
pub fn init(level: LevelFilter, format: Format) {
    if LOGGER.get().is_some() {
        return;
    }
    match Logger::new(level, format, Box::new(std::io::stderr()), DEFAULT_BUDGET) {
        Ok(logger) => {
            let logger = LOGGER.get_or_init(|| logger);
            if log::set_logger(logger).is_ok() {
                log::set_max_level(level);
            }
        }
        Err(error) => eprintln!("hftp-server: cannot start the log writer, not logging: {error}"),
    }
}

/// Writes out every line logged so far, waiting at most [`FLUSH_TIMEOUT`].
/// Call it before the process exits, or its last lines may be lost.
pub fn flush() {
    log::logger().flush();
}

/// A logger whose lines a background thread writes to a sink.
///
/// [`init`] installs one over stderr; tests and other embedders may build
/// their own over any sink and call its [`Log`] methods directly.
///
/// ```
/// use hftp_server::logger::{Format, Logger};
/// use log::{Level, LevelFilter, Log, Record};
/// use std::time::Duration;
///
/// let sink = Box::new(std::io::sink());
/// let logger = Logger::new(LevelFilter::Info, Format::Rfc3339, sink, 1 << 16)?;
/// logger.log(&Record::builder().level(Level::Info).args(format_args!("hello")).build());
/// assert!(logger.flush_within(Duration::from_secs(5)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Logger {
    level: LevelFilter,
    format: Format,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The writer waits here for lines; signalled only when it is idle.
    work: Condvar,
    /// Flushers wait here for the writer to finish a batch.
    written: Condvar,
    budget: usize,
    /// For the writer's own line, on records dropped.
    format: Format,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<u8>,
    /// Bytes the writer has taken from the queue and not finished writing.
    in_flight: usize,
    /// Records dropped since the writer last reported them.
    dropped: u64,
    /// Batches the writer has taken, and finished writing (or given up
    /// on). A batch is the whole queue plus the drop count, so a flusher
    /// waits for the batch that takes what it saw queued.
    taken: u64,
    done: u64,
    writer_idle: bool,
    /// The writer lets a batch gather; whoever queues past
    /// [`GATHER_BYTES`] wakes it.
    gathering: bool,
    flushers: usize,
    shutdown: bool,
}

impl Logger {
    /// Starts a logger that shows records up to `level` as lines of
    /// `format`, writes them to `sink` from a thread of its own, and holds
    /// at most `budget` bytes of lines at a time. Fails only if that thread
    /// cannot be started.
    ///
    /// Dropping the logger lets its thread write what is queued and end.
    pub fn new(
        level: LevelFilter,
        format: Format,
        sink: Box<dyn Write + Send>,
        budget: usize,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            written: Condvar::new(),
            budget,
            format,
        });
        let writer = Arc::clone(&shared);
        thread::Builder::new()
            .name("hftp-log".into())
            .spawn(move || writer.run(sink))?;
        Ok(Self {
            level,
            format,
            shared,
        })
    }

    /// Waits until every line queued before the call is written, or
    /// `timeout` has passed. Returns whether they were all written.
    pub fn flush_within(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let shared = &*self.shared;
        let mut state = shared.lock();
        let target = if state.queue.is_empty() && state.dropped == 0 {
            state.taken
        } else {
            state.taken + 1
        };
        if state.done >= target {
            return true;
        }
        let wake = std::mem::take(&mut state.writer_idle);
        state.flushers += 1;
        if wake {
            shared.work.notify_one();
        }
        while state.done < target {
            let remaining = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if remaining.is_zero() {
                break;
            }
            state = shared
                .written
                .wait_timeout(state, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.flushers -= 1;
        state.done >= target
    }

    /// Queues `lines`, `count` of them, or drops them all.
    fn enqueue(&self, lines: &[u8], count: u64) {
        let shared = &*self.shared;
        let wake = {
            let mut state = shared.lock();
            if state.queue.len() + state.in_flight + lines.len() <= shared.budget {
                reserve_within(&mut state.queue, lines.len(), shared.budget);
                state.queue.extend_from_slice(lines);
            } else {
                state.dropped += count;
            }
            state.wakes_writer()
        };
        if wake {
            shared.work.notify_one();
        }
    }
}

impl State {
    /// Whether the thread that just queued lines must wake the writer, and
    /// if so it counts as woken. Waking costs a system call: a busy writer
    /// comes back for the queue by itself, and one gathering a batch is
    /// woken once the batch is full.
    fn wakes_writer(&mut self) -> bool {
        let full = self.gathering && self.queue.len() >= GATHER_BYTES;
        if full {
            self.gathering = false;
        }
        std::mem::take(&mut self.writer_idle) || full
    }
}

impl Logger {
    fn hand_on(&self, local: &mut Local) {
        self.enqueue(&local.lines, local.count);
        local.lines.clear();
        local.count = 0;
        if local.lines.capacity() > KEPT_LINE_CAPACITY {
            local.lines = Vec::new();
        }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_one();
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let at = Instant::now();
        let reused = LOCAL.try_with(|local| {
            // Busy when a record's own `Display` logs, or the thread is
            // being torn down: then a fresh buffer serves, once.
            let Ok(mut local) = local.try_borrow_mut() else {
                return false;
            };
            let local = &mut *local;
            let now = local.stamp.since_epoch(at);
            format_line(
                &mut local.lines,
                &mut local.stamp,
                now,
                record.level(),
                self.format,
                *record.args(),
            );
            local.count += 1;
            if !local.holding || local.lines.len() >= HELD_BYTES {
                self.hand_on(local);
            }
            true
        });
        if !matches!(reused, Ok(true)) {
            let mut line = Vec::new();
            let mut stamp = Stamp::default();
            let now = stamp.since_epoch(at);
            format_line(
                &mut line,
                &mut stamp,
                now,
                record.level(),
                self.format,
                *record.args(),
            );
            self.enqueue(&line, 1);
        }
    }

    fn flush(&self) {
        self.flush_within(FLUSH_TIMEOUT);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something ever did, the
        // counters are still whole numbers and logging should go on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: takes the whole queue, writes it, and again.
    fn run(&self, mut sink: Box<dyn Write + Send>) {
        let mut batch = Vec::new();
        let mut report = Vec::new();
        let mut stamp = Stamp::default();
        loop {
            let (dropped, number) = {
                let mut state = self.lock();
                while state.queue.is_empty() && state.dropped == 0 && !state.shutdown {
                    state.writer_idle = true;
                    state = self
                        .work
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                state.writer_idle = false;
                if state.queue.is_empty() && state.dropped == 0 {
                    return;
                }
                // Let a burst gather: one write and one wake-up per burst,
                // not per line, which at a line per request cost the
                // serving threads a context switch each.
                if state.queue.len() < GATHER_BYTES && state.flushers == 0 && !state.shutdown {
                    state.gathering = true;
                    state = self
                        .work
                        .wait_timeout(state, GATHER_TIME)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    state.gathering = false;
                }
                std::mem::swap(&mut state.queue, &mut batch);
                state.in_flight = batch.len();
                state.taken += 1;
                (std::mem::take(&mut state.dropped), state.taken)
            };
            if dropped > 0 {
                report.clear();
                let now = stamp.since_epoch(Instant::now());
                format_line(
                    &mut report,
                    &mut stamp,
                    now,
                    Level::Warn,
                    self.format,
                    format_args!("{dropped} log lines dropped"),
                );
                // Before the batch: the drops happened while the previous
                // batch was stuck, so this is about where they belong.
                let _ = sink.write_all(&report);
            }
            // A failed write (stderr closed) loses the batch; there is
            // nowhere else to say so.
            let _ = sink.write_all(&batch).and_then(|()| sink.flush());
            batch.clear();
            let mut state = self.lock();
            state.in_flight = 0;
            state.done = number;
            if state.flushers > 0 {
                self.written.notify_all();
            }
        }
    }
}

/// Grows `queue` to hold `more` bytes without its capacity passing
/// `budget`, so the two buffers that swap between serving threads and the
/// writer never hold more than twice the budget.
fn reserve_within(queue: &mut Vec<u8>, more: usize, budget: usize) {
    let needed = queue.len() + more;
    if needed > queue.capacity() {
        let target = needed.max(queue.capacity() * 2).max(1024).min(budget);
        queue.reserve_exact(target - queue.len());
    }
}

/// The last second a thread stamped, as `YYYY-MM-DDTHH:MM:SS`: lines come
/// many a second, and the calendar needs working out once per second.
#[derive(Debug, Default)]
struct Stamp {
    second: Option<u64>,
    text: Vec<u8>,
    /// The wall clock read last, and the instant it was read at.
    wall: Option<(Instant, Duration)>,
    /// The head of the last line [`Stamp::push_head_at`] stamped, its
    /// level, and the instants its millisecond begins and ends at.
    head: Vec<u8>,
    head_of: Option<(Level, Instant, Instant)>,
}

impl Stamp {
    /// Appends the head of a line stamped `at` (see [`push_head`]): the
    /// head of the line before when that had the same millisecond and
    /// level, as most lines of a busy server have, without working it out
    /// again.
    fn push_head_at(&mut self, line: &mut Vec<u8>, at: Instant, level: Level, format: Format) {
        // Two comparisons of instants: cheaper than working out the time
        // since the epoch, which a line per request would pay.
        let same = self
            .head_of
            .is_some_and(|(of, from, until)| of == level && from <= at && at < until);
        if !same {
            let since_epoch = self.since_epoch(at);
            let mut head = std::mem::take(&mut self.head);
            head.clear();
            push_head(&mut head, self, since_epoch, level, format);
            self.head = head;
            let into_millisecond = since_epoch.subsec_nanos() % 1_000_000;
            self.head_of = at
                .checked_sub(Duration::from_nanos(into_millisecond.into()))
                .and_then(|from| Some((level, from, from.checked_add(Duration::from_millis(1))?)));
        }
        line.extend_from_slice(&self.head);
    }

    /// The time since the Unix epoch at instant `at`: from the wall clock
    /// read last, if that was under [`WALL_CLOCK_EVERY`] before `at`.
    fn since_epoch(&mut self, at: Instant) -> Duration {
        if let Some((read_at, wall)) = self.wall
            && let Some(since) = at.checked_duration_since(read_at)
            && since < WALL_CLOCK_EVERY
        {
            return wall + since;
        }
        let (read_at, wall) = (Instant::now(), wall_clock());
        self.wall = Some((read_at, wall));
        // `at` is just past: the difference is a few microseconds.
        wall.saturating_sub(read_at.saturating_duration_since(at))
    }
}

fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Appends the line of a record logged `since_epoch` after the Unix epoch:
/// `YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL message\n` or `<N>message\n`.
fn format_line(
    line: &mut Vec<u8>,
    stamp: &mut Stamp,
    since_epoch: Duration,
    level: Level,
    format: Format,
    args: fmt::Arguments<'_>,
) {
    push_head(line, stamp, since_epoch, level, format);
    // A `Display` that fails leaves its line cut short; `format!` would
    // panic the serving thread instead.
    let _ = fmt::write(&mut Bytes(line), args);
    line.push(b'\n');
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL ` or `<N>`.
fn push_head(
    line: &mut Vec<u8>,
    stamp: &mut Stamp,
    since_epoch: Duration,
    level: Level,
    format: Format,
) {
    if format == Format::Journald {
        line.extend_from_slice(match level {
            Level::Error => b"<3>",
            Level::Warn => b"<4>",
            Level::Info => b"<6>",
            Level::Debug | Level::Trace => b"<7>",
        });
        return;
    }
    let seconds = since_epoch.as_secs();
    if stamp.second != Some(seconds) {
        stamp.text.clear();
        let text = &mut stamp.text;
        let (year, month, day) = civil_from_days(seconds / 86_400);
        let second_of_day = seconds % 86_400;
        push_digits(text, year, 4);
        text.push(b'-');
        push_digits(text, month.into(), 2);
        text.push(b'-');
        push_digits(text, day.into(), 2);
        text.push(b'T');
        push_digits(text, second_of_day / 3600, 2);
        text.push(b':');
        push_digits(text, second_of_day / 60 % 60, 2);
        text.push(b':');
        push_digits(text, second_of_day % 60, 2);
        stamp.second = Some(seconds);
    }
    line.extend_from_slice(&stamp.text);
    line.push(b'.');
    push_digits(line, since_epoch.subsec_millis().into(), 3);
    line.extend_from_slice(match level {
        Level::Error => b"Z ERROR ",
        Level::Warn => b"Z WARN  ",
        Level::Info => b"Z INFO  ",
        Level::Debug => b"Z DEBUG ",
        Level::Trace => b"Z TRACE ",
    });
}

/// `fmt::Write` into a byte buffer, without the `String` a `format!` makes.
struct Bytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// Appends `value` in decimal, zero-padded to at least `width` digits.
#[inline(always)]
fn push_digits(line: &mut Vec<u8>, value: u64, width: usize) {
    // The access log's numbers are mostly a digit, or three (milliseconds):
    // those go without a loop or a copy of variable length.
    match (value, width) {
        (0..=9, 1) => line.push(b'0' + value as u8),
        (0..=999, 3) => line.extend_from_slice(&[
            b'0' + (value / 100) as u8,
            b'0' + (value / 10 % 10) as u8,
            b'0' + (value % 10) as u8,
        ]),
        _ => push_digits_of_any(line, value, width),
    }
}

#[inline(never)]
fn push_digits_of_any(line: &mut Vec<u8>, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    while value > 0 {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    line.extend_from_slice(&digits[start.min(digits.len() - width)..]);
}

/// The proleptic Gregorian (year, month, day) of the day `days` after
/// 1970-01-01: Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html>), over eras of
/// 400 years that start on March 1st, so the leap day ends a year.
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    // Days from 0000-03-01 to 1970-01-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March, so February comes last.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    // Both fit: day ≤ 31, month ≤ 12.
    (year, month as u8, day as u8)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{self, Receiver, Sender};

    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    fn line(since_epoch: Duration, level: Level, args: fmt::Arguments<'_>) -> String {
        let mut line = Vec::new();
        let format = Format::Rfc3339;
        format_line(
            &mut line,
            &mut Stamp::default(),
            since_epoch,
            level,
            format,
            args,
        );
        String::from_utf8(line).expect("the line is UTF-8")
    }

    fn record(logger: &Logger, level: Level, args: fmt::Arguments<'_>) {
        logger.log(&Record::builder().level(level).args(args).build());
    }

    #[test]
    fn durations_are_milliseconds_with_three_decimals() {
        for (micros, text) in [
            (0, "0.000"),
            (7, "0.007"),
            (36, "0.036"),
            (1_234, "1.234"),
            (20_000_500, "20000.500"),
        ] {
            let mut out = Vec::new();
            push_millis(&mut out, micros);
            assert_eq!(out, text.as_bytes(), "{micros} µs");
        }
    }

    #[test]
    fn dates_and_times_are_utc_civil() {
        // Checked against Python's `datetime.fromtimestamp(s, UTC)`.
        let table: &[(u64, &str)] = &[
            (0, "1970-01-01T00:00:00"),
            (68_169_599, "1972-02-28T23:59:59"),
            (68_169_600, "1972-02-29T00:00:00"),
            (951_782_399, "2000-02-28T23:59:59"),
            // 2000 is a leap year although a century: divisible by 400.
            (951_782_400, "2000-02-29T00:00:00"),
            (951_868_800, "2000-03-01T00:00:00"),
            (978_220_800, "2000-12-31T00:00:00"),
            (1_709_164_799, "2024-02-28T23:59:59"),
            (1_709_210_096, "2024-02-29T12:34:56"),
            (1_735_603_200, "2024-12-31T00:00:00"),
            // The last second a signed 32-bit time_t holds, and the next.
            (2_147_483_647, "2038-01-19T03:14:07"),
            (2_147_483_648, "2038-01-19T03:14:08"),
            // 2100 is not a leap year: February 28th is followed by March 1st.
            (4_107_455_999, "2100-02-27T23:59:59"),
            (4_107_456_000, "2100-02-28T00:00:00"),
            (4_107_542_400, "2100-03-01T00:00:00"),
            (253_402_300_799, "9999-12-31T23:59:59"),
            (253_402_300_800, "10000-01-01T00:00:00"),
        ];
        for &(seconds, expected) in table {
            let since_epoch = Duration::from_secs(seconds);
            assert_eq!(
                line(since_epoch, Level::Info, format_args!("x")),
                format!("{expected}.000Z INFO  x\n"),
                "{seconds} s after the epoch"
            );
        }
    }

    #[test]
    fn a_line_has_milliseconds_a_padded_level_and_the_message() {
        let since_epoch = Duration::new(1_709_210_096, 789_999_999);
        let cases = [
            (Level::Error, "ERROR"),
            (Level::Warn, "WARN "),
            (Level::Info, "INFO "),
            (Level::Debug, "DEBUG"),
            (Level::Trace, "TRACE"),
        ];
        for (level, label) in cases {
            assert_eq!(
                line(
                    since_epoch,
                    level,
                    format_args!("get_slice {} {}", "a b", 42)
                ),
                format!("2024-02-29T12:34:56.789Z {label} get_slice a b 42\n")
            );
        }
        let early = Duration::from_millis(7);
        assert_eq!(
            line(early, Level::Info, format_args!("")),
            "1970-01-01T00:00:00.007Z INFO  \n"
        );
    }

    #[test]
    fn a_failing_display_cuts_its_line_short_instead_of_panicking() {
        struct Broken;
        impl fmt::Display for Broken {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("half")?;
                Err(fmt::Error)
            }
        }
        assert_eq!(
            line(Duration::ZERO, Level::Warn, format_args!("{Broken} never")),
            "1970-01-01T00:00:00.000Z WARN  half\n"
        );
    }

    /// A sink the test can read back, that optionally blocks its first
    /// write until the test releases it.
    struct TestSink {
        out: Arc<Mutex<Vec<u8>>>,
        gate: Option<(Sender<()>, Receiver<()>)>,
    }

    impl Write for TestSink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Some((entered, release)) = self.gate.take() {
                entered.send(()).expect("the test waits for the write");
                release.recv().expect("the test releases the write");
            }
            self.out
                .lock()
                .expect("no test thread panics holding it")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Blocked {
        entered: Receiver<()>,
        release: Sender<()>,
    }

    fn logger(budget: usize, blocked: bool) -> (Logger, Arc<Mutex<Vec<u8>>>, Option<Blocked>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let (gate, blocked) = if blocked {
            let (entered_tx, entered) = mpsc::channel();
            let (release, release_rx) = mpsc::channel();
            (
                Some((entered_tx, release_rx)),
                Some(Blocked { entered, release }),
            )
        } else {
            (None, None)
        };
        let sink = TestSink {
            out: Arc::clone(&out),
            gate,
        };
        let logger = Logger::new(LevelFilter::Info, Format::Rfc3339, Box::new(sink), budget)
            .expect("the writer thread starts");
        (logger, out, blocked)
    }

    /// The messages of the lines written, without their timestamps.
    fn messages(out: &Mutex<Vec<u8>>) -> Vec<String> {
        let out = out.lock().expect("no test thread panics holding it");
        String::from_utf8_lossy(&out)
            .lines()
            .map(|line| {
                let (_, message) = line.split_once(' ').expect("a timestamp, then a space");
                message.to_owned()
            })
            .collect()
    }

    #[test]
    fn flush_writes_every_line_queued_in_order() {
        let (logger, out, _) = logger(DEFAULT_BUDGET, false);
        for number in 0..1000 {
            record(&logger, Level::Info, format_args!("request {number}"));
        }
        assert!(logger.flush_within(LONG));
        let expected: Vec<String> = (0..1000).map(|n| format!("INFO  request {n}")).collect();
        assert_eq!(messages(&out), expected);
        // Nothing queued: returns at once, still true.
        assert!(logger.flush_within(Duration::ZERO));
    }

    #[test]
    fn records_above_the_level_are_not_written() {
        let (logger, out, _) = logger(DEFAULT_BUDGET, false);
        record(&logger, Level::Debug, format_args!("detail"));
        record(&logger, Level::Info, format_args!("shown"));
        record(&logger, Level::Trace, format_args!("more detail"));
        assert!(logger.flush_within(LONG));
        assert_eq!(messages(&out), ["INFO  shown"]);
    }

    #[test]
    fn a_blocked_sink_drops_lines_over_the_budget_and_reports_them() {
        // Every line "INFO  line N" with N one digit is 38 bytes long.
        let line_len = line(Duration::ZERO, Level::Info, format_args!("line 0")).len();
        let (logger, out, blocked) = logger(3 * line_len, true);
        let blocked = blocked.expect("a blocking sink");
        record(&logger, Level::Info, format_args!("line 0"));
        blocked.entered.recv().expect("the writer starts writing");
        // The writer is stuck holding line 0: two more fit the budget, the
        // other seven are dropped, and every call returns.
        for number in 1..10 {
            record(&logger, Level::Info, format_args!("line {number}"));
        }
        // The flush gives up, rather than waiting for the stuck sink.
        assert!(!logger.flush_within(Duration::from_millis(1)));
        blocked
            .release
            .send(())
            .expect("the writer waits for release");
        assert!(logger.flush_within(LONG));
        assert_eq!(
            messages(&out),
            [
                "INFO  line 0",
                "WARN  7 log lines dropped",
                "INFO  line 1",
                "INFO  line 2",
            ]
        );
        // The count is reported once and starts again from zero.
        record(&logger, Level::Info, format_args!("line 10"));
        assert!(logger.flush_within(LONG));
        assert_eq!(messages(&out).len(), 5);
        assert_eq!(messages(&out)[4], "INFO  line 10");
    }

    #[test]
    fn a_record_larger_than_the_budget_is_dropped_and_reported() {
        let (logger, out, _) = logger(64, false);
        record(&logger, Level::Info, format_args!("{}", "x".repeat(100)));
        // A flush waits for the report too, so it is not lost at exit.
        assert!(logger.flush_within(LONG));
        assert_eq!(messages(&out), ["WARN  1 log lines dropped"]);
        record(&logger, Level::Info, format_args!("small"));
        assert!(logger.flush_within(LONG));
        assert_eq!(messages(&out), ["WARN  1 log lines dropped", "INFO  small"]);
    }

    #[test]
    fn a_record_that_logs_while_formatting_is_written_too() {
        struct Nested<'a>(&'a Logger);
        impl fmt::Display for Nested<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                record(self.0, Level::Info, format_args!("inner"));
                f.write_str("outer")
            }
        }
        let (logger, out, _) = logger(DEFAULT_BUDGET, false);
        record(&logger, Level::Info, format_args!("{}", Nested(&logger)));
        assert!(logger.flush_within(LONG));
        assert_eq!(messages(&out), ["INFO  inner", "INFO  outer"]);
    }

    #[test]
    fn held_lines_wait_for_their_release_or_a_full_buffer() {
        let (logger, out, _) = logger(DEFAULT_BUDGET, false);
        thread::scope(|scope| {
            scope.spawn(|| {
                hold_lines();
                record(&logger, Level::Info, format_args!("held"));
                assert!(logger.flush_within(LONG));
                assert!(messages(&out).is_empty());
                LOCAL.with(|local| logger.hand_on(&mut local.borrow_mut()));
                assert!(logger.flush_within(LONG));
                assert_eq!(messages(&out), ["INFO  held"]);
                let long = "x".repeat(HELD_BYTES);
                record(&logger, Level::Info, format_args!("{long}"));
                assert!(logger.flush_within(LONG));
                assert_eq!(messages(&out).len(), 2);
            });
        });
    }

    #[test]
    fn a_stamp_is_reused_within_its_second_only() {
        let mut stamp = Stamp::default();
        let mut out = Vec::new();
        for millis in [1_709_210_096_001, 1_709_210_096_999, 1_709_210_097_000] {
            format_line(
                &mut out,
                &mut stamp,
                Duration::from_millis(millis),
                Level::Info,
                Format::Rfc3339,
                format_args!("x"),
            );
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            "2024-02-29T12:34:56.001Z INFO  x\n\
             2024-02-29T12:34:56.999Z INFO  x\n\
             2024-02-29T12:34:57.000Z INFO  x\n"
        );
    }

    #[test]
    fn journald_lines_are_a_priority_prefix_and_the_message() {
        let cases = [
            (Level::Error, "<3>"),
            (Level::Warn, "<4>"),
            (Level::Info, "<6>"),
            (Level::Debug, "<7>"),
            (Level::Trace, "<7>"),
        ];
        for (level, prefix) in cases {
            let mut out = Vec::new();
            let since_epoch = Duration::new(1_709_210_096, 789_000_000);
            let (stamp, format) = (&mut Stamp::default(), Format::Journald);
            format_line(
                &mut out,
                stamp,
                since_epoch,
                level,
                format,
                format_args!("a {}", 1),
            );
            assert_eq!(out, format!("{prefix}a 1\n").as_bytes());
        }
    }

    #[test]
    fn a_line_is_stamped_with_the_instant_it_is_given() {
        let mut stamp = Stamp::default();
        let start = Instant::now();
        let first = stamp.since_epoch(start);
        let wall = wall_clock();
        // Within the time this test took, of the wall clock.
        assert!(first <= wall && wall - first < Duration::from_secs(5));
        // From the same reading, later instants are as far apart as they
        // are; one past the reading's lifetime reads the clock again.
        let later = start + Duration::from_millis(100);
        assert_eq!(stamp.since_epoch(later), first + Duration::from_millis(100));
        let much_later = start + 2 * WALL_CLOCK_EVERY;
        let (read_at, _) = {
            stamp.since_epoch(much_later);
            stamp.wall.expect("a reading")
        };
        assert!(read_at > start);
    }

    #[test]
    fn a_head_is_reused_for_the_same_millisecond_and_level_only() {
        let mut stamp = Stamp::default();
        let at = Instant::now();
        let head = |stamp: &mut Stamp, at, level| {
            let mut line = Vec::new();
            stamp.push_head_at(&mut line, at, level, Format::Rfc3339);
            String::from_utf8(line).expect("ASCII")
        };
        let first = head(&mut stamp, at, Level::Info);
        let mut fresh = Vec::new();
        let since_epoch = Stamp::default().since_epoch(at);
        push_head(
            &mut fresh,
            &mut Stamp::default(),
            since_epoch,
            Level::Info,
            Format::Rfc3339,
        );
        // The same text as a head worked out afresh, give or take the
        // millisecond the second wall-clock reading may have moved on.
        assert_eq!(first.len(), fresh.len());
        assert_eq!(first[..19], String::from_utf8_lossy(&fresh)[..19]);
        assert_eq!(head(&mut stamp, at, Level::Info), first);
        assert!(head(&mut stamp, at, Level::Warn).ends_with("Z WARN  "));
        let next = head(&mut stamp, at + Duration::from_millis(1), Level::Info);
        assert_ne!(next, first, "a head 1 ms later");
        let later = head(&mut stamp, at + Duration::from_millis(5), Level::Info);
        assert_ne!(later, first, "a head 5 ms later");
        assert!(later.ends_with("Z INFO  "));
    }

    #[test]
    fn a_writer_gathering_a_batch_is_woken_once_it_is_full() {
        let mut state = State {
            gathering: true,
            ..State::default()
        };
        state.queue.resize(GATHER_BYTES - 1, b'x');
        assert!(!state.wakes_writer());
        state.queue.push(b'\n');
        assert!(state.wakes_writer());
        // Once: more lines wake it no more until it gathers again.
        state.queue.push(b'\n');
        assert!(!state.wakes_writer());
        let mut idle = State {
            writer_idle: true,
            ..State::default()
        };
        assert!(idle.wakes_writer());
        assert!(!idle.wakes_writer());
    }

    #[test]
    fn digits_are_padded_but_never_cut() {
        let cases: &[(u64, usize, &str)] = &[
            (0, 1, "0"),
            (9, 1, "9"),
            (10, 1, "10"),
            (0, 2, "00"),
            (7, 3, "007"),
            (42, 3, "042"),
            (999, 3, "999"),
            (1000, 3, "1000"),
            (59, 2, "59"),
            (2038, 4, "2038"),
            (123_456, 4, "123456"),
            (u64::MAX, 4, "18446744073709551615"),
        ];
        for &(value, width, expected) in cases {
            let mut out = Vec::new();
            push_digits(&mut out, value, width);
            assert_eq!(out, expected.as_bytes(), "{value} in {width}");
        }
    }
}
