//! Raw slices and base64: raw wherever the server takes it, base64 from
//! an older server without the user seeing a failure, and `help`.

use hftp_client::{Client, Error, SliceEncoding, Status};
use std::fs;

use crate::cli::{MIB, entries, stdout_of};
use crate::library::{TIMEOUT, name, slice};
use crate::util::{
    ARCHIVO, FakeServer, Quirks, RealServer, assert_file, hftp, pattern, served_dir, stderr_when,
};

fn new_kit() -> Quirks {
    Quirks {
        new_kit: true,
        ..Quirks::default()
    }
}

/// Bytes a base64 line or a header could be confused with.
fn awkward() -> Vec<u8> {
    let mut data = b"\r\n\0\r\n0 OK\r\nContent-Length: 3\r\n\r\n".to_vec();
    data.extend(pattern(200_000, 21));
    data
}

#[test]
fn the_real_server_sends_raw_slices() {
    let data = awkward();
    let served = served_dir(&[("data.bin", &data)]);
    let server = RealServer::start(served.path());
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    assert_eq!(client.raw_support(), None);
    assert!(slice(&mut client, "data.bin", 0, data.len() as u64).expect("a slice") == data);
    assert_eq!(client.raw_support(), Some(true));
    // Reply after reply on the same connection: nothing after a raw body.
    assert_eq!(
        slice(&mut client, "data.bin", 1, 4).expect("a slice"),
        &data[1..5]
    );
    assert_eq!(
        client.metadata(&name("data.bin")).expect("a size"),
        data.len() as u64
    );
    client.quit().expect("a clean quit");
}

#[test]
fn a_server_that_takes_raw_slices_gets_only_raw_ones() {
    let data = awkward();
    let server = FakeServer::start(&[("data.bin", &data)], new_kit());
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    for (offset, size) in [(0, 10), (3, 70_000), (199_000, 1_000)] {
        assert_eq!(
            slice(&mut client, "data.bin", offset, size).expect("a slice"),
            &data[offset as usize..][..size as usize]
        );
    }
    assert_eq!(
        server.raw_slices_asked(),
        [(0, 10), (3, 70_000), (199_000, 1_000)]
    );
    assert!(server.slices_asked().is_empty());

    client.set_slice_encoding(SliceEncoding::Base64);
    assert_eq!(
        slice(&mut client, "data.bin", 5, 5).expect("a slice"),
        &data[5..10]
    );
    assert_eq!(server.slices_asked(), [(5, 5)]);
}

#[test]
fn an_older_server_gets_base64_after_its_first_refusal_of_raw() {
    let data = pattern(100_000, 22);
    let server = FakeServer::start(&[("data.bin", &data)], Quirks::default());
    for _ in 0..2 {
        let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
        for offset in [0, 10, 20] {
            assert_eq!(
                slice(&mut client, "data.bin", offset, 10).expect("no failure shown"),
                &data[offset as usize..][..10]
            );
        }
        assert_eq!(client.raw_support(), Some(false));
        assert!(!client.is_broken());
    }
    // Once per connection, not once per slice.
    assert_eq!(server.raw_slices_asked(), [(0, 10), (0, 10)]);
    assert_eq!(server.slices_asked().len(), 6);
}

#[test]
fn forced_raw_is_refused_by_an_older_server() {
    let server = FakeServer::start(&[("archivo.txt", ARCHIVO)], Quirks::default());
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    client.set_slice_encoding(SliceEncoding::Raw);
    let error = slice(&mut client, "archivo.txt", 0, 4).expect_err("no raw here");
    assert!(
        matches!(error, Error::Refused(Status::InvalidArguments)),
        "{error:?}"
    );
    assert!(server.slices_asked().is_empty());
}

#[test]
fn a_201_that_base64_gets_too_does_not_turn_raw_off() {
    // Some course servers refuse any zero-length slice with 201.
    let server = FakeServer::start(
        &[("archivo.txt", ARCHIVO)],
        Quirks {
            new_kit: true,
            refuse_empty_slices: true,
            ..Quirks::default()
        },
    );
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    let error = slice(&mut client, "archivo.txt", 0, 0).expect_err("refused");
    assert!(matches!(error, Error::Refused(Status::InvalidArguments)));
    assert_ne!(client.raw_support(), Some(false));
    assert_eq!(
        slice(&mut client, "archivo.txt", 1, 3).expect("a slice"),
        b"Que"
    );
    assert_eq!(server.raw_slices_asked(), [(0, 0), (1, 3)]);
}

