//! Bytes in any split: pipelining, one byte per write, a CRLF split across
//! writes.

use hftp_proto::{Request, Status};

use crate::support::{Reply, Server, metadata, noise, slice};

#[test]
fn a_thousand_pipelined_requests_in_one_write_are_answered_in_order() {
    let server = Server::start();
    let content = noise(1, 10_000);
    server.file("data", &content);
    server.file("other", "");
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000u64 {
        let (request, reply) = match i % 5 {
            0 => (metadata("data"), Reply::Size(10_000)),
            1 => {
                let offset = i * 7;
                (
                    slice("data", offset, i),
                    Reply::Data(content[offset as usize..][..i as usize].to_vec()),
                )
            }
            2 => (
                Request::GetFileListing,
                Reply::Listing(vec!["data".into(), "other".into()]),
            ),
            3 => (metadata("missing"), Reply::Status(Status::FileNotFound)),
            _ => (
                slice("data", 10_000, 1),
                Reply::Status(Status::OffsetExceedsFileSize),
            ),
        };
        request.encode(&mut wire);
        expected.push((request, reply));
    }
    Request::Quit.encode(&mut wire);
    let mut client = server.connect();
    client.send(&wire);
    for (index, (request, reply)) in expected.iter().enumerate() {
        assert_eq!(
            &client.reply(request),
            reply,
            "request {index}: {request:?}"
        );
    }
    assert_eq!(client.status(), Status::Ok);
    client.expect_eof();
}

#[test]
fn a_request_one_byte_per_write() {
    let server = Server::start();
    server.file("bar", "0123456789");
    let mut client = server.connect();
    for line in [&b"get_slice bar 2 5\r\n"[..], b"verdura\r\n", b"quit\r\n"] {
        for byte in line {
            client.send(&[*byte]);
        }
    }
    assert_eq!(
        client.reply(&slice("bar", 2, 5)),
        Reply::Data(b"23456".to_vec())
    );
    assert_eq!(client.status(), Status::NoSuchCommand);
    assert_eq!(client.status(), Status::Ok);
    client.expect_eof();
}

#[test]
fn a_crlf_split_across_writes() {
    let server = Server::start();
    server.file("bar", "abc");
    let mut client = server.connect();
    // The listing's reply proves the server has read up to the `\r`; the
    // `\n` then arrives in a read of its own.
    client.send(b"get_file_listing\r\nget_metadata bar\r");
    assert_eq!(
        client.reply(&Request::GetFileListing),
        Reply::Listing(vec!["bar".into()])
    );
    client.send(b"\n");
    assert_eq!(client.reply(&metadata("bar")), Reply::Size(3));
    // The same with a lone `\r` followed by something else: 101.
    client.send(b"get_file_listing\r\nget_metadata bar\r");
    assert_eq!(
        client.reply(&Request::GetFileListing),
        Reply::Listing(vec!["bar".into()])
    );
    client.send(b"x\r\n");
    assert_eq!(client.status(), Status::BadRequest);
    client.expect_eof();
}

#[test]
fn a_request_split_at_every_position() {
    let server = Server::start();
    server.file("bar", "abcdef");
    let line = b"get_slice bar 1 4\r\n";
    let mut client = server.connect();
    for split in 1..line.len() {
        // The listing's reply proves the first part was read on its own.
        let mut first = b"get_file_listing\r\n".to_vec();
        first.extend_from_slice(&line[..split]);
        client.send(&first);
        assert_eq!(
            client.reply(&Request::GetFileListing),
            Reply::Listing(vec!["bar".into()])
        );
        client.send(&line[split..]);
        assert_eq!(
            client.reply(&slice("bar", 1, 4)),
            Reply::Data(b"bcde".to_vec()),
            "split at {split}"
        );
    }
}
