//! `get`: downloads that never leave a wrong file under the final name,
//! and never replace what is not a regular file.
//!
//! A regular file is written into `NAME.part` beside it and renamed only
//! once its size is the size the server announced (see `destination` for
//! devices, FIFOs, links and standard output, which are written through).
//! `-c` resumes from the `.part`'s length, which is only right if the
//! `.part` holds a prefix of the file with no holes. A sequential
//! download writes in order, so that holds. A parallel one writes its
//! segments at their offsets and keeps a record of each segment's
//! progress beside the `.part` (`segments`) for as long as the `.part`
//! may have holes, so a killed `get -j` resumes each segment.

mod binary;
mod destination;
pub mod mirror;
pub mod rate;
mod segments;
mod writeback;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use hftp_client::{Client, Error, FileName, Status};
use indicatif::{HumanBytes, ProgressBar, ProgressState, ProgressStyle};
use rayon::prelude::*;

use crate::address::{RemoteFile, RemoteSpec};
use crate::cli::{GetArgs, TransferArgs};
use crate::commands::fetch;
use crate::failure::{self, FileChanged, InconsistentReply, SomeFailed, UsageError};
use crate::interrupt;
use crate::session::{OwnConnection, Session};
use binary::TerminalGuard;
use destination::{Destination, DestinationError, Output};
pub use mirror::mirror;
use rate::{Limiter, Paced};
use segments::{Segment, SegmentLog};
use writeback::Writeback;

/// A parallel download gives each connection at least this much.
const MIN_SEGMENT_LEN: u64 = 1024 * 1024;

/// How many of a `.part`'s last bytes `-c` checks against the server.
const RESUME_CHECK_LEN: u64 = 64 * 1024;

/// Bytes buffered before a write to the `.part`; a parallel download
/// records a segment's progress at each such write.
///
/// Small enough that a buffer is still in the core's cache when the
/// kernel copies it into the page cache, `-j 4`'s four of them together.
/// With 1 MiB buffers that copy took most of the client's time (perf:
/// `copy_folio_from_iter_atomic`), and the other segments' writers spun
/// on the file's lock meanwhile (`rwsem_spin_on_owner`), so `get -j 4`
/// was slower than `-j 1`. Large enough that the system calls cost
/// little: 4096 writes a GiB.
const WRITE_BUFFER_LEN: usize = 256 * 1024;

/// How each file of a command is transferred: what `get` and `mirror`
/// share.
struct Transfer<'a> {
    /// Resume from a `.part` (`-c`).
    resume: bool,
    /// Segments over connections of their own (`-j`).
    parallel: u16,
    /// `--limit-rate`, shared by every connection.
    limiter: Option<&'a Limiter>,
    show_progress: bool,
    /// Refuse binary data for standard output on a terminal.
    guard_terminal: bool,
}

impl<'a> Transfer<'a> {
    fn new(
        session: &Session,
        args: &TransferArgs,
        limiter: Option<&'a Limiter>,
        resume: bool,
    ) -> Transfer<'a> {
        Transfer {
            resume,
            parallel: args.parallel,
            limiter,
            show_progress: io::stderr().is_terminal() && !session.is_quiet(),
            guard_terminal: false,
        }
    }
}

