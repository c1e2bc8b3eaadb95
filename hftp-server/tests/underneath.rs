//! Files changing underneath a client: truncated, deleted or replaced in
//! the middle of a slice, replaced between requests, the served directory
//! removed. A client gets right bytes or a short body without the final
//! CRLF, never wrong bytes; the server answers 202, never crashes.

use std::fs;

use hftp_proto::{Request, SliceEncoder, Status};

use crate::reference::{base64, base64_prefix};
use crate::support::{Client, Reply, Server, metadata, noise, slice};

const MIB: usize = 1024 * 1024;
/// Larger than the loopback socket buffers of a client that reads only a
/// little, so that the server is still sending when the file changes.
const BIG: usize = 48 * MIB;

/// Asks for all of `name` (`content`) and returns once the server has
/// started the body: the file is open and its size checked.
fn start_slice(server: &Server, name: &str, content: &[u8]) -> Client {
    let mut client = server.connect();
    client.send_request(&slice(name, 0, content.len() as u64));
    assert_eq!(client.read_some(6 + 4096), {
        let mut start = b"0 OK\r\n".to_vec();
        start.extend_from_slice(&base64(&content[..3072]));
        start
    });
    client
}

/// Reads the rest of a slice body begun by [`start_slice`]: it must be the
/// whole of `content`, with its final CRLF.
fn finish_slice(client: &mut Client, content: &[u8]) {
    let rest = usize::try_from(SliceEncoder::encoded_len(content.len() as u64)).expect("fits");
    let body = client.read_some(rest - 4096);
    let (text, end) = body.split_at(body.len() - 2);
    assert_eq!(end, b"\r\n");
    assert!(
        text == base64(&content[3072..]),
        "the body is the file as it was opened"
    );
}

#[test]
fn a_file_truncated_mid_slice_gives_a_true_prefix_without_the_final_crlf() {
    let server = Server::start();
    let content = noise(21, BIG);
    server.file("big", &content);
    let mut client = start_slice(&server, "big", &content);

    // Not a multiple of 3: the last group the server reads is partial.
    fs::File::options()
        .write(true)
        .open(server.dir.join("big"))
        .and_then(|file| file.set_len(MIB as u64 + 1))
        .expect("truncate the file");
    let rest = client.read_to_eof();
    assert!(
        !rest.contains(&b'\r') && !rest.contains(&b'\n'),
        "no line end: the body is cut"
    );
    assert_eq!(rest.len() % 4, 0, "whole base64 quads");
    let data = base64_prefix(&rest);
    assert!(3072 + data.len() < BIG, "the body is short");
    assert!(
        data == content[3072..3072 + data.len()],
        "every byte sent is the file's"
    );
    server.wait_for_log("shrank", 1);

    // The connection is closed; the server serves the shorter file.
    let mut next = server.connect();
    assert_eq!(next.ask(&metadata("big")), Reply::Size(MIB as u64 + 1));
    assert_eq!(
        next.ask(&slice("big", MIB as u64 - 2, 3)),
        Reply::Data(content[MIB - 2..=MIB].to_vec())
    );
}

#[test]
fn a_file_deleted_or_replaced_mid_slice_is_sent_as_it_was_opened() {
    let server = Server::start();
    let content = noise(22, 16 * MIB);
    let other = noise(23, 16 * MIB);

    // Deleted: the open file lives on until the slice is over.
    server.file("gone", &content);
    let mut client = start_slice(&server, "gone", &content);
    fs::remove_file(server.dir.join("gone")).expect("delete the file");
    finish_slice(&mut client, &content);
    assert_eq!(
        client.ask(&metadata("gone")),
        Reply::Status(Status::FileNotFound)
    );

    // Replaced by a rename: the old file to the end, then the new one.
    server.file("moving", &content);
    let mut client = start_slice(&server, "moving", &content);
    fs::write(server.dir.join("moving new"), &other).expect("the new file");
    fs::rename(server.dir.join("moving new"), server.dir.join("moving")).expect("replace");
    finish_slice(&mut client, &content);
    assert_eq!(
        client.ask(&slice("moving", 5, 7)),
        Reply::Data(other[5..12].to_vec())
    );
}

#[test]
fn a_file_replaced_between_requests_is_looked_up_again() {
    let server = Server::start();
    server.file("f", "first version");
    let mut client = server.connect();
    assert_eq!(client.ask(&metadata("f")), Reply::Size(13));
    assert_eq!(
        client.ask(&slice("f", 6, 7)),
        Reply::Data(b"version".to_vec())
    );

    server.file("f new", "v2");
    fs::rename(server.dir.join("f new"), server.dir.join("f")).expect("replace");
    assert_eq!(client.ask(&metadata("f")), Reply::Size(2));
    assert_eq!(
        client.ask(&slice("f", 6, 7)),
        Reply::Status(Status::OffsetExceedsFileSize)
    );
    assert_eq!(client.ask(&slice("f", 0, 2)), Reply::Data(b"v2".to_vec()));

    // Replaced by a directory, then by a file again.
    fs::remove_file(server.dir.join("f")).expect("remove");
    fs::create_dir(server.dir.join("f")).expect("a directory");
    assert_eq!(
        client.ask(&metadata("f")),
        Reply::Status(Status::FileNotFound)
    );
    assert_eq!(client.ask(&Request::GetFileListing), Reply::Listing(vec![]));
    fs::remove_dir(server.dir.join("f")).expect("remove");
    server.file("f", "third");
    assert_eq!(
        client.ask(&slice("f", 0, 5)),
        Reply::Data(b"third".to_vec())
    );
}

#[test]
fn the_served_directory_removed_mid_slice_and_between_requests_is_202() {
    let parent = tempfile::tempdir().expect("a temporary directory");
    let dir = parent.path().join("data");
    fs::create_dir(&dir).expect("the served directory");
    let content = noise(24, 16 * MIB);
    fs::write(dir.join("big"), &content).expect("a file");
    let mut server = Server::serve(&dir, &[]);

    let mut client = start_slice(&server, "big", &content);
    fs::remove_dir_all(&dir).expect("remove the served directory");
    finish_slice(&mut client, &content);
    for request in [Request::GetFileListing, metadata("big"), slice("big", 0, 1)] {
        assert_eq!(
            client.ask(&request),
            Reply::Status(Status::FileNotFound),
            "{request:?}"
        );
    }

    // A regular file where the directory was: still 202.
    fs::write(&dir, "not a directory").expect("a file at the path");
    let mut other = server.connect();
    assert_eq!(
        other.ask(&Request::GetFileListing),
        Reply::Status(Status::FileNotFound)
    );
    assert_eq!(
        other.ask(&metadata("big")),
        Reply::Status(Status::FileNotFound)
    );

    // Re-created: served again, on both connections.
    fs::remove_file(&dir).expect("remove the file");
    fs::create_dir(&dir).expect("the directory again");
    fs::write(dir.join("new"), "new").expect("a file");
    for client in [&mut client, &mut other] {
        assert_eq!(
            client.ask(&Request::GetFileListing),
            Reply::Listing(vec!["new".into()])
        );
    }
    assert!(server.is_running());
}
