//! The session's connection rules, one example each, run by the fake
//! driver.

use std::io;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hftp_proto::*;

use super::driver::{Driver, FakeDir};

const TEXT: &[u8] = b"!Que calor que hace hoy, pinta una birra!";

fn text_dir() -> FakeDir {
    FakeDir::with(&[("archivo.txt", TEXT), ("b", b"12345")])
}

fn ok_slice(data: &[u8]) -> String {
    format!("0 OK\r\n{}\r\n", STANDARD.encode(data))
}

/// Bytes that are not all alike, so a slice from the wrong offset shows.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 977) as u8).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn statuses(driver: &Driver) -> Vec<Status> {
    driver.answered.iter().map(|record| record.status).collect()
}

#[test]
fn pipelined_requests_are_answered_in_order_in_any_split() {
    let input = b"get_metadata archivo.txt\r\nget_slice archivo.txt 5 20\r\n\
                  get_metadata b\r\nget_file_listing\r\nget_slice b 0 0\r\n\
                  verdura\r\nget_metadata nada\r\nget_slice b 4 2\r\nget_metadata b\r\n\
                  get_slice archivo.txt 5 20 raw\r\nhelp\r\nget_slice b 1 0 raw\r\n\
                  get_slice b 1 2 raw\r\nget_slice b 1 2 rae\r\nget_metadata b\r\n";
    let expected = [
        "0 OK\r\n41\r\n",
        "0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n",
        "0 OK\r\n5\r\n",
        "0 OK\r\narchivo.txt\r\nb\r\n\r\n",
        "0 OK\r\n\r\n",
        "200 NO SUCH COMMAND\r\n",
        "202 FILE NOT FOUND\r\n",
        "203 OFFSET EXCEEDS FILE SIZE\r\n",
        "0 OK\r\n5\r\n",
        "0 OK\r\nContent-Length: 20\r\n\r\ncalor que hace hoy, ",
        "0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nhelp\r\nquit\r\n\r\n",
        "0 OK\r\nContent-Length: 0\r\n\r\n",
        "0 OK\r\nContent-Length: 2\r\n\r\n23",
        "201 INVALID ARGUMENTS FOR COMMAND\r\n",
        "0 OK\r\n5\r\n",
    ]
    .concat();
    for (read, write, file_read) in [(usize::MAX, usize::MAX, usize::MAX), (1, 1, 1), (7, 3, 2)] {
        let mut driver = Driver::new(Driver::config(), text_dir());
        driver.read_sizes = vec![read];
        driver.write_sizes = vec![write];
        driver.file_read_cap = file_read;
        driver.send(input);
        assert_eq!(
            text(&driver.received),
            expected,
            "reads of {read}, writes of {write}"
        );
        assert_eq!(driver.unread(), 0);
        assert_eq!(driver.session.close_reason(), None);
        assert!(driver.session.wants_read());
    }
}

#[test]
fn a_fatal_status_drops_the_requests_behind_it() {
    let cases: [(&[u8], Status); 5] = [
        (b"qui\nt\r\n", Status::BadEol),
        (b"get_metadata b\0\r\n", Status::BadRequest),
        (b"get_metadata b\r", Status::BadRequest),
        // Blank lines: empty, or spaces only.
        (b"\r\n", Status::BadRequest),
        (b"   \r\n", Status::BadRequest),
    ];
    for (bad, status) in cases {
        let mut driver = Driver::new(Driver::config(), text_dir());
        let input = [
            &b"get_metadata b\r\n"[..],
            bad,
            b"get_metadata b\r\nquit\r\n",
        ]
        .concat();
        driver.send(&input);
        let expected = format!("0 OK\r\n5\r\n{}", status.line());
        assert_eq!(text(&driver.received), expected, "{bad:?}");
        assert_eq!(
            driver.session.close_reason(),
            Some(CloseReason::Fatal(status))
        );
        assert_eq!(driver.unread(), 0, "what follows is taken and ignored");
        assert!(driver.closed);
        assert_eq!(statuses(&driver), [Status::Ok, status]);
    }
}

#[test]
fn quit_answers_ok_and_ignores_what_follows() {
    let mut driver = Driver::new(Driver::config(), text_dir());
    driver.send(b"get_metadata b\r\nquit\r\nget_metadata b\r\nqui\nt\xff");
    assert_eq!(text(&driver.received), "0 OK\r\n5\r\n0 OK\r\n");
    assert_eq!(driver.session.close_reason(), Some(CloseReason::Quit));
    assert_eq!(driver.unread(), 0);
    assert!(driver.closed);
    assert_eq!(driver.session.poll_timeout(), None);
}

