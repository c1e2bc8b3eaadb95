//! Every command and every status code, over a real socket.

use hftp_proto::{Request, Status};

use crate::support::{Reply, Server, metadata, slice};

const BIRRA: &str = "!Que calor que hace hoy, pinta una birra!";

#[test]
fn listing_is_sorted_and_ends_with_an_empty_line() {
    let server = Server::start();
    let mut client = server.connect();
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(Vec::new())
    );
    for file in ["x", "foo", "bar", "B", "a.b-c_d"] {
        server.file(file, "");
    }
    client.send(b"get_file_listing\r\n");
    assert_eq!(
        client.read_some(b"0 OK\r\nB\r\na.b-c_d\r\nbar\r\nfoo\r\nx\r\n\r\n".len()),
        b"0 OK\r\nB\r\na.b-c_d\r\nbar\r\nfoo\r\nx\r\n\r\n"
    );
}

#[test]
fn a_thousand_files_are_listed() {
    let server = Server::start();
    let names: Vec<String> = (0..1000).map(|i| format!("test_file{i:04}")).collect();
    for name in &names {
        server.file(name, "");
    }
    let mut client = server.connect();
    assert_eq!(client.ask(&Request::GetFileListing), Reply::Listing(names));
}

#[test]
fn metadata_gives_the_size() {
    let server = Server::start();
    server.file("bar", "x".repeat(123_459));
    server.file("empty", "");
    let mut client = server.connect();
    assert_eq!(client.ask(&metadata("bar")), Reply::Size(123_459));
    assert_eq!(client.ask(&metadata("empty")), Reply::Size(0));
    client.send(b"get_metadata bar\r\n");
    assert_eq!(
        client.read_some(b"0 OK\r\n123459\r\n".len()),
        b"0 OK\r\n123459\r\n"
    );
}

#[test]
fn slices_of_hftp_md() {
    let server = Server::start();
    server.file("archivo.txt", BIRRA);
    let mut client = server.connect();
    client.send(b"get_slice archivo.txt 5 20\r\n");
    let wire = b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n";
    assert_eq!(client.read_some(wire.len()), wire);
    let len = BIRRA.len() as u64;
    for (offset, size) in [(0, len), (0, 0), (len, 0), (len - 1, 1), (3, 1), (3, 2)] {
        let expected = &BIRRA.as_bytes()[offset as usize..][..size as usize];
        assert_eq!(
            client.ask(&slice("archivo.txt", offset, size)),
            Reply::Data(expected.to_vec()),
            "{offset} {size}"
        );
    }
    client.send(b"get_slice archivo.txt 0 0\r\n");
    assert_eq!(client.read_some(b"0 OK\r\n\r\n".len()), b"0 OK\r\n\r\n");
}

#[test]
fn partial_slices_on_one_connection_and_binary_data() {
    let server = Server::start();
    let mut content = "a".repeat(100) + &"b".repeat(200) + &"c".repeat(300);
    server.file("bar", &content);
    let mut client = server.connect();
    for (offset, size) in [(0, 100), (100, 200), (200, 200), (500, 100)] {
        assert_eq!(
            client.ask(&slice("bar", offset, size)),
            Reply::Data(content.as_bytes()[offset as usize..][..size as usize].to_vec())
        );
    }
    content = "x".repeat(100) + &"\0".repeat(100) + &"y".repeat(100);
    server.file("nulls", &content);
    let all: Vec<u8> = (0..=255).collect();
    server.file("all", &all);
    assert_eq!(
        client.ask(&slice("nulls", 0, 300)),
        Reply::Data(content.into_bytes())
    );
    assert_eq!(client.ask(&slice("all", 0, 256)), Reply::Data(all));
}

