//! `--proxy-protocol`: the balancer's PROXY header names the real client,
//! which the log shows; a connection without a good header is closed.

use hftp_proto::{Request, Status};

use crate::support::{Reply, Server};

/// A PROXY v2 header for a TCP-over-IPv4 client `192.0.2.9:4242`.
fn v2_header() -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend_from_slice(&[0x21, 0x11, 0, 12]);
    header.extend_from_slice(&[192, 0, 2, 9, 127, 0, 0, 1]);
    header.extend_from_slice(&4242u16.to_be_bytes());
    header.extend_from_slice(&19500u16.to_be_bytes());
    header
}

#[test]
fn both_versions_name_the_client_in_the_log() {
    let server = Server::start_with(&["--proxy-protocol"]);
    server.file("f", "served");
    let v1 = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 19500\r\n".to_vec();
    for (header, client) in [(v1, "192.0.2.7:40000"), (v2_header(), "192.0.2.9:4242")] {
        let mut client_conn = server.connect();
        // The header and the first request in one write, as a balancer
        // may send them.
        let mut wire = header;
        wire.extend_from_slice(b"get_metadata f\r\n");
        client_conn.send(&wire);
        assert_eq!(
            client_conn.reply(&crate::support::metadata("f")),
            Reply::Size(6)
        );
        assert_eq!(client_conn.ask(&Request::Quit), Reply::Status(Status::Ok));
        server.wait_for_log(&format!("{client} \"quit\""), 1);
        let log = server.stderr();
        assert!(
            log.contains(&format!("INFO  {client} \"get_metadata f\" 0 OK")),
            "{log}"
        );
    }
}

#[test]
fn no_header_or_a_bad_one_closes_only_that_connection() {
    let server = Server::start_with(&["--proxy-protocol"]);
    let mut good = server.connect();
    good.send(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 19500\r\n");
    for bad in [&b"help\r\n"[..], b"PROXY TCP4 nonsense\r\n"] {
        let mut client = server.connect();
        client.send(bad);
        assert_eq!(client.read_until_closed(), b"");
    }
    server.wait_for_log("closed: no PROXY header", 1);
    server.wait_for_log("closed: a bad PROXY v1 header", 1);
    assert_eq!(good.ask(&Request::Quit), Reply::Status(Status::Ok));
    let log = server.stderr();
    assert!(
        log.lines()
            .filter(|line| line.contains("PROXY"))
            .all(|line| line.contains(" WARN ")),
        "{log}"
    );
}
