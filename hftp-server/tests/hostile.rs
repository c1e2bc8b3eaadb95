//! Hostile and broken clients that try to hold the workers: idle
//! connections beyond the pool (slowloris), readers that stall, and
//! disconnects at every stage of a request. After each, a healthy client
//! is served, with the right bytes.

use std::fs;
use std::net::Shutdown;
use std::time::Duration;

use hftp_proto::{Request, SliceEncoder};

use crate::reference::base64_prefix;
use crate::support::{Client, Reply, Server, metadata, noise, slice};
use hftp_test_support::socket::close_with_reset;

const MIB: usize = 1024 * 1024;
/// Larger than the loopback socket buffers of a peer that does not read,
/// so that a reply of it cannot sit whole in the kernel.
const BIG: usize = 48 * MIB;

const WORKERS: usize = 4;
const IDLE_SECS: u64 = 2;

/// Sets how long `client` waits for each read: the bound of a test that
/// would otherwise only be bounded by `support::PATIENCE`.
fn patience(client: &Client, secs: u64) {
    client
        .stream
        .set_read_timeout(Some(Duration::from_secs(secs)))
        .expect("a read timeout");
}

/// A server with `--workers` [`WORKERS`] and an idle timeout of
/// [`IDLE_SECS`], serving `f`.
fn small_pool() -> Server {
    let server = Server::start_with(&[
        "--workers",
        &WORKERS.to_string(),
        "--idle-timeout",
        &IDLE_SECS.to_string(),
    ]);
    server.file("f", "served");
    server
}

/// Idle connections, half of them stopped in the middle of a request line
/// (the classic slowloris), one more than the pool and its queue hold.
fn slowloris(server: &Server, count: usize) -> Vec<Client> {
    (0..count)
        .map(|i| {
            let mut client = server.connect();
            if i % 2 == 1 {
                client.send(b"get_file_li");
            }
            client
        })
        .collect()
}

#[test]
fn idle_connections_beyond_the_workers_do_not_lock_out_a_new_client() {
    let server = small_pool();
    // More than the workers, fewer than the workers and their queue: the
    // first idle timeout frees enough workers for the newcomer.
    let mut idle = slowloris(&server, WORKERS + 2);

    // The issue's bound is the idle timeout plus a second (the newcomer
    // is served when the first round of idle connections times out); the
    // read timeout gives a loaded CI machine a few seconds more.
    let mut fresh = server.connect();
    patience(&fresh, IDLE_SECS + 3);
    assert_eq!(
        fresh.ask(&Request::GetFileListing),
        Reply::Listing(vec!["f".into()])
    );
    assert_eq!(
        fresh.ask(&slice("f", 0, 6)),
        Reply::Data(b"served".to_vec())
    );

    // Every idle connection is closed by the server, without a word.
    for client in &mut idle {
        client.expect_eof();
    }
    server.wait_for_log("idle timeout", 1);
}

/// The slowloris at scale: four rounds of idle connections. A queued
/// connection's first request is due within the idle timeout of its
/// accept, not of the moment a worker takes it, so rounds do not add up:
/// the newcomer is still served when the first round times out, not one
/// idle timeout per round later.
#[test]
fn four_rounds_of_idle_connections_still_let_a_new_client_in_after_one_timeout() {
    let server = small_pool();
    let mut idle = slowloris(&server, 4 * WORKERS);
    let mut fresh = server.connect();
    // Slack for a loaded machine, well below the four idle timeouts the
    // rounds would cost if they added up.
    patience(&fresh, IDLE_SECS + 3);
    assert_eq!(
        fresh.ask(&Request::GetFileListing),
        Reply::Listing(vec!["f".into()])
    );
    for client in &mut idle {
        client.expect_eof();
    }
}

#[test]
fn stalled_readers_are_cut_off_and_their_worker_goes_back_to_the_pool() {
    // One worker, one second of write timeout (it is the idle timeout).
    let server = Server::start_with(&["--workers", "1", "--idle-timeout", "1"]);
    let content = noise(7, BIG);
    server.file("big", &content);

    // Two in a row: the one worker must come back each time.
    let mut stalled: Vec<Client> = (0..2)
        .map(|_| {
            let mut client = server.connect();
            client.send_request(&slice("big", 0, BIG as u64));
            client
        })
        .collect();
    let mut next = server.connect();
    assert_eq!(next.ask(&metadata("big")), Reply::Size(BIG as u64));
    assert_eq!(
        next.ask(&slice("big", 1000, 5)),
        Reply::Data(content[1000..1005].to_vec())
    );

    // What the stalled readers got is a true prefix, cut short.
    server.wait_for_log("stopped reading", 2);
    for client in &mut stalled {
        let got = client.read_until_closed();
        let body = got.strip_prefix(b"0 OK\r\n").expect("a 0 OK");
        assert!((body.len() as u64) < SliceEncoder::encoded_len(BIG as u64));
        let data = base64_prefix(body);
        assert!(data == content[..data.len()], "wrong bytes in a cut reply");
    }
}