pub fn get(session: &mut Session, args: &GetArgs) -> anyhow::Result<()> {
    let files = expand(session, &args.files)?;
    let names: Vec<FileName> = files.iter().map(|file| file.name).collect();
    let destinations = destination::destinations(
        &names,
        Output {
            path: args.output.as_deref(),
            create_dirs: args.create_dirs,
        },
    )
    .map_err(DestinationError::into_error)?;
    let limiter = args.transfer.limit_rate.map(Limiter::new);
    let transfer = Transfer {
        guard_terminal: !args.output_binary && io::stdout().is_terminal(),
        ..Transfer::new(session, &args.transfer, limiter.as_ref(), args.resume)
    };
    let mut others = Vec::new();
    let mut last_failure = None;
    let mut failed = 0;
    let started = std::time::Instant::now();
    for (file, destination) in files.iter().zip(&destinations) {
        if args.no_clobber && destination.exists() {
            session.note(format_args!(
                "hftp: get {file}: {} exists: skipped (--no-clobber)",
                destination.path().display()
            ));
            continue;
        }
        let session = session.pick(file.server.as_ref(), &mut others);
        let result = session
            .retrying(|client| client.metadata(&file.name))
            .map_err(anyhow::Error::from)
            .and_then(|size| download(session, &file.name, size, destination, &transfer))
            .with_context(|| format!("get {file}"));
        let Err(error) = result else { continue };
        if interrupt::is_set() || files.len() == 1 {
            // Ctrl-C stops the whole command, as it does a shell's.
            return Err(error);
        }
        // Each file's failure on its line, and on to the next file, as
        // wget does; one summary line at the end.
        eprintln!("hftp: {}", failure::message(&error, &session.server()));
        failed += 1;
        last_failure = Some(failure::exit_code(&error));
    }
    for mut other in others {
        other.close();
    }
    if let Some(code) = last_failure {
        return Err(SomeFailed {
            summary: format!("{failed} of {} files failed", files.len()),
            code,
        })
        .context("get");
    }
    if transfer.show_progress && files.len() > 1 {
        eprintln!(
            "{} files in {:.1}s",
            files.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The files `specs` name, each glob replaced by the names of its
/// server's listing that it matches, in the listing's order. A glob that
/// matches nothing fails the command before anything is fetched, as a
/// missing file would (exit code 1).
fn expand(session: &mut Session, specs: &[RemoteSpec]) -> anyhow::Result<Vec<RemoteFile>> {
    let mut files = Vec::with_capacity(specs.len());
    let mut others = Vec::new();
    for spec in specs {
        let RemoteSpec::Glob { server, pattern } = spec else {
            if let RemoteSpec::File(file) = spec {
                files.push(file.clone());
            }
            continue;
        };
        let session = session.pick(server.as_ref(), &mut others);
        let listing = session
            .retrying(Client::listing)
            .with_context(|| format!("get {spec}"))?;
        let before = files.len();
        files.extend(
            listing
                .names
                .into_iter()
                .filter(|name| pattern.matches(name.as_str()))
                .map(|name| RemoteFile {
                    server: server.clone(),
                    name,
                }),
        );
        if files.len() == before {
            return Err(Error::Refused(Status::FileNotFound))
                .with_context(|| format!("get {spec}: no file on the server matches"));
        }
    }
    for mut other in others {
        other.close();
    }
    Ok(files)
}

/// The `get` command that resumes what `args` started, as one types it.
pub fn resume_command(args: &GetArgs) -> String {
    let mut command = String::from("get -c");
    // Quoted as needed, so that a glob or a path with spaces can be pasted.
    for file in &args.files {
        command.push(' ');
        command.push_str(&shell_words::quote(&file.to_string()));
    }
    if let Some(output) = &args.output {
        command.push_str(" -o ");
        command.push_str(&shell_words::quote(&output.to_string_lossy()));
    }
    command
}

/// What a resumed download starts from.
enum Plan {
    /// The final file is already the server's file.
    Complete,
    /// The `.part` holds this many bytes of the file, in order.
    Prefix(u64),
    /// A parallel download's `.part`, and how far its segments got.
    Segments(Vec<Segment>),
}

/// Downloads `name`, of `size` bytes, to `destination`.
fn download(
    session: &mut Session,
    name: &FileName,
    size: u64,
    destination: &Destination,
    transfer: &Transfer<'_>,
) -> anyhow::Result<()> {
    match destination {
        Destination::Stdout => {
            let stdout = io::stdout();
            let result = through(session, name, size, &mut stdout.lock(), transfer, true);
            match result {
                Err(error) if binary::is_refusal(&error) => Err(UsageError(
                    "binary output can mess up your terminal: save it with -o FILE, pipe or \
                     redirect -o - elsewhere, or write it here anyway with --output-binary"
                        .to_string(),
                )
                .into()),
                result => result,
            }
        }
        Destination::Through { path } => {
            // Neither created nor truncated: it is a device or a FIFO.
            let mut out = OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            through(session, name, size, &mut out, transfer, false)
        }
        Destination::File { path, part } => to_file(session, name, size, path, part, transfer),
    }
}

/// Writes the whole file, in order, to a destination that is no regular
/// file: nothing to resume, nothing to rename. To standard output
/// (`stdout`) on a terminal, binary data is refused unless asked for.
fn through(
    session: &mut Session,
    name: &FileName,
    size: u64,
    out: &mut impl Write,
    transfer: &Transfer<'_>,
    stdout: bool,
) -> anyhow::Result<()> {
    let show_progress = transfer.show_progress;
    let bar = progress_bar(name, size, 0, show_progress);
    let out = counted(
        BufWriter::with_capacity(WRITE_BUFFER_LEN, out),
        &bar,
        transfer.limiter,
    );
    // Around the buffer, so that the first bytes received are looked at
    // before any is counted or written.
    let mut out = TerminalGuard::new(out, stdout && transfer.guard_terminal);
    let result =
        fetch(session, name, 0, size, &mut out).and_then(|()| out.flush().map_err(Error::Write));
    if out.refused() {
        // Nothing was written: no bar to leave standing.
        bar.finish_and_clear();
    } else {
        finish_bar(&bar, result.is_ok(), name, size, show_progress);
    }
    result.map_err(|error| changed_or(session, name, size, error))
}

fn to_file(
    session: &mut Session,
    name: &FileName,
    size: u64,
    path: &Path,
    part: &Path,
    transfer: &Transfer<'_>,
) -> anyhow::Result<()> {
    let show_progress = transfer.show_progress;
    let record = destination::segments_path(part);
    let plan = if transfer.resume {
        resume_plan(session, name, size, path, part, &record)?
    } else {
        remove_if_there(&record)?;
        Plan::Prefix(0)
    };
    let created = !part.exists();
    let file = match &plan {
        Plan::Complete => {
            session.note(format_args!(
                "{name}: {} is already complete",
                path.display()
            ));
            return Ok(());
        }
        Plan::Prefix(start) => {
            let file = open_part(part)?;
            file.set_len(*start)
                .with_context(|| format!("cannot truncate {}", part.display()))?;
            file
        }
        Plan::Segments(_) => open_part(part)?,
    };
    let start = match &plan {
        Plan::Prefix(start) => *start,
        Plan::Segments(segments) => size - segments.iter().map(|s| s.to - s.done).sum::<u64>(),
        Plan::Complete => size,
    };
    if start > 0 {
        session.note(format_args!(
            "{name}: resuming at {} of {}",
            HumanBytes(start),
            HumanBytes(size)
        ));
    }
    let bar = progress_bar(name, size, start, show_progress);
    let transferred = match plan {
        Plan::Segments(segments) => SegmentLog::reopen(&record)
            .with_context(|| format!("cannot open {}", record.display()))
            .and_then(|log| parallel(session, name, &file, log, segments, &bar, transfer)),
        Plan::Prefix(start) => {
            let segments = u64::from(transfer.parallel).min((size - start) / MIN_SEGMENT_LEN);
            if segments > 1 {
                file.set_len(size)
                    .with_context(|| format!("cannot extend {}", part.display()))?;
                let segments = split(start, size, segments);
                SegmentLog::create(&record, size, &segments)
                    .with_context(|| format!("cannot create {}", record.display()))
                    .and_then(|log| parallel(session, name, &file, log, segments, &bar, transfer))
            } else {
                sequential(session, name, &file, start, size, &bar, transfer)
                    .map_err(anyhow::Error::from)
            }
        }
        Plan::Complete => Ok(()),
    };
    finish_bar(&bar, transferred.is_ok(), name, size - start, show_progress);
    if let Err(error) = transferred {
        let refused = error
            .downcast_ref::<Error>()
            .is_some_and(|error| error.status().is_some());
        // A refusal leaves nothing behind that this run made; the bytes
        // of an earlier run, or of a lost connection, stay for `-c`.
        if refused && created {
            let _ = fs::remove_file(part);
            let _ = fs::remove_file(&record);
        }
        let error = match error.downcast::<Error>() {
            Ok(error) => changed_or(session, name, size, error),
            Err(other) => other,
        };
        if error.is::<FileChanged>() {
            // The bytes may mix two versions of the file: worthless to
            // resume.
            let _ = fs::remove_file(part);
            let _ = fs::remove_file(&record);
        }
        return Err(error);
    }
    file.sync_all()
        .with_context(|| format!("cannot write {}", part.display()))?;
    drop(file);
    let received = fs::metadata(part)
        .with_context(|| format!("cannot read {}", part.display()))?
        .len();
    if received != size {
        return Err(InconsistentReply(format!(
            "received {received} bytes but the server announced {size}; {} kept",
            part.display()
        ))
        .into());
    }
    let size_now = session.retrying(|client| client.metadata(name))?;
    if size_now != size {
        let _ = fs::remove_file(part);
        return Err(FileChanged { size, size_now }.into());
    }
    fs::rename(part, path)
        .with_context(|| format!("cannot rename {} to {}", part.display(), path.display()))?;
    Ok(())
}

/// A failed transfer, unless it failed because the file changed on the
/// server: a short reply (the server closes when a file shrinks
/// mid-slice) or a 203 for a range that was inside the file a moment ago
/// is told apart by asking for the size again.
fn changed_or(session: &mut Session, name: &FileName, size: u64, error: Error) -> anyhow::Error {
    let may_have_changed = matches!(
        error,
        Error::Closed | Error::Refused(Status::OffsetExceedsFileSize)
    );
    if may_have_changed
        && let Ok(size_now) = session.retrying(|client| client.metadata(name))
        && size_now != size
    {
        return FileChanged { size, size_now }.into();
    }
    error.into()
}

fn open_part(part: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(part)
        .with_context(|| format!("cannot open {}", part.display()))
}

fn remove_if_there(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// What `-c` can trust, saying on stderr why when it starts over.
///
/// HFTP carries no checksum or date, so the last bytes (up to
/// [`RESUME_CHECK_LEN`]) of what is kept are compared with the server's:
/// a file changed since the interrupted run, or a stray file under the
/// `.part`'s name, starts over instead of being completed into a mix.
fn resume_plan(
    session: &mut Session,
    name: &FileName,
    size: u64,
    path: &Path,
    part: &Path,
    record: &Path,
) -> anyhow::Result<Plan> {
    let note = |session: &Session, why: &str| {
        session.note(format_args!("hftp: get {name}: {why}; starting over"));
    };
    let part_len = match fs::metadata(part) {
        Ok(metadata) => Some(metadata.len()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", part.display()));
        }
    };
    if record.exists() {
        let segments =
            segments::read(record).with_context(|| format!("cannot read {}", record.display()))?;
        match segments {
            Some((recorded, segments)) if recorded == size && part_len == Some(size) => {
                let file =
                    File::open(part).with_context(|| format!("cannot read {}", part.display()))?;
                let mut whole = true;
                for segment in &segments {
                    whole &= ends_like(session, name, &file, segment.from, segment.done)?;
                }
                if whole {
                    return Ok(Plan::Segments(segments));
                }
                note(
                    session,
                    &format!(
                        "a segment of {} differs from the file on the server",
                        part.display()
                    ),
                );
            }
            Some(_) => note(
                session,
                "the file's size changed since the interrupted download",
            ),
            None => note(
                session,
                &format!("{} is not a record of segments", record.display()),
            ),
        }
        fs::remove_file(record).with_context(|| format!("cannot remove {}", record.display()))?;
        return Ok(Plan::Prefix(0));
    }
    let Some(have) = part_len else {
        // Nothing to resume: the final file may already be the whole file.
        let complete = match File::open(path) {
            Ok(file) => {
                file.metadata()
                    .is_ok_and(|m| m.is_file() && m.len() == size)
                    && ends_like(session, name, &file, 0, size)?
            }
            Err(_) => false,
        };
        return Ok(if complete {
            Plan::Complete
        } else {
            Plan::Prefix(0)
        });
    };
    if have > size {
        note(
            session,
            &format!("{} is larger than the file on the server", part.display()),
        );
        return Ok(Plan::Prefix(0));
    }
    let file = File::open(part).with_context(|| format!("cannot read {}", part.display()))?;
    if !ends_like(session, name, &file, 0, have)? {
        note(
            session,
            &format!(
                "the end of {} differs from the file on the server",
                part.display()
            ),
        );
        return Ok(Plan::Prefix(0));
    }
    Ok(Plan::Prefix(have))
}

/// Whether the bytes `[from, to)` of `file` end like the same bytes of
/// the server's file.
fn ends_like(
    session: &mut Session,
    name: &FileName,
    file: &File,
    from: u64,
    to: u64,
) -> anyhow::Result<bool> {
    let check = (to - from).min(RESUME_CHECK_LEN);
    if check == 0 {
        return Ok(true);
    }
    let mut ours = vec![0; usize::try_from(check).unwrap_or(0)];
    file.read_exact_at(&mut ours, to - check)
        .context("cannot read the file to resume")?;
    let mut theirs = Vec::with_capacity(ours.len());
    session.retrying(|client| {
        theirs.clear();
        client.slice(name, to - check, check, &mut theirs)
    })?;
    Ok(ours == theirs)
}

fn sequential(
    session: &mut Session,
    name: &FileName,
    file: &File,
    start: u64,
    size: u64,
    bar: &ProgressBar,
    transfer: &Transfer<'_>,
) -> Result<(), Error> {
    let mut out = counted(
        BufWriter::with_capacity(WRITE_BUFFER_LEN, AtOffset::new(file, start)),
        bar,
        transfer.limiter,
    );
    let result = fetch(session, name, start, size - start, &mut out);
    // Keep what arrived before a failure: `-c` resumes from it.
    let flushed = out.flush().map_err(Error::Write);
    result.and(flushed)
}

/// Fetches the unfinished segments over a connection each, recording
/// their progress in `log`. The record is removed once every segment is
/// whole; after a failure it stays, for `-c`.
fn parallel(
    session: &Session,
    name: &FileName,
    file: &File,
    log: SegmentLog,
    segments: Vec<Segment>,
    bar: &ProgressBar,
    transfer: &Transfer<'_>,
) -> anyhow::Result<()> {
    let unfinished: Vec<usize> = (0..segments.len())
        .filter(|&index| segments[index].done < segments[index].to)
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(unfinished.len().max(1))
        .build()
        .context("cannot start the download threads")?;
    let log = Mutex::new(log);
    let result = pool.install(|| {
        unfinished.par_iter().try_for_each(|&index| {
            let segment = segments[index];
            let mut connection = OwnConnection::new(session);
            let segment_writer = SegmentWriter {
                file,
                log: &log,
                index,
                segment,
                buffer: Vec::with_capacity(WRITE_BUFFER_LEN),
                writeback: Writeback::new(segment.done),
            };
            let mut out = counted(segment_writer, bar, transfer.limiter);
            let result = fetch(
                &mut connection,
                name,
                segment.done,
                segment.to - segment.done,
                &mut out,
            );
            let flushed = out.flush().map_err(Error::Write);
            result.and(flushed)?;
            // The segment is safely written; how the server takes
            // leave does not matter.
            connection.close();
            Ok::<(), Error>(())
        })
    });
    result?;
    let log = log
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    log.remove()
        .context("cannot remove the record of segments")?;
    Ok(())
}

/// `[start, end)` cut into `count` consecutive segments of near-equal
/// length, none written yet.
fn split(start: u64, end: u64, count: u64) -> Vec<Segment> {
    let len = u128::from(end - start);
    let at = |index: u64| start + (len * u128::from(index) / u128::from(count)) as u64;
    (0..count)
        .map(|index| Segment {
            from: at(index),
            to: at(index + 1),
            done: at(index),
        })
        .collect()
}

/// A bar as wide as the terminal leaves room for, with the rate and time
/// left of this run: the bytes a resumed download already had came from
/// no network, so they count towards neither.
fn progress_bar(name: &FileName, size: u64, start: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let this_run = move |state: &ProgressState| {
        let done = state.pos().saturating_sub(start) as f64;
        done / state.elapsed().as_secs_f64().max(1e-3)
    };
    // The bar itself shrinks to fit, but the figures beside it do not:
    // on a narrow terminal fewer of them, so that the line never wraps.
    let template = match terminal_columns() {
        Some(columns) if columns < 40 => "[{wide_bar}] {percent}%",
        Some(columns) if columns < 72 => "{msg} [{wide_bar}] {percent}% {run_rate} ETA {run_eta}",
        _ => "{msg} [{wide_bar}] {bytes}/{total_bytes} {run_rate} ETA {run_eta}",
    };
    let style = ProgressStyle::with_template(template)
        .map(|style| {
            style
                .progress_chars("=> ")
                .with_key(
                    "run_rate",
                    move |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                        let _ = write!(out, "{}/s", HumanBytes(this_run(state) as u64));
                    },
                )
                .with_key(
                    "run_eta",
                    move |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                        let rate = this_run(state);
                        let left = state.len().unwrap_or(0).saturating_sub(state.pos()) as f64;
                        match rate > 0.0 {
                            true => {
                                let _ = write!(out, "{}s", (left / rate).ceil() as u64);
                            }
                            false => {
                                let _ = write!(out, "?");
                            }
                        }
                    },
                )
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(size)
        .with_style(style)
        .with_message(name.to_string())
        .with_position(start)
}

/// The width of the terminal on stderr, if it is one that says.
fn terminal_columns() -> Option<u16> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which
    // points to one.
    let got = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    (got == 0 && size.ws_col > 0).then_some(size.ws_col)
}

/// Leaves a failed transfer's bar as it stands, so that the error's line
/// comes after it; replaces a finished one by a line of totals.
fn finish_bar(bar: &ProgressBar, ok: bool, name: &FileName, fetched: u64, show: bool) {
    if !ok {
        bar.abandon();
        return;
    }
    if show {
        bar.finish_and_clear();
        let elapsed = bar.elapsed();
        let rate = fetched as f64 / elapsed.as_secs_f64().max(1e-3);
        eprintln!(
            "{name}: {} in {:.1}s ({}/s)",
            HumanBytes(fetched),
            elapsed.as_secs_f64(),
            HumanBytes(rate as u64)
        );
    }
}

/// Writes at consecutive offsets of a file shared with other writers.
struct AtOffset<'a> {
    file: &'a File,
    offset: u64,
    writeback: Writeback,
}

impl<'a> AtOffset<'a> {
    fn new(file: &'a File, offset: u64) -> AtOffset<'a> {
        AtOffset {
            file,
            offset,
            writeback: Writeback::new(offset),
        }
    }
}

impl Write for AtOffset<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.file.write_at(data, self.offset)?;
        self.offset += written as u64;
        self.writeback.written(self.file, self.offset);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes one segment of a parallel download at its offsets, and records
/// its progress after each write, never before.
struct SegmentWriter<'a> {
    file: &'a File,
    log: &'a Mutex<SegmentLog>,
    index: usize,
    segment: Segment,
    buffer: Vec<u8>,
    writeback: Writeback,
}

impl SegmentWriter<'_> {
    fn write_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.file.write_all_at(&self.buffer, self.segment.done)?;
        self.segment.done += self.buffer.len() as u64;
        self.buffer.clear();
        self.writeback.written(self.file, self.segment.done);
        let log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.record(self.index, &self.segment)
    }
}

