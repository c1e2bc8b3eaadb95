//! The interactive shell in a real pseudo-terminal: Ctrl-C, typeahead,
//! paste and completion, as a user at a terminal meets them. Each step
//! waits for the text it expects (the prompt, a result), never for a
//! time; the expect timeout only bounds how long a broken shell is given.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{Eof, Expect};

use crate::cli::MIB;
use crate::util::{FakeServer, Quirks, fake_with, hftp_command, pattern, served_dir};

/// Long enough for any machine; a shell that lost a line waits this long
/// before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Files whose sizes appear in no command, so that finding one in the
/// terminal's output means its `stat` ran.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("archivo.txt", vec![b'a'; 4242]),
        ("b.txt", vec![b'b'; 5353]),
        ("c.txt", vec![b'c'; 6464]),
    ]
}

fn fake_server(quirks: Quirks) -> FakeServer {
    let files = files();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    FakeServer::start(&files, quirks)
}

/// `command` in a terminal of its own: its stdin, stdout and stderr.
pub fn in_terminal(mut command: Command) -> OsSession {
    command.env("TERM", "xterm");
    let mut session = OsSession::spawn(command).expect("hftp in a pseudo-terminal");
    session.set_expect_timeout(Some(PATIENCE));
    session
}

/// `hftp` with no command, in a terminal of its own, at its first prompt.
fn shell(port: u16, dir: &Path) -> (OsSession, String) {
    let mut session = in_terminal(hftp_command(port, dir));
    let prompt = format!("hftp 127.0.0.1:{port}> ");
    session.expect(prompt.as_str()).expect("the first prompt");
    (session, prompt)
}

fn quit(mut session: OsSession) -> WaitStatus {
    session.send("quit\r").expect("quit typed");
    session.expect(Eof).expect("the shell ends");
    session.get_process().wait().expect("the shell's exit")
}

#[test]
fn typed_ahead_lines_all_run() {
    let server = fake_server(Quirks::default());
    let here = tempfile::tempdir().expect("a directory");
    let (mut hftp, _) = shell(server.port(), here.path());
    // Three lines in one write, as a fast typist or `xdotool` sends them.
    hftp.send("stat archivo.txt\rstat b.txt\rstat c.txt\r")
        .expect("typed");
    for size in ["4242\r\n", "5353\r\n", "6464\r\n"] {
        hftp.expect(size).expect("each line's result");
    }
    assert!(matches!(quit(hftp), WaitStatus::Exited(_, 0)));
}

#[test]
fn a_pasted_block_of_lines_runs_line_by_line() {
    let server = fake_server(Quirks::default());
    let here = tempfile::tempdir().expect("a directory");
    let (mut hftp, _) = shell(server.port(), here.path());
    // Bracketed paste, as terminals send a paste, then Enter.
    hftp.send("\x1b[200~stat archivo.txt\rstat c.txt\x1b[201~\r")
        .expect("pasted");
    hftp.expect("4242\r\n").expect("the first line's result");
    hftp.expect("6464\r\n").expect("the second line's result");
    assert!(matches!(quit(hftp), WaitStatus::Exited(_, 0)));
}

#[test]
fn ctrl_c_stops_a_download_and_returns_to_the_prompt() {
    let data = pattern(4 * MIB, 11);
    let (server, here) = fake_with(
        "data.bin",
        &data,
        Quirks {
            stall_slices: true,
            ..Quirks::default()
        },
    );
    let (mut hftp, prompt) = shell(server.port(), here.path());
    hftp.send("get data.bin\r").expect("typed");
    // Half the file has been sent and the server says no more.
    server.wait_for_stalls(1);
    hftp.send("\x03").expect("Ctrl-C");
    hftp.expect("Interrupted. `get -c data.bin` resumes the download.")
        .expect("the interruption reported");
    hftp.expect(prompt.as_str()).expect("the prompt again");
    // The shell still works, and ends normally.
    hftp.send("lpwd\r").expect("typed");
    hftp.expect("\r\n").expect("lpwd's line");
    let status = quit(hftp);
    assert!(
        matches!(status, WaitStatus::Exited(_, 130)),
        "the shell ended with {status:?}"
    );
    let part = std::fs::read(here.path().join("data.bin.part")).expect("the .part");
    assert!(!part.is_empty() && part.len() < data.len());
    assert!(part[..] == data[..part.len()]);
}

#[test]
fn ctrl_c_at_the_prompt_drops_the_line() {
    let server = fake_server(Quirks::default());
    let here = tempfile::tempdir().expect("a directory");
    let (mut hftp, prompt) = shell(server.port(), here.path());
    hftp.send("stat b.t\x03").expect("typed, then Ctrl-C");
    hftp.expect(prompt.as_str()).expect("a fresh prompt");
    hftp.send("stat archivo.txt\r").expect("typed");
    hftp.expect("4242\r\n").expect("the result");
    assert!(matches!(quit(hftp), WaitStatus::Exited(_, 0)));
}

#[test]
fn tab_completes_remote_file_names() {
    let served = served_dir(&[("archivo.txt", &[b'a'; 4242]), ("b.txt", b"b")]);
    let server = crate::util::RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    let (mut hftp, _) = shell(server.port(), here.path());
    hftp.send("stat arc\t\r").expect("typed");
    hftp.expect("4242\r\n").expect("the completed name's size");
    assert!(matches!(quit(hftp), WaitStatus::Exited(_, 0)));
}

#[test]
fn the_progress_bar_fits_a_narrow_terminal() {
    let data = pattern(4 * MIB, 13);
    let (server, here) = fake_with(
        "data.bin",
        &data,
        Quirks {
            stall_slices: true,
            new_kit: true,
            ..Quirks::default()
        },
    );
    let (mut hftp, _) = shell(server.port(), here.path());
    let columns = 50;
    hftp.get_process_mut()
        .set_window_size(columns, 24)
        .expect("a narrow terminal");
    hftp.send("get data.bin\r").expect("typed");
    server.wait_for_stalls(1);
    // The bar is drawn as bytes arrive, and left standing by Ctrl-C.
    hftp.send("\x03").expect("Ctrl-C");
    let seen = hftp.expect("Interrupted.").expect("the interruption");
    let text = String::from_utf8_lossy(seen.before()).into_owned();
    let visible = without_escapes(&text);
    let bars: Vec<&str> = visible
        .split(['\r', '\n'])
        .filter(|line| line.contains(" ETA "))
        .collect();
    assert!(!bars.is_empty(), "no bar in {text:?}");
    for bar in bars {
        assert!(bar.chars().count() <= usize::from(columns), "{bar:?}");
        assert!(bar.starts_with("data.bin ["), "{bar:?}");
    }
}

/// `text` without its terminal control sequences (`ESC [ ... letter`).
fn without_escapes(text: &str) -> String {
    let mut visible = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            visible.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    visible
}
