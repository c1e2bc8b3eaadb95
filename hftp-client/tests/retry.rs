//! `--retry`: a connection lost mid-transfer is opened again and the
//! transfer resumes from the bytes already written.

use std::fs;
use std::io::Read;
use std::process::Stdio;

use crate::cli::{MIB, entries, stderr_of};
use crate::util::{
    FakeServer, Quirks, RealServer, assert_file, closed_port, fake_with, hftp, hftp_command,
    pattern, served_dir, stderr_when,
};

/// No wait between tries: the tests do not need the back-off's time.
const NO_WAIT: [&str; 2] = ["--retry-delay", "0"];

fn cutting(data: &[u8], cuts: usize, new_kit: bool) -> FakeServer {
    FakeServer::start(
        &[("data.bin", data)],
        Quirks {
            cut_slices: cuts,
            new_kit,
            ..Quirks::default()
        },
    )
}

#[test]
fn a_cut_reply_is_resumed_where_it_stopped_raw_or_base64() {
    let data = pattern(MIB, 41);
    for new_kit in [false, true] {
        let server = cutting(&data, 2, new_kit);
        let here = tempfile::tempdir().expect("a directory");
        let output = hftp(server.port(), here.path())
            .args(NO_WAIT)
            .args(["--retry", "2", "get", "data.bin"])
            .assert()
            .success()
            .get_output()
            .clone();
        assert_file(&here.path().join("data.bin"), &data);
        assert_eq!(entries(here.path()), ["data.bin"]);
        let stderr = stderr_of(&output);
        let closed = format!(
            "hftp: data.bin: 127.0.0.1:{} closed the connection before the reply was complete; ",
            server.port()
        );
        assert_eq!(
            stderr,
            format!("{closed}retry 1 of 2 in 0.0s\n{closed}retry 1 of 2 in 0.0s\n"),
            "a try that got bytes starts the count again"
        );
        // Each try asked for the rest, from where the last one stopped.
        let asked = match new_kit {
            true => server.raw_slices_asked(),
            false => server.slices_asked(),
        };
        let asked: Vec<(u64, u64)> = asked.into_iter().filter(|&(_, size)| size > 0).collect();
        assert_eq!(asked.len(), 3, "{asked:?}");
        let end = data.len() as u64;
        assert_eq!(asked[0], (0, end));
        for pair in asked.windows(2) {
            assert!(pair[1].0 > pair[0].0, "{asked:?}");
            assert_eq!(pair[1].0 + pair[1].1, end);
        }
    }
}

#[test]
fn tries_run_out_and_the_part_file_stays_for_continue() {
    let data = pattern(MIB, 42);
    // Every reply cut before its first byte: no try makes progress.
    let (server, here) = fake_with(
        "data.bin",
        &data,
        Quirks {
            new_kit: true,
            cut_slices: 4,
            cut_before_body: true,
            ..Quirks::default()
        },
    );
    let stderr = stderr_when(
        hftp(server.port(), here.path())
            .args(NO_WAIT)
            .args(["--retry", "3", "get", "data.bin"]),
        4,
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    for (index, line) in lines[..3].iter().enumerate() {
        assert!(
            line.ends_with(&format!("retry {} of 3 in 0.0s", index + 1)),
            "{line}"
        );
    }
    assert!(lines[3].starts_with("hftp: get data.bin: "), "{stderr}");
    assert!(server.raw_slices_asked().len() == 4);
    assert_eq!(entries(here.path()), ["data.bin.part"]);
}

#[test]
fn without_retry_a_lost_connection_fails_at_once() {
    let data = pattern(MIB, 43);
    let server = cutting(&data, 1, true);
    let here = tempfile::tempdir().expect("a directory");
    let stderr = stderr_when(
        hftp(server.port(), here.path()).args(["get", "data.bin"]),
        4,
    );
    assert!(!stderr.contains("retry"), "{stderr}");
    assert_eq!(server.raw_slices_asked().len(), 1);
}

#[test]
fn every_segment_of_a_parallel_download_retries_on_its_own() {
    let data = pattern(8 * MIB, 44);
    for new_kit in [false, true] {
        let server = cutting(&data, 4, new_kit);
        let here = tempfile::tempdir().expect("a directory");
        hftp(server.port(), here.path())
            .args(NO_WAIT)
            .args(["--retry", "1", "get", "-j", "4", "data.bin"])
            .assert()
            .success();
        assert_file(&here.path().join("data.bin"), &data);
        assert_eq!(entries(here.path()), ["data.bin"]);
    }
}

#[test]
fn an_unreachable_server_is_tried_again_then_reported() {
    let here = tempfile::tempdir().expect("a directory");
    let port = closed_port();
    let stderr = stderr_when(
        hftp(port, here.path())
            .args(NO_WAIT)
            .args(["--retry", "2", "stat", "a.txt"]),
        4,
    );
    let refused = format!("cannot connect to 127.0.0.1:{port}: connection refused");
    assert_eq!(
        stderr,
        format!(
            "hftp: {refused}; retry 1 of 2 in 0.0s\nhftp: {refused}; retry 2 of 2 in 0.0s\n\
             hftp: stat a.txt: {refused}\n"
        )
    );
}

#[test]
fn a_real_server_killed_and_restarted_mid_download() {
    // More than every socket buffer between the two holds, so the server
    // is still sending when it is killed.
    let data = pattern(32 * MIB, 45);
    let served = served_dir(&[("big.bin", &data)]);
    let server = RealServer::start(served.path());
    let port = server.port();
    let here = tempfile::tempdir().expect("a directory");
    let mut child = hftp_command(port, here.path())
        .args(NO_WAIT)
        .args(["--retry", "3", "get", "big.bin", "-o", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hftp runs");
    let mut stdout = child.stdout.take().expect("a piped stdout");
    // While this test reads nothing, hftp is blocked writing to it: it
    // cannot notice the kill before the new server is up.
    let mut got = vec![0; MIB];
    stdout.read_exact(&mut got).expect("the first MiB");
    drop(server);
    let _restarted = RealServer::start_at(served.path(), port);
    stdout.read_to_end(&mut got).expect("the rest");
    let output = child.wait_with_output().expect("hftp ends");
    assert!(output.status.success(), "{output:?}");
    assert!(got == data, "{} bytes of {}", got.len(), data.len());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("; retry 1 of 3 in 0.0s\n"), "{stderr}");
    assert!(fs::read_dir(here.path()).expect("a directory").count() == 0);
}
