//! The `Client` library, against the real server and against servers
//! with other habits.

use std::io;
use std::time::Duration;

use hftp_client::{Client, Error, FileName, Status};
use hftp_proto::ReplyError;

use crate::util::{ARCHIVO, FakeServer, Quirks, RealServer, closed_port, pattern, served_dir};

pub const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

pub fn name(name: &str) -> FileName {
    FileName::new(name).expect("a valid name")
}

pub fn slice(client: &mut Client, file: &str, offset: u64, size: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let written = client.slice(&name(file), offset, size, &mut out)?;
    assert_eq!(written, out.len() as u64);
    Ok(out)
}

#[test]
fn list_metadata_and_slices_from_the_real_server() {
    let big = pattern(300_001, 1);
    let dir = served_dir(&[("archivo.txt", ARCHIVO), ("big.bin", &big), ("empty", b"")]);
    let server = RealServer::start(dir.path());
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");

    assert_eq!(
        client.list().expect("a listing"),
        [name("archivo.txt"), name("big.bin"), name("empty")]
    );
    assert_eq!(client.metadata(&name("archivo.txt")).expect("a size"), 41);
    assert_eq!(client.metadata(&name("empty")).expect("a size"), 0);
    assert_eq!(
        slice(&mut client, "archivo.txt", 5, 20).expect("a slice"),
        b"calor que hace hoy, "
    );
    assert_eq!(
        slice(&mut client, "big.bin", 0, 300_001).expect("a slice"),
        big
    );
    assert_eq!(
        slice(&mut client, "big.bin", 299_990, 11).expect("a slice"),
        &big[299_990..]
    );
    assert_eq!(slice(&mut client, "empty", 0, 0).expect("a slice"), b"");
    client.quit().expect("a clean quit");
}

#[test]
fn a_refusal_is_typed_and_leaves_the_connection_usable() {
    let dir = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(dir.path());
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");

    let error = client.metadata(&name("missing")).expect_err("no such file");
    assert!(
        matches!(error, Error::Refused(Status::FileNotFound)),
        "{error:?}"
    );
    assert_eq!(error.status(), Some(Status::FileNotFound));
    assert!(!error.is_connection_failure());

    let error = slice(&mut client, "archivo.txt", 40, 2).expect_err("past the end");
    assert!(
        matches!(error, Error::Refused(Status::OffsetExceedsFileSize)),
        "{error:?}"
    );
    assert!(!client.is_broken());
    assert_eq!(client.metadata(&name("archivo.txt")).expect("a size"), 41);
    client.quit().expect("a clean quit");
}

#[test]
fn pipelined_metadata_keeps_replies_in_order() {
    let dir = served_dir(&[("a", b"1"), ("c", b"333")]);
    let server = RealServer::start(dir.path());
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    // More than one batch of the pipeline, with refusals among them.
    let names: Vec<FileName> = (0..150)
        .map(|index| name(["a", "b", "c"][index % 3]))
        .collect();
    let sizes = client.metadata_many(&names);
    assert_eq!(sizes.len(), names.len());
    for (index, size) in sizes.into_iter().enumerate() {
        match index % 3 {
            0 => assert_eq!(size.expect("a size"), 1),
            1 => assert!(matches!(size, Err(Error::Refused(Status::FileNotFound)))),
            _ => assert_eq!(size.expect("a size"), 3),
        }
    }
    assert_eq!(client.list().expect("a listing"), [name("a"), name("c")]);
}

#[test]
fn slice_bodies_split_over_several_base64_lines() {
    let data = pattern(100_000, 2);
    // 4 keeps whole groups per line; 7 and 1 split groups across lines.
    for line_len in [4, 7, 1, 76] {
        let server = FakeServer::start(
            &[("data", &data)],
            Quirks {
                body_line_len: Some(line_len),
                ..Quirks::default()
            },
        );
        let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
        assert_eq!(
            slice(&mut client, "data", 0, 100_000).expect("a slice"),
            data
        );
        assert_eq!(
            slice(&mut client, "data", 99_998, 2).expect("a slice"),
            &data[99_998..]
        );
        assert_eq!(slice(&mut client, "data", 7, 0).expect("a slice"), b"");
        assert_eq!(client.metadata(&name("data")).expect("a size"), 100_000);
        client.quit().expect("a clean quit");
    }
}

#[test]
fn replies_arriving_one_byte_at_a_time() {
    let data = pattern(3_000, 3);
    let server = FakeServer::start(
        &[("data", &data), ("archivo.txt", ARCHIVO)],
        Quirks {
            trickle: true,
            body_line_len: Some(10),
            ..Quirks::default()
        },
    );
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    assert_eq!(
        client.list().expect("a listing"),
        [name("archivo.txt"), name("data")]
    );
    assert_eq!(
        slice(&mut client, "data", 1, 2_999).expect("a slice"),
        &data[1..]
    );
    assert_eq!(client.metadata(&name("archivo.txt")).expect("a size"), 41);
    client.quit().expect("a clean quit");
}