#[test]
fn a_peer_that_half_closes_between_requests_gets_its_answers() {
    let mut driver = Driver::new(Driver::config(), text_dir());
    // It closes before reading anything: the replies still go out.
    driver.window = 0;
    driver.send(b"get_metadata b\r\nget_slice archivo.txt 0 3\r\n");
    driver.shutdown_write();
    assert!(!driver.closed, "its replies are not sent yet");
    driver.open_window(usize::MAX);
    assert_eq!(
        text(&driver.received),
        format!("0 OK\r\n5\r\n{}", ok_slice(b"!Qu"))
    );
    assert_eq!(driver.session.close_reason(), Some(CloseReason::PeerClosed));
    assert!(driver.closed);
}

#[test]
fn a_peer_that_leaves_mid_line_gets_no_reply_for_it() {
    for tail in [&b"get_meta"[..], b"get_metadata b\r", b" "] {
        let mut driver = Driver::new(Driver::config(), text_dir());
        driver.send(&[&b"get_metadata b\r\n"[..], tail].concat());
        driver.shutdown_write();
        assert_eq!(text(&driver.received), "0 OK\r\n5\r\n", "tail {tail:?}");
        assert_eq!(
            driver.session.close_reason(),
            Some(CloseReason::PeerLeftMidRequest)
        );
        assert!(driver.closed);
        assert_eq!(statuses(&driver), [Status::Ok]);
    }
}

/// Checks a slice cut short: `0 OK`, then a proper prefix of the whole
/// slice's base64 made of whole groups, and no final CRLF.
fn assert_cut_short(received: &[u8], whole: &[u8], sent: usize) {
    let body = received
        .strip_prefix(b"0 OK\r\n")
        .expect("the slice began with 0 OK");
    let full = STANDARD.encode(whole);
    assert!(body.len() < full.len(), "the body is short");
    assert_eq!(body.len() % 4, 0, "whole base64 groups");
    assert_eq!(body, &full.as_bytes()[..body.len()]);
    assert!(!body.ends_with(b"\r\n"));
    let decoded = STANDARD.decode(body).expect("valid base64");
    assert!(decoded.len() <= sent && sent - decoded.len() < 3);
}

/// A directory whose file `f` was `file` when the server opened it, and
/// has shrunk since to its first `kept` bytes.
fn shrunk(file: &[u8], kept: usize) -> FakeDir {
    let mut dir = FakeDir::with(&[("f", &file[..kept])]);
    let opened = Entry::File {
        size: file.len() as u64,
        mode: 0o644,
        readable: true,
    };
    dir.overrides.insert("f".into(), Ok(opened));
    dir
}

fn assert_closed_short(driver: &Driver, missing: u64) {
    let reason = CloseReason::ShortSlice { missing };
    assert_eq!(driver.session.close_reason(), Some(reason));
    assert!(driver.closed);
}

#[test]
fn a_file_that_shrinks_cuts_the_slice_short() {
    let file = data(100_000);
    let mut driver = Driver::new(Driver::config(), shrunk(&file, 40_000));
    driver.file_read_cap = 1001;
    driver.send(b"get_slice f 10 90000\r\nget_metadata f\r\n");
    assert_cut_short(&driver.received, &file[10..90_010], 40_000 - 10);
    assert_closed_short(&driver, 50_010);
}

#[test]
fn a_read_error_cuts_the_slice_short() {
    let file = data(100_000);
    let mut dir = FakeDir::with(&[("f", &file)]);
    dir.reads_fail_from = Some(30_000);
    let mut driver = Driver::new(Driver::config(), dir);
    driver.send(b"get_slice f 0 100000\r\n");
    assert_cut_short(&driver.received, &file, 30_000);
    assert_closed_short(&driver, 70_000);
}

#[test]
fn a_raw_slice_goes_from_the_file_as_the_socket_takes_it() {
    let file = data(1 << 20);
    let mut driver = Driver::new(Driver::config(), FakeDir::with(&[("f", &file)]));
    driver.write_sizes = vec![1000, 1, 65_536, 7];
    driver.window = 0;
    driver.send(b"get_metadata f\r\nget_slice f 3 1048000 raw\r\nget_metadata f\r\n");
    let expected = [
        &b"0 OK\r\n1048576\r\n0 OK\r\nContent-Length: 1048000\r\n\r\n"[..],
        &file[3..1_048_003],
        b"0 OK\r\n1048576\r\n",
    ]
    .concat();
    while driver.received.len() < expected.len() {
        driver.advance(Duration::from_secs(59));
        assert_eq!(
            driver.session.close_reason(),
            None,
            "a slow reader is not cut"
        );
        driver.open_window(100_000);
    }
    assert_eq!(driver.received, expected);
    assert_eq!(statuses(&driver), [Status::Ok; 3]);
}

