//! Tidy checks, run as ordinary tests: the docs stay in step with the
//! workspace without relying on a reviewer's memory.

use std::fs;

use crate::workspace_root;

fn read(path: &str) -> String {
    fs::read_to_string(workspace_root().join(path))
        .unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

/// The `members = [...]` of the root manifest.
fn workspace_members() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let start = manifest.find("members = [").expect("a members list") + "members = [".len();
    let end = start + manifest[start..].find(']').expect("the list's end");
    manifest[start..end]
        .split(',')
        .map(|member| member.trim().trim_matches('"').to_string())
        .filter(|member| !member.is_empty())
        .collect()
}

#[test]
fn architecture_describes_every_crate() {
    let architecture = read("ARCHITECTURE.md");
    let members = workspace_members();
    assert_eq!(members.len(), 4, "members: {members:?}");
    for member in members {
        assert!(
            architecture.contains(&format!("### `{member}`")),
            "ARCHITECTURE.md has no `### `{member}`` section"
        );
    }
}

#[test]
fn readme_shows_the_two_commands() {
    let readme = read("README.md");
    for command in ["cargo run -p hftp-server", "cargo xtask ci"] {
        assert!(
            readme.contains(command),
            "README.md does not show `{command}`"
        );
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    assert!(read(".ci/run").contains("\ncargo xtask ci"));
}
