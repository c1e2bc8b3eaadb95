//! The served directory: which names are servable files, and the one place
//! where a file error becomes a status.
//!
//! Nothing is cached: the directory is looked up by its path at every
//! request, because it may be deleted and re-created while the server runs
//! (the course's suite does that between tests).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

use hftp_proto::{FileName, Status};

/// The directory a server serves, with its rule for hidden names.
#[derive(Debug, Clone)]
pub struct ServedDir {
    path: PathBuf,
    hidden: bool,
    /// The server's effective user and group, for reading mode bits.
    euid: libc::uid_t,
    egid: libc::gid_t,
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
            // SAFETY: geteuid and getegid cannot fail and touch no memory.
            euid: unsafe { libc::geteuid() },
            // SAFETY: as above.
            egid: unsafe { libc::getegid() },
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
    ///
    /// The common case costs one path walk and no allocation: `DIR/NAME` is
    /// opened with `O_NOFOLLOW`, so it succeeds only if NAME itself is not
    /// a link; NAME has no `/`, so what it opens is an entry of the
    /// directory, inside by construction. Only a link (`ELOOP`) takes the
    /// slow path that resolves it and checks where it leads.
    pub fn open(&self, name: &FileName) -> Result<OpenFile, Status> {
        if name.is_hidden() && !self.hidden {
            return Err(Status::FileNotFound);
        }
        let path = Joined(&self.path, name);
        let file = match open_no_follow(&self.path, name) {
            Ok(file) => file,
            Err(error) if error.raw_os_error() == Some(libc::ELOOP) => {
                return self.open_link(name);
            }
            Err(error) => return Err(refusal(&error, &path)),
        };
        // Checks on the open handle, not on the path, so nothing can be
        // swapped between the check and the read.
        let metadata = file.metadata().map_err(|error| refusal(&error, &path))?;
        if !metadata.is_file() {
            return Err(Status::FileNotFound);
        }
        Ok(OpenFile {
            file,
            len: metadata.len(),
        })
    }

