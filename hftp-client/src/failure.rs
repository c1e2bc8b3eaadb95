//! One place turns a failure into its exit code and its one-line message.

use std::fmt::Write as _;
use std::io;

use hftp_client::{Error, Status};

/// The exit codes listed in `hftp --help` (`cli::EXIT_CODES`).
pub mod exit {
    pub const NOT_FOUND: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const REFUSED: u8 = 3;
    pub const CONNECTION: u8 = 4;
    pub const PROTOCOL: u8 = 5;
    pub const LOCAL: u8 = 6;
    pub const FILE_CHANGED: u8 = 7;
}

/// A mistake in how the command was called, found after clap's parsing
/// (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A reply that is well-formed but cannot be right (exit code 5), e.g. a
/// download whose size differs from the size the server announced.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InconsistentReply(pub String);

/// The file's size changed between the start and the end of its
/// download (exit code 7): nothing is wrong but the timing.
#[derive(Debug, thiserror::Error)]
#[error(
    "the file changed on the server during the download ({size} bytes, now {size_now}); \
     try again"
)]
pub struct FileChanged {
    pub size: u64,
    pub size_now: u64,
}

/// Some of several files failed, each already reported on its own line:
/// the command's one summary line, with the exit code of the last failure.
#[derive(Debug, thiserror::Error)]
#[error("{summary}")]
pub struct SomeFailed {
    /// E.g. `2 of 5 files failed`.
    pub summary: String,
    pub code: u8,
}

/// The exit code of a failure: decided by the innermost typed error.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(some) = cause.downcast_ref::<SomeFailed>() {
            return some.code;
        }
        if let Some(error) = cause.downcast_ref::<Error>() {
            return match error {
                Error::Refused(Status::FileNotFound) => exit::NOT_FOUND,
                Error::Refused(_) => exit::REFUSED,
                Error::Connect(_) | Error::Io(_) | Error::Closed | Error::Broken => {
                    exit::CONNECTION
                }
                Error::Protocol { .. } => exit::PROTOCOL,
                Error::Write(_) => exit::LOCAL,
            };
        }
        if cause.is::<UsageError>() {
            return exit::USAGE;
        }
        if cause.is::<InconsistentReply>() {
            return exit::PROTOCOL;
        }
        if cause.is::<FileChanged>() {
            return exit::FILE_CHANGED;
        }
    }
    exit::LOCAL
}

/// Whether the failure is only that our stdout was closed by its reader
/// (`hftp ls | head -1`): not worth a message, nor a failing exit code.
pub fn is_closed_stdout(error: &anyhow::Error) -> bool {
    for cause in error.chain() {
        if cause.is::<Error>() {
            return false;
        }
        if let Some(error) = cause.downcast_ref::<io::Error>() {
            return error.kind() == io::ErrorKind::BrokenPipe;
        }
    }
    false
}

/// The failure as one sentence: what was being done, then why, with the
/// server named where it is to blame, e.g.
/// `get foo.txt: file not found on 127.0.0.1:19500`.
pub fn message(error: &anyhow::Error, server: &str) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        if !text.is_empty() {
            text.push_str(": ");
        }
        if let Some(error) = cause.downcast_ref::<Error>() {
            text.push_str(&describe(error, server));
            break;
        }
        if let Some(error) = cause.downcast_ref::<io::Error>() {
            text.push_str(&io_message(error));
            break;
        }
        let _ = write!(text, "{cause}");
    }
    text
}

/// A library error as the end of one sentence, naming `server`.
pub fn describe(error: &Error, server: &str) -> String {
    match error {
        Error::Refused(Status::FileNotFound) => format!("file not found on {server}"),
        Error::Refused(Status::OffsetExceedsFileSize) => {
            format!("the range reaches past the end of the file on {server}")
        }
        Error::Refused(status) => format!("refused by {server}: {status}"),
        Error::Connect(error) => format!("cannot connect to {server}: {}", io_message(error)),
        Error::Io(error) if error.kind() == io::ErrorKind::TimedOut => {
            format!("{server} did not answer in time")
        }
        Error::Io(error) => format!("connection to {server} failed: {}", io_message(error)),
        Error::Closed => {
            format!("{server} closed the connection before the reply was complete")
        }
        Error::Broken => format!("the connection to {server} was lost"),
        Error::Protocol { error, received } if received.is_empty() => {
            format!("malformed reply from {server}: {error}")
        }
        Error::Protocol { error, received } => format!(
            "malformed reply from {server}: {error}: \"{}\"",
            received.escape_ascii()
        ),
        Error::Write(error) => format!("cannot write the data received: {}", io_message(error)),
    }
}

/// An I/O error without the `(os error N)` suffix, in lower case.
pub fn io_message(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    const SERVER: &str = "127.0.0.1:19500";

    #[test]
    fn exit_codes_and_messages() {
        let refused = |status| Err::<(), _>(Error::Refused(status)).context("get foo.txt");
        let table: [(anyhow::Result<()>, u8, &str); 7] = [
            (
                refused(Status::FileNotFound),
                1,
                "get foo.txt: file not found on 127.0.0.1:19500",
            ),
            (
                refused(Status::InvalidArguments),
                3,
                "get foo.txt: refused by 127.0.0.1:19500: 201 INVALID ARGUMENTS FOR COMMAND",
            ),
            (
                Err(Error::Connect(io::ErrorKind::ConnectionRefused.into()).into()),
                4,
                "cannot connect to 127.0.0.1:19500: connection refused",
            ),
            (
                Err(Error::Closed.into()),
                4,
                "127.0.0.1:19500 closed the connection before the reply was complete",
            ),
            (
                Err(Error::Protocol {
                    error: hftp_proto::ReplyError::BadStatusLine,
                    received: b"HTTP/1.1 400 Bad Request".to_vec(),
                }
                .into()),
                5,
                "malformed reply from 127.0.0.1:19500: \
                 malformed status line: \"HTTP/1.1 400 Bad Request\"",
            ),
            (Err(UsageError("bad".into()).into()), 2, "bad"),
            (
                Err(io::Error::from(io::ErrorKind::PermissionDenied))
                    .context("cannot create x.part"),
                6,
                "cannot create x.part: permission denied",
            ),
        ];
        for (result, code, text) in table {
            let error = result.expect_err(text);
            assert_eq!(exit_code(&error), code, "{text}");
            assert_eq!(message(&error, SERVER), text);
        }
    }
}
