//! What an operator reads: the access log, the connection lifecycle at
//! `-v`, the protocol exchange at `-vv`, and the warnings.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use hftp_proto::{Request, Status};
use wait_timeout::ChildExt;

use crate::support::{BIN, Client, PATIENCE, Reply, Server, metadata, slice};

const MIB: u64 = 1024 * 1024;

/// The access lines of `log` naming `needle`, without their timestamps.
fn lines_with(log: &str, needle: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(needle))
        .map(|line| {
            line.split_once(' ')
                .map_or(line, |(_, rest)| rest)
                .to_owned()
        })
        .collect()
}

#[test]
fn each_request_is_one_line_with_status_bytes_and_duration() {
    let server = Server::start();
    server.file("a.txt", "0123456789");
    let mut client = server.connect();
    assert_eq!(client.ask(&metadata("a.txt")), Reply::Size(10));
    assert_eq!(
        client.ask(&metadata("nope")),
        Reply::Status(Status::FileNotFound)
    );
    assert_eq!(client.ask(&Request::Quit), Reply::Status(Status::Ok));
    server.wait_for_log("\"quit\"", 1);
    let log = server.stderr();
    let local = client.local_addr();
    let ours = lines_with(&log, &local.to_string());
    assert_eq!(ours.len(), 3, "{log}");
    let expected = [
        format!("INFO  {local} \"get_metadata a.txt\" 0 OK 10 B in "),
        format!("INFO  {local} \"get_metadata nope\" 202 FILE NOT FOUND 20 B in "),
        format!("INFO  {local} \"quit\" 0 OK 6 B in "),
    ];
    for (line, start) in ours.iter().zip(&expected) {
        assert!(
            line.starts_with(start.as_str()),
            "{line:?} is not {start:?}…"
        );
        assert!(line.ends_with(" ms"), "{line}");
    }
    // RFC 3339, UTC: `2026-12-01T22:40:00.123Z`.
    let stamp = log.lines().next().and_then(|line| line.split(' ').next());
    let stamp = stamp.unwrap_or_default();
    assert_eq!(
        (stamp.len(), &stamp[10..11], &stamp[23..]),
        (24, "T", "Z"),
        "{log}"
    );
    // The connection's lifecycle is for -v.
    assert!(!log.contains("connected"), "{log}");
}

#[test]
fn a_slice_the_client_abandons_is_logged_aborted_with_the_bytes_sent() {
    let server = Server::start();
    let size = 32 * MIB;
    let file = fs::File::create(server.dir.join("big")).expect("a file");
    file.set_len(size).expect("a sparse file");
    let mut client = server.connect();
    client.small_receive_buffer();
    client.send_request(&slice("big", 0, size));
    assert_eq!(client.read_some(6), b"0 OK\r\n");
    let local = client.local_addr();
    drop(client); // unread data: the kernel sends a reset

    server.wait_for_log("aborted after", 1);
    let log = server.stderr();
    let line = lines_with(&log, "aborted after").pop().unwrap_or_default();
    let start = format!("INFO  {local} \"get_slice big 0 {size}\" 0 OK aborted after ");
    let bytes: Option<u64> = line
        .strip_prefix(start.as_str())
        .and_then(|rest| rest.split(' ').next())
        .and_then(|bytes| bytes.parse().ok());
    let encoded = size.div_ceil(3) * 4 + 8;
    assert!(
        bytes.is_some_and(|bytes| (6..encoded).contains(&bytes)),
        "{line:?} in {log}"
    );
}

#[test]
fn verbose_adds_the_lifecycle_and_very_verbose_the_exchange() {
    for (flag, lifecycle, exchange) in [("-v", true, false), ("-vv", true, true)] {
        let server = Server::start_with(&[flag]);
        let mut client = server.connect();
        assert_eq!(client.ask(&Request::Quit), Reply::Status(Status::Ok));
        server.wait_for_log("closed: quit", 1);
        let log = server.stderr();
        let local = client.local_addr().to_string();
        assert_eq!(
            log.contains(&format!("DEBUG {local}: connected")),
            lifecycle,
            "{flag}: {log}"
        );
        assert_eq!(
            log.contains(&format!("TRACE {local}: received 6 bytes: \"quit\\r\\n\"")),
            exchange,
            "{flag}: {log}"
        );
    }
}

#[test]
fn a_present_but_unservable_file_is_warned_about_once() {
    let server = Server::start();
    server.file("a b", "spaces are not in the charset");
    server.file("ok", "");
    std::os::unix::fs::symlink("/etc/hostname", server.dir.join("out")).expect("a link");
    // The directory changed under a second ago: each listing is made anew.
    for _ in 0..3 {
        assert_eq!(
            server.connect().ask(&Request::GetFileListing),
            Reply::Listing(vec!["ok".into()])
        );
    }
    assert_eq!(
        server.connect().ask(&metadata("out")),
        Reply::Status(Status::FileNotFound)
    );
    server.wait_for_log("\"get_metadata out\"", 1);
    let log = server.stderr();
    assert_eq!(
        lines_with(&log, "a b: present but not served").len(),
        1,
        "{log}"
    );
    assert_eq!(
        lines_with(&log, "out: present but not served").len(),
        1,
        "{log}"
    );
    assert!(
        lines_with(&log, "a b")
            .iter()
            .all(|line| line.starts_with("WARN"))
    );
}

