//! The command line: the `Serving` line, defaults, and errors as one
//! sentence with a non-zero exit.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use hftp_proto::Request;

use crate::support::{BIN, Client, Reply, Server};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the server runs")
}

/// Asserts a failed start: exit `code`, nothing on stdout, and an error
/// message holding `words` (one line, unless clap adds its usage hint).
fn assert_fails(output: &Output, code: i32, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(!stderr.contains("panicked"), "{stderr}");
    for word in words {
        assert!(stderr.contains(word), "{word:?} not in {stderr:?}");
    }
    stderr
}

#[test]
fn serving_line_and_default_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("here"), "").expect("a file");
    let mut child = Command::new(BIN)
        .args(["-a", "127.0.0.1", "-p", "0", "-q"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the first line");
    let addr = line.strip_prefix("Serving . on 127.0.0.1:");
    let port: Option<u16> = addr.and_then(|port| port.trim_end().parse().ok());
    let served = port
        .filter(|&p| p != 0)
        .map(|port| Client::connect(([127, 0, 0, 1], port).into()).ask(&Request::GetFileListing));
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.ends_with('\n'), "{line:?}");
    assert_eq!(
        served,
        Some(Reply::Listing(vec!["here".into()])),
        "{line:?}"
    );
}

#[test]
fn a_missing_directory_is_one_sentence_and_exit_1() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("missing");
    let output = run(&["-p", "0", "-d", missing.to_str().expect("utf-8")]);
    let stderr = assert_fails(&output, 1, &["cannot serve", "missing", "No such file"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_file_as_directory_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("file");
    std::fs::write(&file, "").expect("a file");
    let output = run(&["-p", "0", "-d", file.to_str().expect("utf-8")]);
    let stderr = assert_fails(&output, 1, &["cannot serve", "not a directory"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_busy_port_is_one_sentence_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = taken.local_addr().expect("an address").port().to_string();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = run(&[
        "-a",
        "127.0.0.1",
        "-p",
        &port,
        "-d",
        dir.path().to_str().expect("utf-8"),
    ]);
    let stderr = assert_fails(&output, 1, &["cannot listen on", &port, "in use"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_second_server_on_the_same_port_fails() {
    let server = Server::start();
    let port = server.addr.port().to_string();
    let output = run(&[
        "-a",
        "127.0.0.1",
        "-p",
        &port,
        "-d",
        server.dir.to_str().expect("utf-8"),
    ]);
    assert_fails(&output, 1, &["cannot listen on"]);
}

#[test]
fn bad_arguments_are_usage_errors() {
    for (args, word) in [
        (&["-a", "999.1.1.1"][..], "999.1.1.1"),
        (&["-a", "localhost:80"][..], "localhost:80"),
        (&["-p", "65536"][..], "65536"),
        (&["-p", "http"][..], "http"),
        (&["--workers", "0"][..], "0"),
        (&["--idle-timeout", "0"][..], "0"),
        (&["-v", "-q"][..], "cannot be used with"),
        (&["--nope"][..], "--nope"),
    ] {
        assert_fails(&run(args), 2, &["error:", word]);
    }
}

#[test]
fn help_documents_every_option() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--address",
        "--port",
        "--datadir",
        "--workers",
        "--idle-timeout",
        "--hidden",
        "--verbose",
        "--quiet",
        "19500",
        "0.0.0.0",
    ] {
        assert!(help.contains(option), "{option} not in {help}");
    }
}
