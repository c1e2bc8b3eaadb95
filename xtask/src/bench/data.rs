//! The served directories of a bench run: the small file, the slice
//! file, the many files of a listing; removed when dropped.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The small file's size: the one in HFTP.md's example.
pub const SMALL_FILE_LEN: usize = 3199;
/// The slice file repeats a pseudo-random pattern of this many bytes:
/// whole base64 groups (a multiple of 3), 1 MiB once encoded.
pub const PATTERN_LEN: usize = 3 << 18;
/// The pseudo-random bytes the data files are made of (the tests'
/// generator, so base64 and the kernel see no easy structure within a
/// pattern; the figures depend only on the sizes).
pub fn pattern() -> Vec<u8> {
    hftp_test_support::noise(1, PATTERN_LEN)
}

/// A temporary served directory, removed when dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// Creates the directory `path`, emptied first if it exists, with
    /// `small` ([`SMALL_FILE_LEN`] bytes) and `large` (`size` bytes of the
    /// repeated [`pattern`]).
    pub fn create(path: PathBuf, small: &str, large: &str, size: u64) -> Result<DataDir> {
        let dir = DataDir::empty(path)?;
        let pattern = pattern();
        let small_path = dir.path.join(small);
        fs::write(&small_path, &pattern[..SMALL_FILE_LEN])
            .with_context(|| format!("could not write {}", small_path.display()))?;
        let large_path = dir.path.join(large);
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&large_path)?;
            let mut left = size;
            while left > 0 {
                let n = usize::try_from(left).map_or(PATTERN_LEN, |left| left.min(PATTERN_LEN));
                file.write_all(&pattern[..n])?;
                left -= n as u64;
            }
            file.sync_all()
        };
        write().with_context(|| format!("could not write {}", large_path.display()))?;
        Ok(dir)
    }

    /// Creates the directory `path`, emptied first if it exists, with
    /// `count` empty files named `f0000000`, `f0000001`, ….
    pub fn many(path: PathBuf, count: usize) -> Result<DataDir> {
        let dir = DataDir::empty(path)?;
        for index in 0..count {
            let file = dir.path.join(format!("f{index:07}"));
            File::create(&file).with_context(|| format!("could not create {}", file.display()))?;
        }
        Ok(dir)
    }

    fn empty(path: PathBuf) -> Result<DataDir> {
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("could not clear {}", path.display()))?;
        }
        fs::create_dir_all(&path)
            .with_context(|| format!("could not create {}", path.display()))?;
        Ok(DataDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_dir_all(&self.path) {
            eprintln!(
                "xtask bench: could not remove {}: {error}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_whole_base64_groups() {
        let pattern = pattern();
        assert_eq!(pattern.len(), PATTERN_LEN);
        assert_eq!(PATTERN_LEN % 3, 0);
        assert_ne!(pattern[..8], pattern[8..16]);
    }

    #[test]
    fn data_dir_is_made_and_removed() -> Result<()> {
        let path = std::env::temp_dir().join(format!("hftp-bench-test-{}", std::process::id()));
        let dir = DataDir::create(path, "a.txt", "b.bin", PATTERN_LEN as u64 + 7)?;
        let path = dir.path().to_owned();
        assert_eq!(
            fs::metadata(path.join("a.txt"))?.len(),
            SMALL_FILE_LEN as u64
        );
        assert_eq!(
            fs::metadata(path.join("b.bin"))?.len(),
            PATTERN_LEN as u64 + 7
        );
        drop(dir);
        assert!(!path.exists());
        Ok(())
    }
}
