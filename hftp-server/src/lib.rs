//! The HFTP server: a fixed pool of worker threads over std sockets,
//! serving the regular files of one directory.
//!
//! Every protocol rule lives in [`hftp_proto`]; this crate only moves bytes
//! and files:
//!
//! - [`server`] binds the listener, runs the acceptor, the worker pool and
//!   the graceful shutdown on SIGINT/SIGTERM.
//! - [`connection`] drives one connection: read, decode, answer every
//!   request of the read in one batched write, close gracefully.
//! - [`files`] is the served directory: name lookup at each request, the
//!   "stays inside the directory" rule for links, the listing, and the one
//!   place that maps file errors to statuses.
//! - [`logger`] is a small stderr logger for the `log` facade.
//!
//! ```no_run
//! use std::time::Duration;
//! use hftp_server::{Config, Server};
//!
//! let config = Config {
//!     address: "127.0.0.1".parse()?,
//!     port: 0,
//!     datadir: ".".into(),
//!     workers: 4,
//!     idle_timeout: Duration::from_secs(60),
//!     hidden: false,
//! };
//! let server = Server::bind(&config)?;
//! println!("listening on {}", server.local_addr());
//! server.run(); // serves until SIGINT/SIGTERM, then exits the process
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub mod connection;
pub mod files;
pub mod logger;
pub mod server;

pub use server::{Config, Server};