#[test]
fn a_vanished_directory_is_warned_about_and_its_return_noted() {
    let parent = tempfile::tempdir().expect("a temporary directory");
    let dir = parent.path().join("served");
    fs::create_dir(&dir).expect("the served directory");
    let server = Server::serve(&dir, &[]);
    fs::remove_dir(&dir).expect("the directory goes");
    let mut client = server.connect();
    for _ in 0..2 {
        assert_eq!(
            client.ask(&metadata("a")),
            Reply::Status(Status::FileNotFound)
        );
    }
    fs::create_dir(&dir).expect("the directory is back");
    fs::write(dir.join("a"), "x").expect("a file");
    assert_eq!(client.ask(&metadata("a")), Reply::Size(1));
    server.wait_for_log("is back", 1);
    let log = server.stderr();
    assert_eq!(lines_with(&log, "is gone").len(), 1, "{log}");
    assert!(lines_with(&log, "is gone")[0].starts_with("WARN"), "{log}");
    assert_eq!(lines_with(&log, "is back").len(), 1, "{log}");
}

#[test]
fn the_start_up_line_is_on_stdout_only() {
    let server = Server::start();
    server.connect().ask(&Request::Quit);
    server.wait_for_log("\"quit\"", 1);
    let log = server.stderr();
    assert!(!log.to_lowercase().contains("serving"), "{log}");
}

/// Checks the journald format of `log`: the access lines of `local` and
/// the shutdown's, each `<N>` then the message, no time.
fn assert_journald(log: &str, local: std::net::SocketAddr) {
    let lines: Vec<&str> = log.lines().collect();
    let access = format!("<6>{local} \"get_metadata a\" 0 OK 9 B in ");
    assert!(lines.iter().any(|line| line.starts_with(&access)), "{log}");
    assert!(
        lines.iter().any(|line| line.starts_with(&format!(
            "<6>{local} \"get_metadata nope\" 202 FILE NOT FOUND"
        ))),
        "{log}"
    );
    // A fatal status is a warning: priority 4.
    assert!(
        lines.iter().any(|line| line.starts_with(&format!("<4>{local} "))
            && line.contains(" 100 BAD EOL ")),
        "{log}"
    );
    for line in &lines {
        let priority = line.get(..3).unwrap_or_default();
        assert!(
            ["<3>", "<4>", "<6>", "<7>"].contains(&priority),
            "{line:?} in {log}"
        );
        assert!(!line.contains("Z INFO"), "{line:?}");
    }
}

/// Asks for `a`, `nope`, then ends a line with a bare LF (fatal), as
/// [`assert_journald`] expects.
fn ask_three(client: &mut Client) {
    assert_eq!(client.ask(&metadata("a")), Reply::Size(7));
    assert_eq!(
        client.ask(&metadata("nope")),
        Reply::Status(Status::FileNotFound)
    );
    client.send(b"oops\n");
    assert_eq!(client.status(), Status::BadEol);
}

#[test]
fn log_format_journald_prefixes_each_line_with_its_priority_and_no_time() {
    let server = Server::start_with(&["--log-format", "journald"]);
    server.file("a", "journal");
    let mut client = server.connect();
    ask_three(&mut client);
    server.wait_for_log("BAD EOL", 1);
    assert_journald(&server.stderr(), client.local_addr());
}

#[test]
fn hftp_log_format_in_the_environment_chooses_it_too() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("a"), "journal").expect("a file");
    /// Killed on drop, so that a failed assertion leaves no server behind.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Running(
        Command::new(BIN)
            .args(["-a", "127.0.0.1", "-p", "0"])
            .arg(dir.path())
            .env("HFTP_LOG_FORMAT", "journald")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the start-up line");
    let addr = line
        .split_whitespace()
        .last()
        .and_then(|addr| addr.parse().ok());
    let addr = addr.unwrap_or_else(|| panic!("no address in {line:?}"));
    let mut client = Client::connect(addr);
    ask_three(&mut client);
    drop(client.stream.shutdown(std::net::Shutdown::Both));
    let pid = i32::try_from(child.0.id()).expect("a pid");
    // SAFETY: `kill` has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    // The log is flushed before exit: read it whole once it exits.
    let status = child
        .0
        .wait_timeout(PATIENCE)
        .expect("waiting for the server");
    assert!(status.is_some_and(|status| status.success()), "{status:?}");
    let mut log = String::new();
    child
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("the log");
    assert_journald(&log, client.local_addr());
    assert!(
        log.lines()
            .any(|line| line.starts_with("<6>SIGTERM: shutting down;")),
        "{log}"
    );
}
