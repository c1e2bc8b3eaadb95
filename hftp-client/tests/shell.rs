//! The shell, driven by a script on stdin.

use std::fs;
use std::sync::atomic::Ordering;

use crate::util::{ARCHIVO, FakeServer, Quirks, RealServer, closed_port, hftp, served_dir};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_script_on_stdin_runs_command_after_command() {
    let served = served_dir(&[("archivo.txt", ARCHIVO), ("b.txt", b"bee")]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    fs::create_dir(here.path().join("downloads")).expect("a directory");

    let script = "\
# comments and blank lines are skipped

ls
ls -l
stat archivo.txt
stat nope.txt
lcd downloads
get archivo.txt b.txt
cat archivo.txt --offset 5 --size 5
lpwd
quit
ls
";
    // No subcommand: with stdin not a terminal, the shell reads it.
    let output = hftp(server.port(), here.path())
        .write_stdin(script)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let downloads = here.path().join("downloads");
    let expected = format!(
        "archivo.txt\nb.txt\n41  archivo.txt\n 3  b.txt\n41\ncalor{}\n",
        downloads
            .canonicalize()
            .expect("the downloads directory")
            .display()
    );
    // `ls` after `quit` is not run, and there is no prompt.
    assert_eq!(text(&output.stdout), expected);
    assert_eq!(
        text(&output.stderr),
        format!(
            "hftp: stat nope.txt: file not found on 127.0.0.1:{}\n",
            server.port()
        )
    );
    assert_eq!(
        fs::read(downloads.join("archivo.txt")).expect("a file"),
        ARCHIVO
    );
    assert_eq!(fs::read(downloads.join("b.txt")).expect("a file"), b"bee");
}

#[test]
fn the_shell_command_reads_stdin_too_and_succeeds_when_all_do() {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    hftp(server.port(), here.path())
        .arg("shell")
        .write_stdin("stat archivo.txt\nexit\n")
        .assert()
        .success()
        .stdout("41\n")
        .stderr("");
}

#[test]
fn errors_do_not_stop_the_shell() {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    let output = hftp(server.port(), here.path())
        .write_stdin("frobnicate\nget ../x\nstat archivo.txt\n")
        .assert()
        .code(2)
        .stdout("41\n")
        .get_output()
        .clone();
    let stderr = text(&output.stderr);
    assert!(stderr.contains("frobnicate"), "{stderr}");
    assert!(stderr.contains("'../x'"), "{stderr}");
}

#[test]
fn an_unreachable_server_is_reported_per_command() {
    let here = tempfile::tempdir().expect("a directory");
    let port = closed_port();
    let output = hftp(port, here.path())
        .write_stdin("ls\nlpwd\nstat a\n")
        .assert()
        .code(4)
        .get_output()
        .clone();
    assert_eq!(
        text(&output.stderr),
        format!(
            "hftp: ls: cannot connect to 127.0.0.1:{port}: connection refused\n\
             hftp: stat a: cannot connect to 127.0.0.1:{port}: connection refused\n"
        )
    );
}

#[test]
fn a_lost_connection_is_opened_again() {
    // A server that hangs up after every second reply, as one whose idle
    // timeout struck between two commands would: `get` and `cat` find
    // the connection gone.
    let server = FakeServer::start(
        &[("archivo.txt", ARCHIVO)],
        Quirks {
            requests_per_connection: Some(2),
            ..Quirks::default()
        },
    );
    let here = tempfile::tempdir().expect("a directory");
    // In base64: the probe for raw slices would count as a request, and
    // move the hang-ups away from the gaps between commands.
    hftp(server.port(), here.path())
        .arg("--base64")
        .write_stdin("stat archivo.txt\nls\nget archivo.txt\ncat archivo.txt --size 4\n")
        .assert()
        .success()
        .stdout("41\narchivo.txt\n!Que")
        .stderr("");
    assert_eq!(
        fs::read(here.path().join("archivo.txt")).expect("a file"),
        ARCHIVO
    );
    assert!(server.connections.load(Ordering::SeqCst) >= 3);
}

#[test]
fn quotes_tilde_bang_and_open() {
    let first = served_dir(&[("archivo.txt", ARCHIVO)]);
    let first = RealServer::start(first.path());
    let second = served_dir(&[("b.txt", b"bee")]);
    let second = RealServer::start(second.path());
    let here = tempfile::tempdir().expect("a directory");
    fs::create_dir_all(here.path().join("home/my dir")).expect("a directory");

    let script = format!(
        "lcd ~/'my dir'\n\
         get archivo.txt -o \"copy of archivo.txt\"\n\
         !printf 'from sh\\n'\n\
         open 127.0.0.1:{}\n\
         stat b.txt\n\
         frobnicate\n\
         get -j 0 b.txt\n\
         stat 'unclosed\n",
        second.port()
    );
    let output = hftp(first.port(), here.path())
        .env("HOME", here.path().join("home"))
        .write_stdin(script)
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert_eq!(text(&output.stdout), "from sh\n3\n");
    assert_eq!(
        text(&output.stderr),
        "hftp: frobnicate: no such command; `help` lists them\n\
         hftp: get: invalid value '0' for '--parallel <N>': 0 is not in 1..=64; \
         `help get` shows its options\n\
         hftp: a quote is not closed: end it, or put a backslash before it\n"
    );
    assert_eq!(
        fs::read(here.path().join("home/my dir/copy of archivo.txt")).expect("a file"),
        ARCHIVO
    );
}

#[test]
fn mget_takes_globs_in_the_shell() {
    let served = served_dir(&[("a.txt", b"a"), ("b.txt", b"b"), ("c.bin", b"c")]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    hftp(server.port(), here.path())
        .arg("shell")
        .write_stdin("mget '*.txt'\nexit\n")
        .assert()
        .success();
    assert_eq!(crate::cli::entries(here.path()), ["a.txt", "b.txt"]);
}
