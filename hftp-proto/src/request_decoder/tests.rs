//! Every request rule and example of HFTP.md, as a table.

use super::*;

fn name(name: &str) -> FileName {
    FileName::new(name).expect("a valid name in the table")
}

fn decode_all(input: &[u8]) -> (Vec<RequestEvent>, bool) {
    let mut decoder = RequestDecoder::new();
    let events = decoder.events(input).collect();
    (events, decoder.is_closed())
}

use RequestEvent::{Refused, Request as Req};
use Status::*;

#[test]
fn hftp_md_rules() {
    let long_name = "x".repeat(MAX_FILE_NAME_LEN);
    let too_long_name = "x".repeat(MAX_FILE_NAME_LEN + 1);
    let table: Vec<(String, Vec<RequestEvent>)> = vec![
        // The four commands.
        (
            "get_file_listing\r\n".into(),
            vec![Req(Request::GetFileListing)],
        ),
        (
            "get_metadata archivo.txt\r\n".into(),
            vec![Req(Request::GetMetadata {
                name: name("archivo.txt"),
            })],
        ),
        (
            "get_slice archivo.txt 5 20\r\n".into(),
            vec![Req(Request::GetSlice {
                name: name("archivo.txt"),
                offset: 5,
                size: 20,
                raw: false,
            })],
        ),
        ("quit\r\n".into(), vec![Req(Request::Quit)]),
        // Anything after quit is ignored.
        (
            "quit\r\nget_file_listing\r\n".into(),
            vec![Req(Request::Quit)],
        ),
        // 1. A bare \n is 100, at once; it beats everything else.
        ("qui\nt\n\r\n".into(), vec![Refused(BadEol)]),
        ("\n".into(), vec![Refused(BadEol)]),
        ("get_file_listing\n".into(), vec![Refused(BadEol)]),
        ("verdura\x00\n".into(), vec![Refused(BadEol)]),
        (
            "get_file_listing\r\n\n".into(),
            vec![Req(Request::GetFileListing), Refused(BadEol)],
        ),
        // 2. A byte outside 0x20-0x7E before the CRLF is 101.
        ("get_file_listing\t\r\n".into(), vec![Refused(BadRequest)]),
        ("quit\x00\r\n".into(), vec![Refused(BadRequest)]),
        ("quit\r\r\n".into(), vec![Refused(BadRequest)]),
        ("qu\rit\r\n".into(), vec![Refused(BadRequest)]),
        (
            "get_metadata caf\u{e9}\r\n".into(),
            vec![Refused(BadRequest)],
        ),
        ("\x7f\r\n".into(), vec![Refused(BadRequest)]),
        ("verdura \x01\r\n".into(), vec![Refused(BadRequest)]),
        ("quit extra\x00\r\n".into(), vec![Refused(BadRequest)]),
        // 2. A blank line (2026): empty, or spaces only, is 101.
        ("\r\n".into(), vec![Refused(BadRequest)]),
        (" \r\n".into(), vec![Refused(BadRequest)]),
        ("   \r\n".into(), vec![Refused(BadRequest)]),
        ("\r\nquit\r\n".into(), vec![Refused(BadRequest)]),
        (" \x00\r\n".into(), vec![Refused(BadRequest)]),
        (" \n".into(), vec![Refused(BadEol)]),
        // 3. Not exactly one of the five commands is 200.
        ("verdura\r\n".into(), vec![Refused(NoSuchCommand)]),
        (" quit\r\n".into(), vec![Refused(NoSuchCommand)]),
        ("  x\r\n".into(), vec![Refused(NoSuchCommand)]),
        ("HELP\r\n".into(), vec![Refused(NoSuchCommand)]),
        ("helpme\r\n".into(), vec![Refused(NoSuchCommand)]),
        // `help` (2026).
        ("help\r\n".into(), vec![Req(Request::Help)]),
        ("help x\r\n".into(), vec![Refused(InvalidArguments)]),
        ("help \r\n".into(), vec![Refused(InvalidArguments)]),
        // `get_slice ... raw` (2026): the fifth element exactly `raw`.
        (
            "get_slice a 5 20 raw\r\n".into(),
            vec![Req(Request::GetSlice {
                name: name("a"),
                offset: 5,
                size: 20,
                raw: true,
            })],
        ),
        (
            "get_slice a 5 20 RAW\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice a 5 20 rawx\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice a 5 20 ra\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice a 5 20 base64\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice a 5 20 raw \r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice a 5 20 raw raw\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice a 5 20  raw\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice a x 20 raw\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_metadata a raw\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice a/b 5 20 raw\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        ("QUIT\r\n".into(), vec![Refused(NoSuchCommand)]),
        ("get_file_listingx\r\n".into(), vec![Refused(NoSuchCommand)]),
        (
            "get_file_listing_and_more\r\n".into(),
            vec![Refused(NoSuchCommand)],
        ),
        ("verdura a/b -1\r\n".into(), vec![Refused(NoSuchCommand)]),
        (
            "verdura\r\nquit\r\n".into(),
            vec![Refused(NoSuchCommand), Req(Request::Quit)],
        ),
        // 4. Wrong count or form of arguments is 201.
        (
            "quit passing extra arguments!\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        ("quit \r\n".into(), vec![Refused(InvalidArguments)]),
        (
            "get_file_listing x\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        ("get_metadata\r\n".into(), vec![Refused(InvalidArguments)]),
        ("get_metadata \r\n".into(), vec![Refused(InvalidArguments)]),
        (
            "get_metadata  a\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_metadata a \r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_metadata a b\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_metadata a/b\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_metadata /etc/passwd\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        ("get_metadata ~\r\n".into(), vec![Refused(InvalidArguments)]),
        ("get_metadata *\r\n".into(), vec![Refused(InvalidArguments)]),
        (
            "get_metadata a\\b\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar x x\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar -1 2\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar +1 2\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar 1.0 2\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar 0x1 2\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar 1 2x\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar  1 2\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar 1 2 \r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar 1 2 3\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        (
            "get_slice bar 1\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        ("get_slice bar\r\n".into(), vec![Refused(InvalidArguments)]),
        (
            "get_slice a/b 1 2\r\n".into(),
            vec![Refused(InvalidArguments)],
        ),
        // 201 beats 202: a name too long for any file, but a bad number.
        (
            format!("get_slice {too_long_name} 1 x\r\n"),
            vec![Refused(InvalidArguments)],
        ),
        // Well-formed names and numbers are the server's to judge.
        (
            "get_metadata ..\r\n".into(),
            vec![Req(Request::GetMetadata { name: name("..") })],
        ),
        (
            "get_metadata .hidden\r\n".into(),
            vec![Req(Request::GetMetadata {
                name: name(".hidden"),
            })],
        ),
        (
            "get_slice a-Z_0.9 007 0000000000000000000000010\r\n".into(),
            vec![Req(Request::GetSlice {
                name: name("a-Z_0.9"),
                offset: 7,
                size: 10,
                raw: false,
            })],
        ),
        (
            "get_slice a 18446744073709551615 0\r\n".into(),
            vec![Req(Request::GetSlice {
                name: name("a"),
                offset: u64::MAX,
                size: 0,
                raw: false,
            })],
        ),
        (
            "get_slice a 99999999999999999999999 1\r\n".into(),
            vec![Req(Request::GetSlice {
                name: name("a"),
                offset: u64::MAX,
                size: 1,
                raw: false,
            })],
        ),
        (
            format!("get_metadata {long_name}\r\n"),
            vec![Req(Request::GetMetadata {
                name: name(&long_name),
            })],
        ),
        // 5. A name longer than any file's is 202 without asking the server.
        (
            format!("get_metadata {too_long_name}\r\n"),
            vec![Refused(FileNotFound)],
        ),
        (
            format!("get_slice {too_long_name} 0 0\r\n"),
            vec![Refused(FileNotFound)],
        ),
    ];
    for (input, expected) in table {
        let (events, _) = decode_all(input.as_bytes());
        assert_eq!(events, expected, "input {input:?}");
    }
}

#[test]
fn fatal_statuses_and_quit_close_the_decoder() {
    for (input, closed) in [
        ("quit\r\n", true),
        ("qui\nt", true),
        ("a\x00\r\n", true),
        ("verdura\r\n", false),
        ("get_metadata\r\n", false),
        ("get_metadata missing\r\n", false),
    ] {
        assert_eq!(decode_all(input.as_bytes()).1, closed, "input {input:?}");
    }
    let mut decoder = RequestDecoder::new();
    assert_eq!(decoder.decode(b"\n"), (1, Some(Refused(BadEol))));
    assert_eq!(decoder.decode(b"quit\r\n"), (6, None));
}

#[test]
fn bad_eol_is_answered_before_the_line_ends() {
    let mut decoder = RequestDecoder::new();
    assert_eq!(decoder.decode(b"qui"), (3, None));
    assert_eq!(decoder.decode(b"\nt"), (1, Some(Refused(BadEol))));
}

#[test]
fn a_crlf_split_across_reads_is_one_line_end() {
    let mut decoder = RequestDecoder::new();
    assert_eq!(decoder.decode(b"quit\r"), (5, None));
    assert!(decoder.is_mid_line());
    assert_eq!(decoder.decode(b"\n"), (1, Some(Req(Request::Quit))));
}

#[test]
fn a_5_mib_file_name_is_202_and_the_connection_stays() {
    let mut decoder = RequestDecoder::new();
    assert_eq!(decoder.decode(b"get_metadata "), (13, None));
    let chunk = [b'x'; 64 * 1024];
    for _ in 0..80 {
        assert_eq!(decoder.decode(&chunk), (chunk.len(), None));
    }
    assert_eq!(decoder.decode(b"\r\n"), (2, Some(Refused(FileNotFound))));
    assert!(!decoder.is_closed());
    assert_eq!(decoder.decode(b"quit\r\n"), (6, Some(Req(Request::Quit))));
}

#[test]
fn a_line_past_the_limit_is_101_at_once() {
    let mut decoder = RequestDecoder::new();
    let chunk = vec![b'x'; 1024 * 1024];
    let mut fed = 0u64;
    let event = loop {
        let (consumed, event) = decoder.decode(&chunk);
        fed += consumed as u64;
        if let Some(event) = event {
            break event;
        }
        assert!(fed <= MAX_LINE_LEN, "no answer after {fed} bytes");
    };
    assert_eq!(event, Refused(BadRequest));
    assert_eq!(fed, MAX_LINE_LEN + 1);
    assert!(decoder.is_closed());
}

#[test]
fn a_line_of_lone_crs_past_the_limit_is_101() {
    let mut decoder = RequestDecoder::new();
    assert_eq!(
        decoder.decode(b"get_file_listing\r\n").1,
        Some(Req(Request::GetFileListing))
    );
    let crs = vec![b'\r'; MAX_LINE_LEN as usize + 1];
    assert_eq!(decoder.decode(&crs), (crs.len(), None));
    assert_eq!(decoder.decode(b"\r"), (1, Some(Refused(BadRequest))));
    assert!(decoder.is_closed());
}

#[test]
fn a_line_at_the_limit_is_still_judged_by_its_content() {
    let mut decoder = RequestDecoder::new();
    let line = vec![b'x'; MAX_LINE_LEN as usize];
    assert_eq!(decoder.decode(&line), (line.len(), None));
    assert_eq!(decoder.decode(b"\r\n"), (2, Some(Refused(NoSuchCommand))));
}

#[test]
fn a_thousand_pipelined_requests_in_one_read() {
    let input = "get_metadata a\r\n".repeat(1000);
    let (events, closed) = decode_all(input.as_bytes());
    assert_eq!(
        events,
        vec![Req(Request::GetMetadata { name: name("a") }); 1000]
    );
    assert!(!closed);
}

#[test]
fn requests_behind_a_fatal_one_are_dropped() {
    let (events, closed) = decode_all(b"get_file_listing\r\nbad\x00\r\nget_file_listing\r\n");
    assert_eq!(events, [Req(Request::GetFileListing), Refused(BadRequest)]);
    assert!(closed);
}