#[test]
fn a_file_that_shrinks_cuts_a_raw_slice_short() {
    let file = data(100_000);
    let mut driver = Driver::new(Driver::config(), shrunk(&file, 40_000));
    driver.write_sizes = vec![4096];
    driver.send(b"get_slice f 10 90000 raw\r\nget_metadata f\r\n");
    let head = b"0 OK\r\nContent-Length: 90000\r\n\r\n";
    assert_eq!(driver.received, [&head[..], &file[10..40_000]].concat());
    assert_closed_short(&driver, 50_010);
}

#[test]
fn a_silent_peer_is_closed_after_the_idle_timeout() {
    let mut driver = Driver::new(Driver::config(), text_dir());
    driver.send(b"get_metadata b\r\nget_me");
    assert_eq!(
        driver.session.poll_timeout(),
        Some(driver.now + Duration::from_secs(60))
    );
    driver.advance(Duration::from_secs(60) - Duration::from_nanos(1));
    assert_eq!(driver.session.close_reason(), None);
    driver.advance(Duration::from_nanos(1));
    assert_eq!(driver.session.close_reason(), Some(CloseReason::Idle));
    assert_eq!(driver.session.poll_timeout(), None);
    assert!(driver.closed);
    assert_eq!(text(&driver.received), "0 OK\r\n5\r\n");
}

#[test]
fn each_byte_sent_resets_the_idle_timeout() {
    let mut driver = Driver::new(Driver::config(), text_dir());
    // The course's suite sends a request one byte per second; this is slower.
    for &byte in b"get_metadata b\r\n" {
        driver.advance(Duration::from_secs(59));
        driver.send(&[byte]);
    }
    assert_eq!(text(&driver.received), "0 OK\r\n5\r\n");
    assert_eq!(driver.session.close_reason(), None);
    driver.advance(Duration::from_secs(60));
    assert_eq!(driver.session.close_reason(), Some(CloseReason::Idle));
}

#[test]
fn a_slow_reader_is_never_cut() {
    let file = data(1 << 20);
    let mut driver = Driver::new(Driver::config(), FakeDir::with(&[("f", &file)]));
    driver.window = 0;
    driver.send(b"get_slice f 0 1048576\r\nget_metadata f\r\n");
    let expected = [ok_slice(&file), "0 OK\r\n1048576\r\n".into()].concat();
    while driver.received.len() < expected.len() {
        driver.advance(Duration::from_secs(59));
        assert_eq!(driver.session.close_reason(), None);
        driver.open_window(20_000);
    }
    assert_eq!(text(&driver.received), expected);
}

#[test]
fn a_stalled_reader_is_closed_and_its_output_dropped() {
    // A pipelining peer that reads nothing: the driver holds its input, and
    // offers it again whenever it wakes.
    let mut driver = Driver::new(Driver::config(), text_dir());
    driver.window = 0;
    driver.send(&b"get_metadata b\r\n".repeat(10_000));
    assert!(driver.unread() > 0);
    driver.advance(Duration::from_secs(30));
    assert_eq!(driver.session.close_reason(), None);
    driver.advance(Duration::from_secs(30));
    assert_eq!(
        driver.session.close_reason(),
        Some(CloseReason::WriteStalled)
    );
    assert!(driver.session.pending_output().is_empty(), "output dropped");
    assert!(driver.closed);

    // One stalled in the middle of a slice, with nothing held; and in the
    // middle of a raw one, which the driver sends itself.
    let file = data(1 << 20);
    for request in [
        &b"get_slice f 0 1048576\r\n"[..],
        b"get_slice f 0 1048576 raw\r\n",
    ] {
        let mut driver = Driver::new(Driver::config(), FakeDir::with(&[("f", &file)]));
        driver.window = 100_000;
        driver.send(request);
        assert_eq!(driver.received.len(), 100_000);
        driver.advance(Duration::from_secs(60));
        let reason = driver.session.close_reason();
        assert_eq!(reason, Some(CloseReason::WriteStalled), "{request:?}");
        assert!(driver.closed);
    }
}

