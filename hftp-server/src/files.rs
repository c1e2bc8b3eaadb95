//! The served directory: the facts the system gives about a name (what
//! kind of entry, where a link leads, whether it opens) for the session's
//! [`servability`](hftp_proto::servability) to decide on, and the listing.
//!
//! The directory is looked up by its path at every request, because it may
//! be deleted and re-created while the server runs (the course's suite
//! does that between tests); only a listing is reused, while the
//! directory's state shows it unchanged.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hftp_proto::{Entry, FileName, Listing, ListingBuilder};

/// The directory a server serves, with its rule for hidden names and the
/// last listing it made.
#[derive(Debug)]
pub struct ServedDir {
    path: PathBuf,
    show_hidden: bool,
    /// The server's effective user and group, for reading mode bits.
    euid: libc::uid_t,
    egid: libc::gid_t,
    listing: Mutex<Option<Snapshot>>,
    /// Names already warned about as present but not served: an operator
    /// hears of each once, not at every listing.
    warned: Mutex<HashSet<Box<[u8]>>>,
    /// The directory was found gone; it is said once, and again when it is
    /// back.
    vanished: AtomicBool,
}

/// Unservable names remembered for their one warning; past this many the
/// rest are not reported, so a directory of a million bad names costs a
/// bounded set.
const MAX_WARNED: usize = 1000;

/// A listing and the state of the directory it was made from.
#[derive(Debug)]
struct Snapshot {
    state: DirState,
    listing: Listing,
}

/// What changes whenever an entry of a directory is added, removed or
/// renamed (or the directory is replaced by another at the same path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirState {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// How long after a directory's last change its listing may be reused. A
/// file system stamps times from a coarse clock (a few milliseconds on
/// Linux), so an entry added within the same tick as a listing leaves the
/// stamp unchanged; a listing made this long after the stamp cannot have
/// missed such an entry.
const SETTLED: Duration = Duration::from_secs(1);

impl ServedDir {
    /// Serves the directory at `path` (looked up again at each request);
    /// `show_hidden` serves and lists dot-files too.
    pub fn new(path: impl Into<PathBuf>, show_hidden: bool) -> ServedDir {
        ServedDir {
            path: path.into(),
            show_hidden,
            // SAFETY: geteuid and getegid cannot fail and touch no memory.
            euid: unsafe { libc::geteuid() },
            // SAFETY: as above.
            egid: unsafe { libc::getegid() },
            listing: Mutex::new(None),
            warned: Mutex::new(HashSet::new()),
            vanished: AtomicBool::new(false),
        }
    }

    /// Warns, once per name, that `name` is in the directory but not
    /// served, and why.
    fn warn_unservable(&self, name: &[u8], why: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.len() > MAX_WARNED || warned.contains(name) {
            return;
        }
        if warned.len() == MAX_WARNED {
            log::warn!("more files are not served; they are not reported");
        } else {
            log::warn!(
                "{}/{}: present but not served: {why}",
                self.path.display(),
                name.escape_ascii()
            );
        }
        warned.insert(name.into());
    }