    /// The size of `name` if it is servable: what [`open`](ServedDir::open)
    /// would say, for `get_metadata`.
    ///
    /// The common case is one `stat` of `DIR/NAME` without following a
    /// link: a regular file whose mode bits show it readable by this
    /// process needs no open and close (half the path walks and two of
    /// three system calls). Whatever the bits do not settle — a link, a
    /// file readable only through a supplementary group or an ACL, an
    /// error — goes to `open`, which decides. An ACL that *denies* what
    /// the bits allow is not seen here; `get_slice`, which opens, still
    /// refuses such a file with 202.
    pub fn size(&self, name: &FileName) -> Result<u64, Status> {
        if name.is_hidden() && !self.hidden {
            return Err(Status::FileNotFound);
        }
        match with_path(&self.path, name, |path| {
            let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: `path` is NUL-terminated and `stat` is a valid place
            // for the kernel to fill; it is read only on success.
            let done = unsafe {
                libc::fstatat(
                    libc::AT_FDCWD,
                    path,
                    stat.as_mut_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            if done == 0 {
                // SAFETY: fstatat succeeded, so it filled `stat`.
                Ok(unsafe { stat.assume_init() })
            } else {
                Err(io::Error::last_os_error())
            }
        }) {
            Ok(stat) if is_regular(&stat) && self.mode_allows_reading(&stat) => {
                u64::try_from(stat.st_size).map_err(|_| Status::InternalServerError)
            }
            Ok(stat) if !is_regular(&stat) && !is_link(&stat) => Err(Status::FileNotFound),
            _ => self.open(name).map(|file| file.len),
        }
    }

    /// Whether `stat`'s mode bits alone show this process may read the
    /// file. `false` means "not settled", not "unreadable".
    fn mode_allows_reading(&self, stat: &libc::stat) -> bool {
        let mode = stat.st_mode;
        if self.euid == 0 {
            // Root reads any regular file as far as permissions go.
            return true;
        }
        if stat.st_uid == self.euid {
            return mode & libc::S_IRUSR != 0;
        }
        if stat.st_gid == self.egid {
            return mode & libc::S_IRGRP != 0;
        }
        // Not the owner; in the group or not, both classes allow it.
        mode & libc::S_IRGRP != 0 && mode & libc::S_IROTH != 0
    }

    /// The slow path of [`open`](ServedDir::open), for a name that is a
    /// link: follows it, then checks on the open handle that it is a
    /// regular file inside the directory (the kernel's own answer for the
    /// handle, so a link swapped after the open changes nothing).
    fn open_link(&self, name: &FileName) -> Result<OpenFile, Status> {
        let path = self.path.join(name.as_str());
        let root =
            fs::canonicalize(&self.path).map_err(|error| refusal(&error, &self.path.display()))?;
        // Nothing outside the directory, and nothing but a regular file, is
        // even opened: opening a device or a FIFO can have effects of its
        // own. The checks on the handle below still decide, as the link
        // may change in between.
        if !link_is_servable(&path, &root) {
            return Err(Status::FileNotFound);
        }
        // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        // It changes nothing for the regular files that are then read.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|error| refusal(&error, &path.display()))?;
        let metadata = file
            .metadata()
            .map_err(|error| refusal(&error, &path.display()))?;
        if !metadata.is_file() {
            return Err(Status::FileNotFound);
        }
        let real = real_path_of(&file, &path).map_err(|error| refusal(&error, &path.display()))?;
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
        let entries =
            fs::read_dir(&self.path).map_err(|error| refusal(&error, &self.path.display()))?;
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
                                .map_err(|error| refusal(&error, &self.path.display()))?,
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
/// mapping of `hftp_proto`, with the server's own failures logged. `path`
/// is only formatted when the log shows it.
fn refusal(error: &io::Error, path: &dyn fmt::Display) -> Status {
    let status = Status::for_io_error(error);
    if status == Status::FileNotFound {
        log::debug!("{path}: {error}");
    } else {
        log::error!("{path}: {error}");
    }
    status
}

/// `DIR/NAME` for the log, without building the path.
struct Joined<'a>(&'a Path, &'a FileName);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.display(), self.1.as_str())
    }
}

/// Longest path `open_no_follow` builds on the stack, NUL included: Linux's
/// `PATH_MAX`, beyond which the kernel refuses a path anyway.
const STACK_PATH_MAX: usize = 4096;

/// Calls `f` with `dir/name` as a NUL-terminated path built on the stack:
/// no allocation on the hot path.
fn with_path<T>(
    dir: &Path,
    name: &FileName,
    f: impl FnOnce(*const libc::c_char) -> io::Result<T>,
) -> io::Result<T> {
    let dir = dir.as_os_str().as_bytes();
    let name = name.as_bytes();
    // `Path::join` adds no separator to an empty path.
    let separator = usize::from(!dir.is_empty());
    let len = dir.len() + separator + name.len();
    if len >= STACK_PATH_MAX {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    if dir.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the directory's path contains a NUL byte",
        ));
    }
    let mut buf = [0u8; STACK_PATH_MAX];
    buf[..dir.len()].copy_from_slice(dir);
    if separator == 1 {
        buf[dir.len()] = b'/';
    }
    buf[dir.len() + separator..len].copy_from_slice(name);
    // `buf[len]` is the terminating NUL; `name` has none (file-name bytes
    // only) and `dir` was checked.
    f(buf.as_ptr().cast())
}