#[test]
fn a_huge_idle_timeout_never_fires() {
    let config = SessionConfig {
        idle_timeout: Duration::MAX,
        show_hidden: false,
    };
    let mut driver = Driver::new(config, text_dir());
    driver.send(b"get_meta");
    assert_eq!(driver.session.poll_timeout(), None);
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    driver.advance(century);
    driver.session.handle_timeout(driver.now);
    assert_eq!(driver.session.close_reason(), None);
    driver.send(b"data b\r\n");
    assert_eq!(text(&driver.received), "0 OK\r\n5\r\n");
}

#[test]
fn a_peer_that_pipelines_without_reading_is_read_no_further() {
    let mut driver = Driver::new(Driver::config(), text_dir());
    driver.window = 0;
    driver.read_sizes = vec![4096];
    let count = 10_000;
    driver.send(&b"get_metadata archivo.txt\r\n".repeat(count));
    let reply = "0 OK\r\n41\r\n";
    assert!(driver.session.pending_output().len() > OUTPUT_LIMIT - reply.len());
    assert!(driver.max_pending <= OUTPUT_LIMIT + reply.len());
    assert!(!driver.session.wants_read());
    assert!(driver.unread() > 0, "the session stopped taking bytes");
    let unread = driver.unread();
    driver.run();
    assert_eq!(driver.unread(), unread);

    driver.open_window(usize::MAX);
    assert_eq!(text(&driver.received), reply.repeat(count));
    assert_eq!(driver.unread(), 0);
    assert!(driver.session.wants_read());
    assert_eq!(driver.answered.len(), count);
}

#[test]
fn a_big_slice_streams_within_the_output_limit() {
    let file = data(3_000_001);
    let mut driver = Driver::new(Driver::config(), FakeDir::with(&[("f", &file)]));
    // Odd short reads leave bytes over between base64 groups.
    driver.file_read_cap = 7001;
    driver.write_sizes = vec![10_000, 65_536, 1];
    driver.send(b"get_slice f 1 3000000\r\nget_metadata f\r\n");
    let expected = [ok_slice(&file[1..]), "0 OK\r\n3000001\r\n".into()].concat();
    assert_eq!(text(&driver.received), expected);
    assert!(
        driver.max_pending <= OUTPUT_LIMIT,
        "{} bytes pending",
        driver.max_pending
    );
}

#[test]
fn a_big_listing_streams_within_the_output_limit() {
    let mut dir = FakeDir::default();
    let names: Vec<String> = (0..100_000).map(|i| format!("f{i:06}")).collect();
    for name in &names {
        dir.files.insert(name.clone(), Vec::new());
    }
    let mut driver = Driver::new(Driver::config(), dir);
    driver.write_sizes = vec![30_000, 1, 4096];
    driver.send(b"get_file_listing\r\nget_metadata f000007\r\n");
    let mut expected = String::from("0 OK\r\n");
    for name in &names {
        expected.push_str(name);
        expected.push_str("\r\n");
    }
    expected.push_str("\r\n0 OK\r\n0\r\n");
    assert_eq!(text(&driver.received), expected);
    assert!(driver.max_pending <= OUTPUT_LIMIT + Status::Ok.line().len());
}

fn hidden_dir() -> FakeDir {
    FakeDir::with(&[(".env", b"SECRET=1"), ("a", b"xyz")])
}

#[test]
fn hidden_names_are_not_found_without_an_action() {
    let mut driver = Driver::new(Driver::config(), hidden_dir());
    driver.send(b"get_metadata .env\r\nget_slice .env 0 1\r\nget_metadata ..\r\n");
    assert_eq!(text(&driver.received), "202 FILE NOT FOUND\r\n".repeat(3));
    assert_eq!(driver.actions, 0, "no file was looked at");
    driver.send(b"get_file_listing\r\n");
    assert_eq!(text(&driver.received[60..]), "0 OK\r\na\r\n\r\n");
}

#[test]
fn hidden_names_are_listed_and_served_when_shown() {
    let config = SessionConfig {
        show_hidden: true,
        ..Driver::config()
    };
    let mut driver = Driver::new(config, hidden_dir());
    driver.send(b"get_metadata .env\r\nget_slice .env 0 6\r\nget_file_listing\r\n");
    let actions = driver.actions;
    driver.send(b"get_metadata .\r\nget_slice .. 0 0\r\n");
    let expected = [
        "0 OK\r\n8\r\n".into(),
        ok_slice(b"SECRET"),
        "0 OK\r\n.env\r\na\r\n\r\n".into(),
        "202 FILE NOT FOUND\r\n".repeat(2),
    ]
    .concat();
    assert_eq!(text(&driver.received), expected);
    assert_eq!(
        driver.actions, actions,
        "`.` and `..` are refused without a look"
    );
}

