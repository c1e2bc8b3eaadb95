//! The HFTP server: serves the regular files of one directory, driving one
//! [`hftp_proto::ServerSession`] per connection with one of two engines.
//!
//! Every protocol rule lives in [`hftp_proto`]; this crate only moves bytes
//! and files. [`Server::bind`] checks the directory and binds the
//! listeners (dual-stack by default); [`Server::start`] starts the engine
//! — `events` (the default), a few mio event loops over non-blocking
//! sockets, or `threads`, the course seed's fixed pool of blocking workers
//! — and returns a [`Running`] server. A [`ServerHandle`] shuts it down,
//! gracefully or at once, from any thread; [`Running::join`] returns once
//! every thread the server started has ended, its port free again.
//!
//! The library touches nothing process-wide: no signal handlers, no
//! resource limits, no allocator settings unless asked
//! ([`Config::trim_heap`]). It logs through the `log` facade; [`logger`]
//! is the non-blocking stderr logger the binary installs.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use hftp_server::{Config, Server};
//!
//! let dir = std::env::temp_dir();
//! let running = Server::bind(&Config::loopback(&dir))?.start()?;
//! let mut client = TcpStream::connect(running.local_addr())?;
//! client.write_all(b"quit\r\n")?;
//! let mut reply = Vec::new();
//! client.read_to_end(&mut reply)?;
//! assert_eq!(reply, b"0 OK\r\n");
//! drop(client);
//! // Replies in flight get up to 10 s (here there are none); then every
//! // thread is joined, and the port is free.
//! let stopped = running.shutdown(Duration::from_secs(10));
//! assert_eq!(stopped.cut, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod conn;
mod error;
mod events;
mod files;
mod listen;
pub mod logger;
mod metadata_cache;
mod proxy;
mod server;
mod threads;

pub use error::Error;
pub use listen::Addresses;
pub use server::{Config, Engine, Running, Server, ServerHandle, Stopped};
