//! Clients that misbehave, timeouts, a shrinking file, resource exhaustion
//! and signals: the server stays up and every other client is served.

use std::fs;
use std::net::Shutdown;

use hftp_proto::{Request, SliceEncoder, Status};

use crate::support::{Reply, Server, lowest_free_fd, metadata, set_fd_limit, slice};

const MIB: u64 = 1024 * 1024;
/// A file whose slice cannot sit whole in the kernel's buffers when the
/// client has a small receive buffer (the server's send buffer grows to
/// 4 MiB at most by default): its reply is still being written while the
/// client does not read. A multiple of 3, so every base64 quad is "YWFh".
const BIG: u64 = 9 * MIB;

fn big_file(server: &Server) {
    server.file("big", vec![b'a'; BIG as usize]);
}

#[test]
fn a_client_vanishing_mid_slice_frees_its_worker() {
    // One worker: the healthy client is served only once the vanished
    // one's worker is free again, well before any timeout.
    let mut server = Server::start_with(&["--workers", "1"]);
    big_file(&server);
    let mut vanishing = server.connect();
    vanishing.small_receive_buffer();
    vanishing.send_request(&slice("big", 0, BIG));
    assert_eq!(vanishing.read_some(10), b"0 OK\r\nYWFh");
    drop(vanishing); // unread data: the kernel sends a reset

    let mut mid_request = server.connect();
    mid_request.send(b"get_metad");
    drop(mid_request);

    let mut healthy = server.connect();
    assert_eq!(healthy.ask(&metadata("big")), Reply::Size(BIG));
    assert_eq!(
        healthy.ask(&slice("big", 5, 3)),
        Reply::Data(b"aaa".to_vec())
    );
    assert!(server.is_running());
}

#[test]
fn a_client_that_stops_reading_is_cut_off_by_the_write_timeout() {
    let server = Server::start_with(&["--workers", "1", "--idle-timeout", "1"]);
    big_file(&server);
    let mut stalled = server.connect();
    stalled.small_receive_buffer();
    stalled.send_request(&slice("big", 0, BIG));
    // Served at once by the events engine; by the one worker of the
    // threads engine only once the stalled client's write times out.
    let mut next = server.connect();
    assert_eq!(
        next.ask(&Request::GetFileListing),
        Reply::Listing(vec!["big".into()])
    );
    server.wait_for_log("stopped reading", 1);
    // The stalled client got a cut reply: no final CRLF.
    let got = stalled.read_until_closed();
    assert!(got.starts_with(b"0 OK\r\nYWFh"));
    assert!((got.len() as u64) < 6 + SliceEncoder::encoded_len(BIG));
}

#[test]
fn an_idle_client_is_closed_after_the_idle_timeout() {
    let server = Server::start_with(&["--idle-timeout", "1"]);
    let mut silent = server.connect();
    silent.expect_eof();
    let mut mid_request = server.connect();
    mid_request.send(b"get_file_list");
    mid_request.expect_eof();
    server.wait_for_log("idle timeout", 1);
}

#[test]
fn a_half_closed_client_gets_its_replies_then_eof() {
    let server = Server::start();
    let mut complete = server.connect();
    complete.send(b"get_file_listing\r\n");
    complete
        .stream
        .shutdown(Shutdown::Write)
        .expect("half-close");
    assert_eq!(
        complete.reply(&Request::GetFileListing),
        Reply::Listing(Vec::new())
    );
    complete.expect_eof();
    // Mid-request: no reply at all.
    let mut partial = server.connect();
    partial.send(b"get_file_listing\r\nget_file_lis");
    partial
        .stream
        .shutdown(Shutdown::Write)
        .expect("half-close");
    assert_eq!(
        partial.reply(&Request::GetFileListing),
        Reply::Listing(Vec::new())
    );
    partial.expect_eof();
}

#[test]
fn a_file_shrinking_during_a_slice_ends_the_body_without_crlf() {
    let server = Server::start();
    big_file(&server);
    let mut client = server.connect();
    client.small_receive_buffer();
    client.send_request(&slice("big", 0, BIG));
    // The `0 OK` proves the server has opened the file and checked its size.
    assert_eq!(client.read_some(6), b"0 OK\r\n");
    fs::File::options()
        .write(true)
        .open(server.dir.join("big"))
        .and_then(|file| file.set_len(MIB))
        .expect("truncate the file");
    let body = client.read_to_eof();
    assert!((body.len() as u64) < SliceEncoder::encoded_len(BIG) - 2);
    assert!(body.len().is_multiple_of(4) && body.chunks(4).all(|quad| quad == b"YWFh"));
    server.wait_for_log("shrank", 1);
}

#[test]
fn out_of_file_descriptors_is_199_and_the_server_recovers() {
    let mut server = Server::start();
    server.file("bar", "x");
    let mut victim = server.connect();
    assert_eq!(
        victim.ask(&Request::GetFileListing),
        Reply::Listing(vec!["bar".into()])
    );

    // No new file descriptor can be had: opening the file fails with
    // EMFILE, a failure of the server's own.
    let old = set_fd_limit(server.pid(), lowest_free_fd(server.pid()));
    // This one takes the descriptor the blocked `accept` has reserved; the
    // acceptor's next `accept`s fail and back off.
    let mut waiting = server.connect();
    let mut late = server.connect();
    // A size needs no descriptor (one stat of the path); a slice does.
    assert_eq!(victim.ask(&metadata("bar")), Reply::Size(1));
    assert_eq!(
        victim.ask(&slice("bar", 0, 1)),
        Reply::Status(Status::InternalServerError)
    );
    victim.expect_eof();
    set_fd_limit(server.pid(), old.rlim_cur);

    assert_eq!(waiting.ask(&metadata("bar")), Reply::Size(1));
    assert_eq!(late.ask(&slice("bar", 0, 1)), Reply::Data(b"x".to_vec()));
    assert_eq!(server.connect().ask(&metadata("bar")), Reply::Size(1));
    assert!(server.is_running());
}

#[test]
fn sigterm_lets_the_reply_in_flight_finish_then_exits_0() {
    let mut server = Server::start_with(&["-v"]);
    big_file(&server);
    let mut idle = server.connect();
    assert_eq!(idle.ask(&metadata("big")), Reply::Size(BIG));
    let mut busy = server.connect();
    busy.small_receive_buffer();
    busy.send_request(&slice("big", 0, BIG));
    assert_eq!(busy.read_some(6), b"0 OK\r\n");

    // The reply is in flight: it cannot all fit in the buffers.
    server.signal(libc::SIGTERM);
    let body_len = usize::try_from(SliceEncoder::encoded_len(BIG)).expect("fits");
    let body = busy.read_some(body_len);
    assert!(body[..body_len - 2].chunks(4).all(|quad| quad == b"YWFh"));
    assert!(body.ends_with(b"\r\n"));
    // Then the server closes the connection and exits.
    busy.expect_eof();
    drop(busy);
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    idle.expect_eof();
    // The reply was in flight: its worker saw the shutdown when done.
    server.wait_for_log("closed: the server is shutting down", 1);
    server.wait_for_log("SIGTERM: shutting down; 2 connections open", 1);
}

#[test]
fn sigint_on_an_idle_server_exits_0() {
    let mut server = Server::start();
    server.signal(libc::SIGINT);
    assert_eq!(server.wait().code(), Some(0));
    server.wait_for_log("shutting down", 1);
}
