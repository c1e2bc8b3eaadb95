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
    assert_eq!(members.len(), 5, "members: {members:?}");
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

/// What `hftp-proto` may not touch: it is sans-IO, so a driver can own
/// every socket, file, thread and clock.
const IO_IN_PROTO: [&str; 12] = [
    "std::net",
    "std::fs",
    "std::thread",
    "std::process",
    "std::env",
    "std::os",
    "Instant::now",
    "SystemTime",
    "UdpSocket",
    "TcpStream",
    "File::",
    "libc",
];

/// The library sources of `hftp-proto` (its tests and benches may do I/O).
fn proto_sources() -> Vec<(String, String)> {
    let mut sources = Vec::new();
    let mut dirs = vec![workspace_root().join("hftp-proto/src")];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = fs::read_to_string(&path).expect("a source file");
                sources.push((path.display().to_string(), text));
            }
        }
    }
    sources
}

/// The part of a source file that is not its `#[cfg(test)] mod tests`.
fn outside_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |at| &text[..at])
}

#[test]
fn hftp_proto_does_no_io() {
    let sources = proto_sources();
    assert!(sources.len() > 5, "hftp-proto/src not found");
    for (path, text) in &sources {
        // Unit-test files (`foo/tests.rs`) are tests.
        if path.ends_with("/tests.rs") {
            continue;
        }
        for (number, line) in outside_tests(text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for forbidden in IO_IN_PROTO {
                assert!(
                    !code.contains(forbidden),
                    "{path}:{}: `{forbidden}` in hftp-proto, which does no I/O: {line}",
                    number + 1
                );
            }
        }
    }
}

#[test]
fn the_io_tidy_check_can_fail() {
    let leaky = "use std::net::TcpStream;\n#[cfg(test)]\nmod tests { use std::fs; }";
    let code = outside_tests(leaky);
    assert!(IO_IN_PROTO.iter().any(|f| code.contains(f)));
    assert!(!code.contains("std::fs"));
}

/// Every `name.rs` (or `dir/name.rs`) ARCHITECTURE.md names in backticks,
/// under the crate section it appears in.
fn architecture_files() -> Vec<(String, String)> {
    let architecture = read("ARCHITECTURE.md");
    let mut crate_dir = String::new();
    let mut files = Vec::new();
    for line in architecture.lines() {
        if let Some(name) = line.strip_prefix("### `") {
            crate_dir = name.trim_end_matches('`').to_owned();
            continue;
        }
        for quoted in line.split('`').skip(1).step_by(2) {
            let is_path = quoted.ends_with(".rs")
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_/.-".contains(c));
            if is_path && !crate_dir.is_empty() {
                files.push((crate_dir.clone(), quoted.to_owned()));
            }
        }
    }
    files
}

#[test]
fn architecture_names_only_files_that_exist() {
    let files = architecture_files();
    assert!(
        files.len() > 10,
        "ARCHITECTURE.md names no files: {files:?}"
    );
    for (crate_dir, file) in files {
        let root = workspace_root().join(&crate_dir);
        let found = ["src", "tests", "benches", ""]
            .iter()
            .any(|dir| root.join(dir).join(&file).exists())
            || find_file(&root.join("src"), &file)
            || find_file(&root.join("tests"), &file);
        assert!(
            found,
            "ARCHITECTURE.md names `{file}` in {crate_dir}, which has no such file"
        );
    }
}

/// Whether a file whose path ends with `name` is somewhere below `dir`.
fn find_file(dir: &std::path::Path, name: &str) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            find_file(&path, name)
        } else {
            path.to_string_lossy().ends_with(&format!("/{name}"))
        }
    })
}
