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

fn file(size: u64) -> Entry {
    Entry::File {
        size,
        mode: 0o644,
        readable: true,
    }
}

#[test]
fn a_whole_reply_is_recorded_with_its_bytes_and_when_it_was_received() {
    let start = Instant::now();
    let mut session = session(start);
    let later = start + Duration::from_millis(5);
    let input = b"get_metadata a.txt\r\nhelp\r\n";
    let taken = session.handle_input(input, later);
    session.handle_metadata(Ok(file(3199)));
    assert_eq!(session.handle_input(&input[taken..], later), 6);
    let metadata = session.poll_answered().expect("a record");
    assert_eq!(
        (metadata.status, metadata.bytes, metadata.received),
        (Status::Ok, "0 OK\r\n3199\r\n".len() as u64, later)
    );
    assert!(!metadata.aborted);
    let help = session.poll_answered().expect("a record");
    assert_eq!(
        help.bytes,
        session.pending_output().len() as u64 - metadata.bytes
    );
}

/// A session sending a short base64 slice of `size` bytes (through its
/// output) whose first `chunk` bytes it was fed, nothing of it sent yet.
fn slicing(now: Instant, size: u64, chunk: usize) -> ServerSession {
    let mut session = session(now);
    let request = format!("get_slice big 0 {size}\r\n");
    assert_eq!(session.handle_input(request.as_bytes(), now), request.len());
    assert!(session.handle_open(Ok(file(size))));
    assert!(session.handle_read(Ok(&vec![b'x'; chunk])));
    assert_eq!(session.poll_answered(), None);
    session
}

#[test]
fn a_slice_cut_by_a_lost_connection_is_recorded_aborted_after_the_bytes_sent() {
    let now = Instant::now();
    let mut session = slicing(now, 10_000, 3000);
    session.consumed(1000, now);
    session.handle_disconnect();
    let record = session.poll_answered().expect("an aborted record");
    assert_eq!((record.status, record.bytes), (Status::Ok, 1000));
    assert!(record.aborted);
    assert!(session.pending_output().is_empty());
    assert_eq!(session.poll_action(), None);
}

#[test]
fn a_slice_cut_by_its_file_is_recorded_aborted_after_the_bytes_it_sends() {
    let now = Instant::now();
    let mut session = slicing(now, 10_000, 3000);
    let produced = session.pending_output().len() as u64;
    assert!(!session.handle_read(Ok(&[])));
    let record = session.poll_answered().expect("an aborted record");
    assert_eq!(record.bytes, produced);
    assert!(record.aborted);
    assert!(matches!(
        session.close_reason(),
        Some(CloseReason::ShortSlice { .. })
    ));
}

#[test]
fn a_slice_its_reader_stalled_on_is_recorded_aborted_at_the_timeout() {
    let now = Instant::now();
    let mut session = slicing(now, 10_000, 3000);
    session.consumed(10, now);
    session.handle_timeout(now + Duration::from_secs(61));
    let record = session.poll_answered().expect("an aborted record");
    assert_eq!(record.bytes, 10);
    assert!(record.aborted);
    assert_eq!(session.close_reason(), Some(CloseReason::WriteStalled));
}

/// A session sending a long slice of `size` bytes from the file (raw or
/// base64), its head sent.
fn streaming(now: Instant, size: u64, raw: bool) -> ServerSession {
    let mut session = session(now);
    let request = format!(
        "get_slice big 0 {size}{}\r\n",
        if raw { " raw" } else { "" }
    );
    assert_eq!(session.handle_input(request.as_bytes(), now), request.len());
    assert!(session.handle_open(Ok(file(size))));
    assert_eq!(session.poll_action(), None, "the head goes first");
    session.consumed(session.pending_output().len(), now);
    session
}

#[test]
fn a_long_slice_is_sent_by_the_driver_in_chunks_it_reads_again_in_part() {
    let now = Instant::now();
    let mut session = streaming(now, 1 << 30, false);
    assert_eq!(
        session.poll_action(),
        Some(Action::SendFile {
            offset: 0,
            len: 1 << 30
        })
    );
    let mut out = vec![0; 4002];
    let read = vec![b'x'; 6000];
    assert_eq!(session.body_chunk(&read, &mut out).len(), 4000);
    // Five characters of 4000 went: the second group is read again.
    assert!(session.handle_sent(5, now));
    assert_eq!(
        session.poll_action(),
        Some(Action::SendFile {
            offset: 3,
            len: (1 << 30) - 3
        })
    );
    assert_eq!(
        session.body_chunk(&read[..3], &mut out),
        b"eHh4"[1..].as_ref()
    );
    assert!(
        session.pending_output().is_empty(),
        "the session holds nothing"
    );
}

