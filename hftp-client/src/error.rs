//! The one error type of the library.

use std::io;

use hftp_proto::{ReplyError, Status};

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
    #[error("malformed reply: {0}")]
    Protocol(ReplyError),
    /// No connection could be opened.
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// Sending or receiving failed, or timed out.
    #[error("connection failed: {0}")]
    Io(#[source] io::Error),
    /// The server closed the connection before its reply was complete
    /// (HFTP.md: what a client sees when a file shrinks mid-slice).
    #[error("the server closed the connection before the reply was complete")]
    Closed,
    /// The writer given to [`Client::slice`](crate::Client::slice) failed.
    /// The connection is left mid-reply and is closed.
    #[error("cannot write the data received: {0}")]
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
            Error::Connect(_) | Error::Io(_) | Error::Closed | Error::Broken | Error::Protocol(_)
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

impl From<ReplyError> for Error {
    fn from(error: ReplyError) -> Error {
        match error {
            ReplyError::Truncated => Error::Closed,
            other => Error::Protocol(other),
        }
    }
}
