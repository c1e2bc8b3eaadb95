//! A client for HFTP, the Home-made File Transfer Protocol.
//!
//! [`Client`] is one connection to a server: [`list`](Client::list),
//! [`metadata`](Client::metadata), [`slice`](Client::slice) (streaming the
//! bytes into any [`Write`](std::io::Write)r, raw where the server takes
//! raw slices, else base64), [`help`](Client::help) and
//! [`quit`](Client::quit). It is a thin driver: every protocol rule
//! (request framing, status codes, base64, file names) comes from
//! [`hftp_proto`], so the client works with any conforming server, for
//! example one that splits a slice body over several base64 lines or
//! closes the connection right after `quit`.
//!
//! Failures are one [`Error`] enum that keeps a server's refusal (with its
//! [`Status`]) apart from a malformed reply, a network
//! failure and a failure of the caller's writer.
//!
//! The `hftp` binary of this crate is a command-line client built on it;
//! run `hftp --help`.

#![warn(missing_docs)]

pub mod check;
mod client;
mod error;

pub use client::{AbortHandle, Client, Listing, SliceEncoding, Transcript};
pub use error::{Error, QUOTED_LEN};
pub use hftp_proto::{FileName, FileNameError, Status};
