//! The record of a parallel download: how far each segment of the `.part`
//! is written, so that a killed `get -j N` resumes every segment where it
//! stopped, as aria2 does, instead of starting over.
//!
//! The record is a small text file beside the `.part`
//! (`NAME.part.segments`): a header, the file's size, then one line per
//! segment, `FROM TO DONE`, in fixed-width decimal. A segment's line is
//! rewritten in place, in one `write`, only after the bytes it counts
//! were written to the `.part`, so the record never claims more than the
//! `.part` holds, whenever the process dies. Bytes the system had not
//! yet put on disk when the machine itself failed are not covered, which
//! is why `-c` still compares each segment's last bytes with the server.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const HEADER: &str = "hftp segments 1\n";
/// `size ` and 20 digits and a newline.
const SIZE_LINE_LEN: usize = 26;
/// Three numbers of 20 digits, two spaces and a newline.
const SEGMENT_LINE_LEN: usize = 63;

/// One segment: bytes `[from, to)`, of which `[from, done)` are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub from: u64,
    pub to: u64,
    pub done: u64,
}

/// An open record, updated as segments progress.
#[derive(Debug)]
pub struct SegmentLog {
    file: File,
    path: PathBuf,
}

impl SegmentLog {
    /// Writes a new record at `path` for a file of `size` bytes.
    pub fn create(path: &Path, size: u64, segments: &[Segment]) -> io::Result<SegmentLog> {
        let mut text = format!("{HEADER}size {size:020}\n");
        for segment in segments {
            text.push_str(&segment_line(segment));
        }
        let mut file = File::create(path)?;
        file.write_all(text.as_bytes())?;
        Ok(SegmentLog {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Opens the record at `path` to go on updating it.
    pub fn reopen(path: &Path) -> io::Result<SegmentLog> {
        let file = OpenOptions::new().write(true).open(path)?;
        Ok(SegmentLog {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Records that segment `index` is written up to `done`.
    pub fn record(&self, index: usize, segment: &Segment) -> io::Result<()> {
        let at = HEADER.len() + SIZE_LINE_LEN + index * SEGMENT_LINE_LEN;
        self.file
            .write_all_at(segment_line(segment).as_bytes(), at as u64)
    }

    /// Deletes the record: the `.part` is whole.
    pub fn remove(self) -> io::Result<()> {
        drop(self.file);
        fs::remove_file(&self.path)
    }
}

fn segment_line(segment: &Segment) -> String {
    format!(
        "{:020} {:020} {:020}\n",
        segment.from, segment.to, segment.done
    )
}

/// Reads a record: the file's size and its segments, or `None` if it is
/// not one this program wrote (then the `.part` cannot be trusted).
pub fn read(path: &Path) -> io::Result<Option<(u64, Vec<Segment>)>> {
    let text = fs::read_to_string(path)?;
    Ok(parse(&text))
}

fn parse(text: &str) -> Option<(u64, Vec<Segment>)> {
    let rest = text.strip_prefix(HEADER)?;
    let mut lines = rest.lines();
    let size = lines.next()?.strip_prefix("size ")?.parse().ok()?;
    let mut segments = Vec::new();
    for line in lines {
        let mut numbers = line.split(' ').map(|n| n.parse::<u64>().ok());
        let (Some(Some(from)), Some(Some(to)), Some(Some(done)), None) = (
            numbers.next(),
            numbers.next(),
            numbers.next(),
            numbers.next(),
        ) else {
            return None;
        };
        segments.push(Segment { from, to, done });
    }
    // Consecutive, in order, ending at the file's end, each within itself.
    let consistent = segments.windows(2).all(|pair| pair[0].to == pair[1].from)
        && segments.last().is_some_and(|last| last.to == size)
        && segments.iter().all(|s| s.from <= s.done && s.done <= s.to);
    consistent.then_some((size, segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_what_was_recorded() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("a.part.segments");
        let mut segments = vec![
            Segment {
                from: 0,
                to: 10,
                done: 0,
            },
            Segment {
                from: 10,
                to: u64::MAX,
                done: 10,
            },
        ];
        let log = SegmentLog::create(&path, u64::MAX, &segments).expect("a record");
        segments[1].done = 12_345_678_901;
        log.record(1, &segments[1]).expect("recorded");
        drop(log);
        let log = SegmentLog::reopen(&path).expect("reopened");
        segments[0].done = 7;
        log.record(0, &segments[0]).expect("recorded");
        assert_eq!(
            read(&path).expect("readable"),
            Some((u64::MAX, segments.clone()))
        );
        log.remove().expect("removed");
        assert!(!path.exists());
    }

    #[test]
    fn a_record_that_does_not_add_up_is_not_trusted() {
        let line = |from: u64, to: u64, done: u64| segment_line(&Segment { from, to, done });
        let record =
            |size: u64, lines: &[String]| format!("{HEADER}size {size:020}\n{}", lines.concat());
        assert!(parse(&record(20, &[line(0, 10, 5), line(10, 20, 20)])).is_some());
        for bad in [
            record(20, &[line(0, 10, 5), line(11, 20, 11)]),
            record(21, &[line(0, 10, 5), line(10, 20, 10)]),
            record(20, &[line(0, 10, 11), line(10, 20, 10)]),
            record(20, &[]),
            "not a record".to_string(),
            record(20, &[line(0, 20, 3)]).replace(" 0000", "x0000"),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }
}
