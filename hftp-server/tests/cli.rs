//! The command line: the `Serving` line, defaults, and errors as one
//! sentence with a non-zero exit.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use hftp_proto::Request;

use hftp_test_support::{ServerProcess, StartError};

use crate::support::{BIN, Client, PATIENCE, Reply, Server};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the server runs")
}

/// Runs the server on 127.0.0.1 at a port another socket holds, serving a
/// fresh directory given after `before_dir` (`-d`, or nothing for the
/// positional form); returns its output and the port.
fn run_on_a_taken_port(before_dir: &[&str]) -> (Output, String) {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = taken.local_addr().expect("an address").port().to_string();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path().to_str().expect("utf-8");
    let args = [&["-a", "127.0.0.1", "-p", &port][..], before_dir, &[dir]].concat();
    (run(&args), port)
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
    let server = ServerProcess::start(
        Command::new(BIN)
            .args(["-a", "127.0.0.1", "-p", "0", "-q"])
            .current_dir(dir.path())
            .stderr(Stdio::null()),
        PATIENCE,
    )
    .expect("the server starts");
    let line = server.serving_line().to_owned();
    let addr = line.strip_prefix("Serving . on 127.0.0.1:");
    let port: Option<u16> = addr.and_then(|port| port.trim_end().parse().ok());
    let served = port
        .filter(|&p| p != 0)
        .map(|port| Client::connect(([127, 0, 0, 1], port).into()).ask(&Request::GetFileListing));
    drop(server);
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
    let (output, port) = run_on_a_taken_port(&["-d"]);
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
        "--reuse-port",
        "HFTP_ADDR",
        "HFTP_PORT",
        "HFTP_DIR",
        "--log-format",
        "HFTP_LOG_FORMAT",
        "journald",
    ] {
        assert!(help.contains(option), "{option} not in {help}");
    }
}

/// Starts the server with `args` and `env` (from `dir`), reads its
/// start-up line, and connects to the line's last word.
fn serve_and_ask(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> (String, Reply) {
    let started = ServerProcess::start(
        Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stderr(Stdio::null()),
        PATIENCE,
    );
    match started {
        Ok(server) => {
            let reply = Client::connect(server.addr()).ask(&Request::GetFileListing);
            (server.serving_line().to_owned(), reply)
        }
        Err(StartError::NotServing(line)) => (line, Reply::Status(hftp_proto::Status::BadRequest)),
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn by_default_it_serves_ipv4_and_ipv6_and_logs_ipv4_peers_plainly() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("here"), "").expect("a file");
    let (line, reply) = serve_and_ask(&["-p", "0"], &[], dir.path());
    assert_eq!(reply, Reply::Listing(vec!["here".into()]), "{line}");
    assert!(
        line.starts_with("Serving . on every IPv4 and IPv6 address, such as [::1]:"),
        "{line}"
    );
    // `::` is dual-stack too; an IPv4 peer is logged as plain IPv4.
    let server = Server::start_with(&["-a", "::"]);
    assert_eq!(
        Client::connect((std::net::Ipv6Addr::LOCALHOST, server.addr.port()).into())
            .ask(&Request::Help),
        Client::connect(([127, 0, 0, 1], server.addr.port()).into()).ask(&Request::Help)
    );
    let mut client = Client::connect(([127, 0, 0, 1], server.addr.port()).into());
    assert_eq!(
        client.ask(&Request::Quit),
        Reply::Status(hftp_proto::Status::Ok)
    );
    server.wait_for_log("\"quit\"", 1);
    let log = server.stderr();
    assert!(
        log.contains(&format!(" {} \"quit\"", client.local_addr())),
        "{log}"
    );
    assert!(!log.contains("::ffff:"), "{log}");
}

#[test]
fn a_host_name_a_positional_dir_and_the_environment_are_understood() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("here"), "").expect("a file");
    let path = dir.path().to_str().expect("utf-8");
    let listed = Reply::Listing(vec!["here".into()]);
    let elsewhere = tempfile::tempdir().expect("a temporary directory");
    let (line, reply) = serve_and_ask(&["-a", "localhost", "-p", "0", path], &[], elsewhere.path());
    assert_eq!(reply, listed, "{line}");
    let env = [
        ("HFTP_ADDR", "127.0.0.1"),
        ("HFTP_PORT", "0"),
        ("HFTP_DIR", path),
    ];
    let (line, reply) = serve_and_ask(&[], &env, elsewhere.path());
    assert_eq!(reply, listed, "{line}");
    assert!(
        line.starts_with(&format!("Serving {path} on 127.0.0.1:")),
        "{line}"
    );
}

#[test]
fn start_up_errors_carry_no_os_error_codes() {
    let (output, _) = run_on_a_taken_port(&[]);
    let stderr = assert_fails(&output, 1, &["cannot listen on", "in use"]);
    assert!(!stderr.contains("os error"), "{stderr}");
}

#[test]
fn reuse_port_lets_two_servers_share_a_port() {
    let first = Server::start_with(&["--reuse-port"]);
    let port = first.addr.port().to_string();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let second = Server::serve(dir.path(), &["--reuse-port", "-p", &port]);
    assert_eq!(second.addr, first.addr);
    assert_eq!(
        Client::connect(first.addr).ask(&Request::Help),
        second.connect().ask(&Request::Help)
    );
}
