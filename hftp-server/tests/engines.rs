//! What HFTP.md's *Connection life* asks of a server whichever engine
//! runs it, and what only the events engine can give: idle and slow
//! clients cost their own connection and never delay another's answer.

use hftp_proto::{Request, Status};

use crate::support::{Client, Reply, Server, metadata, slice};

/// Whether the suite runs against the thread pool, which by design serves
/// only as many clients at once as it has workers.
fn is_thread_pool() -> bool {
    std::env::var("HFTP_TEST_ENGINE").is_ok_and(|engine| engine == "threads")
}

#[test]
fn idle_slow_and_stalled_clients_never_delay_a_fresh_one() {
    if is_thread_pool() {
        return;
    }
    // No timeout will free anything during the test.
    let server = Server::start_with(&["--idle-timeout", "3600"]);
    server.file("f", "served");
    server.file("big", vec![b'x'; 8 << 20]);
    let mut crowd: Vec<Client> = Vec::new();
    for i in 0..300 {
        let mut client = server.connect();
        match i % 3 {
            // Idle.
            0 => {}
            // Slowloris: in the middle of a request line.
            1 => client.send(b"get_meta"),
            // A stalled reader of a big slice.
            _ => {
                client.send_request(&slice("big", 0, 8 << 20));
            }
        }
        crowd.push(client);
    }
    // Answered while all of them hold their connections.
    let mut fresh = server.connect();
    assert_eq!(fresh.ask(&metadata("f")), Reply::Size(6));
    assert_eq!(
        fresh.ask(&Request::GetFileListing),
        Reply::Listing(vec!["big".into(), "f".into()])
    );
    // The crowd is still there, served as it asks: a slowloris that
    // finishes its line gets its answer.
    crowd[1].send(b"data f\r\n");
    assert_eq!(crowd[1].reply(&metadata("f")), Reply::Size(6));
}

#[test]
fn a_log_nobody_reads_never_stops_serving() {
    let server = Server::start_with_unread_stderr(&[]);
    server.file("f", "served");
    let mut client = server.connect();
    // Each request logs a line: far more than a pipe holds.
    let mut wire = Vec::new();
    for _ in 0..3000 {
        metadata("f").encode(&mut wire);
    }
    client.send(&wire);
    for _ in 0..3000 {
        assert_eq!(client.reply(&metadata("f")), Reply::Size(6));
    }
    assert_eq!(server.connect().ask(&metadata("f")), Reply::Size(6));
}

#[test]
fn a_huge_idle_timeout_serves_and_closes_normally() {
    let server = Server::start_with(&["--idle-timeout", &u64::MAX.to_string()]);
    server.file("f", "served");
    let mut client = server.connect();
    assert_eq!(client.ask(&metadata("f")), Reply::Size(6));
    assert_eq!(client.ask(&Request::Quit), Reply::Status(Status::Ok));
    client.expect_eof();
}

#[test]
fn sighup_and_sigquit_stop_the_server_gracefully() {
    for signal in [libc::SIGHUP, libc::SIGQUIT] {
        let mut server = Server::start();
        server.file("f", "served");
        let mut client = server.connect();
        assert_eq!(client.ask(&metadata("f")), Reply::Size(6));
        server.signal(signal);
        let status = server.wait();
        assert_eq!(
            status.code(),
            Some(0),
            "signal {signal}: {}",
            server.stderr()
        );
        client.expect_eof();
    }
}

#[test]
fn too_many_workers_is_refused_before_serving() {
    let output = std::process::Command::new(crate::support::BIN)
        .args(["-p", "0", "--engine", "threads", "--workers", "65535"])
        .output()
        .expect("the server runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        output.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("--workers"));
}

#[test]
fn a_client_queued_past_the_idle_timeout_is_served_and_kept() {
    // One worker, busy with a silent client until its idle timeout: the
    // next client waits in the queue longer than that, with its request
    // sent. It is answered, and then has a whole idle timeout of its own
    // (the seed's pool cut it right after its first reply).
    let server = Server::start_with(&["--workers", "1", "--idle-timeout", "2"]);
    server.file("f", "served");
    let mut silent = server.connect();
    let mut queued = server.connect();
    queued.send_request(&metadata("f"));
    if is_thread_pool() {
        silent.expect_eof();
    }
    assert_eq!(queued.reply(&metadata("f")), Reply::Size(6));
    assert_eq!(queued.ask(&metadata("f")), Reply::Size(6));
    assert_eq!(queued.ask(&Request::Quit), Reply::Status(Status::Ok));
    queued.expect_eof();
}
