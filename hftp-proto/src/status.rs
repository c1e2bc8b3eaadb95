//! Reply status codes.

use std::fmt;

/// The status that opens every reply: a code, its fixed text, and whether
/// the server closes the connection after sending it.
///
/// ```
/// use hftp_proto::Status;
///
/// assert_eq!(Status::FileNotFound.code(), 202);
/// assert_eq!(Status::FileNotFound.text(), "FILE NOT FOUND");
/// assert!(!Status::FileNotFound.is_fatal());
/// assert!(Status::BadEol.is_fatal());
/// assert_eq!(Status::from_code(203), Some(Status::OffsetExceedsFileSize));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `0 OK`: the request succeeded; a body may follow.
    Ok,
    /// `100 BAD EOL`: a `\n` not preceded by `\r`. Fatal.
    BadEol,
    /// `101 BAD REQUEST`: a byte outside 0x20–0x7E, or a line over the limit. Fatal.
    BadRequest,
    /// `199 INTERNAL SERVER ERROR`: the server failed for its own reasons. Fatal.
    InternalServerError,
    /// `200 NO SUCH COMMAND`: the first element is not a command.
    NoSuchCommand,
    /// `201 INVALID ARGUMENTS FOR COMMAND`: wrong count or form of arguments.
    InvalidArguments,
    /// `202 FILE NOT FOUND`: a well-formed name that is not a servable file.
    FileNotFound,
    /// `203 OFFSET EXCEEDS FILE SIZE`: the slice reaches past the end of the file.
    OffsetExceedsFileSize,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 8] = [
        Status::Ok,
        Status::BadEol,
        Status::BadRequest,
        Status::InternalServerError,
        Status::NoSuchCommand,
        Status::InvalidArguments,
        Status::FileNotFound,
        Status::OffsetExceedsFileSize,
    ];

    /// The numeric code sent on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Status::Ok => 0,
            Status::BadEol => 100,
            Status::BadRequest => 101,
            Status::InternalServerError => 199,
            Status::NoSuchCommand => 200,
            Status::InvalidArguments => 201,
            Status::FileNotFound => 202,
            Status::OffsetExceedsFileSize => 203,
        }
    }

    /// The canonical text that follows the code on the status line.
    pub const fn text(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadEol => "BAD EOL",
            Status::BadRequest => "BAD REQUEST",
            Status::InternalServerError => "INTERNAL SERVER ERROR",
            Status::NoSuchCommand => "NO SUCH COMMAND",
            Status::InvalidArguments => "INVALID ARGUMENTS FOR COMMAND",
            Status::FileNotFound => "FILE NOT FOUND",
            Status::OffsetExceedsFileSize => "OFFSET EXCEEDS FILE SIZE",
        }
    }

    /// The whole status line, CRLF included, e.g. `"202 FILE NOT FOUND\r\n"`.
    pub const fn line(self) -> &'static str {
        match self {
            Status::Ok => "0 OK\r\n",
            Status::BadEol => "100 BAD EOL\r\n",
            Status::BadRequest => "101 BAD REQUEST\r\n",
            Status::InternalServerError => "199 INTERNAL SERVER ERROR\r\n",
            Status::NoSuchCommand => "200 NO SUCH COMMAND\r\n",
            Status::InvalidArguments => "201 INVALID ARGUMENTS FOR COMMAND\r\n",
            Status::FileNotFound => "202 FILE NOT FOUND\r\n",
            Status::OffsetExceedsFileSize => "203 OFFSET EXCEEDS FILE SIZE\r\n",
        }
    }

    /// Whether the server closes the connection right after this status
    /// (the 1xx codes).
    pub const fn is_fatal(self) -> bool {
        matches!(
            self,
            Status::BadEol | Status::BadRequest | Status::InternalServerError
        )
    }

    /// The status for a failure to open or read a requested file: 202 where
    /// the failure means "no servable file by that name" (absent, not
    /// readable, a directory, a name too long, a link loop, a socket or
    /// device that cannot be opened), 199 for everything else. Servers map
    /// every file error through here.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use hftp_proto::Status;
    ///
    /// assert_eq!(Status::for_io_error(&ErrorKind::NotFound.into()), Status::FileNotFound);
    /// assert_eq!(Status::for_io_error(&ErrorKind::OutOfMemory.into()), Status::InternalServerError);
    /// ```
    pub fn for_io_error(error: &std::io::Error) -> Status {
        use std::io::ErrorKind;
        // Linux errnos with no stable `ErrorKind` yet: ELOOP (a link loop),
        // ENXIO (opening a socket), ENODEV (a device with no driver).
        const NOT_A_FILE: [i32; 3] = [40, 6, 19];
        match error.kind() {
            ErrorKind::NotFound
            | ErrorKind::PermissionDenied
            | ErrorKind::IsADirectory
            | ErrorKind::NotADirectory
            | ErrorKind::InvalidFilename => Status::FileNotFound,
            _ if cfg!(target_os = "linux")
                && error
                    .raw_os_error()
                    .is_some_and(|errno| NOT_A_FILE.contains(&errno)) =>
            {
                Status::FileNotFound
            }
            _ => Status::InternalServerError,
        }
    }

    /// The status with this code, if there is one.
    pub fn from_code(code: u16) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table_of_hftp_md() {
        let table = [
            (Status::Ok, 0, "OK", false),
            (Status::BadEol, 100, "BAD EOL", true),
            (Status::BadRequest, 101, "BAD REQUEST", true),
            (
                Status::InternalServerError,
                199,
                "INTERNAL SERVER ERROR",
                true,
            ),
            (Status::NoSuchCommand, 200, "NO SUCH COMMAND", false),
            (
                Status::InvalidArguments,
                201,
                "INVALID ARGUMENTS FOR COMMAND",
                false,
            ),
            (Status::FileNotFound, 202, "FILE NOT FOUND", false),
            (
                Status::OffsetExceedsFileSize,
                203,
                "OFFSET EXCEEDS FILE SIZE",
                false,
            ),
        ];
        for (status, code, text, fatal) in table {
            assert_eq!(status.code(), code);
            assert_eq!(status.text(), text);
            assert_eq!(status.is_fatal(), fatal, "{status}");
            assert_eq!(status.line(), format!("{code} {text}\r\n"));
            assert_eq!(Status::from_code(code), Some(status));
        }
        assert_eq!(Status::from_code(1), None);
    }

    #[test]
    fn file_errors_map_to_202_or_199() {
        use std::io::{Error, ErrorKind};
        let table = [
            (Error::from(ErrorKind::NotFound), Status::FileNotFound),
            (
                Error::from(ErrorKind::PermissionDenied),
                Status::FileNotFound,
            ),
            (Error::from(ErrorKind::IsADirectory), Status::FileNotFound),
            (
                Error::from(ErrorKind::InvalidFilename),
                Status::FileNotFound,
            ),
            (
                Error::from(ErrorKind::OutOfMemory),
                Status::InternalServerError,
            ),
            (Error::from(ErrorKind::Other), Status::InternalServerError),
        ];
        for (error, status) in table {
            assert_eq!(Status::for_io_error(&error), status, "{error}");
        }
        if cfg!(target_os = "linux") {
            // ELOOP, ENXIO, ENODEV: not a file; EMFILE: the server's own.
            for (errno, status) in [
                (40, Status::FileNotFound),
                (6, Status::FileNotFound),
                (19, Status::FileNotFound),
                (24, Status::InternalServerError),
            ] {
                assert_eq!(
                    Status::for_io_error(&Error::from_raw_os_error(errno)),
                    status,
                    "{errno}"
                );
            }
        }
    }
}
