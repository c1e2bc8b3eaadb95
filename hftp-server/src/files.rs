//! The served directory: which names are servable files, and the one place
//! where a file error becomes a status.
//!
//! Nothing is cached: the directory is looked up by its path at every
//! request, because it may be deleted and re-created while the server runs
//! (the course's suite does that between tests).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use hftp_proto::{FileName, Status};

/// The directory a server serves, with its rule for hidden names.
#[derive(Debug, Clone)]
pub struct ServedDir {
    path: PathBuf,
    hidden: bool,
}

/// A servable file, open for positioned reads, and its size when opened.
#[derive(Debug)]
pub struct OpenFile {
    /// The open handle; read it with `FileExt::read_at`.
    pub file: File,
    /// Its size in bytes, from `fstat` on the handle.
    pub len: u64,
}

impl ServedDir {
    /// Serves the directory at `path` (looked up again at each request);
    /// `hidden` serves and lists dot-files too.
    pub fn new(path: impl Into<PathBuf>, hidden: bool) -> ServedDir {
        ServedDir {
            path: path.into(),
            hidden,
        }
    }

    /// The directory's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `name` if it is servable: not hidden (unless serving hidden
    /// files), a regular file once opened, and, for a link, resolving to a
    /// place inside the served directory. Anything else is the status to
    /// answer: 202, or 199 for a failure of the server's own.
    pub fn open(&self, name: &FileName) -> Result<OpenFile, Status> {
        if name.is_hidden() && !self.hidden {
            return Err(Status::FileNotFound);
        }
        let path = self.path.join(name.as_str());
        // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        // It changes nothing for the regular files that are then read.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|error| refusal(&error, &path))?;
        // Checks on the open handle, not on the path, so nothing can be
        // swapped between the check and the read.
        let metadata = file.metadata().map_err(|error| refusal(&error, &path))?;
        if !metadata.is_file() {
            return Err(Status::FileNotFound);
        }
        let real = real_path_of(&file, &path).map_err(|error| refusal(&error, &path))?;
        let root = fs::canonicalize(&self.path).map_err(|error| refusal(&error, &self.path))?;
        if !real.starts_with(&root) {
            log::debug!(
                "{} leads to {}, outside {}",
                path.display(),
                real.display(),
                root.display()
            );
            return Err(Status::FileNotFound);
        }
        Ok(OpenFile {
            file,
            len: metadata.len(),
        })
    }

    /// The names to list: regular files directly in the directory and links
    /// resolving to regular files inside it, whose names a client can ask
    /// for, hidden ones only when serving hidden files. Unsorted
    /// (`encode_listing` sorts).
    pub fn listing(&self) -> Result<Vec<FileName>, Status> {
        let entries = fs::read_dir(&self.path).map_err(|error| refusal(&error, &self.path))?;
        let mut root = None;
        let mut names = Vec::new();
        for entry in entries {
            // An entry that vanishes or fails while we look is not listed.
            let Ok(entry) = entry else { continue };
            let Ok(name) = FileName::from_bytes(entry.file_name().as_bytes()) else {
                continue;
            };
            if name.is_hidden() && !self.hidden {
                continue;
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let listed = file_type.is_file()
                || (file_type.is_symlink() && {
                    if root.is_none() {
                        root = Some(
                            fs::canonicalize(&self.path)
                                .map_err(|error| refusal(&error, &self.path))?,
                        );
                    }
                    root.as_deref()
                        .is_some_and(|root| link_is_servable(&entry.path(), root))
                });
            if listed {
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// Whether the link at `path` resolves to a regular file inside `root`.
fn link_is_servable(path: &Path, root: &Path) -> bool {
    fs::canonicalize(path)
        .is_ok_and(|real| real.starts_with(root) && fs::metadata(&real).is_ok_and(|m| m.is_file()))
}

/// Where the open `file` really is: the kernel's own answer for the handle,
/// so a link swapped after the open changes nothing.
fn real_path_of(file: &File, path: &Path) -> io::Result<PathBuf> {
    match fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(real) => Ok(real),
        // No /proc (a chroot, a container without it): resolve the path.
        Err(_) => fs::canonicalize(path),
    }
}

/// The status for a failure to reach a file or the directory: the one
/// mapping of `hftp_proto`, with the server's own failures logged.
fn refusal(error: &io::Error, path: &Path) -> Status {
    let status = Status::for_io_error(error);
    if status == Status::FileNotFound {
        log::debug!("{}: {error}", path.display());
    } else {
        log::error!("{}: {error}", path.display());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> FileName {
        FileName::new(text).expect("a valid name")
    }

    #[test]
    fn serves_regular_files_and_links_inside_only() -> io::Result<()> {
        let outside = tempfile::tempdir()?;
        let dir = tempfile::tempdir()?;
        fs::write(outside.path().join("secret"), "s")?;
        fs::write(dir.path().join("plain"), "abc")?;
        fs::write(dir.path().join(".dot"), "d")?;
        fs::create_dir(dir.path().join("sub"))?;
        std::os::unix::fs::symlink("plain", dir.path().join("inner"))?;
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("outer"))?;
        std::os::unix::fs::symlink("sub", dir.path().join("subdir"))?;
        std::os::unix::fs::symlink("nowhere", dir.path().join("dangling"))?;
        fs::write(dir.path().join("bad name"), "x")?;

        let served = ServedDir::new(dir.path(), false);
        let mut listed = served
            .listing()
            .map_err(|s| io::Error::other(s.to_string()))?;
        listed.sort();
        assert_eq!(listed, [name("inner"), name("plain")]);
        assert_eq!(served.open(&name("plain")).map(|f| f.len).ok(), Some(3));
        assert_eq!(served.open(&name("inner")).map(|f| f.len).ok(), Some(3));
        for refused in [
            "outer", "sub", "subdir", "dangling", ".dot", "..", ".", "absent",
        ] {
            assert_eq!(
                served.open(&name(refused)).err(),
                Some(Status::FileNotFound),
                "{refused}"
            );
        }

        let with_hidden = ServedDir::new(dir.path(), true);
        let mut listed = with_hidden
            .listing()
            .map_err(|s| io::Error::other(s.to_string()))?;
        listed.sort();
        assert_eq!(listed, [name(".dot"), name("inner"), name("plain")]);
        assert_eq!(with_hidden.open(&name(".dot")).map(|f| f.len).ok(), Some(1));
        assert_eq!(
            with_hidden.open(&name("..")).err(),
            Some(Status::FileNotFound)
        );
        Ok(())
    }

    #[test]
    fn a_missing_directory_is_file_not_found() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let served = ServedDir::new(dir.path().join("gone"), false);
        assert_eq!(served.listing().err(), Some(Status::FileNotFound));
        assert_eq!(served.open(&name("a")).err(), Some(Status::FileNotFound));
        Ok(())
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes())?;
        // SAFETY: `c_path` is a valid NUL-terminated path.
        let made = unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) };
        assert_eq!(made, 0, "{}", io::Error::last_os_error());
        let served = ServedDir::new(dir.path(), false);
        assert_eq!(served.open(&name("fifo")).err(), Some(Status::FileNotFound));
        assert_eq!(served.listing().ok(), Some(Vec::new()));
        Ok(())
    }
}