    /// Notes what a failed look-up says of the directory itself: a
    /// not-found may mean the whole directory is gone, which an operator
    /// must hear of, unlike a client asking for a name that is not there.
    fn note_failure<T>(&self, result: &io::Result<T>) {
        if let Err(error) = result
            && error.kind() == io::ErrorKind::NotFound
            && !self.path.is_dir()
        {
            if !self.vanished.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "the served directory {} is gone: requests get 202 until it is re-created",
                    self.path.display()
                );
            }
            return;
        }
        if self.vanished.load(Ordering::Relaxed)
            && self.path.is_dir()
            && self.vanished.swap(false, Ordering::Relaxed)
        {
            log::info!("the served directory {} is back", self.path.display());
        }
    }

    /// The directory's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `name` for a slice: what is there (for
    /// [`servability`](hftp_proto::servability)) and, for a readable
    /// regular file, the open handle. Hidden names are the session's
    /// business and never reach here.
    ///
    /// Only a regular file is ever opened (opening a FIFO or a device has
    /// effects of its own): `DIR/NAME` is looked at without following a
    /// link first, then opened with `O_NOFOLLOW`, and the handle checked
    /// again, so nothing swapped in between is read. NAME has no `/`, so
    /// what it names is an entry of the directory, inside by construction;
    /// only a link takes the slow path that checks where it leads.
    pub fn open(&self, name: &FileName) -> io::Result<(Entry, Option<File>)> {
        let opened = self.open_entry(name);
        self.note_failure(&opened);
        opened
    }

    fn open_entry(&self, name: &FileName) -> io::Result<(Entry, Option<File>)> {
        let stat = stat_no_follow(&self.path, name)?;
        if is_link(&stat) {
            return self.open_link(name);
        }
        if !is_regular(&stat) {
            return Ok((Entry::NotAFile, None));
        }
        match open_no_follow(&self.path, name) {
            Ok(file) => file_entry(file),
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                Ok((unreadable(&stat), None))
            }
            // Replaced by a link since the stat.
            Err(error) if error.raw_os_error() == Some(libc::ELOOP) => self.open_link(name),
            Err(error) => Err(error),
        }
    }

    /// What is there by `name`, for `get_metadata`: what
    /// [`open`](ServedDir::open) would find, without the handle.
    ///
    /// The common case is one `stat` of `DIR/NAME` without following a
    /// link: a regular file whose mode bits show it readable by this
    /// process needs no open and close. Whatever the bits do not settle (a
    /// link, a file readable only through a supplementary group or an ACL)
    /// goes through `open`, which decides. An ACL that *denies* what the
    /// bits allow is not seen here; `get_slice`, which opens, still refuses
    /// such a file.
    pub fn lookup(&self, name: &FileName) -> io::Result<Entry> {
        self.lookup_settled(name).0
    }

    /// [`lookup`](ServedDir::lookup), and whether one `stat` settled the
    /// answer: a regular file, not a link, whose mode bits let this
    /// process read it. Only a change to that inode, or to the directory's
    /// entry for it, can change such an answer (see
    /// [`MetadataCache`](crate::metadata_cache::MetadataCache)).
    pub(crate) fn lookup_settled(&self, name: &FileName) -> (io::Result<Entry>, bool) {
        let found = self.look_up(name);
        self.note_failure(&found.0);
        found
    }

    fn look_up(&self, name: &FileName) -> (io::Result<Entry>, bool) {
        let stat = match stat_no_follow(&self.path, name) {
            Ok(stat) => stat,
            Err(error) => return (Err(error), false),
        };
        if is_regular(&stat) && self.mode_allows_reading(&stat) {
            let entry = Entry::File {
                size: u64::try_from(stat.st_size).unwrap_or(0),
                mode: stat.st_mode & 0o7777,
                readable: true,
            };
            return (Ok(entry), true);
        }
        if !is_regular(&stat) && !is_link(&stat) {
            return (Ok(Entry::NotAFile), false);
        }
        (self.open_entry(name).map(|(entry, _)| entry), false)
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
    fn open_link(&self, name: &FileName) -> io::Result<(Entry, Option<File>)> {
        let path = self.path.join(name.as_str());
        let root = fs::canonicalize(&self.path)?;
        // Nothing outside the directory, and nothing but a regular file, is
        // even opened. The checks on the handle below still decide, as the
        // link may change in between.
        if !link_is_servable(&path, &root) {
            self.warn_unservable(
                name.as_str().as_bytes(),
                "a link that leaves the directory or leads nowhere",
            );
            return Ok((Entry::NotAFile, None));
        }
        // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                let metadata = fs::metadata(&path)?;
                return Ok((
                    Entry::File {
                        size: metadata.len(),
                        mode: metadata.permissions().mode() & 0o7777,
                        readable: false,
                    },
                    None,
                ));
            }
            Err(error) => return Err(error),
        };
        let real = real_path_of(&file, &path)?;
        if !real.starts_with(&root) {
            self.warn_unservable(
                name.as_str().as_bytes(),
                &format!("it leads to {}, outside {}", real.display(), root.display()),
            );
            return Ok((Entry::NotAFile, None));
        }
        file_entry(file)
    }

    /// The listing of the directory: regular files directly in it and
    /// links resolving to regular files inside it, as
    /// [`ListingBuilder`] keeps them.
    ///
    /// One listing serves every request while the directory is unchanged:
    /// clients listing a large directory at once share one body instead of
    /// each building its own.
    pub fn listing(&self) -> io::Result<Listing> {
        let listing = self.list();
        self.note_failure(&listing);
        listing
    }

    fn list(&self) -> io::Result<Listing> {
        let state = dir_state(&self.path)?;
        let mut cached = self.listing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(snapshot) = cached.as_ref().filter(|s| s.state == state) {
            return Ok(snapshot.listing.clone());
        }
        // Not held while the directory is read: another thread may list too.
        drop(cached);
        let listing = self.read_listing()?;
        if state.is_settled() {
            cached = self.listing.lock().unwrap_or_else(PoisonError::into_inner);
            *cached = Some(Snapshot {
                state,
                listing: listing.clone(),
            });
        }
        Ok(listing)
    }

    fn read_listing(&self) -> io::Result<Listing> {
        let mut root = None;
        let mut builder = ListingBuilder::new(self.show_hidden);
        for entry in fs::read_dir(&self.path)? {
            // An entry that vanishes or fails while we look is not listed.
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let name = name.as_bytes();
            if !builder.wants(name) {
                if name.starts_with(b".") && !self.show_hidden {
                    log::trace!("{}: hidden, not listed", name.escape_ascii());
                } else {
                    self.warn_unservable(
                        name,
                        "its name has characters no request can carry (only A-Z a-z 0-9 . _ -)",
                    );
                }
                continue;
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let listed = file_type.is_file()
                || (file_type.is_symlink() && {
                    if root.is_none() {
                        root = Some(fs::canonicalize(&self.path)?);
                    }
                    let servable = root
                        .as_deref()
                        .is_some_and(|root| link_is_servable(&entry.path(), root));
                    if !servable {
                        self.warn_unservable(
                            name,
                            "a link that leaves the directory or leads nowhere",
                        );
                    }
                    servable
                });
            if listed {
                builder.push(name);
            }
        }
        Ok(builder.finish())
    }
}

