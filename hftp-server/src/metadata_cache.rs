//! An event loop's memory of `get_metadata` answers, kept exact by inotify.
//!
//! One `stat` costs more than all the rest of a `get_metadata` (it halved
//! the throughput at depth 16 in `cargo xtask bench --only requests`). An
//! answer that one `stat` settles — a regular file, not a link, whose mode
//! bits let this process read it — changes only when that inode changes,
//! or the directory's entry for it, or a directory on the way to it, or a
//! mount; and Linux queues an inotify event (a poll event for a mount)
//! before the call making such a change returns. So before the first
//! look-up after each socket read, the cache asks its epoll set, without
//! waiting, whether anything happened, and forgets what it did: a change
//! finished before a client sent its request is seen before the request is
//! answered, as if every request made its own `stat`.
//!
//! It stays off where that does not hold, or costs too much:
//! - a file system another machine or layer may change behind the kernel's
//!   back: only ext2/3/4, XFS, Btrfs, tmpfs and F2FS are trusted, so NFS,
//!   SMB, FUSE, 9p, overlayfs and the like always get a `stat`;
//! - a path with a symbolic link or `..` on it;
//! - the thread pool, whose every worker would need an inotify instance
//!   (a user has 128);
//! - `--no-metadata-cache`.
//!
//! It holds no protocol rule: it only saves `stat`s, and the session
//! decides on what it returns as on what [`ServedDir::lookup`] returns.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hftp_proto::{Entry, FileName};
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::files::ServedDir;

/// Names remembered at most, and names seen once at most; past either the
/// cache starts again, so it costs a bounded number of watches and bytes.
const CAPACITY: usize = 4096;

/// After failed attempts to watch again, at most this many checks pass
/// before the next attempt: each failure doubles the wait from one check,
/// so a directory gone for a moment is soon watched again, and one gone
/// for long costs no attempt per read.
const MOST_CHECKS_BETWEEN_ATTEMPTS: u32 = 1024;

/// What a watched file's inode reports: any change to its size or mode,
/// through any of its names. `MASK_ADD`: a second name of the same inode
/// must not change what the first asked for.
const FILE_EVENTS: WatchMask = WatchMask::MODIFY
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DONT_FOLLOW)
    .union(WatchMask::MASK_ADD);

/// What the served directory reports: its entries added, removed, renamed
/// or changed, and itself changed, moved or removed.
const DIR_EVENTS: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR)
    .union(WatchMask::DONT_FOLLOW);

/// A directory on the way to the served one reports the same; only what
/// concerns the next directory on the way (or itself) matters.
const ANCESTOR_EVENTS: WatchMask = DIR_EVENTS;

const INOTIFY: Token = Token(0);
const MOUNTS: Token = Token(1);

/// `statfs` types of the local file systems whose every change goes
/// through this kernel (`linux/magic.h`; the `libc` crate has only XFS's).
const LOCAL_FILE_SYSTEMS: [u32; 5] = [
    0xEF53,      // ext2, ext3, ext4
    0x5846_5342, // XFS
    0x9123_683E, // Btrfs
    0x0102_1994, // tmpfs
    0xF2F5_2010, // F2FS
];

/// The look-ups of one event loop (or none: [`MetadataCache::off`]).
#[derive(Debug)]
pub(crate) struct MetadataCache {
    live: Option<Live>,
}

#[derive(Debug)]
struct Live {
    /// The served directory, as given but for `.` components.
    dir: PathBuf,
    /// Each directory on the way to `dir`, from `/` or `.`, and the name
    /// of the next one in it.
    way: Vec<(PathBuf, OsString)>,
    watching: Option<Watching>,
    /// Bytes arrived since the last check.
    unchecked: bool,
    /// Checks left before the next attempt to watch again.
    retry_in: u32,
    /// Attempts that failed in a row.
    failures: u32,
    /// Whether the file system must be a local one; the tests trust
    /// whatever holds their temporary directories (inotify sees the
    /// changes they make there, whatever it is).
    check_file_system: bool,
}

