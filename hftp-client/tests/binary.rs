//! `get -o -` on a terminal refuses data that looks binary, as curl
//! does, unless --output-binary says to write it; a pipe takes anything.
//! Run in a real pseudo-terminal.

use expectrl::process::unix::WaitStatus;
use expectrl::{Eof, Expect};

use crate::terminal::in_terminal;
use crate::util::{ARCHIVO, RealServer, hftp, hftp_command, served_dir};

/// A NUL at once, then text to look for in the terminal.
const BINARY: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0 after-the-nul-bytes \xff\xfe done";

fn server() -> (tempfile::TempDir, RealServer) {
    let served = served_dir(&[("a.out", BINARY), ("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    (served, server)
}

#[test]
fn binary_output_to_a_terminal_is_refused() {
    let (_served, server) = server();
    let here = tempfile::tempdir().expect("a directory");
    let mut command = hftp_command(server.port(), here.path());
    command.args(["get", "a.out", "-o", "-"]);
    let mut hftp = in_terminal(command);
    let seen = hftp
        .expect(
            "hftp: get a.out: binary output can mess up your terminal: save it with -o FILE, \
             pipe or redirect -o - elsewhere, or write it here anyway with --output-binary",
        )
        .expect("the refusal");
    assert!(
        !String::from_utf8_lossy(seen.before()).contains("after-the-nul-bytes"),
        "some of the data reached the terminal"
    );
    let rest = hftp.expect(Eof).expect("hftp ends");
    assert!(!String::from_utf8_lossy(rest.before()).contains("after-the-nul-bytes"));
    let status = hftp.get_process().wait().expect("hftp's exit");
    assert!(matches!(status, WaitStatus::Exited(_, 2)), "{status:?}");
}

#[test]
fn output_binary_writes_it_anyway_and_text_needs_no_flag() {
    let (_served, server) = server();
    let here = tempfile::tempdir().expect("a directory");
    for (args, expected) in [
        (
            &["get", "a.out", "-o", "-", "--output-binary"][..],
            "after-the-nul-bytes",
        ),
        (&["get", "archivo.txt", "-o", "-"], "pinta una birra!"),
    ] {
        let mut command = hftp_command(server.port(), here.path());
        command.args(args);
        let mut hftp = in_terminal(command);
        hftp.expect(expected).expect("the data on the terminal");
        hftp.expect(Eof).expect("hftp ends");
        let status = hftp.get_process().wait().expect("hftp's exit");
        assert!(
            matches!(status, WaitStatus::Exited(_, 0)),
            "{args:?}: {status:?}"
        );
    }
}

#[test]
fn binary_output_to_a_pipe_needs_no_flag() {
    let (_served, server) = server();
    let here = tempfile::tempdir().expect("a directory");
    hftp(server.port(), here.path())
        .args(["get", "a.out", "-o", "-"])
        .assert()
        .success()
        .stdout(BINARY);
}
