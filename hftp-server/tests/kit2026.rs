//! The 2026 course kit's additions (HFTP.md: `help`, `get_slice … raw`,
//! *File names*, *Which error wins*), against the real server.

use std::os::unix::fs::PermissionsExt;

use hftp_proto::{Request, Status};

use crate::support::{Reply, Server, metadata, noise, raw_slice, slice};

#[test]
fn help_lists_the_five_commands_in_order() {
    let server = Server::start();
    let mut client = server.connect();
    assert_eq!(
        client.ask(&Request::Help),
        Reply::Listing(
            [
                "get_file_listing",
                "get_metadata",
                "get_slice",
                "help",
                "quit"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    client.send(b"help me\r\n");
    assert_eq!(client.status(), Status::InvalidArguments);
}

#[test]
fn two_clients_at_once_both_get_help() {
    let server = Server::start();
    let mut first = server.connect();
    let mut second = server.connect();
    first.send_requests(&[Request::Help]);
    second.send_requests(&[Request::Help]);
    for client in [&mut second, &mut first] {
        assert!(matches!(client.reply(&Request::Help), Reply::Listing(names) if names.len() == 5));
    }
}

#[test]
fn raw_slices_are_the_bytes_and_the_next_reply_follows_at_once() {
    let server = Server::start();
    // CRLFs and NULs in the body: nothing may be read as a line end.
    let content: Vec<u8> = b"\r\n\0\r\n".iter().copied().cycle().take(300).collect();
    server.file("bin", &content);
    let big = noise(3, 3 << 20);
    server.file("big", &big);
    let mut client = server.connect();
    let requests = [
        raw_slice("bin", 0, 256),
        metadata("bin"),
        raw_slice("bin", 10, 0),
        raw_slice("big", 1000, big.len() as u64 - 1000),
        slice("bin", 0, 3),
        raw_slice("bin", 300, 0),
    ];
    client.send_requests(&requests);
    assert_eq!(
        client.reply(&requests[0]),
        Reply::Data(content[..256].to_vec())
    );
    assert_eq!(client.reply(&requests[1]), Reply::Size(300));
    assert_eq!(client.reply(&requests[2]), Reply::Data(Vec::new()));
    assert_eq!(
        client.reply(&requests[3]),
        Reply::Data(big[1000..].to_vec())
    );
    assert_eq!(
        client.reply(&requests[4]),
        Reply::Data(content[..3].to_vec())
    );
    assert_eq!(client.reply(&requests[5]), Reply::Data(Vec::new()));
}

#[test]
fn raw_slices_keep_every_get_slice_rule() {
    let server = Server::start();
    server.file("f", "0123456789");
    let mut client = server.connect();
    assert_eq!(
        client.ask(&raw_slice("f", 5, 6)),
        Reply::Status(Status::OffsetExceedsFileSize)
    );
    assert_eq!(
        client.ask(&raw_slice("absent", 0, 1)),
        Reply::Status(Status::FileNotFound)
    );
    assert_eq!(
        client.ask(&raw_slice(".f", 0, 1)),
        Reply::Status(Status::FileNotFound)
    );
    for bad in ["RAW", "rawx", "base64", "ra"] {
        client.send(format!("get_slice f 0 1 {bad}\r\n").as_bytes());
        assert_eq!(client.status(), Status::InvalidArguments, "{bad}");
    }
    // The exact wire form of HFTP.md's example.
    server.file("archivo.txt", "!Que calor que hace hoy, pinta una birra!");
    client.send(b"get_slice archivo.txt 5 20 raw\r\n");
    assert_eq!(
        client.read_some(48),
        b"0 OK\r\nContent-Length: 20\r\n\r\ncalor que hace hoy, "
    );
}

#[test]
fn a_blank_line_is_fatal_101() {
    let server = Server::start();
    server.file("f", "x");
    for blank in [&b"\r\n"[..], b"   \r\n"] {
        let mut client = server.connect();
        let mut wire = blank.to_vec();
        wire.extend_from_slice(b"get_metadata f\r\n");
        client.send(&wire);
        assert_eq!(client.status(), Status::BadRequest);
        client.expect_eof();
    }
}

#[test]
fn a_file_nobody_may_read_is_listed_and_fatal_199() {
    let server = Server::start();
    server.file("locked", "secret");
    server.file("open", "x");
    let path = server.dir.join("locked");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let mut client = server.connect();
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(vec!["locked".into(), "open".into()])
    );
    // Even as root, which the system would let read it.
    assert_eq!(
        client.ask(&metadata("locked")),
        Reply::Status(Status::InternalServerError)
    );
    client.expect_eof();
    for request in [slice("locked", 0, 1), raw_slice("locked", 0, 1)] {
        let mut client = server.connect();
        assert_eq!(
            client.ask(&request),
            Reply::Status(Status::InternalServerError)
        );
        client.expect_eof();
    }
    assert_eq!(server.connect().ask(&metadata("open")), Reply::Size(1));
}