/// The watches, and what they vouch for.
#[derive(Debug)]
struct Watching {
    inotify: Inotify,
    poll: Poll,
    events: Events,
    /// Polled for mounts and unmounts.
    _mounts: File,
    buffer: Vec<u8>,
    /// The served directory's watch.
    dir: i32,
    /// The watches of the directories on the way, and the name of the next
    /// one in each.
    way: HashMap<i32, OsString>,
    /// The watched inodes.
    inodes: HashMap<i32, Inode>,
    known: HashMap<Box<[u8]>, Known>,
    /// Names looked up once: a name is remembered at its second look-up,
    /// so a client going once through many names costs no watches.
    seen: HashSet<Box<[u8]>>,
}

/// What a `stat` said of a name, true while its inode's watch is silent.
#[derive(Debug, Clone, Copy)]
struct Known {
    size: u64,
    mode: u32,
    inode: i32,
}

/// A watched file, and its names remembered.
#[derive(Debug)]
struct Inode {
    watch: WatchDescriptor,
    names: Vec<Box<[u8]>>,
}

/// Why the cache must start again from nothing.
#[derive(Debug)]
struct Reset;

impl MetadataCache {
    /// A cache that never answers: every look-up is a `stat`.
    pub(crate) fn off() -> MetadataCache {
        MetadataCache { live: None }
    }

    /// A cache for `dir`, if it can keep exact there (see the module's
    /// documentation), else [`off`](MetadataCache::off).
    pub(crate) fn for_dir(dir: &Path) -> MetadataCache {
        MetadataCache::watching(dir, true)
    }

    fn watching(dir: &Path, check_file_system: bool) -> MetadataCache {
        let Some((way, watched)) = way_to(dir) else {
            log::debug!("metadata cache off: {} has `..` in it", dir.display());
            return MetadataCache::off();
        };
        let mut live = Live {
            dir: watched,
            way,
            watching: None,
            unchecked: false,
            retry_in: 0,
            failures: 0,
            check_file_system,
        };
        match live.watch() {
            Ok(watching) => live.watching = Some(watching),
            Err(error) => {
                log::debug!("metadata cache off for {}: {error}", dir.display());
                return MetadataCache::off();
            }
        }
        MetadataCache { live: Some(live) }
    }

    /// Notes that a socket read brought bytes: the next look-up checks for
    /// changes first.
    pub(crate) fn note_input(&mut self) {
        if let Some(live) = &mut self.live {
            live.unchecked = true;
        }
    }

    /// [`ServedDir::lookup`] of `name` in `dir` (the directory this cache
    /// was made for), from memory when nothing changed since it was
    /// remembered.
    pub(crate) fn lookup(&mut self, dir: &ServedDir, name: &FileName) -> io::Result<Entry> {
        match &mut self.live {
            Some(live) => live.lookup(dir, name),
            None => dir.lookup(name),
        }
    }

    /// Whether `name` is answered from memory now (for the tests, which
    /// must know the cache is on before they show it forgets).
    #[cfg(test)]
    fn remembers(&self, name: &str) -> bool {
        self.live
            .as_ref()
            .and_then(|live| live.watching.as_ref())
            .is_some_and(|watching| watching.known.contains_key(name.as_bytes()))
    }
}

impl Live {
    fn lookup(&mut self, dir: &ServedDir, name: &FileName) -> io::Result<Entry> {
        if self.unchecked {
            self.unchecked = false;
            self.check();
        }
        let Some(watching) = &mut self.watching else {
            return dir.lookup(name);
        };
        match watching.lookup(&self.dir, dir, name) {
            Ok(found) => found,
            Err(Reset) => {
                self.watching = None;
                dir.lookup(name)
            }
        }
    }

    /// Forgets what changed since the last check; watches again if the
    /// cache had to start again.
    fn check(&mut self) {
        if let Some(watching) = &mut self.watching {
            if watching.check().is_ok() {
                return;
            }
            // Closing the inotify descriptor removes every watch at once.
            self.watching = None;
        }
        if self.retry_in > 0 {
            self.retry_in -= 1;
            return;
        }
        match self.watch() {
            Ok(watching) => {
                self.watching = Some(watching);
                self.failures = 0;
            }
            Err(error) => {
                log::trace!("metadata cache paused: {}: {error}", self.dir.display());
                self.retry_in = 1u32
                    .checked_shl(self.failures)
                    .unwrap_or(u32::MAX)
                    .min(MOST_CHECKS_BETWEEN_ATTEMPTS);
                self.failures = self.failures.saturating_add(1);
            }
        }
    }