impl Write for SegmentWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = WRITE_BUFFER_LEN - self.buffer.len();
        let taken = data.len().min(room);
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == WRITE_BUFFER_LEN {
            self.write_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buffer()
    }
}

/// `inner`, counting what passes on `bar`, no faster than `limiter`
/// allows. The bar counts what was received, so it shows the true rate.
fn counted<'a, W: Write>(
    inner: W,
    bar: &'a ProgressBar,
    limiter: Option<&'a Limiter>,
) -> Paced<'a, Progress<'a, W>> {
    Paced {
        inner: Progress { inner, bar },
        limiter,
    }
}

/// Counts what passes on the progress bar.
struct Progress<'a, W> {
    inner: W,
    bar: &'a ProgressBar,
}

impl<W: Write> Write for Progress<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(data)?;
        self.bar.inc(written as u64);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_the_range_in_order() {
        let ends = |segments: Vec<Segment>| {
            assert!(segments.iter().all(|s| s.done == s.from));
            segments.iter().map(|s| (s.from, s.to)).collect::<Vec<_>>()
        };
        assert_eq!(ends(split(0, 10, 3)), [(0, 3), (3, 6), (6, 10)]);
        assert_eq!(ends(split(5, 9, 4)), [(5, 6), (6, 7), (7, 8), (8, 9)]);
        let ranges = ends(split(7, u64::MAX, 7));
        assert_eq!(ranges.first().map(|r| r.0), Some(7));
        assert_eq!(ranges.last().map(|r| r.1), Some(u64::MAX));
        assert!(
            ranges
                .windows(2)
                .all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1)
        );
    }
}