#[test]
fn a_server_that_closes_at_quit_without_answering() {
    let server = FakeServer::start(
        &[("archivo.txt", ARCHIVO)],
        Quirks {
            close_at_quit: true,
            ..Quirks::default()
        },
    );
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    assert_eq!(client.metadata(&name("archivo.txt")).expect("a size"), 41);
    client.quit().expect("the server was leaving anyway");
}

#[test]
fn a_body_cut_short_is_an_error_and_breaks_the_connection() {
    let data = pattern(10_000, 4);
    let server = FakeServer::start(
        &[("data", &data)],
        Quirks {
            cut_slices: 1,
            ..Quirks::default()
        },
    );
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    let mut out = Vec::new();
    let error = client
        .slice(&name("data"), 0, 10_000, &mut out)
        .expect_err("a short body");
    assert!(matches!(error, Error::Closed), "{error:?}");
    assert!(error.is_connection_failure());
    // What arrived is a true prefix of the file.
    assert!(!out.is_empty() && out.len() < data.len());
    assert_eq!(out, &data[..out.len()]);
    assert!(client.is_broken());
    assert!(matches!(client.list(), Err(Error::Broken)));
}

#[test]
fn a_malformed_reply_is_a_protocol_error() {
    let cases: [(&[u8], ReplyError, &[u8]); 4] = [
        (b"OK 0\r\n", ReplyError::BadStatusLine, b"OK 0"),
        (
            b"204 NEW STATUS\r\n",
            ReplyError::UnknownStatus(204),
            b"204 NEW STATUS",
        ),
        (
            b"0 OK\r\nnot a size\r\n",
            ReplyError::BadSize,
            b"not a size",
        ),
        (
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            ReplyError::BadStatusLine,
            b"HTTP/1.1 400 Bad Request",
        ),
    ];
    // Whole, and a byte at a time: the quote is the whole line either way.
    for ((garbage, expected, quoted), trickle) in cases
        .into_iter()
        .flat_map(|case| [(case.clone(), false), (case, true)])
    {
        let server = FakeServer::start(
            &[],
            Quirks {
                garbage: Some(garbage),
                trickle,
                ..Quirks::default()
            },
        );
        let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
        match client.metadata(&name("x")) {
            Err(Error::Protocol { error, received }) => {
                assert_eq!(error, expected);
                assert_eq!(received, quoted, "{garbage:?}, trickle: {trickle}");
            }
            other => panic!("{garbage:?}: {other:?}"),
        }
        assert!(client.is_broken());
    }
}

#[test]
fn a_writer_failure_is_not_a_network_failure() {
    struct Full;
    impl io::Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::StorageFull.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let server = FakeServer::start(&[("archivo.txt", ARCHIVO)], Quirks::default());
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    let error = client
        .slice(&name("archivo.txt"), 0, 41, &mut Full)
        .expect_err("the writer fails");
    assert!(matches!(&error, Error::Write(e) if e.kind() == io::ErrorKind::StorageFull));
    assert!(!error.is_connection_failure());
}

#[test]
fn nothing_listening_is_a_connect_error() {
    let port = closed_port();
    let error = Client::connect(("127.0.0.1", port), TIMEOUT).expect_err("nothing listens");
    assert!(
        matches!(&error, Error::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused),
        "{error:?}"
    );
    assert!(error.is_connection_failure());
}

#[test]
fn a_silent_server_times_out() {
    let server = FakeServer::start(
        &[],
        Quirks {
            silent: true,
            ..Quirks::default()
        },
    );
    let mut client =
        Client::connect(server.addr, Some(Duration::from_millis(100))).expect("a connection");
    let error = client.list().expect_err("no answer");
    assert!(
        matches!(&error, Error::Io(e) if e.kind() == io::ErrorKind::TimedOut),
        "{error:?}"
    );
}

#[test]
fn the_library_alone_depends_on_hftp_proto_and_thiserror_only() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "-p",
            "hftp-client",
            "--no-default-features",
        ])
        .args([
            "-e", "normal", "--depth", "1", "--prefix", "none", "--format", "{p}",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut crates: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split(' ').next())
        .collect();
    crates.sort_unstable();
    assert_eq!(crates, ["hftp-client", "hftp-proto", "thiserror"]);
}

#[test]
fn a_listed_name_outside_the_charset_does_not_hide_the_others() {
    let server = FakeServer::start(
        &[("a.txt", b"a"), ("b.txt", b"b")],
        Quirks {
            listed_too: &[b"my file.txt", b"caf\xc3\xa9"],
            ..Quirks::default()
        },
    );
    let mut client = Client::connect(server.addr, TIMEOUT).expect("a connection");
    let listing = client.listing().expect("a listing");
    assert_eq!(listing.names, [name("a.txt"), name("b.txt")]);
    assert_eq!(listing.invalid, [&b"my file.txt"[..], b"caf\xc3\xa9"]);
    assert_eq!(
        client.list().expect("a listing"),
        [name("a.txt"), name("b.txt")]
    );
    // The connection goes on.
    assert_eq!(client.metadata(&name("b.txt")).expect("a size"), 1);
}