/// A temporary directory on a tmpfs when there is one: creating 10 000
/// files costs a second or more on some disks, and nothing on a tmpfs.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory")
}

/// How a client can leave: what it sends, what it reads, how it closes.
struct Departure {
    what: &'static str,
    send: Vec<u8>,
    /// Bytes of the reply read before leaving.
    read: usize,
    /// Half-close first (a FIN while the server may still answer).
    half_close: bool,
    /// Close with a reset rather than a FIN.
    reset: bool,
}

#[test]
fn disconnects_at_every_stage_leave_the_server_serving() {
    // One worker and a long idle timeout: the healthy client after each
    // departure is served only if the departure itself freed the worker.
    let served = scratch_dir();
    let mut server = Server::serve(served.path(), &["--workers", "1"]);
    let content = noise(11, 16 * MIB);
    server.file("big", &content);
    for i in 0..10_000 {
        fs::write(server.dir.join(format!("f{i:05}")), "").expect("a file");
    }
    let listings = b"get_file_listing\r\n".repeat(20);
    let big_slice = crate::support::wire(&slice("big", 0, content.len() as u64));
    let departures = [
        ("before any request", b"".to_vec(), 0, false),
        ("mid-command", b"get_sl".to_vec(), 0, false),
        ("mid-line", b"get_slice big 0 1".to_vec(), 0, false),
        (
            "between CR and LF",
            b"get_slice big 0 1\r".to_vec(),
            0,
            false,
        ),
        ("right after a request", big_slice.clone(), 0, false),
        ("after a half-close", big_slice.clone(), 0, true),
        ("mid-slice", big_slice.clone(), 100_000, false),
        (
            "during listings of 10 000 files",
            listings.clone(),
            50_000,
            false,
        ),
        ("right after listings", listings, 0, false),
    ];
    let departures = departures
        .into_iter()
        .flat_map(|(what, send, read, half_close)| {
            [false, true].map(|reset| Departure {
                what,
                send: send.clone(),
                read,
                half_close,
                reset,
            })
        });

    for (round, departure) in departures.enumerate() {
        let mut leaving = server.connect();
        leaving.send(&departure.send);
        if departure.half_close {
            leaving
                .stream
                .shutdown(Shutdown::Write)
                .expect("half-close");
        }
        if departure.read > 0 {
            let got = leaving.read_some(departure.read);
            assert!(got.starts_with(b"0 OK\r\n"), "{}", departure.what);
        }
        if departure.reset {
            close_with_reset(leaving.stream).expect("SO_LINGER");
        } else {
            drop(leaving);
        }

        let mut healthy = server.connect();
        let offset = 3 * round + 1;
        assert_eq!(
            healthy.ask(&slice("big", offset as u64, 4)),
            Reply::Data(content[offset..offset + 4].to_vec()),
            "after a client left {} (reset: {})",
            departure.what,
            departure.reset
        );
    }
    let mut last = server.connect();
    match last.ask(&Request::GetFileListing) {
        Reply::Listing(names) => assert_eq!(names.len(), 10_001),
        other => panic!("{other:?}"),
    }
    assert!(server.is_running());
}

/// HFTP.md lets a server close only a connection that has sent nothing
/// for a long time: a first request trickling in for longer than the idle
/// timeout, a byte every fifth of it, is answered.
#[test]
fn a_slow_but_steady_first_request_is_not_cut_off() {
    let server = Server::start_with(&["--idle-timeout", &IDLE_SECS.to_string()]);
    server.file("f", "served");
    let mut client = server.connect();
    let request = b"get_metadata f\r\n";
    // The pace of the client under test, not a wait for the server.
    let gap = Duration::from_millis(IDLE_SECS * 1000 / 5);
    assert!(gap * request.len() as u32 > Duration::from_secs(IDLE_SECS) * 3 / 2);
    for byte in request {
        client.send(&[*byte]);
        std::thread::sleep(gap);
    }
    assert_eq!(client.reply(&metadata("f")), Reply::Size(6));
}