#[test]
fn offset_exceeds_file_size_is_203() {
    let server = Server::start();
    server.file("bar", "data");
    let mut client = server.connect();
    for (offset, size) in [(0, 5), (4, 1), (5, 0), (2, u64::MAX), (u64::MAX, 1)] {
        assert_eq!(
            client.ask(&slice("bar", offset, size)),
            Reply::Status(Status::OffsetExceedsFileSize),
            "{offset} {size}"
        );
    }
    client.send(b"get_slice bar 99999999999999999999999 1\r\n");
    assert_eq!(client.status(), Status::OffsetExceedsFileSize);
    client.send(b"get_slice bar 0004 00\r\n");
    assert_eq!(client.status(), Status::Ok);
    assert_eq!(client.read_some(2), b"\r\n");
}

#[test]
fn refusals_keep_the_connection_open() {
    let server = Server::start();
    server.file("bar", "data");
    let mut client = server.connect();
    let table: [(&[u8], Status); 16] = [
        (b"verdura\r\n", Status::NoSuchCommand),
        (b"get_slice bar 0 1 RAW\r\n", Status::InvalidArguments),
        (b" quit\r\n", Status::NoSuchCommand),
        (b"QUIT\r\n", Status::NoSuchCommand),
        (
            b"quit passing extra arguments!\r\n",
            Status::InvalidArguments,
        ),
        (b"get_metadata\r\n", Status::InvalidArguments),
        (b"get_metadata bar \r\n", Status::InvalidArguments),
        (b"get_metadata  bar\r\n", Status::InvalidArguments),
        (b"get_metadata ../etc/passwd\r\n", Status::InvalidArguments),
        (b"get_slice bar x x\r\n", Status::InvalidArguments),
        (b"get_slice bar -1 1\r\n", Status::InvalidArguments),
        (b"get_slice bar 0 +1\r\n", Status::InvalidArguments),
        (b"get_file_listing x\r\n", Status::InvalidArguments),
        (b"get_metadata does_not_exist\r\n", Status::FileNotFound),
        (b"get_slice does_not_exist 0 0\r\n", Status::FileNotFound),
        (b"get_metadata ..\r\n", Status::FileNotFound),
    ];
    for (request, status) in table {
        client.send(request);
        assert_eq!(
            client.status(),
            status,
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
    assert_eq!(client.ask(&metadata("bar")), Reply::Size(4));
    assert_eq!(client.ask(&Request::Quit), Reply::Status(Status::Ok));
    client.expect_eof();
}

#[test]
fn quit_is_answered_then_the_connection_ends_cleanly() {
    let server = Server::start();
    let mut client = server.connect();
    // What follows `quit` is ignored.
    client.send(b"quit\r\nget_file_listing\r\n");
    assert_eq!(client.read_some(6), b"0 OK\r\n");
    client.expect_eof();
}

#[test]
fn bad_eol_is_100_then_a_clean_close() {
    let server = Server::start();
    for request in [
        &b"qui\nt\n\r\n"[..],
        b"\n",
        b"get_file_listing\n",
        b"get_metadata a\rb\n",
    ] {
        let mut client = server.connect();
        // The unread rest of the line must not turn the close into a reset.
        client.send(request);
        assert_eq!(client.status(), Status::BadEol, "{request:?}");
        client.expect_eof();
    }
}

#[test]
fn bad_request_is_101_then_a_clean_close() {
    let server = Server::start();
    for request in [
        &b"get_metadata b\0r\r\n"[..],
        b"get_file_listing\t\r\n",
        b"quit\rx\r\n",
        b"get_metadata \xc3\xb1\r\n",
        b"verdura\x7f\r\n",
    ] {
        let mut client = server.connect();
        client.send(request);
        client.send(b"get_file_listing\r\n"); // dropped, unanswered
        assert_eq!(client.status(), Status::BadRequest, "{request:?}");
        client.expect_eof();
    }
}

#[test]
fn pipelined_requests_behind_a_fatal_one_are_dropped() {
    let server = Server::start();
    let mut client = server.connect();
    client.send(b"get_file_listing\r\nbad\nget_file_listing\r\nquit\r\n");
    assert_eq!(
        client.reply(&Request::GetFileListing),
        Reply::Listing(Vec::new())
    );
    assert_eq!(client.status(), Status::BadEol);
    client.expect_eof();
}