impl DirState {
    /// Whether the last change is older than [`SETTLED`], so a listing
    /// made now shows every entry the state stands for.
    fn is_settled(&self) -> bool {
        let (secs, nanos) = self.mtime;
        let changed = u64::try_from(secs)
            .ok()
            .map(|secs| UNIX_EPOCH + Duration::new(secs, u32::try_from(nanos).unwrap_or(0)));
        changed.is_some_and(|changed| {
            SystemTime::now()
                .duration_since(changed)
                .is_ok_and(|age| age >= SETTLED)
        })
    }
}

fn dir_state(path: &Path) -> io::Result<DirState> {
    let metadata = fs::metadata(path)?;
    Ok(DirState {
        dev: metadata.dev(),
        ino: metadata.ino(),
        mtime: (metadata.mtime(), metadata.mtime_nsec()),
        ctime: (metadata.ctime(), metadata.ctime_nsec()),
    })
}

/// The entry of an open handle: a regular file, or not (checked on the
/// handle, so a file swapped after the path was looked at changes
/// nothing).
fn file_entry(file: File) -> io::Result<(Entry, Option<File>)> {
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Ok((Entry::NotAFile, None));
    }
    let entry = Entry::File {
        size: metadata.len(),
        mode: metadata.permissions().mode() & 0o7777,
        readable: true,
    };
    Ok((entry, Some(file)))
}