#[test]
fn a_file_nobody_may_read_is_fatal_and_still_listed() {
    let locked = Entry::File {
        size: 3,
        mode: 0o000,
        readable: true,
    };
    let refused = Entry::File {
        size: 3,
        mode: 0o640,
        readable: false,
    };
    for request in [
        "get_metadata locked",
        "get_slice locked 0 1",
        "get_slice refused 0 0",
    ] {
        let mut dir = FakeDir::with(&[("locked", b"abc"), ("refused", b"abc")]);
        dir.overrides.insert("locked".into(), Ok(locked));
        dir.overrides.insert("refused".into(), Ok(refused));
        let mut driver = Driver::new(Driver::config(), dir);
        driver.send(format!("get_file_listing\r\n{request}\r\nget_metadata locked\r\n").as_bytes());
        let expected = "0 OK\r\nlocked\r\nrefused\r\n\r\n199 INTERNAL SERVER ERROR\r\n";
        assert_eq!(text(&driver.received), expected, "{request}");
        assert_eq!(
            driver.session.close_reason(),
            Some(CloseReason::Fatal(Status::InternalServerError))
        );
        assert!(driver.closed);
    }
}

#[test]
fn lookups_and_listings_that_fail_map_to_202_or_199() {
    let mut dir = FakeDir::with(&[("a", b"xyz")]);
    dir.overrides.insert("d".into(), Ok(Entry::NotAFile));
    dir.overrides
        .insert("e".into(), Err(io::ErrorKind::NotADirectory));
    dir.listing_error = Some(io::ErrorKind::NotFound);
    let mut driver = Driver::new(Driver::config(), dir);
    driver.send(b"get_metadata d\r\nget_slice d 0 0\r\nget_metadata e\r\nget_file_listing\r\n");
    assert_eq!(text(&driver.received), "202 FILE NOT FOUND\r\n".repeat(4));

    driver.dir.listing_error = Some(io::ErrorKind::OutOfMemory);
    driver.send(b"get_file_listing\r\nget_metadata a\r\n");
    assert!(
        driver
            .received
            .ends_with(b"\r\n199 INTERNAL SERVER ERROR\r\n")
    );
    assert_eq!(
        driver.session.close_reason(),
        Some(CloseReason::Fatal(Status::InternalServerError))
    );
}

#[test]
fn shutdown_finishes_the_reply_in_progress() {
    let file = data(500_000);
    let mut driver = Driver::new(Driver::config(), FakeDir::with(&[("f", &file)]));
    driver.window = 1000;
    driver.send(b"get_slice f 0 500000\r\nget_metadata f\r\n");
    driver.begin_shutdown();
    assert_eq!(
        driver.session.close_reason(),
        None,
        "the slice is still going"
    );
    driver.open_window(usize::MAX);
    assert_eq!(text(&driver.received), ok_slice(&file));
    assert_eq!(
        driver.session.close_reason(),
        Some(CloseReason::ShuttingDown)
    );
    assert!(driver.closed);
    assert_eq!(statuses(&driver), [Status::Ok]);

    let mut idle = Driver::new(Driver::config(), text_dir());
    idle.send(b"get_metadata b\r\n");
    idle.begin_shutdown();
    assert_eq!(idle.session.close_reason(), Some(CloseReason::ShuttingDown));
    assert!(idle.closed);
}

#[test]
fn log_records_carry_each_line_and_its_status_in_order() {
    let mut driver = Driver::new(Driver::config(), text_dir());
    // Split so that lines cross reads.
    driver.read_sizes = vec![5];
    driver.send(b"get_metadata b\r\nverdura\r\nget_slice b 0 9\r\nget_file_listing\r\nquit\r\n");
    let records: Vec<(String, Status)> = driver
        .answered
        .iter()
        .map(|record| (record.line.to_string(), record.status))
        .collect();
    let expected = [
        ("get_metadata b", Status::Ok),
        ("verdura", Status::NoSuchCommand),
        ("get_slice b 0 9", Status::OffsetExceedsFileSize),
        ("get_file_listing", Status::Ok),
        ("quit", Status::Ok),
    ]
    .map(|(line, status)| (format!("\"{line}\""), status));
    assert_eq!(records, expected);
}
