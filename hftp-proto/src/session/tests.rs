//! What only the inside of a session shows: its private bounds. The
//! connection rules are tested through a fake driver, in
//! `tests/session/`.

use super::*;
use crate::ListingBuilder;

fn session(now: Instant) -> ServerSession {
    let config = SessionConfig {
        idle_timeout: Duration::from_secs(60),
        show_hidden: false,
    };
    ServerSession::new(config, now)
}

#[test]
fn unpolled_records_stop_the_session_taking_requests() {
    let now = Instant::now();
    let mut session = session(now);
    let line = b"verdura\r\n";
    let input = line.repeat(MAX_RECORDS + 3);
    let taken = session.handle_input(&input, now);
    assert_eq!(taken, MAX_RECORDS * line.len());
    assert!(!session.wants_read());
    assert_eq!(session.handle_input(&input[taken..], now), 0);

    let record = session.poll_answered().expect("a record");
    assert_eq!(record.status, Status::NoSuchCommand);
    assert!(session.wants_read());
    assert_eq!(session.handle_input(&input[taken..], now), line.len());
}

#[test]
fn pipelined_replies_grow_the_output_no_further_than_the_limit() {
    let now = Instant::now();
    let mut session = session(now);
    let input = b"verdura\r\n".repeat(10_000);
    let mut rest = &input[..];
    loop {
        let taken = session.handle_input(rest, now);
        rest = &rest[taken..];
        while session.poll_answered().is_some() {}
        assert!(session.out.capacity() <= OUTPUT_CAPACITY);
        if taken == 0 {
            break;
        }
    }
    assert!(!rest.is_empty(), "the session stopped at the limit");
    assert!(session.pending_output().len() > OUTPUT_LIMIT);

    session.consumed(session.pending_output().len(), now);
    assert!(session.out.capacity() <= KEPT_OUTPUT_CAPACITY);
    assert!(session.wants_read());
}

#[test]
fn a_listing_streams_through_a_bounded_buffer_given_back_once_sent() {
    let now = Instant::now();
    let mut session = session(now);
    let mut builder = ListingBuilder::new(false);
    for i in 0..20_000 {
        builder.push(format!("name-{i:05}").as_bytes());
    }
    let listing = builder.finish();
    let body_len = listing.body().len();
    assert_eq!(session.handle_input(b"get_file_listing\r\n", now), 18);
    assert_eq!(session.poll_action(), Some(Action::List));
    session.handle_listing(Ok(listing));

    let mut sent = 0;
    while !session.pending_output().is_empty() {
        assert!(session.out.capacity() <= OUTPUT_CAPACITY);
        // Odd amounts, so the unsent part is moved each time.
        let n = session.pending_output().len() / 3 + 1;
        session.consumed(n, now);
        sent += n;
    }
    assert_eq!(sent, "0 OK\r\n".len() + body_len);
    assert!(session.out.capacity() <= KEPT_OUTPUT_CAPACITY);
    assert_eq!(session.poll_answered().map(|r| r.status), Some(Status::Ok));
}
