//! The server session ([`hftp_proto::ServerSession`]) run in memory: a fake
//! driver plays the server's loop, the files and the peer, with a simulated
//! clock.

mod driver;
mod examples;
mod properties;
