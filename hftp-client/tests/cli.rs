//! The `hftp` command, end to end against the real server.

use std::fs;

use crate::util::hftp_anywhere;
use crate::util::{
    ARCHIVO, FakeServer, Quirks, RealServer, closed_port, fake_with, hftp, pattern, served_dir,
    stderr_when,
};

pub const MIB: usize = 1024 * 1024;

pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `hftp ARGS`, run in `dir` with no server to talk to, prints on
/// stdout; it must succeed.
fn offline_stdout(dir: &std::path::Path, args: &[&str]) -> String {
    let output = hftp(closed_port(), dir)
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    stdout_of(&output)
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The names in a directory, sorted.
pub fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("a directory")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn ls_and_stat() {
    let big = pattern(123_456, 1);
    let served = served_dir(&[("archivo.txt", ARCHIVO), ("big.bin", &big)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");

    hftp(server.port(), here.path())
        .arg("ls")
        .assert()
        .success()
        .stdout("archivo.txt\nbig.bin\n");
    hftp(server.port(), here.path())
        .args(["ls", "-l"])
        .assert()
        .success()
        .stdout("    41  archivo.txt\n123456  big.bin\n");
    hftp(server.port(), here.path())
        .args(["stat", "big.bin"])
        .assert()
        .success()
        .stdout("123456\n");
}

#[test]
fn get_is_byte_exact_and_leaves_no_part_file() {
    let big = pattern(5 * MIB + 7, 2);
    let served = served_dir(&[("archivo.txt", ARCHIVO), ("big.bin", &big)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");

    hftp(server.port(), here.path())
        .args(["get", "archivo.txt", "big.bin"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    assert_eq!(
        fs::read(here.path().join("archivo.txt")).expect("a file"),
        ARCHIVO
    );
    assert!(fs::read(here.path().join("big.bin")).expect("a file") == big);
    assert_eq!(entries(here.path()), ["archivo.txt", "big.bin"]);
}

#[test]
fn get_in_parallel_is_byte_exact() {
    let big = pattern(10 * MIB, 3);
    let served = served_dir(&[("big.bin", &big)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");

    hftp(server.port(), here.path())
        .args(["get", "-j", "4", "big.bin", "-o", "copy.bin"])
        .assert()
        .success();
    assert!(fs::read(here.path().join("copy.bin")).expect("a file") == big);
    assert_eq!(entries(here.path()), ["copy.bin"]);
}

#[test]
fn get_into_a_directory() {
    let served = served_dir(&[("a.txt", b"aaa".as_slice()), ("b.txt", b"bb")]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    fs::create_dir(here.path().join("into")).expect("a directory");

    hftp(server.port(), here.path())
        .args(["get", "a.txt", "b.txt", "-o", "into"])
        .assert()
        .success();
    assert_eq!(entries(&here.path().join("into")), ["a.txt", "b.txt"]);
    assert_eq!(
        fs::read(here.path().join("into/b.txt")).expect("a file"),
        b"bb"
    );

    let output = hftp(server.port(), here.path())
        .args(["get", "a.txt", "b.txt", "-o", "nowhere"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert_eq!(
        stderr_of(&output),
        "hftp: -o nowhere: with several files, PATH must be a directory (end it with / to \
         create it with --create-dirs) or - for standard output\n"
    );
}

#[test]
fn get_continue_fetches_only_what_the_part_file_lacks() {
    let big = pattern(3 * MIB + 11, 4);
    let served = served_dir(&[("big.bin", &big)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");

    // A .part whose head differs from the file's (its last 64 KiB, which
    // -c checks against the server, are true): if the head survives, the
    // download resumed instead of starting over.
    let checked = 64 * 1024;
    let mut prefix = vec![b'x'; MIB + 5 - checked];
    prefix.extend_from_slice(&big[MIB + 5 - checked..MIB + 5]);
    fs::write(here.path().join("big.bin.part"), &prefix).expect("a .part");
    hftp(server.port(), here.path())
        .args(["get", "-c", "big.bin"])
        .assert()
        .success();
    let got = fs::read(here.path().join("big.bin")).expect("a file");
    assert!(got[..prefix.len()] == prefix[..]);
    assert!(got[prefix.len()..] == big[prefix.len()..]);
    assert_eq!(entries(here.path()), ["big.bin"]);

    // A true prefix gives the true file, in parallel too.
    fs::write(here.path().join("big.bin.part"), &big[..2 * MIB]).expect("a .part");
    hftp(server.port(), here.path())
        .args(["get", "-c", "-j", "3", "big.bin"])
        .assert()
        .success();
    assert!(fs::read(here.path().join("big.bin")).expect("a file") == big);
    assert_eq!(entries(here.path()), ["big.bin"]);
}

#[test]
fn get_continue_starts_over_when_the_part_file_does_not_end_like_the_file() {
    let big = pattern(2 * MIB + 7, 5);
    let served = served_dir(&[("big.bin", &big)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");

    // The file changed on the server since the interrupted run: its .part
    // ends with other bytes than the file at the same place.
    let mut stale = big[..MIB].to_vec();
    stale[MIB - 1] ^= 0xFF;
    fs::write(here.path().join("big.bin.part"), &stale).expect("a .part");
    let output = hftp(server.port(), here.path())
        .args(["get", "-c", "big.bin"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(fs::read(here.path().join("big.bin")).expect("a file") == big);
    assert_eq!(entries(here.path()), ["big.bin"]);
    assert!(
        stderr_of(&output).contains("differs from the file on the server; starting over"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn get_without_continue_starts_over() {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    fs::write(here.path().join("archivo.txt.part"), b"stale bytes").expect("a .part");

    hftp(server.port(), here.path())
        .args(["get", "archivo.txt"])
        .assert()
        .success();
    assert_eq!(
        fs::read(here.path().join("archivo.txt")).expect("a file"),
        ARCHIVO
    );
}

#[test]
fn continue_starts_over_when_the_record_of_segments_is_not_one() {
    let big = pattern(2 * MIB, 5);
    let served = served_dir(&[("big.bin", &big)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    // A .part with holes, and a record of its segments that says nothing.
    fs::write(here.path().join("big.bin.part"), vec![0; 2 * MIB]).expect("a .part");
    fs::write(here.path().join("big.bin.part.segments"), b"").expect("a record");

    let output = hftp(server.port(), here.path())
        .args(["get", "-c", "big.bin"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(stderr_of(&output).contains("starting over"), "{output:?}");
    assert!(fs::read(here.path().join("big.bin")).expect("a file") == big);
    assert_eq!(entries(here.path()), ["big.bin"]);
}

#[test]
fn an_interrupted_download_keeps_its_prefix_and_resumes() {
    let data = pattern(MIB, 6);
    // The first slice reply is cut short, as by a dropped connection.
    let (server, here) = fake_with(
        "data.bin",
        &data,
        Quirks {
            cut_slices: 1,
            ..Quirks::default()
        },
    );

    let output = hftp(server.port(), here.path())
        .args(["get", "data.bin"])
        .assert()
        .code(4)
        .get_output()
        .clone();
    assert_eq!(
        stderr_of(&output),
        format!(
            "hftp: get data.bin: 127.0.0.1:{} closed the connection before the reply was complete\n",
            server.port()
        )
    );
    // Never a wrong file under the final name; a true prefix in the .part.
    assert_eq!(entries(here.path()), ["data.bin.part"]);
    let part = fs::read(here.path().join("data.bin.part")).expect("a .part");
    assert!(!part.is_empty() && part.len() < data.len());
    assert!(part[..] == data[..part.len()]);

    hftp(server.port(), here.path())
        .args(["get", "-c", "data.bin"])
        .assert()
        .success();
    assert!(fs::read(here.path().join("data.bin")).expect("a file") == data);
    assert_eq!(entries(here.path()), ["data.bin"]);
}

#[test]
fn a_missing_file_exits_1() {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");

    for command in [
        ["get", "nope.txt"],
        ["stat", "nope.txt"],
        ["cat", "nope.txt"],
    ] {
        let output = hftp(server.port(), here.path())
            .args(command)
            .assert()
            .code(1)
            .stdout("")
            .get_output()
            .clone();
        assert_eq!(
            stderr_of(&output),
            format!(
                "hftp: {} nope.txt: file not found on 127.0.0.1:{}\n",
                command[0],
                server.port()
            )
        );
    }
    assert!(entries(here.path()).is_empty());
}

#[test]
fn an_unreachable_server_exits_4() {
    let here = tempfile::tempdir().expect("a directory");
    let port = closed_port();
    for command in [&["ls"][..], &["get", "archivo.txt"]] {
        let output = hftp(port, here.path())
            .args(command)
            .assert()
            .code(4)
            .stdout("")
            .get_output()
            .clone();
        assert_eq!(
            stderr_of(&output),
            format!(
                "hftp: {}: cannot connect to 127.0.0.1:{port}: connection refused\n",
                command.join(" ")
            )
        );
    }
    assert!(entries(here.path()).is_empty());
}

#[test]
fn cat_with_offset_and_size() {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");

    let cases: [(&[&str], &[u8]); 4] = [
        (&[], ARCHIVO),
        (&["--offset", "5", "--size", "20"], b"calor que hace hoy, "),
        (&["--offset", "35"], b"birra!"),
        (&["--offset", "41"], b""),
    ];
    for (options, expected) in cases {
        hftp(server.port(), here.path())
            .args(["cat", "archivo.txt"])
            .args(options)
            .assert()
            .success()
            .stdout(expected);
    }
    let output = hftp(server.port(), here.path())
        .args(["cat", "archivo.txt", "--offset", "40", "--size", "2"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    assert_eq!(
        stderr_of(&output),
        format!(
            "hftp: cat archivo.txt: the range reaches past the end of the file on 127.0.0.1:{}\n",
            server.port()
        )
    );
}

#[test]
fn usage_errors_exit_2() {
    let here = tempfile::tempdir().expect("a directory");
    let port = closed_port();
    for args in [
        &["get"][..],
        &["get", "../etc/passwd"],
        &["stat", "a", "b"],
        &["get", "-j", "0", "a"],
        &["frobnicate"],
    ] {
        let output = hftp(port, here.path())
            .args(args)
            .assert()
            .code(2)
            .get_output()
            .clone();
        assert!(
            stderr_of(&output).starts_with("error:"),
            "{args:?}: {output:?}"
        );
    }
}

#[test]
fn help_is_the_manual() {
    let here = tempfile::tempdir().expect("a directory");
    let help = offline_stdout(here.path(), &["--help"]);
    for needle in [
        "--host",
        "--port",
        "--timeout",
        "HFTP_HOST",
        "HFTP_PORT",
        "ls",
        "stat",
        "get",
        "mirror",
        "--limit-rate",
        "cat",
        "shell",
        "Exit codes:",
        "1  file not found",
        "4  connection failure",
    ] {
        assert!(help.contains(needle), "{needle:?} not in:\n{help}");
    }
}

#[test]
fn host_and_port_from_the_environment() {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_hftp"))
        .current_dir(here.path())
        .env("HFTP_HOST", "127.0.0.1")
        .env("HFTP_PORT", server.port().to_string())
        .arg("ls")
        .assert()
        .success()
        .stdout("archivo.txt\n");
}

#[test]
fn ls_shows_every_name_when_one_is_outside_the_charset() {
    // As a Python course server lists a file whose name has a space.
    let server = FakeServer::start(
        &[("a.txt", b"a".as_slice()), ("b.txt", b"bb")],
        Quirks {
            listed_too: &[b"my file.txt"],
            ..Quirks::default()
        },
    );
    let here = tempfile::tempdir().expect("a directory");
    for (args, listed) in [
        (&["ls"][..], "a.txt\nb.txt\n"),
        (&["ls", "-l"], "1  a.txt\n2  b.txt\n"),
    ] {
        hftp(server.port(), here.path())
            .args(args)
            .assert()
            .success()
            .stdout(listed)
            .stderr(
                "hftp: ls: \"my file.txt\" is listed, but is not a valid HFTP name: \
                 it cannot be requested\n",
            );
    }
}

#[test]
fn a_malformed_reply_is_quoted() {
    let server = FakeServer::start(
        &[],
        Quirks {
            garbage: Some(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
            ..Quirks::default()
        },
    );
    let here = tempfile::tempdir().expect("a directory");
    let stderr = stderr_when(hftp(server.port(), here.path()).arg("ls"), 5);
    assert_eq!(
        stderr,
        format!(
            "hftp: ls: malformed reply from 127.0.0.1:{}: malformed status line: \
             \"HTTP/1.1 400 Bad Request\"\n",
            server.port()
        )
    );
}

#[test]
fn hosts_with_ports_and_urls() {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    let port = server.port();
    let closed = closed_port();

    // -H with a port wins over -p (here, the closed port).
    let anywhere = || assert_cmd::Command::from_std(hftp_anywhere(here.path()));
    for host in [
        format!("127.0.0.1:{port}"),
        format!("hftp://127.0.0.1:{port}"),
    ] {
        anywhere()
            .args([
                "-p",
                &closed.to_string(),
                "-H",
                &host,
                "stat",
                "archivo.txt",
            ])
            .assert()
            .success()
            .stdout("41\n");
    }
    // A file named by its URL, on another server than -H's.
    let url = format!("hftp://127.0.0.1:{port}/archivo.txt");
    hftp(closed, here.path())
        .args(["get", &url])
        .assert()
        .success();
    assert_eq!(
        fs::read(here.path().join("archivo.txt")).expect("a file"),
        ARCHIVO
    );
    hftp(closed, here.path())
        .args(["cat", &url, "--size", "4"])
        .assert()
        .success()
        .stdout("!Que");
    // Messages name the server as it was given, brackets and all.
    let stderr =
        crate::util::stderr_when(anywhere().args(["-H", &format!("[::1]:{closed}"), "ls"]), 4);
    assert!(
        stderr.starts_with(&format!("hftp: ls: cannot connect to [::1]:{closed}: ")),
        "{stderr}"
    );
    let stderr = crate::util::stderr_when(
        hftp(closed, here.path()).args(["get", &format!("hftp://127.0.0.1:{closed}/a.txt")]),
        4,
    );
    assert_eq!(
        stderr,
        format!(
            "hftp: get hftp://127.0.0.1:{closed}/a.txt: cannot connect to \
             127.0.0.1:{closed}: connection refused\n"
        )
    );
}

#[test]
fn completion_scripts_and_the_manual_page_come_from_the_flags() {
    let here = tempfile::tempdir().expect("a directory");
    for shell in ["bash", "zsh", "fish"] {
        let script = offline_stdout(here.path(), &["completions", shell]);
        for needle in [
            "get",
            "stat",
            "continue",
            "create-dirs",
            "mirror",
            "only-missing",
            "limit-rate",
            "output-binary",
        ] {
            assert!(script.contains(needle), "{shell}: no {needle:?}");
        }
    }
    // The bash script is at least valid bash, where bash is there to say.
    if let Ok(bash) = std::process::Command::new("bash")
        .args(["-n", "-c"])
        .arg(stdout_of(
            &hftp(closed_port(), here.path())
                .args(["completions", "bash"])
                .output()
                .expect("hftp runs"),
        ))
        .status()
    {
        assert!(bash.success(), "bash -n rejects the completion script");
    }
    let page = offline_stdout(here.path(), &["man"]);
    assert!(page.contains(".TH hftp 1"), "{page}");
    for needle in ["\\-\\-host", "get", "Exit codes"] {
        assert!(page.contains(needle), "{needle:?} not in the manual page");
    }
}
