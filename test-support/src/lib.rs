//! What the workspace's tests and `cargo xtask` share, written once: the
//! `hftp-server` process started over a directory on a free port
//! ([`ServerProcess`]), replies read from a socket with
//! `hftp_proto::ReplyDecoder` ([`ReplyReader`]), reproducible test data
//! ([`Xorshift`], [`noise`]), a process's memory from `/proc`
//! ([`proc_status_kib`]), and the socket options std has no setter for
//! ([`socket`]).
//!
//! Not published: a dev-dependency of the crates' tests and a dependency
//! of xtask. Its helpers return errors rather than panic, so xtask can
//! report them; a test unwraps them with its own message.

mod data;
mod process;
mod reply;
pub mod socket;

pub use data::{Xorshift, noise};
pub use process::{
    ChildGuard, ServerProcess, StartError, binary_beside_test, proc_status_kib, serving_address,
};
pub use reply::{ReplyFailure, ReplyReader, split_body_into_lines, wire, wire_all};
