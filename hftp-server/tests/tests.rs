//! End-to-end tests: the real `hftp-server` binary on an ephemeral port over
//! a temporary directory, spoken to over real sockets.

mod support;

mod big;
mod cli;
mod cluster;
mod commands;
mod engines;
mod files;
mod framing;
mod kit2026;
mod library;
mod logging;
mod proxy;
mod robustness;

// Hostile and broken clients.
mod attacks;
mod exhaustion;
mod hostile;
mod model;
mod reference;
mod underneath;
