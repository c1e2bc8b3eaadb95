//! Requests, as both sides see them once parsed.

use crate::FileName;

/// A well-formed request.
///
/// A server gets these from [`RequestDecoder`](crate::RequestDecoder); a
/// client builds them and writes them with [`Request::encode`].
///
/// ```
/// use hftp_proto::{FileName, Request};
///
/// let request = Request::GetSlice { name: FileName::new("archivo.txt")?, offset: 5, size: 20, raw: false };
/// let mut wire = Vec::new();
/// request.encode(&mut wire);
/// assert_eq!(wire, b"get_slice archivo.txt 5 20\r\n");
/// let raw = Request::GetSlice { name: FileName::new("archivo.txt")?, offset: 5, size: 20, raw: true };
/// wire.clear();
/// raw.encode(&mut wire);
/// assert_eq!(wire, b"get_slice archivo.txt 5 20 raw\r\n");
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `get_file_listing`: the names of the served files.
    GetFileListing,
    /// `get_metadata NAME`: a file's size.
    GetMetadata {
        /// The file asked about.
        name: FileName,
    },
    /// `get_slice NAME OFFSET SIZE [raw]`: `SIZE` bytes of a file from
    /// `OFFSET`, in base64 or, with `raw` (the 2026 kit), as they are.
    ///
    /// Numbers too large for 64 bits arrive as `u64::MAX`: no file is that
    /// large, so such a slice is still out of range (see [`check_slice`]).
    GetSlice {
        /// The file to read.
        name: FileName,
        /// The first byte of the slice.
        offset: u64,
        /// How many bytes to send.
        size: u64,
        /// Whether the body is raw bytes after a `Content-Length` header,
        /// rather than one line of base64. A server older than the 2026
        /// kit answers 201.
        raw: bool,
    },
    /// `help` (the 2026 kit): the list of commands. A server older than
    /// that kit answers 200.
    Help,
    /// `quit`: the server answers `0 OK` and closes the connection.
    Quit,
}

impl Request {
    /// Appends the request line, CRLF included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Request::GetFileListing => out.extend_from_slice(b"get_file_listing"),
            Request::GetMetadata { name } => {
                out.extend_from_slice(b"get_metadata ");
                out.extend_from_slice(name.as_bytes());
            }
            Request::GetSlice {
                name,
                offset,
                size,
                raw,
            } => {
                out.extend_from_slice(b"get_slice ");
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
                crate::reply::push_decimal(*offset, out);
                out.push(b' ');
                crate::reply::push_decimal(*size, out);
                if *raw {
                    out.extend_from_slice(b" raw");
                }
            }
            Request::Help => out.extend_from_slice(b"help"),
            Request::Quit => out.extend_from_slice(b"quit"),
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The file the request names, if any.
    pub fn file_name(&self) -> Option<&FileName> {
        match self {
            Request::GetMetadata { name } | Request::GetSlice { name, .. } => Some(name),
            Request::GetFileListing | Request::Help | Request::Quit => None,
        }
    }
}

/// Decides 203: whether `get_slice` of `size` bytes at `offset` fits in a
/// file of `file_size` bytes. `offset == file_size` with `size == 0` fits.
///
/// ```
/// use hftp_proto::{check_slice, Status};
///
/// assert_eq!(check_slice(5, 20, 42), Ok(()));
/// assert_eq!(check_slice(42, 0, 42), Ok(()));
/// assert_eq!(check_slice(40, 3, 42), Err(Status::OffsetExceedsFileSize));
/// assert_eq!(check_slice(u64::MAX, 1, 42), Err(Status::OffsetExceedsFileSize));
/// ```
pub fn check_slice(offset: u64, size: u64, file_size: u64) -> Result<(), crate::Status> {
    match offset.checked_add(size) {
        Some(end) if end <= file_size => Ok(()),
        _ => Err(crate::Status::OffsetExceedsFileSize),
    }
}
