//! The one error type of the library.

use std::{fmt, io};

use hftp_proto::{ReplyError, Status};

/// How much of a malformed reply an [`Error::Protocol`] quotes.
pub const QUOTED_LEN: usize = 80;

/// `: "what arrived"`, escaped, or nothing if nothing arrived.
struct Quoted<'a>(&'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, ": \"{}\"", self.0.escape_ascii())
    }
}

/// Why a [`Client`](crate::Client) call failed.
///
/// The variants keep apart what a caller treats differently: the server
/// said no ([`Refused`](Error::Refused), with the status it sent), the
/// server broke the protocol ([`Protocol`](Error::Protocol)), the network
/// failed ([`Connect`](Error::Connect), [`Io`](Error::Io),
/// [`Closed`](Error::Closed)), or the caller's own writer failed
/// ([`Write`](Error::Write)).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request with this status (never
    /// [`Status::Ok`]). After a fatal (1xx) status the connection is
    /// closed; after the others it can carry the next request.
    #[error("the server refused the request: {0}")]
    Refused(Status),
    /// The reply breaks HFTP (a bad status line, bad base64, a slice of
    /// the wrong length...). The connection cannot be trusted any more.
    #[error("malformed reply: {error}{}", Quoted(received))]
    Protocol {
        /// What is wrong.
        error: ReplyError,
        /// The start of the line where it went wrong (at most
        /// [`QUOTED_LEN`] bytes), e.g. an HTTP server's
        /// `HTTP/1.1 400 Bad Request`; empty if nothing came.
        received: Vec<u8>,
    },
    /// No connection could be opened.
    #[error("cannot connect")]
    Connect(#[source] io::Error),
    /// Sending or receiving failed, or timed out.
    #[error("connection failed")]
    Io(#[source] io::Error),
    /// The server closed the connection before its reply was complete
    /// (HFTP.md: what a client sees when a file shrinks mid-slice).
    #[error("the server closed the connection before the reply was complete")]
    Closed,
    /// The writer given to [`Client::slice`](crate::Client::slice) failed.
    /// The connection is left mid-reply and is closed.
    #[error("cannot write the data received")]
    Write(#[source] io::Error),
    /// An earlier failure left the connection unusable; open a new one.
    #[error("the connection was lost by an earlier failure")]
    Broken,
}

impl Error {
    /// Whether the failure is the network's or the server's rather than a
    /// refusal or a local one: a new connection may help.
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            Error::Connect(_)
                | Error::Io(_)
                | Error::Closed
                | Error::Broken
                | Error::Protocol { .. }
        )
    }

    /// The status of a refusal, if this is one.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Refused(status) => Some(*status),
            _ => None,
        }
    }
}

impl Error {
    /// The error for a reply that broke HFTP at `received`.
    pub(crate) fn protocol(error: ReplyError, received: &[u8]) -> Error {
        let received = &received[..received.len().min(QUOTED_LEN)];
        match error {
            ReplyError::Truncated => Error::Closed,
            error => Error::Protocol {
                error,
                received: received.strip_suffix(b"\r").unwrap_or(received).to_vec(),
            },
        }
    }
}
