//! Tasks that measure run optimised: `cargo xtask` builds xtask in the dev
//! profile, so `bench` and `soak` build xtask and the server in release and
//! hand over to the release xtask.

use std::env;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Builds xtask and `hftp-server` in release, then runs the release
/// xtask with this one's arguments (`TASK ARGS...`, as checked already).
pub fn hand_over(task: &str) -> Result<()> {
    eprintln!("xtask {task}: building xtask and hftp-server in release");
    build(&["build", "--release", "-p", "xtask", "-p", "hftp-server"])?;
    let xtask = binary("xtask");
    let status = Command::new(&xtask)
        .args(env::args_os().skip(1))
        .status()
        .with_context(|| format!("could not run {}", xtask.display()))?;
    if !status.success() {
        // The release xtask has said why on stderr.
        bail!("the optimised {task} run failed ({status})");
    }
    Ok(())
}

/// Runs `cargo ARGS`, failing with the command in the message.
pub fn build(args: &[&str]) -> Result<()> {
    let status = crate::cargo(args).status().context("could not run cargo")?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    let root = crate::workspace_root();
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// The release build of binary `name`.
pub fn binary(name: &str) -> PathBuf {
    target_dir()
        .join("release")
        .join(format!("{name}{}", env::consts::EXE_SUFFIX))
}
