//! `get`: downloads that never leave a wrong file under the final name.
//!
//! A file is written into `NAME.part` beside its destination and renamed
//! only once its size is the size the server announced. `-c` resumes from
//! the `.part`'s length, which is only right if the `.part` holds a prefix
//! of the file with no holes. A sequential download writes in order, so
//! that holds. A parallel one writes its segments at their offsets: while
//! it runs, a marker `NAME.part.holes` sits beside the `.part`; if it
//! fails, the `.part` is cut back to the prefix that is whole and the
//! marker removed. If it is killed instead, the marker stays and the next
//! `-c` starts over rather than trust the `.part`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use hftp_client::{Client, Error, FileName};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::cli::GetArgs;
use crate::commands::fetch;
use crate::failure::{InconsistentReply, UsageError};
use crate::session::Session;

/// A parallel download gives each connection at least this much.
const MIN_SEGMENT_LEN: u64 = 1024 * 1024;

/// How many of a `.part`'s last bytes `-c` checks against the server.
const RESUME_CHECK_LEN: u64 = 64 * 1024;

/// Bytes buffered before a write to the `.part`.
const WRITE_BUFFER_LEN: usize = 1024 * 1024;

pub fn get(session: &mut Session, args: &GetArgs) -> anyhow::Result<()> {
    let targets = targets(args)?;
    let show_progress = io::stderr().is_terminal();
    for (name, target) in args.files.iter().zip(&targets) {
        download(session, name, target, args, show_progress)
            .with_context(|| format!("get {name}"))?;
    }
    Ok(())
}

/// Where each file goes.
fn targets(args: &GetArgs) -> Result<Vec<PathBuf>, UsageError> {
    let names = args.files.iter().map(FileName::as_str);
    let targets = match &args.output {
        None => Ok(names.map(PathBuf::from).collect()),
        Some(dir) if dir.is_dir() => Ok(names.map(|name| dir.join(name)).collect()),
        Some(path) if args.files.len() == 1 => Ok(vec![path.clone()]),
        Some(path) => Err(UsageError(format!(
            "-o {}: with several files, PATH must be an existing directory",
            path.display()
        ))),
    }?;
    check_temporaries(&targets)?;
    Ok(targets)
}

/// Refuses a command where one file's destination is another's `.part` (or
/// its `.holes` marker): `get a.part a` would download `a` over `a.part`,
/// and `-c` would take `a.part`'s bytes for a prefix of `a`.
fn check_temporaries(targets: &[PathBuf]) -> Result<(), UsageError> {
    for target in targets {
        let part = with_suffix(target, ".part");
        let holes = with_suffix(&part, ".holes");
        if let Some(clash) = targets
            .iter()
            .find(|other| **other == part || **other == holes)
        {
            return Err(UsageError(format!(
                "{} is also the temporary file of {}: get them in separate commands",
                clash.display(),
                target.display()
            )));
        }
    }
    Ok(())
}

fn download(
    session: &mut Session,
    name: &FileName,
    target: &Path,
    args: &GetArgs,
    show_progress: bool,
) -> anyhow::Result<()> {
    let size = session.retrying(|client| client.metadata(name))?;
    let part = with_suffix(target, ".part");
    let holes = with_suffix(&part, ".holes");
    let start = if args.resume {
        resume_offset(session, name, &part, &holes, size)?
    } else {
        0
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&part)
        .with_context(|| format!("cannot open {}", part.display()))?;
    file.set_len(start)
        .with_context(|| format!("cannot truncate {}", part.display()))?;
    let bar = progress_bar(name, size, start, show_progress);

    let segments = u64::from(args.parallel).min((size - start).div_ceil(MIN_SEGMENT_LEN));
    let transferred = if segments > 1 {
        parallel(
            session, name, &file, &part, &holes, start, size, segments, &bar,
        )
    } else {
        session
            .client()
            .and_then(|client| sequential(client, name, &file, start, size, &bar))
            .map_err(anyhow::Error::from)
    };
    // Leave the bar as it stands, so the error's line comes after it.
    if transferred.is_err() {
        bar.abandon();
    }
    transferred?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", part.display()))?;
    drop(file);

    let received = fs::metadata(&part)
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
        // The bytes may mix two versions of the file: worthless to resume.
        let _ = fs::remove_file(&part);
        return Err(InconsistentReply(format!(
            "the file changed on the server during the download ({size} bytes, now {size_now}); \
             try again"
        ))
        .into());
    }
    fs::rename(&part, target)
        .with_context(|| format!("cannot rename {} to {}", part.display(), target.display()))?;
    if show_progress {
        bar.finish_and_clear();
        let elapsed = bar.elapsed();
        let rate = (size - start) as f64 / elapsed.as_secs_f64().max(1e-3);
        eprintln!(
            "{name}: {} in {:.1}s ({}/s)",
            HumanBytes(size - start),
            elapsed.as_secs_f64(),
            HumanBytes(rate as u64)
        );
    }
    Ok(())
}