    /// Watches the directory, the way to it and the mounts, with nothing
    /// remembered yet.
    fn watch(&self) -> io::Result<Watching> {
        // Mounts first, watches next, the file system's type last: a
        // change between any two of them is reported by what came before.
        let mounts = File::open("/proc/self/mountinfo")?;
        let inotify = Inotify::init()?;
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&mounts.as_raw_fd()),
            MOUNTS,
            Interest::PRIORITY,
        )?;
        poll.registry().register(
            &mut SourceFd(&inotify.as_raw_fd()),
            INOTIFY,
            Interest::READABLE,
        )?;
        let mut watches = inotify.watches();
        let mut way = HashMap::new();
        for (on_the_way, next) in &self.way {
            let watch = watches.add(on_the_way, ANCESTOR_EVENTS)?;
            way.insert(watch.get_watch_descriptor_id(), next.clone());
        }
        let dir = watches
            .add(&self.dir, DIR_EVENTS)?
            .get_watch_descriptor_id();
        if self.check_file_system {
            is_local(&self.dir)?;
        }
        Ok(Watching {
            inotify,
            poll,
            events: Events::with_capacity(2),
            _mounts: mounts,
            buffer: vec![0; 4096],
            dir,
            way,
            inodes: HashMap::new(),
            known: HashMap::new(),
            seen: HashSet::new(),
        })
    }
}

impl Watching {
    /// The answer for `name`: remembered, or looked up (and remembered if
    /// seen before and settled by its `stat`).
    fn lookup(
        &mut self,
        path: &Path,
        dir: &ServedDir,
        name: &FileName,
    ) -> Result<io::Result<Entry>, Reset> {
        let key = name.as_bytes();
        if let Some(known) = self.known.get(key) {
            return Ok(Ok(Entry::File {
                size: known.size,
                mode: known.mode,
                readable: true,
            }));
        }
        if !self.seen.remove(key) {
            if self.seen.len() >= CAPACITY {
                self.seen.clear();
            }
            self.seen.insert(key.into());
            return Ok(dir.lookup(name));
        }
        if self.known.len() >= CAPACITY {
            return Err(Reset);
        }
        // The watch before the `stat`: a change after the watch is
        // reported, so the `stat` cannot miss one.
        let watch = match self
            .inotify
            .watches()
            .add(path.join(name.as_str()), FILE_EVENTS)
        {
            Ok(watch) => watch,
            // Gone, or out of watches: answered as without a cache.
            Err(_) => return Ok(dir.lookup(name)),
        };
        let inode = watch.get_watch_descriptor_id();
        if inode == self.dir || self.way.contains_key(&inode) {
            // A bind mount made a directory of the way appear inside.
            return Err(Reset);
        }
        let (found, settled) = dir.lookup_settled(name);
        match (&found, settled) {
            (Ok(Entry::File { size, mode, .. }), true) => {
                let known = Known {
                    size: *size,
                    mode: *mode,
                    inode,
                };
                self.known.insert(key.into(), known);
                self.inodes
                    .entry(inode)
                    .or_insert_with(|| Inode {
                        watch,
                        names: Vec::new(),
                    })
                    .names
                    .push(key.into());
            }
            _ => {
                if !self.inodes.contains_key(&inode) {
                    // A failure only leaves a watch that reports nothing.
                    let _ = self.inotify.watches().remove(watch);
                }
            }
        }
        Ok(found)
    }

