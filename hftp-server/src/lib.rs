//! The HFTP server: serves the regular files of one directory, driving one
//! [`hftp_proto::ServerSession`] per connection with one of two engines.
//!
//! Every protocol rule lives in [`hftp_proto`]; this crate only moves bytes
//! and files:
//!
//! - [`server`] binds the listeners ([`listen`]: dual-stack by default),
//!   starts the engine, and shuts down gracefully on a stop signal.
//! - `events` (the default engine) runs a few mio event loops over
//!   non-blocking sockets; `threads` is the course seed's fixed pool of
//!   blocking workers. Both share `conn`: feed the session, carry out its
//!   file actions, log what it answered.
//! - [`files`] gathers what the system says about a name (what kind of
//!   entry, where a link leads, whether it opens) and builds listings,
//!   shared while the directory is unchanged.
//! - [`logger`] is a stderr logger for the `log` facade that never blocks
//!   a serving thread.
//!
//! ```no_run
//! use std::time::Duration;
//! use hftp_server::{Config, Engine, Server, listen::Addresses};
//!
//! let config = Config {
//!     addresses: Addresses::These(vec!["127.0.0.1".parse()?]),
//!     port: 0,
//!     datadir: ".".into(),
//!     engine: Engine::Events { loops: 2 },
//!     idle_timeout: Duration::from_secs(60),
//!     hidden: false,
//!     reuse_port: false,
//!     proxy_protocol: false,
//! };
//! let server = Server::bind(&config)?;
//! let addr = server.local_addr();
//! // Serves until a stop signal, then returns.
//! server.run(|| println!("listening on {addr}"))?;
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

mod conn;
mod events;
pub mod files;
pub mod listen;
pub mod logger;
mod proxy;
pub mod server;
mod threads;

pub use server::{Config, Engine, Server};