#[test]
fn help_lists_the_servers_commands_or_is_refused_by_an_older_one() {
    let served = served_dir(&[]);
    let server = RealServer::start(served.path());
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    let commands: Vec<String> = client
        .help()
        .expect("the 2026 kit's help")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(commands, hftp_proto::COMMANDS);

    let old = FakeServer::start(&[], Quirks::default());
    let mut client = Client::connect(old.addr, TIMEOUT).expect("a connection");
    let error = client.help().expect_err("no help");
    assert!(matches!(error, Error::Refused(Status::NoSuchCommand)));
    assert!(!client.is_broken());
    assert!(client.list().expect("a listing").is_empty());
}

#[test]
fn hftp_help_shows_the_servers_commands_or_says_it_has_none() {
    let here = tempfile::tempdir().expect("a directory");
    let served = served_dir(&[]);
    let server = RealServer::start(served.path());
    hftp(server.port(), here.path())
        .arg("help")
        .assert()
        .success()
        .stdout(format!(
            "Commands of 127.0.0.1:{} (its `help`):\n  get_file_listing\n  get_metadata\n  \
             get_slice\n  help\n  quit\n",
            server.port()
        ));
    let old = FakeServer::start(&[], Quirks::default());
    let said = format!(
        "127.0.0.1:{} has no `help` command (it answered 200 NO SUCH COMMAND, as servers \
         older than the 2026 kit do)\n",
        old.port()
    );
    hftp(old.port(), here.path())
        .arg("help")
        .assert()
        .success()
        .stdout(said.clone());

    // The shell's `help`: its own commands, then the server's.
    let output = hftp(old.port(), here.path())
        .write_stdin("help\n")
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = stdout_of(&output);
    assert!(stdout.contains("  lcd "), "{stdout}");
    assert!(stdout.ends_with(&said), "{stdout}");

    // `help COMMAND` is that command's options, server or no server.
    let closed = crate::util::closed_port();
    for input in [None, Some("help get\n")] {
        let mut command = hftp(closed, here.path());
        match input {
            None => command.args(["help", "get"]),
            Some(line) => command.write_stdin(line),
        };
        let output = command.assert().success().get_output().clone();
        assert!(stdout_of(&output).contains("--continue"), "{output:?}");
    }
    let stderr = stderr_when(hftp(closed, here.path()).args(["help", "frob"]), 2);
    assert_eq!(
        stderr,
        "hftp: help: no such command \"frob\"; `help` lists them\n"
    );
}

#[test]
fn get_in_parallel_and_resumed_in_both_encodings() {
    let data = pattern(6 * MIB + 3, 23);
    let served = served_dir(&[("data.bin", &data)]);
    let real = RealServer::start(served.path());
    let old = FakeServer::start(&[("data.bin", &data)], Quirks::default());
    let raw = FakeServer::start(&[("data.bin", &data)], new_kit());
    for (port, flags) in [
        (real.port(), &[][..]),
        (real.port(), &["--base64"]),
        (real.port(), &["--raw"]),
        (old.port(), &[]),
        (raw.port(), &[]),
    ] {
        let here = tempfile::tempdir().expect("a directory");
        hftp(port, here.path())
            .args(flags)
            .args(["get", "-j", "4", "data.bin"])
            .assert()
            .success();
        assert_file(&here.path().join("data.bin"), &data);
        fs::remove_file(here.path().join("data.bin")).expect("removed");

        fs::write(here.path().join("data.bin.part"), &data[..MIB + 1]).expect("a .part");
        hftp(port, here.path())
            .args(flags)
            .args(["get", "-c", "data.bin"])
            .assert()
            .success();
        assert_file(&here.path().join("data.bin"), &data);
        assert_eq!(entries(here.path()), ["data.bin"], "{flags:?}");
    }
    // The older server: each connection that fetched asked for raw once,
    // then base64 (the first of `get -j`'s connections only asks sizes).
    let connections = old.connections.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(old.raw_slices_asked().len(), connections - 1);
    assert!(raw.slices_asked().is_empty());
    let stderr = stderr_when(
        hftp(old.port(), tempfile::tempdir().expect("a directory").path())
            .args(["--raw", "get", "data.bin"]),
        3,
    );
    assert_eq!(
        stderr,
        format!(
            "hftp: get data.bin: refused by 127.0.0.1:{}: 201 INVALID ARGUMENTS FOR COMMAND\n",
            old.port()
        )
    );
}