    /// Forgets what the events since the last check concern.
    fn check(&mut self) -> Result<(), Reset> {
        loop {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Reset),
            }
        }
        let mut changed = false;
        for event in &self.events {
            match event.token() {
                MOUNTS => return Err(Reset),
                _ => changed = true,
            }
        }
        if changed {
            self.read_events()?;
        }
        Ok(())
    }

    /// Reads every event queued (the epoll set reports only new ones).
    fn read_events(&mut self) -> Result<(), Reset> {
        let mut buffer = std::mem::take(&mut self.buffer);
        let read = loop {
            let events = match self.inotify.read_events(&mut buffer) {
                Ok(events) => events,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break Err(Reset),
            };
            let mut forget = Vec::new();
            let mut reset = false;
            for event in events {
                match self.concerns(event.wd.get_watch_descriptor_id(), event.mask, event.name) {
                    Concerns::Nothing => {}
                    Concerns::Inode(inode) => forget.push(Forget::Inode(inode)),
                    Concerns::Name(name) => forget.push(Forget::Name(name.as_bytes().into())),
                    Concerns::Everything => reset = true,
                }
            }
            if reset {
                break Err(Reset);
            }
            for what in forget {
                match what {
                    Forget::Inode(inode) => self.forget_inode(inode),
                    Forget::Name(name) => self.forget_name(&name),
                }
            }
        };
        self.buffer = buffer;
        read
    }

    fn concerns<'a>(&self, watch: i32, mask: EventMask, name: Option<&'a OsStr>) -> Concerns<'a> {
        if mask.contains(EventMask::Q_OVERFLOW) {
            return Concerns::Everything;
        }
        if watch == self.dir {
            return name.map_or(Concerns::Everything, Concerns::Name);
        }
        if let Some(next) = self.way.get(&watch) {
            return match name {
                Some(name) if name != next => Concerns::Nothing,
                _ => Concerns::Everything,
            };
        }
        if self.inodes.contains_key(&watch) {
            return Concerns::Inode(watch);
        }
        // A watch removed since (its `IGNORED`, or events queued before).
        Concerns::Nothing
    }

    fn forget_inode(&mut self, inode: i32) {
        if let Some(Inode { watch, names }) = self.inodes.remove(&inode) {
            for name in names {
                self.known.remove(&name);
            }
            // Fails only when the kernel removed it already (the inode is
            // gone), which is just as good.
            let _ = self.inotify.watches().remove(watch);
        }
    }

    fn forget_name(&mut self, name: &[u8]) {
        let Some(known) = self.known.remove(name) else {
            return;
        };
        let unwatched = self.inodes.get_mut(&known.inode).is_some_and(|watched| {
            watched.names.retain(|other| **other != *name);
            watched.names.is_empty()
        });
        if unwatched {
            self.forget_inode(known.inode);
        }
    }
}

/// What an event means for the cache.
enum Concerns<'a> {
    Nothing,
    Inode(i32),
    Name(&'a OsStr),
    Everything,
}

/// What to forget once the events read are gone through.
enum Forget {
    Inode(i32),
    Name(Box<[u8]>),
}