/// A regular file the system refused to open for this server.
fn unreadable(stat: &libc::stat) -> Entry {
    Entry::File {
        size: u64::try_from(stat.st_size).unwrap_or(0),
        mode: stat.st_mode & 0o7777,
        readable: false,
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
    // Not zeroed: the kernel reads no further than the NUL, and every
    // byte up to it is written here (zeroing all 4 KiB cost more
    // instructions than the rest of a `get_metadata`).
    let mut buf = [MaybeUninit::<u8>::uninit(); STACK_PATH_MAX];
    let mut at = 0;
    for part in [dir, &b"/"[..separator], name, b"\0"] {
        for (slot, &byte) in buf[at..].iter_mut().zip(part) {
            slot.write(byte);
        }
        at += part.len();
    }
    // The NUL ends the path: `name` has none (file-name bytes only) and
    // `dir` was checked.
    f(buf.as_ptr().cast())
}

/// `stat` of `dir/name`, not following a link.
fn stat_no_follow(dir: &Path, name: &FileName) -> io::Result<libc::stat> {
    with_path(dir, name, |path| {
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `path` is NUL-terminated and `stat` is a valid place for
        // the kernel to fill; it is read only on success.
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
    })
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
    use hftp_proto::{Status, servability};

    use super::*;

    fn name(text: &str) -> FileName {
        FileName::new(text).expect("a valid name")
    }

    /// What a slice of `text` gets: its size, or the refusal.
    fn opened(served: &ServedDir, text: &str) -> Result<u64, Status> {
        servability(&served.open(&name(text)).map(|(entry, _)| entry))
    }

    /// What `get_metadata` of `text` gets.
    fn looked_up(served: &ServedDir, text: &str) -> Result<u64, Status> {
        servability(&served.lookup(&name(text)))
    }

    fn listed(served: &ServedDir) -> Vec<u8> {
        served
            .listing()
            .map(|l| l.body().to_vec())
            .unwrap_or_default()
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
        assert_eq!(listed(&served), b"inner\r\nplain\r\n\r\n");
        assert_eq!(opened(&served, "plain"), Ok(3));
        assert_eq!(opened(&served, "inner"), Ok(3));
        // Hidden names are the session's to refuse; here `.dot` is a file.
        for refused in [
            "outer", "sub", "subdir", "dangling", "..", ".", "absent", "sock", "tosock",
        ] {
            assert_eq!(
                opened(&served, refused),
                Err(Status::FileNotFound),
                "{refused}"
            );
        }

        // `lookup` (for get_metadata) agrees with `open` on every name.
        for text in [
            "plain", "inner", "outer", "sub", "subdir", "dangling", ".dot", "..", ".", "absent",
            "sock", "tosock",
        ] {
            assert_eq!(looked_up(&served, text), opened(&served, text), "{text}");
        }

        let with_hidden = ServedDir::new(dir.path(), true);
        assert_eq!(listed(&with_hidden), b".dot\r\ninner\r\nplain\r\n\r\n");
        assert_eq!(opened(&with_hidden, ".dot"), Ok(1));
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
        assert_eq!(opened(&served, "plain"), Ok(3));
        assert_eq!(opened(&served, "inner"), Ok(3));
        assert_eq!(opened(&served, "outer"), Err(Status::FileNotFound));
        Ok(())
    }

    #[test]
    fn a_missing_directory_is_file_not_found() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let served = ServedDir::new(dir.path().join("gone"), false);
        let listing = served.listing().map(|_| ());
        assert_eq!(
            listing.map_err(|e| Status::for_io_error(&e)),
            Err(Status::FileNotFound)
        );
        assert_eq!(opened(&served, "a"), Err(Status::FileNotFound));
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
        assert_eq!(opened(&served, "fifo"), Err(Status::FileNotFound));
        assert_eq!(looked_up(&served, "fifo"), Err(Status::FileNotFound));
        assert_eq!(listed(&served), b"\r\n");
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
        let stat = |mode: libc::mode_t, uid: libc::uid_t, gid: libc::gid_t| {
            // SAFETY: all-zero bytes are a valid `libc::stat` (plain
            // integers).
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

    #[test]
    fn a_listing_is_shared_while_the_directory_is_unchanged() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join("a"), "a")?;
        // Changed long enough ago for a listing of it to be kept.
        let past = SystemTime::now() - Duration::from_secs(60);
        File::open(dir.path())?.set_modified(past)?;
        let served = ServedDir::new(dir.path(), false);
        let first = served.listing()?;
        let second = served.listing()?;
        assert_eq!(first.body(), b"a\r\n\r\n");
        assert_eq!(
            first.body().as_ptr(),
            second.body().as_ptr(),
            "one shared body"
        );

        fs::write(dir.path().join("b"), "b")?;
        assert_eq!(served.listing()?.body(), b"a\r\nb\r\n\r\n");
        // Changed just now: listed afresh each time until it settles.
        let third = served.listing()?;
        let fourth = served.listing()?;
        assert_ne!(third.body().as_ptr(), fourth.body().as_ptr());
        Ok(())
    }
}