/// Opens `dir/name` for reading with `O_NOFOLLOW` (fails with `ELOOP` when
/// `name` is a link), `O_NONBLOCK` (a FIFO must not wait for a writer; it
/// changes nothing for regular files) and `O_CLOEXEC`.
fn open_no_follow(dir: &Path, name: &FileName) -> io::Result<File> {
    with_path(dir, name, |path| {
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: `path` is NUL-terminated and outlives the call.
        let fd = unsafe { libc::open(path, flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(unsafe { File::from_raw_fd(fd) })
    })
}

fn is_regular(stat: &libc::stat) -> bool {
    stat.st_mode & libc::S_IFMT == libc::S_IFREG
}

fn is_link(stat: &libc::stat) -> bool {
    stat.st_mode & libc::S_IFMT == libc::S_IFLNK
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
        // Opening a socket fails with ENXIO: still 202, not 199.
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock"))?;
        std::os::unix::fs::symlink("sock", dir.path().join("tosock"))?;

        let served = ServedDir::new(dir.path(), false);
        let mut listed = served
            .listing()
            .map_err(|s| io::Error::other(s.to_string()))?;
        listed.sort();
        assert_eq!(listed, [name("inner"), name("plain")]);
        assert_eq!(served.open(&name("plain")).map(|f| f.len).ok(), Some(3));
        assert_eq!(served.open(&name("inner")).map(|f| f.len).ok(), Some(3));
        for refused in [
            "outer", "sub", "subdir", "dangling", ".dot", "..", ".", "absent", "sock", "tosock",
        ] {
            assert_eq!(
                served.open(&name(refused)).err(),
                Some(Status::FileNotFound),
                "{refused}"
            );
        }

        // `size` (for get_metadata) agrees with `open` on every name.
        for text in [
            "plain", "inner", "outer", "sub", "subdir", "dangling", ".dot", "..", ".", "absent",
            "sock", "tosock",
        ] {
            assert_eq!(
                served.size(&name(text)),
                served.open(&name(text)).map(|f| f.len),
                "{text}"
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
    fn a_directory_reached_through_a_link_serves_its_files_and_inner_links() -> io::Result<()> {
        let parent = tempfile::tempdir()?;
        let real = parent.path().join("real");
        fs::create_dir(&real)?;
        fs::write(real.join("plain"), "abc")?;
        fs::write(parent.path().join("secret"), "s")?;
        std::os::unix::fs::symlink("plain", real.join("inner"))?;
        std::os::unix::fs::symlink("../secret", real.join("outer"))?;
        std::os::unix::fs::symlink(&real, parent.path().join("link"))?;

        let served = ServedDir::new(parent.path().join("link"), false);
        assert_eq!(served.open(&name("plain")).map(|f| f.len).ok(), Some(3));
        assert_eq!(served.open(&name("inner")).map(|f| f.len).ok(), Some(3));
        assert_eq!(
            served.open(&name("outer")).err(),
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

    #[test]
    fn mode_bits_settle_reading_only_when_they_can() {
        let as_user = ServedDir {
            euid: 1000,
            egid: 100,
            ..ServedDir::new("/nonexistent", false)
        };
        let as_root = ServedDir {
            euid: 0,
            egid: 0,
            ..ServedDir::new("/nonexistent", false)
        };
        // SAFETY: all-zero bytes are a valid `libc::stat` (plain integers).
        let stat = |mode: libc::mode_t, uid: libc::uid_t, gid: libc::gid_t| {
            let mut stat: libc::stat = unsafe { std::mem::zeroed() };
            stat.st_mode = libc::S_IFREG | mode;
            stat.st_uid = uid;
            stat.st_gid = gid;
            stat
        };
        let table = [
            // (mode, owner, group, settled readable for uid 1000 / gid 100)
            (0o644, 0, 0, true),
            (0o640, 0, 0, false),
            (0o604, 0, 0, false),
            (0o400, 1000, 0, true),
            (0o044, 1000, 0, false),
            (0o040, 0, 100, true),
            (0o604, 0, 100, false),
            (0o000, 0, 0, false),
        ];
        for (mode, uid, gid, readable) in table {
            let stat = stat(mode, uid, gid);
            assert_eq!(
                as_user.mode_allows_reading(&stat),
                readable,
                "{mode:o} {uid} {gid}"
            );
            assert!(as_root.mode_allows_reading(&stat), "{mode:o} as root");
        }
    }
}
