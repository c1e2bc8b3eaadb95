//! End-to-end tests: the real `hftp-server` binary on an ephemeral port over
//! a temporary directory, spoken to over real sockets.

#[path = "it/support.rs"]
mod support;

#[path = "it/big.rs"]
mod big;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/cluster.rs"]
mod cluster;
#[path = "it/commands.rs"]
mod commands;
#[path = "it/engines.rs"]
mod engines;
#[path = "it/files.rs"]
mod files;
#[path = "it/framing.rs"]
mod framing;
#[path = "it/kit2026.rs"]
mod kit2026;
#[path = "it/library.rs"]
mod library;
#[path = "it/logging.rs"]
mod logging;
#[path = "it/proxy.rs"]
mod proxy;
#[path = "it/robustness.rs"]
mod robustness;

// Issue 7: hostile and broken clients.
#[path = "it/attacks.rs"]
mod attacks;
#[path = "it/exhaustion.rs"]
mod exhaustion;
#[path = "it/hostile.rs"]
mod hostile;
#[path = "it/model.rs"]
mod model;
#[path = "it/reference.rs"]
mod reference;
#[path = "it/underneath.rs"]
mod underneath;
