//! Large things: a 64 MiB slice, a 5 MiB name, a 16 MiB line, 50 clients.

use std::io::Write;
use std::thread;

use hftp_proto::{MAX_LINE_LEN, Request, SliceEncoder, Status};

use crate::support::{Reply, Server, decode, metadata, noise, slice};

const MIB: usize = 1024 * 1024;
/// What the server process may use at most, whatever one client does.
const MEMORY_BOUND_KIB: u64 = 64 * 1024;

#[test]
fn a_64_mib_slice_is_one_base64_line_and_memory_stays_bounded() {
    let server = Server::start();
    let content = noise(64, 64 * MIB + 1);
    server.file("big", &content);
    let mut client = server.connect();
    assert_eq!(
        client.ask(&metadata("big")),
        Reply::Size(content.len() as u64)
    );

    // An offset that is not a multiple of 3 and a size that is not either.
    let (offset, size) = (1, 64 * MIB as u64);
    let request = slice("big", offset, size);
    client.send_request(&request);
    let body_len = usize::try_from(SliceEncoder::encoded_len(size)).expect("fits");
    let raw = client.read_some(b"0 OK\r\n".len() + body_len);
    let body = &raw[b"0 OK\r\n".len()..];
    assert!(raw.starts_with(b"0 OK\r\n"));
    assert!(body.ends_with(b"\r\n"));
    assert!(
        !body[..body_len - 2]
            .iter()
            .any(|&b| b == b'\r' || b == b'\n'),
        "the slice is not one line"
    );
    assert!(decode(&request, &raw) == Reply::Data(content[1..][..64 * MIB].to_vec()));

    // The connection goes on after the big reply.
    assert_eq!(
        client.ask(&slice("big", 64 * MIB as u64, 1)),
        Reply::Data(content[64 * MIB..].to_vec())
    );
    let peak = server.memory_kib("VmHWM");
    assert!(peak < MEMORY_BOUND_KIB, "the server peaked at {peak} KiB");
}

#[test]
fn a_5_mib_file_name_is_202_and_the_connection_stays_open() {
    let server = Server::start();
    let mut client = server.connect();
    let name = "x".repeat(5 * MIB);
    client.send(format!("get_metadata {name}\r\n").as_bytes());
    assert_eq!(client.status(), Status::FileNotFound);
    client.send(format!("get_slice {name} 0 1\r\n").as_bytes());
    assert_eq!(client.status(), Status::FileNotFound);
    assert_eq!(client.ask(&Request::Quit), Reply::Status(Status::Ok));
    client.expect_eof();
}

#[test]
fn a_16_mib_line_without_crlf_is_101_and_memory_stays_bounded() {
    let server = Server::start();
    let client = server.connect();
    let mut writer = client.stream.try_clone().expect("a second handle");
    let sender = thread::spawn(move || {
        let mut line = b"get_metadata ".to_vec();
        line.resize(16 * MIB, b'x');
        // The server may close before it has read it all: errors are fine.
        let _ = writer.write_all(&line);
    });
    let mut client = client;
    let reply = client.read_until_closed();
    assert_eq!(reply, b"101 BAD REQUEST\r\n");
    sender.join().expect("the sender thread");
    assert!(
        MAX_LINE_LEN < 16 * MIB as u64,
        "the test must pass the limit"
    );
    let peak = server.memory_kib("VmHWM");
    assert!(peak < MEMORY_BOUND_KIB, "the server peaked at {peak} KiB");
    // And it still serves.
    assert_eq!(
        server.connect().ask(&Request::GetFileListing),
        Reply::Listing(Vec::new())
    );
}

#[test]
fn fifty_concurrent_clients_each_get_their_own_bytes() {
    let server = Server::start();
    let contents: Vec<Vec<u8>> = (0..50)
        .map(|i| noise(100 + i, 200_000 + i as usize * 1001))
        .collect();
    for (i, content) in contents.iter().enumerate() {
        server.file(&format!("file{i:02}"), content);
    }
    thread::scope(|scope| {
        for (i, content) in contents.iter().enumerate() {
            let server = &server;
            scope.spawn(move || {
                let name = format!("file{i:02}");
                let mut client = server.connect();
                // Everything in one write, then every reply checked.
                let requests = [
                    metadata(&name),
                    slice(&name, 0, content.len() as u64),
                    slice(&name, i as u64, 1000),
                    Request::GetFileListing,
                ];
                client.send_requests(&requests);
                assert_eq!(
                    client.reply(&requests[0]),
                    Reply::Size(content.len() as u64)
                );
                assert!(
                    client.reply(&requests[1]) == Reply::Data(content.clone()),
                    "client {i}"
                );
                assert_eq!(
                    client.reply(&requests[2]),
                    Reply::Data(content[i..][..1000].to_vec())
                );
                match client.reply(&requests[3]) {
                    Reply::Listing(names) => assert_eq!(names.len(), 50),
                    other => panic!("{other:?}"),
                }
                assert_eq!(client.ask(&Request::Quit), Reply::Status(Status::Ok));
                client.expect_eof();
            });
        }
    });
}

#[test]
fn the_default_pool_serves_130_clients_at_once() {
    let server = Server::start();
    server.file("f", "x");
    // All connected first: with fewer workers than clients, the last ones
    // would wait for a worker that never frees up, and time out.
    let mut clients: Vec<_> = (0..130).map(|_| server.connect()).collect();
    for client in clients.iter_mut().rev() {
        assert_eq!(client.ask(&metadata("f")), Reply::Size(1));
    }
    for client in &mut clients {
        assert_eq!(client.ask(&slice("f", 0, 1)), Reply::Data(b"x".to_vec()));
    }
}
