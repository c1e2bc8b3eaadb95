//! The end-to-end tests of `hftp-client`, in one binary: the library and
//! the `hftp` command against the workspace's real `hftp-server` (which
//! must be built: `cargo nextest run --workspace` does it) and against a
//! fake server with other habits (see `util`).

mod binary;
mod check;
mod cli;
mod encoding;
mod get;
mod library;
mod mirror;
mod output;
mod rate;
mod retry;
mod shell;
mod terminal;
mod util;