/// Each directory on the way to `dir` and the name of the next one in it,
/// and `dir` itself, without its `.` components (so that each is watched
/// without following a link); `None` for a path with `..` (where a rename
/// far away moves what it names).
fn way_to(dir: &Path) -> Option<(Vec<(PathBuf, OsString)>, PathBuf)> {
    let mut at = PathBuf::new();
    let mut way = Vec::new();
    for component in dir.components() {
        match component {
            Component::RootDir => at.push("/"),
            Component::CurDir => at.push("."),
            Component::Normal(next) => {
                let parent = if at.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    at.clone()
                };
                way.push((parent, next.to_owned()));
                at.push(next);
            }
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    if at.as_os_str().is_empty() {
        at.push(".");
    }
    Some((way, at))
}

/// Whether `dir` is on a file system that only this kernel changes.
fn is_local(dir: &Path) -> io::Result<()> {
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stat` is a valid place for the
    // kernel to fill; it is read only on success.
    if unsafe { libc::statfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs succeeded, so it filled `stat`.
    let kind = unsafe { stat.assume_init() }.f_type;
    // The types are 32-bit magic numbers, whatever the width of `f_type`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let kind = kind as u32;
    if LOCAL_FILE_SYSTEMS.contains(&kind) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("its file system (type {kind:#x}) may change behind this kernel's back"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use proptest::prelude::*;

    use super::*;

    /// A served directory inside a temporary one (so that it can be
    /// replaced, and files can live beside it), its cache, and the answer
    /// a fresh look-up gives.
    struct Fixture {
        root: tempfile::TempDir,
        served: ServedDir,
        cache: MetadataCache,
    }

    impl Fixture {
        fn new() -> Fixture {
            let root = tempfile::tempdir().expect("a temporary directory");
            let dir = root.path().join("served");
            fs::create_dir(&dir).expect("the served directory");
            let served = ServedDir::new(&dir, false);
            let cache = MetadataCache::watching(&dir, false);
            assert!(
                cache.live.is_some(),
                "the cache is on for {}",
                dir.display()
            );
            Fixture {
                root,
                served,
                cache,
            }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.served.path().join(name)
        }

        /// What the cache answers for `name` as the first look-up after a
        /// socket read.
        fn ask(&mut self, name: &str) -> Result<Entry, io::ErrorKind> {
            self.cache.note_input();
            let name = FileName::new(name).expect("a valid name");
            self.cache
                .lookup(&self.served, &name)
                .map_err(|error| error.kind())
        }

        /// What a `stat` answers now.
        fn fresh(&self, name: &str) -> Result<Entry, io::ErrorKind> {
            let name = FileName::new(name).expect("a valid name");
            self.served.lookup(&name).map_err(|error| error.kind())
        }

        /// Writes `name` and asks for it until the cache remembers it: at
        /// the second look-up, or a few more when the cache is to watch
        /// the directory again first.
        fn remembered(&mut self, name: &str, contents: &str) {
            fs::write(self.path(name), contents).expect("a file");
            for _ in 0..8 {
                assert_eq!(self.ask(name), self.fresh(name));
                if self.cache.remembers(name) {
                    return;
                }
            }
            panic!("{name} is not remembered");
        }

        /// The cache's answer for `name` is a fresh look-up's.
        fn answers_afresh(&mut self, name: &str) {
            let fresh = self.fresh(name);
            assert_eq!(self.ask(name), fresh, "{name} after the change");
        }
    }

    #[test]
    fn a_name_is_remembered_at_its_second_look_up() {
        let mut fixture = Fixture::new();
        fs::write(fixture.path("once"), "12345").expect("a file");
        let entry = entry_of(&fixture.path("once"));
        assert!(matches!(entry, Ok(Entry::File { size: 5, .. })));
        assert_eq!(fixture.ask("once"), entry);
        assert!(!fixture.cache.remembers("once"));
        assert_eq!(fixture.ask("once"), entry);
        assert!(fixture.cache.remembers("once"));
        assert_eq!(fixture.ask("once"), entry);
    }

    #[test]
    fn an_append_is_seen_by_the_next_request() {
        let mut fixture = Fixture::new();
        fixture.remembered("log", "one");
        for line in ["two", "three", "four"] {
            let mut file = OpenOptions::new()
                .append(true)
                .open(fixture.path("log"))
                .expect("the file");
            file.write_all(line.as_bytes()).expect("an append");
            fixture.answers_afresh("log");
        }
    }

    #[test]
    fn a_truncation_is_seen() {
        let mut fixture = Fixture::new();
        fixture.remembered("file", "0123456789");
        let file = OpenOptions::new()
            .write(true)
            .open(fixture.path("file"))
            .expect("the file");
        file.set_len(3).expect("a truncation");
        fixture.answers_afresh("file");
    }

    #[test]
    fn a_change_of_mode_is_seen() {
        let mut fixture = Fixture::new();
        fixture.remembered("file", "data");
        for mode in [0o000, 0o600, 0o604] {
            fs::set_permissions(fixture.path("file"), fs::Permissions::from_mode(mode))
                .expect("a chmod");
            fixture.answers_afresh("file");
        }
    }

    #[test]
    fn a_file_renamed_over_the_name_is_seen() {
        let mut fixture = Fixture::new();
        fixture.remembered("file", "old");
        fs::write(fixture.path("new"), "the new one").expect("a file");
        fs::rename(fixture.path("new"), fixture.path("file")).expect("a rename");
        fixture.answers_afresh("file");
        assert_eq!(fixture.ask("new"), Err(io::ErrorKind::NotFound));
    }

    #[test]
    fn a_file_renamed_away_and_one_created_in_its_place_are_seen() {
        let mut fixture = Fixture::new();
        fixture.remembered("file", "old");
        fs::rename(fixture.path("file"), fixture.path("moved")).expect("a rename");
        fixture.answers_afresh("file");
        fs::write(fixture.path("file"), "created again").expect("a file");
        fixture.answers_afresh("file");
    }

    #[test]
    fn a_file_removed_and_created_again_is_seen() {
        let mut fixture = Fixture::new();
        fixture.remembered("file", "old");
        fs::remove_file(fixture.path("file")).expect("a removal");
        assert_eq!(fixture.ask("file"), Err(io::ErrorKind::NotFound));
        fs::write(fixture.path("file"), "created again").expect("a file");
        fixture.answers_afresh("file");
    }

    #[test]
    fn a_write_through_a_link_elsewhere_is_seen() {
        let mut fixture = Fixture::new();
        fixture.remembered("file", "old");
        let elsewhere = fixture.root.path().join("elsewhere");
        fs::hard_link(fixture.path("file"), &elsewhere).expect("a hard link");
        fixture.answers_afresh("file");
        fs::write(&elsewhere, "written through the other name").expect("a write");
        fixture.answers_afresh("file");
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o600)).expect("a chmod");
        fixture.answers_afresh("file");
    }

    #[test]
    fn two_names_of_one_file_are_both_forgotten() {
        let mut fixture = Fixture::new();
        fixture.remembered("one", "shared");
        fs::hard_link(fixture.path("one"), fixture.path("two")).expect("a hard link");
        for _ in 0..2 {
            fixture.answers_afresh("two");
        }
        fs::write(fixture.path("two"), "changed through two").expect("a write");
        fixture.answers_afresh("one");
        fixture.answers_afresh("two");
    }

    #[test]
    fn a_served_directory_replaced_by_another_is_seen() {
        let mut fixture = Fixture::new();
        fixture.remembered("file", "in the first directory");
        let dir = fixture.served.path().to_owned();
        fs::rename(&dir, fixture.root.path().join("old")).expect("a rename");
        assert_eq!(fixture.ask("file"), Err(io::ErrorKind::NotFound));
        fs::create_dir(&dir).expect("a new directory");
        fs::write(dir.join("file"), "in the second").expect("a file");
        fixture.answers_afresh("file");
        // Watched again: the new directory's files are remembered too.
        fixture.remembered("file", "in the second, again");
        fs::write(dir.join("file"), "changed").expect("a write");
        fixture.answers_afresh("file");
    }

    #[test]
    fn a_directory_on_the_way_replaced_by_another_is_seen() {
        let root = tempfile::tempdir().expect("a temporary directory");
        let dir = root.path().join("way").join("served");
        fs::create_dir_all(&dir).expect("the served directory");
        fs::write(dir.join("file"), "first").expect("a file");
        let served = ServedDir::new(&dir, false);
        let mut cache = MetadataCache::watching(&dir, false);
        let name = FileName::new("file").expect("a valid name");
        let ask = |cache: &mut MetadataCache| {
            cache.note_input();
            cache.lookup(&served, &name).map_err(|error| error.kind())
        };
        for _ in 0..2 {
            assert_eq!(ask(&mut cache), entry_of(&dir.join("file")));
        }
        assert!(cache.remembers("file"));
        fs::rename(root.path().join("way"), root.path().join("old")).expect("a rename");
        fs::create_dir_all(&dir).expect("the way again");
        fs::write(dir.join("file"), "the second file").expect("a file");
        assert_eq!(ask(&mut cache), entry_of(&dir.join("file")));
    }

    /// The entry of a readable regular file at `path`.
    fn entry_of(path: &Path) -> Result<Entry, io::ErrorKind> {
        let metadata = fs::metadata(path).map_err(|error| error.kind())?;
        Ok(Entry::File {
            size: metadata.len(),
            mode: metadata.permissions().mode() & 0o7777,
            readable: true,
        })
    }

    #[test]
    fn a_link_is_never_remembered() {
        let mut fixture = Fixture::new();
        fs::write(fixture.path("target"), "target").expect("a file");
        std::os::unix::fs::symlink("target", fixture.path("link")).expect("a link");
        for _ in 0..3 {
            fixture.answers_afresh("link");
        }
        assert!(!fixture.cache.remembers("link"));
    }

    #[test]
    fn a_path_with_dot_dot_is_never_cached() {
        let root = tempfile::tempdir().expect("a temporary directory");
        fs::create_dir(root.path().join("served")).expect("a directory");
        let cache = MetadataCache::watching(&root.path().join("served").join(".."), false);
        assert!(cache.live.is_none());
    }

    #[test]
    fn a_path_through_a_symbolic_link_is_never_cached() {
        let root = tempfile::tempdir().expect("a temporary directory");
        fs::create_dir(root.path().join("real")).expect("a directory");
        std::os::unix::fs::symlink("real", root.path().join("link")).expect("a link");
        for dir in [root.path().join("link"), root.path().join("link").join(".")] {
            assert!(
                MetadataCache::watching(&dir, false).live.is_none(),
                "{}",
                dir.display()
            );
        }
        assert!(
            MetadataCache::watching(&root.path().join("real"), false)
                .live
                .is_some()
        );
    }

    /// A change the proptest makes in the directory.
    #[derive(Debug, Clone)]
    enum Change {
        Append(usize, u8),
        Truncate(usize, u8),
        Chmod(usize, u32),
        Remove(usize),
        Create(usize, u8),
        RenameOver(usize, usize),
        /// Writes through a hard link outside the directory.
        WriteElsewhere(usize, u8),
    }

    const NAMES: [&str; 3] = ["a", "b", "c"];

    fn change() -> impl Strategy<Value = Change> {
        let name = 0..NAMES.len();
        prop_oneof![
            (name.clone(), any::<u8>()).prop_map(|(n, len)| Change::Append(n, len)),
            (name.clone(), any::<u8>()).prop_map(|(n, len)| Change::Truncate(n, len)),
            (
                name.clone(),
                prop::sample::select(vec![0o000, 0o400, 0o600, 0o644, 0o040])
            )
                .prop_map(|(n, mode)| Change::Chmod(n, mode)),
            name.clone().prop_map(Change::Remove),
            (name.clone(), any::<u8>()).prop_map(|(n, len)| Change::Create(n, len)),
            (name.clone(), name.clone()).prop_map(|(from, to)| Change::RenameOver(from, to)),
            (name, any::<u8>()).prop_map(|(n, len)| Change::WriteElsewhere(n, len)),
        ]
    }

    impl Fixture {
        /// Makes `change`; a change that cannot be made (of a file not
        /// there) is as good as none.
        fn apply(&self, change: &Change) {
            let path = |n: usize| self.path(NAMES[n]);
            let _ = match *change {
                Change::Append(n, len) => OpenOptions::new()
                    .append(true)
                    .open(path(n))
                    .and_then(|mut file| file.write_all(&vec![b'x'; usize::from(len)])),
                Change::Truncate(n, len) => OpenOptions::new()
                    .write(true)
                    .open(path(n))
                    .and_then(|file| file.set_len(u64::from(len))),
                Change::Chmod(n, mode) => {
                    fs::set_permissions(path(n), fs::Permissions::from_mode(mode))
                }
                Change::Remove(n) => fs::remove_file(path(n)),
                Change::Create(n, len) => fs::write(path(n), vec![b'y'; usize::from(len)]),
                Change::RenameOver(from, to) => fs::rename(path(from), path(to)),
                Change::WriteElsewhere(n, len) => {
                    let elsewhere = self.root.path().join("elsewhere");
                    let _ = fs::remove_file(&elsewhere);
                    fs::hard_link(path(n), &elsewhere)
                        .and_then(|()| fs::write(&elsewhere, vec![b'z'; usize::from(len)]))
                }
            };
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever changes, each request gets what a fresh `stat` gives.
        #[test]
        fn every_answer_is_a_fresh_look_up(
            steps in prop::collection::vec(
                prop_oneof![
                    3 => (0..NAMES.len()).prop_map(Ok),
                    1 => change().prop_map(Err),
                ],
                1..60,
            )
        ) {
            let mut fixture = Fixture::new();
            for name in NAMES {
                fs::write(fixture.path(name), name).expect("a file");
            }
            for step in &steps {
                match step {
                    Ok(n) => {
                        let fresh = fixture.fresh(NAMES[*n]);
                        prop_assert_eq!(fixture.ask(NAMES[*n]), fresh, "{:?}", steps);
                    }
                    Err(change) => fixture.apply(change),
                }
            }
        }
    }
}
