//! The library in-process: a server started on port 0 in this process,
//! spoken to, shut down; then none of its threads is left and its port is
//! free.

use std::fs;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hftp_proto::{Request, SliceEncoder, Status};
use hftp_server::{Config, Engine, Running, Server};

use crate::support::{Client, Reply, metadata, slice};

/// The tests here count this process's threads: one at a time, when the
/// harness runs tests as threads of one process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The engine of `HFTP_TEST_ENGINE`, as the rest of the suite.
fn engine() -> Engine {
    match std::env::var("HFTP_TEST_ENGINE").as_deref() {
        Ok("threads") => Engine::Threads { workers: 4 },
        _ => Engine::Events { loops: 2 },
    }
}

fn start(dir: &std::path::Path) -> Running {
    let config = Config {
        engine: engine(),
        ..Config::loopback(dir)
    };
    Server::bind(&config)
        .expect("the server binds")
        .start()
        .expect("the server starts")
}

/// The names of this process's threads that a server starts.
fn server_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in fs::read_dir("/proc/self/task").expect("this process's threads") {
        let Ok(task) = task else { continue };
        // A thread that ended between the listing and the read is gone.
        let Ok(name) = fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        let name = name.trim_end().to_owned();
        if ["hftp-loop-", "hftp-worker-", "hftp-acceptor"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            names.push(name);
        }
    }
    names
}

/// Every server thread is gone from `/proc`. `join` returns once a thread
/// has finished, but the kernel lists it under `/proc/self/task` until it
/// has released it, a moment later, and says nothing when it does: so look
/// again until a deadline that only a thread still running would reach.
fn assert_no_server_threads_left() {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = server_threads();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server threads still running: {left:?}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_server_in_process_serves_then_shuts_down_joined_with_its_port_free() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("a.txt"), "in process").expect("a file");
    let running = start(dir.path());
    let addr = running.local_addr();
    assert_ne!(addr.port(), 0);

    let mut client = Client::connect(addr);
    assert_eq!(client.ask(&metadata("a.txt")), Reply::Size(10));
    // A thread names itself as it starts: the one that answered has.
    assert!(!server_threads().is_empty(), "the engine runs threads");
    assert_eq!(
        client.ask(&slice("a.txt", 3, 7)),
        Reply::Data(b"process".to_vec())
    );
    let mut idle = Client::connect(addr);
    assert_eq!(
        idle.ask(&Request::GetFileListing),
        Reply::Listing(vec!["a.txt".into()])
    );
    assert_eq!(client.ask(&Request::Quit), Reply::Status(Status::Ok));
    client.expect_eof();

    let handle = running.handle();
    let stopped = running.shutdown(Duration::from_secs(30));
    assert_eq!(stopped.cut, 0);
    assert!(handle.is_shutting_down());
    assert_eq!(handle.open_connections(), 0);
    // The idle connection was closed cleanly, nothing said.
    idle.expect_eof();
    assert_no_server_threads_left();
    // Nothing listens on the port any more: it can be bound again.
    TcpListener::bind(addr).expect("the port is free");
}

#[test]
fn the_shutdown_finishes_the_reply_in_flight_and_cuts_one_never_read() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("a temporary directory");
    const BIG: u64 = 3 << 23;
    fs::write(dir.path().join("big"), vec![b'a'; BIG as usize]).expect("a file");
    let running = start(dir.path());
    let addr = running.local_addr();

    // Two slices too big for the sockets' buffers: one read to its end
    // while the server shuts down, one never read.
    let mut reader = Client::connect(addr);
    reader.small_receive_buffer();
    let mut stalled = Client::connect(addr);
    stalled.small_receive_buffer();
    let mut wire = Vec::new();
    slice("big", 0, BIG).encode(&mut wire);
    reader.send(&wire);
    stalled.send(&wire);
    assert_eq!(reader.read_some(6), b"0 OK\r\n");
    assert_eq!(stalled.read_some(6), b"0 OK\r\n");

    let handle = running.handle();
    handle.shutdown();
    let body_len = usize::try_from(SliceEncoder::encoded_len(BIG)).expect("fits");
    let body = reader.read_some(body_len);
    assert!(body[..body_len - 2].chunks(4).all(|quad| quad == b"YWFh"));
    reader.expect_eof();
    drop(reader);
    // The stalled reply cannot finish: the grace period ends and cuts it.
    let stopped = running.shutdown(Duration::from_secs(2));
    assert_eq!(stopped.cut, 1);
    assert_no_server_threads_left();
    let got = stalled.read_until_closed();
    assert!(got.len() < body_len, "the stalled reply was cut short");
    TcpListener::bind(addr).expect("the port is free");
}
