//! The served files: sizes where a slice is most likely to go wrong.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use hftp_proto::{FileName, OUTPUT_LIMIT};
use hftp_test_support::noise;

/// The file bytes one read of a slice brings, where the reads of a body
/// meet: what fits in a session's output once base64-encoded, which is
/// both the most a session's `Action::Read` asks for and a thread-pool
/// worker's file buffer; an event loop's buffer is eight of them. Only
/// `OUTPUT_LIMIT` is exported (hftp-server keeps its buffer sizes, and
/// hftp-proto the length below which a base64 body goes through the
/// session's output, to themselves), so the sizes are derived from it.
const READ_CHUNK: usize = OUTPUT_LIMIT / 4 * 3;

/// The served files: name and content.
pub struct Files {
    pub files: Vec<(FileName, Vec<u8>)>,
    /// The listing the server must give: every name, byte-wise sorted.
    pub listing: Vec<FileName>,
}

impl Files {
    const SIZES: [(&'static str, usize); 20] = [
        ("empty", 0),
        ("one", 1),
        ("two", 2),
        ("three", 3),
        ("four", 4),
        ("five", 5),
        ("six", 6),
        ("seven", 7),
        ("k-1.bin", 1023),
        ("k.bin", 1024),
        ("k_plus_1.bin", 1025),
        // Where the reads of a slice meet: two of a worker's, one of an
        // event loop's.
        ("chunks2-1", 2 * READ_CHUNK - 1),
        ("chunks2", 2 * READ_CHUNK),
        ("chunks2.plus.1", 2 * READ_CHUNK + 1),
        ("chunks8-1", 8 * READ_CHUNK - 1),
        ("chunks8", 8 * READ_CHUNK),
        ("chunks8.plus.1", 8 * READ_CHUNK + 1),
        ("MB-1", 1_000_000),
        ("MB-3", 3 * 1024 * 1024 + 1),
        ("MB-8", 8 * 1024 * 1024 + 2),
    ];

    /// Writes the files into a fresh `dir`.
    pub fn create(dir: &Path) -> Result<Files> {
        if dir.exists() {
            fs::remove_dir_all(dir)
                .with_context(|| format!("could not clear {}", dir.display()))?;
        }
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        let mut files = Vec::new();
        for (seed, (name, size)) in (1..).zip(Files::SIZES) {
            let content = noise(seed, size);
            let path = dir.join(name);
            fs::write(&path, &content)
                .with_context(|| format!("could not write {}", path.display()))?;
            files.push((FileName::new(name)?, content));
        }
        let mut listing: Vec<FileName> = files.iter().map(|(name, _)| *name).collect();
        listing.sort();
        Ok(Files { files, listing })
    }

    pub fn total_len(&self) -> usize {
        self.files.iter().map(|(_, content)| content.len()).sum()
    }
}