/// Where a resumed download starts: the length of the `.part` when it
/// can be trusted, else 0 (saying why on stderr).
///
/// HFTP carries no checksum or date, so the `.part`'s last bytes (up to
/// [`RESUME_CHECK_LEN`]) are compared with the server's: a file changed
/// since the interrupted run, or a stray file under the `.part`'s name,
/// starts over instead of being completed into a mix.
fn resume_offset(
    session: &mut Session,
    name: &FileName,
    part: &Path,
    holes: &Path,
    size: u64,
) -> anyhow::Result<u64> {
    if holes.exists() {
        eprintln!(
            "hftp: get {name}: {} was left by an interrupted parallel download; starting over",
            part.display()
        );
        fs::remove_file(holes).with_context(|| format!("cannot remove {}", holes.display()))?;
        return Ok(0);
    }
    let have = match fs::metadata(part) {
        Ok(metadata) => metadata.len(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => 0,
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", part.display()));
        }
    };
    if have > size {
        eprintln!(
            "hftp: get {name}: {} is larger than the file on the server; starting over",
            part.display()
        );
        return Ok(0);
    }
    let check = have.min(RESUME_CHECK_LEN);
    let mut ours = vec![0; usize::try_from(check).unwrap_or(0)];
    File::open(part)
        .and_then(|file| file.read_exact_at(&mut ours, have - check))
        .with_context(|| format!("cannot read {}", part.display()))?;
    let mut theirs = Vec::with_capacity(ours.len());
    session.retrying(|client| {
        theirs.clear();
        client.slice(name, have - check, check, &mut theirs)
    })?;
    if ours != theirs {
        eprintln!(
            "hftp: get {name}: the end of {} differs from the file on the server; starting over",
            part.display()
        );
        return Ok(0);
    }
    Ok(have)
}

fn sequential(
    client: &mut Client,
    name: &FileName,
    file: &File,
    start: u64,
    size: u64,
    bar: &ProgressBar,
) -> Result<(), Error> {
    let mut out = Progress {
        inner: BufWriter::with_capacity(WRITE_BUFFER_LEN, AtOffset::new(file, start)),
        bar,
    };
    let result = fetch(client, name, start, size - start, &mut out);
    // Keep what arrived before a failure: `-c` resumes from it.
    let flushed = out.flush().map_err(Error::Write);
    result.and(flushed)
}

#[allow(clippy::too_many_arguments)]
fn parallel(
    session: &Session,
    name: &FileName,
    file: &File,
    part: &Path,
    holes: &Path,
    start: u64,
    size: u64,
    segments: u64,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    fs::write(
        holes,
        "hftp: the .part beside this file may have holes; `hftp get -c` starts it over\n",
    )
    .with_context(|| format!("cannot create {}", holes.display()))?;
    file.set_len(size)
        .with_context(|| format!("cannot extend {}", part.display()))?;
    let ranges = split(start, size, segments);
    let written: Vec<AtomicU64> = ranges.iter().map(|_| AtomicU64::new(0)).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(ranges.len())
        .build()
        .context("cannot start the download threads")?;
    let result = pool.install(|| {
        ranges
            .par_iter()
            .zip(&written)
            .try_for_each(|(&(from, to), written)| {
                let mut client = session.connect()?;
                let mut out = Progress {
                    inner: BufWriter::with_capacity(WRITE_BUFFER_LEN, AtOffset::new(file, from)),
                    bar,
                };
                let result = fetch(&mut client, name, from, to - from, &mut out);
                let flushed = out.flush().map_err(Error::Write);
                written.store(out.inner.get_ref().offset - from, Ordering::Relaxed);
                result.and(flushed)?;
                // The segment is safely written; how the server takes
                // leave does not matter.
                let _ = client.quit();
                Ok::<(), Error>(())
            })
    });
    if result.is_err() {
        // Keep the whole prefix only, so that `-c` can trust the `.part`.
        let mut whole = start;
        for (&(from, to), written) in ranges.iter().zip(&written) {
            whole = from + written.load(Ordering::Relaxed);
            if whole < to {
                break;
            }
        }
        file.set_len(whole)
            .with_context(|| format!("cannot truncate {}", part.display()))?;
    }
    fs::remove_file(holes).with_context(|| format!("cannot remove {}", holes.display()))?;
    Ok(result?)
}

/// `[start, end)` cut into `count` consecutive ranges of near-equal length.
fn split(start: u64, end: u64, count: u64) -> Vec<(u64, u64)> {
    let len = u128::from(end - start);
    let at = |index: u64| start + (len * u128::from(index) / u128::from(count)) as u64;
    (0..count).map(|index| (at(index), at(index + 1))).collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut path = path.as_os_str().to_owned();
    path.push(suffix);
    PathBuf::from(path)
}

fn progress_bar(name: &FileName, size: u64, start: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(size)
        .with_style(style)
        .with_message(name.to_string());
    bar.set_position(start);
    bar
}

/// Writes at consecutive offsets of a file shared with other writers.
struct AtOffset<'a> {
    file: &'a File,
    offset: u64,
}

impl<'a> AtOffset<'a> {
    fn new(file: &'a File, offset: u64) -> AtOffset<'a> {
        AtOffset { file, offset }
    }
}

impl Write for AtOffset<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.file.write_at(data, self.offset)?;
        self.offset += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
    fn a_destination_may_not_be_another_ones_temporary_file() {
        let paths = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert!(check_temporaries(&paths(&["a", "b", "a.parts", "part"])).is_ok());
        for clash in [
            &["a.part", "a"][..],
            &["a", "a.part"],
            &["x", "a.part.holes", "a"],
        ] {
            let error = check_temporaries(&paths(clash)).expect_err("a clash");
            assert!(
                error.0.contains("is also the temporary file of a"),
                "{}",
                error.0
            );
        }
    }

    #[test]
    fn split_covers_the_range_in_order() {
        assert_eq!(split(0, 10, 3), [(0, 3), (3, 6), (6, 10)]);
        assert_eq!(split(5, 9, 4), [(5, 6), (6, 7), (7, 8), (8, 9)]);
        let ranges = split(7, u64::MAX, 7);
        assert_eq!(ranges.first().map(|r| r.0), Some(7));
        assert_eq!(ranges.last().map(|r| r.1), Some(u64::MAX));
        assert!(
            ranges
                .windows(2)
                .all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1)
        );
    }
}