#[test]
fn a_read_of_body_read_len_bytes_makes_at_most_that_many_wire_bytes() {
    let now = Instant::now();
    for (raw, wire, read_len) in [(true, 4096, 4096), (false, 4096, 3072), (false, 4098, 3072)] {
        let session = streaming(now, 1 << 30, raw);
        assert_eq!(session.body_read_len(wire), read_len, "raw {raw}, {wire}");
        let mut out = vec![0; wire];
        let read = vec![b'x'; read_len];
        assert_eq!(session.body_chunk(&read, &mut out).len(), 4096, "raw {raw}");
    }
    let mut idle = session(now);
    assert_eq!(idle.body_read_len(4096), 0, "no body streams");
    assert_eq!(idle.handle_input(b"get_metadata big\r\n", now), 18);
    assert_eq!(idle.body_read_len(4096), 0, "no body streams");
}

#[test]
fn the_end_of_a_long_base64_slice_finishes_its_crlf_from_the_output() {
    let now = Instant::now();
    let size = 30_000;
    let mut session = streaming(now, size, false);
    let mut out = vec![0; 64 * 1024];
    let read = vec![b'x'; 30_000];
    let chunk_len = session.body_chunk(&read, &mut out).len();
    assert_eq!(chunk_len as u64, SliceEncoder::encoded_len(size));
    assert!(!session.handle_sent(chunk_len as u64 - 1, now));
    assert_eq!(session.pending_output(), b"\n");
    let record = session.poll_answered().expect("the slice is answered");
    assert_eq!(record.bytes, 6 + chunk_len as u64);
    assert!(!record.aborted);
}

#[test]
fn a_streamed_slice_cut_by_a_lost_connection_is_recorded_aborted_after_the_bytes_sent() {
    let now = Instant::now();
    for raw in [false, true] {
        let mut session = streaming(now, 1 << 30, raw);
        let head = session.sent;
        let mut out = vec![0; 4002];
        assert!(!session.body_chunk(&[b'x'; 3000], &mut out).is_empty());
        assert!(session.handle_sent(1000, now));
        session.handle_disconnect();
        let record = session.poll_answered().expect("an aborted record");
        assert_eq!((record.status, record.bytes), (Status::Ok, head + 1000));
        assert!(record.aborted);
        assert_eq!(session.poll_action(), None);
    }
}

#[test]
fn a_streamed_slice_cut_by_its_file_closes_after_the_bytes_it_sent() {
    let now = Instant::now();
    for raw in [false, true] {
        let mut session = streaming(now, 1 << 30, raw);
        let mut out = vec![0; 4002];
        // The file ended two bytes in: two raw bytes still go, but they
        // make no whole base64 group.
        let chunk = session.body_chunk(&[b'x'; 2], &mut out);
        assert_eq!(chunk.is_empty(), !raw);
        assert!(!session.handle_sent(0, now));
        let record = session.poll_answered().expect("an aborted record");
        assert_eq!(record.bytes, session.sent);
        assert!(record.aborted);
        assert_eq!(
            session.close_reason(),
            Some(CloseReason::ShortSlice { missing: 1 << 30 })
        );
    }
}

#[test]
fn a_streamed_slice_its_reader_stalled_on_is_recorded_aborted_at_the_timeout() {
    let now = Instant::now();
    let mut session = streaming(now, 1 << 30, false);
    let mut out = vec![0; 4002];
    assert!(!session.body_chunk(&[b'x'; 3000], &mut out).is_empty());
    assert!(session.handle_sent(4, now));
    session.handle_timeout(now + Duration::from_secs(61));
    let record = session.poll_answered().expect("an aborted record");
    assert_eq!(record.bytes, 10);
    assert!(record.aborted);
    assert_eq!(session.close_reason(), Some(CloseReason::WriteStalled));
}

#[test]
fn a_lost_connection_between_replies_records_nothing() {
    let now = Instant::now();
    let mut session = session(now);
    assert_eq!(session.handle_input(b"help\r\n", now), 6);
    assert!(session.poll_answered().is_some());
    session.handle_disconnect();
    assert_eq!(session.poll_answered(), None);
    assert!(session.is_finished());
}
