//! Why a server could not start: each variant one sentence, its cause (if
//! any) as the error's source, so that a chain prints it once.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why [`Server::bind`](crate::Server::bind) or
/// [`Server::start`](crate::Server::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory to serve cannot be read.
    #[error("cannot serve {}", .dir.display())]
    Unreadable {
        /// The directory asked for.
        dir: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The path to serve is not a directory.
    #[error("cannot serve {}: not a directory", .dir.display())]
    NotADirectory {
        /// The path asked for.
        dir: PathBuf,
    },
    /// [`Engine::Events`](crate::Engine::Events) with no loop, or
    /// [`Engine::Threads`](crate::Engine::Threads) with no worker.
    #[error("the server needs at least one {0}")]
    NoThreads(&'static str),
    /// A listening socket could not be made or bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address and port asked for.
        addr: SocketAddr,
        /// What the system said (the port is taken, say).
        #[source]
        source: io::Error,
    },
    /// A bound socket did not tell its address.
    #[error("cannot read the listening address")]
    LocalAddr(#[source] io::Error),
    /// An engine's thread, or what it waits on, could not be made.
    #[error("cannot start {what}")]
    Start {
        /// Which part of the engine.
        what: &'static str,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}
