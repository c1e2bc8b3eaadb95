//! Which names a server serves: the decision from the facts the system
//! gives about a name to `0 OK`, 202 or 199, and the listing built from
//! the same rule.
//!
//! The server gathers the facts (a `stat`, an `open`, where a link leads);
//! the rule that turns them into a status lives here and nowhere else.

use std::io;
use std::sync::Arc;

use crate::{FileName, Status};

/// What the system says about a requested name, as the server found it in
/// the served directory. A failure to find out is an [`io::Error`] beside
/// it (see [`servability`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A regular file directly in the served directory, or a symbolic link
    /// that resolves to one inside it.
    File {
        /// Its size in bytes.
        size: u64,
        /// Its permission bits (`st_mode & 0o7777`).
        mode: u32,
        /// Whether the system lets the server read it: the open succeeded,
        /// or the permission bits settle that it would. `false` when the
        /// open was refused with "permission denied".
        readable: bool,
    },
    /// Anything else by that name: a directory, a device, a FIFO, a
    /// socket, or a link that leaves the served directory or leads nowhere.
    NotAFile,
}

/// Decides the answer for a well-formed, visible name (see
/// [`is_visible`]) from what the server found: the file's size to send, or
/// the status that refuses it.
///
/// - A lookup that failed maps through [`Status::for_io_error`]: 202 for
///   "no such file" and its kin, 199 for the server's own failures.
/// - Anything but a regular file is 202.
/// - A regular file the server may not read is 199: the system refused the
///   open, or its permission bits grant read to nobody (mode `000`, which
///   a server running as root could still open).
///
/// ```
/// use hftp_proto::{servability, Entry, Status};
///
/// let file = Entry::File { size: 42, mode: 0o644, readable: true };
/// assert_eq!(servability(&Ok(file)), Ok(42));
/// assert_eq!(servability(&Ok(Entry::NotAFile)), Err(Status::FileNotFound));
/// let locked = Entry::File { size: 42, mode: 0o000, readable: true };
/// assert_eq!(servability(&Ok(locked)), Err(Status::InternalServerError));
/// let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
/// assert_eq!(servability(&Err(missing)), Err(Status::FileNotFound));
/// ```
pub fn servability(lookup: &Result<Entry, io::Error>) -> Result<u64, Status> {
    match lookup {
        Err(error) => Err(Status::for_io_error(error)),
        Ok(Entry::NotAFile) => Err(Status::FileNotFound),
        Ok(Entry::File { mode, .. }) if mode & 0o444 == 0 => Err(Status::InternalServerError),
        Ok(Entry::File {
            readable: false, ..
        }) => Err(Status::InternalServerError),
        Ok(Entry::File { size, .. }) => Ok(*size),
    }
}

/// Whether a server shows and serves `name` at all before looking at the
/// file: hidden names (a leading `.`, so `.` and `..` too) only when it
/// was started with its option to show them.
///
/// ```
/// use hftp_proto::{is_visible, FileName};
///
/// assert!(is_visible(&FileName::new("a.txt")?, false));
/// assert!(!is_visible(&FileName::new(".env")?, false));
/// assert!(is_visible(&FileName::new(".env")?, true));
/// assert!(!is_visible(&FileName::new("..")?, true));
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
pub fn is_visible(name: &FileName, show_hidden: bool) -> bool {
    let dots = matches!(name.as_bytes(), b"." | b"..");
    !dots && (show_hidden || !name.is_hidden())
}

/// The body of a `get_file_listing` reply, built once and shared: every
/// client listing the same directory state can send the same `Listing`,
/// which costs a few bytes per name (the names as they go on the wire),
/// not one [`FileName`] each.
///
/// Cloning is cheap (a reference count).
///
/// ```
/// use hftp_proto::ListingBuilder;
///
/// let mut builder = ListingBuilder::new(false);
/// for name in [&b"b.jpg"[..], b".hidden", b"a.txt", b"bad name"] {
///     if builder.wants(name) {
///         builder.push(name); // the server checks it is a file first
///     }
/// }
/// let listing = builder.finish();
/// assert_eq!(listing.len(), 2);
/// assert_eq!(listing.body(), b"a.txt\r\nb.jpg\r\n\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    body: Arc<[u8]>,
    len: usize,
}

impl Listing {
    /// The body as it goes on the wire after `0 OK\r\n`: one `NAME\r\n`
    /// per file, in byte-wise order, then the empty line.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// How many names it lists.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it lists no name.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Collects the names of a directory into a [`Listing`], keeping only
/// those the protocol lists.
#[derive(Debug, Clone)]
pub struct ListingBuilder {
    show_hidden: bool,
    /// The names, back to back.
    bytes: Vec<u8>,
    /// Where each name starts in `bytes`, and its length.
    names: Vec<(u32, u8)>,
}

impl ListingBuilder {
    /// An empty listing; `show_hidden` lists hidden names too.
    pub fn new(show_hidden: bool) -> ListingBuilder {
        ListingBuilder {
            show_hidden,
            bytes: Vec::new(),
            names: Vec::new(),
        }
    }

