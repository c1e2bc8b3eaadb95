//! The files the check creates in the served directory, and removes.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::SetupError;

/// The example file of HFTP.md.
pub(crate) const ARCHIVO: &str = "hftp-check-archivo.txt";
pub(crate) const ARCHIVO_DATA: &[u8] = b"!Que calor que hace hoy, pinta una birra!";
/// Bytes that a line-oriented server might mangle: NULs, CRs, LFs, CRLFs,
/// and every byte value once.
pub(crate) const BINARY: &str = "hftp-check-binary.bin";
pub(crate) const EMPTY: &str = "hftp-check-empty";
/// Large enough to be streamed in many chunks by any server.
pub(crate) const BIG: &str = "hftp-check-big.bin";
pub(crate) const BIG_LEN: usize = 8 << 20;
/// A sparse file of more than 4 GiB, with bytes written past 4 GiB.
pub(crate) const SPARSE: &str = "hftp-check-sparse.bin";
pub(crate) const SPARSE_LEN: u64 = (5 << 30) + 7;
pub(crate) const SPARSE_MARK_AT: u64 = (4 << 30) + 4099;
pub(crate) const SPARSE_MARK: &[u8] = b"past\r\n4\0GiB";
/// The last bytes of the sparse file.
pub(crate) const SPARSE_END: &[u8] = b"end";
pub(crate) const DIR: &str = "hftp-check-dir";
pub(crate) const HIDDEN: &str = ".hftp-check-hidden";
pub(crate) const LINK_IN: &str = "hftp-check-link-in";
pub(crate) const LINK_OUT: &str = "hftp-check-link-out";
/// Permission bits 000: nobody may read it (199 in the 2026 kit).
pub(crate) const UNREADABLE: &str = "hftp-check-mode000";
/// Names no request can carry, so no listing may show them.
pub(crate) const UNREQUESTABLE: [&str; 2] = ["hftp-check-a space", "hftp-check-tilde~"];

/// The binary file's bytes.
pub(crate) fn binary_data() -> Vec<u8> {
    let mut data = b"\0\r\n\r\0\n\n\r\r\n\0".to_vec();
    data.extend(0..=255u8);
    data.extend_from_slice(b"\r\n\r\n\0");
    data
}

/// The big file's bytes: every offset's byte differs from its
/// neighbours', so a slice from the wrong place does not match.
pub(crate) fn big_data() -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..BIG_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// The sparse file's bytes in `[offset, offset + len)`: zeros but for
/// the mark.
pub(crate) fn sparse_data(offset: u64, len: usize) -> Vec<u8> {
    (offset..offset + len as u64)
        .map(|at| match at.checked_sub(SPARSE_MARK_AT) {
            Some(i) if i < SPARSE_MARK.len() as u64 => SPARSE_MARK[i as usize],
            _ => match at.checked_sub(SPARSE_LEN - SPARSE_END.len() as u64) {
                Some(i) if i < SPARSE_END.len() as u64 => SPARSE_END[i as usize],
                _ => 0,
            },
        })
        .collect()
}

/// The created files; removed on drop.
#[derive(Debug)]
pub(crate) struct Fixture {
    created: Vec<PathBuf>,
    /// Outside the served directory: what `LINK_OUT` points at.
    outside: PathBuf,
}

impl Fixture {
    pub(crate) fn create(dir: &Path) -> Result<Fixture, SetupError> {
        let outside =
            std::env::temp_dir().join(format!("hftp-check-outside-{}", std::process::id()));
        let mut fixture = Fixture {
            created: Vec::new(),
            outside: outside.clone(),
        };
        let at = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SetupError { path, source }
        };
        fixture.file(&outside, b"outside the served directory\n")?;
        fixture.file(&dir.join(ARCHIVO), ARCHIVO_DATA)?;
        fixture.file(&dir.join(BINARY), &binary_data())?;
        fixture.file(&dir.join(EMPTY), b"")?;
        fixture.file(&dir.join(BIG), &big_data())?;
        fixture.file(&dir.join(HIDDEN), b"hidden\n")?;
        for name in UNREQUESTABLE {
            fixture.file(&dir.join(name), b"no request can name me\n")?;
        }
        let sparse = dir.join(SPARSE);
        fixture.created.push(sparse.clone());
        (|| {
            let mut file = fs::File::create(&sparse)?;
            file.set_len(SPARSE_LEN)?;
            file.seek(SeekFrom::Start(SPARSE_MARK_AT))?;
            file.write_all(SPARSE_MARK)?;
            file.seek(SeekFrom::Start(SPARSE_LEN - SPARSE_END.len() as u64))?;
            file.write_all(SPARSE_END)
        })()
        .map_err(at(&sparse))?;
        let unreadable = dir.join(UNREADABLE);
        fixture.file(&unreadable, b"nobody may read this\n")?;
        set_mode(&unreadable, 0o000).map_err(at(&unreadable))?;
        let subdir = dir.join(DIR);
        fs::create_dir_all(&subdir).map_err(at(&subdir))?;
        fixture.created.push(subdir);
        fixture.link(Path::new(ARCHIVO), &dir.join(LINK_IN))?;
        fixture.link(&outside, &dir.join(LINK_OUT))?;
        Ok(fixture)
    }

    fn file(&mut self, path: &Path, data: &[u8]) -> Result<(), SetupError> {
        // A file left by an earlier run that was killed may be mode 000.
        let _ = set_mode(path, 0o644);
        self.created.push(path.to_path_buf());
        fs::write(path, data).map_err(|source| SetupError {
            path: path.to_path_buf(),
            source,
        })
    }

    fn link(&mut self, target: &Path, path: &Path) -> Result<(), SetupError> {
        let _ = fs::remove_file(path);
        self.created.push(path.to_path_buf());
        symlink(target, path).map_err(|source| SetupError {
            path: path.to_path_buf(),
            source,
        })
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for path in self.created.iter().rev() {
            // Only what this run made: a directory only if it is empty.
            let _ = fs::remove_file(path).or_else(|_| fs::remove_dir(path));
        }
        let _ = fs::remove_file(&self.outside);
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, path: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _path: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
