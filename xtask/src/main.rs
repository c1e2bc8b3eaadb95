//! Project automation, in the cargo-xtask style: `cargo xtask <task>`.
//!
//! Tasks are plain functions that call `cargo` through [`cargo`], so there is
//! no shell script to drift from what CI really runs.
//! Their flags are declared once, in [`flags`]; what they start (the
//! server, the references) is in [`process`].

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::Parser;

use flags::{Task, Xtask};

mod bench;
mod flags;
mod process;
mod release;
mod soak;
#[cfg(test)]
mod tidy;
mod units;

fn main() -> ExitCode {
    let xtask = Xtask::parse();
    let result = match xtask.task {
        Task::Ci => ci(),
        Task::Bench(flags) => bench::main(&flags),
        Task::Soak(flags) => soak::main(&flags),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every check CI runs, stopping at the first failure.
fn ci() -> Result<()> {
    step("format", cargo(&["fmt", "--all", "--check"]))?;
    step(
        "clippy",
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let test = |args: &[&str]| {
        if has_nextest() {
            cargo(&[&["nextest", "run", "--no-fail-fast"], args].concat())
        } else {
            cargo(&[&["test", "--all-targets"], args].concat())
        }
    };
    step("tests", test(&["--workspace"]))?;
    // The server's integration suite once more, against its other engine.
    let mut threads = test(&["-p", "hftp-server", "--test", "tests"]);
    threads.env("HFTP_TEST_ENGINE", "threads");
    step("server tests, threads engine", threads)?;
    step("doc tests", cargo(&["test", "--workspace", "--doc"]))?;
    let mut doc = cargo(&["doc", "--workspace", "--no-deps"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    step("docs", doc)?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}

/// Runs one named step, turning a failure into one clear line.
fn step(name: &str, mut cmd: Command) -> Result<()> {
    eprintln!("xtask ci: == {name} ==");
    let status = cmd
        .status()
        .with_context(|| format!("could not start the `{name}` step"))?;
    if !status.success() {
        bail!("step `{name}` failed ({status})");
    }
    Ok(())
}

/// A `cargo` command run from the workspace root.
fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args).current_dir(workspace_root());
    cmd
}

fn has_nextest() -> bool {
    cargo(&["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