    /// Whether a directory entry called `name` is listed if it is a file:
    /// a name a client can ask for ([`FileName`]'s rule) and visible (see
    /// [`is_visible`]). A server asks this first, so it never has to
    /// look at a file that would not be listed anyway.
    pub fn wants(&self, name: &[u8]) -> bool {
        FileName::from_bytes(name).is_ok_and(|name| is_visible(&name, self.show_hidden))
    }

    /// Adds `name`, which the server found to be a regular file, or a link
    /// to one inside the served directory. A name that
    /// [`wants`](ListingBuilder::wants) refuses is ignored.
    pub fn push(&mut self, name: &[u8]) {
        let Ok(start) = u32::try_from(self.bytes.len()) else {
            return;
        };
        if !self.wants(name) {
            return;
        }
        // `wants` checked the length: at most MAX_FILE_NAME_LEN bytes.
        let Ok(len) = u8::try_from(name.len()) else {
            return;
        };
        self.bytes.extend_from_slice(name);
        self.names.push((start, len));
    }

    /// The listing, sorted byte-wise.
    pub fn finish(self) -> Listing {
        let name = |&(start, len): &(u32, u8)| {
            let start = start as usize;
            &self.bytes[start..start + usize::from(len)]
        };
        let mut names = self.names;
        names.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        let mut body = Vec::with_capacity(self.bytes.len() + 2 * names.len() + 2);
        for entry in &names {
            body.extend_from_slice(name(entry));
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"\r\n");
        Listing {
            body: body.into(),
            len: names.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;

    use super::*;

    #[test]
    fn servability_table() {
        let file = |mode, readable| {
            Ok(Entry::File {
                size: 7,
                mode,
                readable,
            })
        };
        let error = |kind: ErrorKind| Err(io::Error::from(kind));
        let table: [(Result<Entry, io::Error>, Result<u64, Status>); 11] = [
            (file(0o644, true), Ok(7)),
            (file(0o400, true), Ok(7)),
            (file(0o004, true), Ok(7)),
            // Readable by the bits for someone, refused to this server.
            (file(0o640, false), Err(Status::InternalServerError)),
            // Mode 000 even where the system would let root read it.
            (file(0o000, true), Err(Status::InternalServerError)),
            (file(0o200, true), Err(Status::InternalServerError)),
            (Ok(Entry::NotAFile), Err(Status::FileNotFound)),
            (error(ErrorKind::NotFound), Err(Status::FileNotFound)),
            (error(ErrorKind::NotADirectory), Err(Status::FileNotFound)),
            (error(ErrorKind::InvalidFilename), Err(Status::FileNotFound)),
            (
                error(ErrorKind::OutOfMemory),
                Err(Status::InternalServerError),
            ),
        ];
        for (lookup, expected) in table {
            assert_eq!(servability(&lookup), expected, "{lookup:?}");
        }
    }

    #[test]
    fn visibility_table() {
        let table = [
            ("a", false, true),
            ("a", true, true),
            (".a", false, false),
            (".a", true, true),
            (".", true, false),
            ("..", true, false),
            ("...", true, true),
            ("a.", false, true),
        ];
        for (name, show_hidden, visible) in table {
            let name = FileName::new(name).expect("a valid name");
            assert_eq!(
                is_visible(&name, show_hidden),
                visible,
                "{name:?} {show_hidden}"
            );
        }
    }

    #[test]
    fn listings_keep_requestable_visible_names_in_byte_order() {
        let mut builder = ListingBuilder::new(false);
        let long = [b'x'; 256];
        for name in [
            &b"b"[..],
            b"B",
            b"a b",
            b"\xc3\xb1",
            b".h",
            b"",
            &long,
            &long[..255],
            b"a",
            b"-",
        ] {
            builder.push(name);
        }
        let listing = builder.finish();
        let mut expected = b"-\r\nB\r\na\r\nb\r\n".to_vec();
        expected.extend_from_slice(&long[..255]);
        expected.extend_from_slice(b"\r\n\r\n");
        assert_eq!(listing.body(), expected);
        assert_eq!(listing.len(), 5);

        let mut hidden = ListingBuilder::new(true);
        for name in [&b".h"[..], b"..", b".", b"z"] {
            hidden.push(name);
        }
        assert_eq!(hidden.finish().body(), b".h\r\nz\r\n\r\n");
        assert!(ListingBuilder::new(false).finish().is_empty());
    }
}
