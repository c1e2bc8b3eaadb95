//! Resource exhaustion: a server out of file descriptors keeps running,
//! refuses what it cannot open with 199, and serves again once the
//! descriptors are given back.

use std::time::{Duration, Instant};

use hftp_proto::{Request, Status};

use crate::support::{
    Client, PATIENCE, Reply, Server, lowest_free_fd, metadata, set_fd_limit, slice,
};

/// Waits, bounded by [`PATIENCE`], until `done` holds: a condition on the
/// server's state, re-checked, not a delay assumed long enough.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn out_of_descriptors_the_server_keeps_running_and_serves_again_after() {
    const FREE: u64 = 8;
    const CLIENTS: usize = 40;
    let mut server = Server::start();
    server.file("f", "fd");
    let limit = lowest_free_fd(server.pid()) + FREE;
    set_fd_limit(server.pid(), limit);

    // Five times more connections than descriptors: the first ones take
    // them all, the rest wait in the kernel's backlog while the acceptor's
    // `accept` fails with EMFILE.
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| server.connect()).collect();
    let pid = server.pid();
    wait_until("the server holds every descriptor it may", || {
        lowest_free_fd(pid) >= limit
    });
    assert!(server.is_running());

    // The first connection was accepted; its file cannot be opened.
    assert_eq!(
        clients[0].ask(&slice("f", 0, 2)),
        Reply::Status(Status::InternalServerError)
    );
    clients[0].expect_eof();
    assert!(server.is_running());

    // Every descriptor given back: the backlog drains and a newcomer is
    // served, under the same low limit.
    clients.clear();
    let mut fresh = server.connect();
    assert_eq!(
        fresh.ask(&Request::GetFileListing),
        Reply::Listing(vec!["f".into()])
    );
    assert_eq!(fresh.ask(&metadata("f")), Reply::Size(2));
    assert_eq!(fresh.ask(&slice("f", 1, 1)), Reply::Data(b"d".to_vec()));

    // And again: a second wave, closed, leaves it serving.
    let wave: Vec<Client> = (0..CLIENTS).map(|_| server.connect()).collect();
    drop(wave);
    assert_eq!(
        server.connect().ask(&slice("f", 0, 2)),
        Reply::Data(b"fd".to_vec())
    );
    assert!(server.is_running());
    server.wait_for_log("accept failed", 1);
}
