//! The list of cases, section by section.

use hftp_proto::Status;

use super::connection::{
    disconnect_mid_request, half_close_mid_request, idle_clients, line_of_16_mib, lockstep,
    many_clients, slow_reader, slow_sender, vanish_mid_raw_slice, vanish_mid_slice,
};
use super::*;

/// Every case, in report order.
pub fn catalogue() -> Vec<Case> {
    use Status::*;
    use Then::{Closed, Open};
    let mut c = Catalogue {
        cases: Vec::new(),
        section: Section::Requests,
        number: 0,
    };
    let absent = request(&["get_metadata", ABSENT]);
    let archivo = |offset: &str, size: &str| request(&["get_slice", ARCHIVO, offset, size]);
    let raw_of =
        |name: &str, offset: &str, size: &str| request(&["get_slice", name, offset, size, "raw"]);

    c.section(Section::Requests);
    c.add(
        "a request ends at CRLF: get_metadata of an absent file is 202",
        x(&absent, status(FileNotFound), Open),
    );
    c.add(
        "a CRLF split across two reads ends the request",
        Script::Exchange {
            chunks: vec![absent[..absent.len() - 1].to_vec(), b"\n".to_vec()],
            expect: status(FileNotFound),
            then: Open,
        },
    );
    c.add(
        "a request sent one byte per write gets the same answer",
        bytewise(&absent, status(FileNotFound), Open),
    );
    let mut thousand = Vec::new();
    let mut answers = Vec::new();
    for i in 0..1000 {
        if i % 2 == 0 {
            thousand.extend_from_slice(&absent);
            answers.extend(status(FileNotFound));
        } else {
            thousand.extend_from_slice(b"nope\r\n");
            answers.extend(status(NoSuchCommand));
        }
    }
    c.add(
        "a thousand requests in one write get a thousand answers, in order",
        x(&thousand, answers, Open),
    );
    c.add(
        "pipelined requests are answered one at a time, in order",
        x(
            &concat(&[&absent, b"nope\r\n", b"get_metadata\r\n", &absent]),
            concat(&[
                &status(FileNotFound),
                &status(NoSuchCommand),
                &status(InvalidArguments),
                &status(FileNotFound),
            ]),
            Open,
        ),
    );
    c.add(
        "two spaces between elements are an empty argument: 201",
        x(
            b"get_metadata  hftp-check-absent\r\n",
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "a trailing space is an empty argument: 201",
        x(
            b"get_metadata hftp-check-absent \r\n",
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "a TAB is not a separator: 101, then close",
        x(
            b"get_metadata\thftp-check-absent\r\n",
            status(BadRequest),
            Closed,
        ),
    );
    c.add(
        "a NUL in a request is 101, then close",
        x(b"get_metadata hftp\0check\r\n", status(BadRequest), Closed),
    );
    c.add(
        "DEL (0x7F) in a request is 101, then close",
        x(
            b"get_metadata hftp\x7fcheck\r\n",
            status(BadRequest),
            Closed,
        ),
    );
    c.add(
        "a byte of 0x80 or more is 101, then close",
        x(
            "get_metadata café\r\n".as_bytes(),
            status(BadRequest),
            Closed,
        ),
    );
    c.add(
        "a lone CR inside a line is 101, then close",
        x(b"get_metadata hftp\rcheck\r\n", status(BadRequest), Closed),
    );
    c.add(
        "CR CR LF: the first CR is a lone CR, 101",
        x(b"quit\r\r\n", status(BadRequest), Closed),
    );
    c.add(
        "a bare LF is 100 as soon as it arrives, with no CRLF after it",
        x(b"get_metadata hftp-check-absent\n", status(BadEol), Closed),
    );
    c.add(
        "a bare LF sent one byte per write is 100 at once",
        bytewise(b"quit\n", status(BadEol), Closed),
    );
    c.add(
        "a blank line is 101",
        x(b"\r\n", status(BadRequest), Closed),
    )
    .since(Kit::K2026);
    c.add(
        "a line of spaces only is 101",
        x(b"   \r\n", status(BadRequest), Closed),
    )
    .since(Kit::K2026);
    c.add(
        "a client that half-closes mid-request gets no reply, and the server closes",
        Script::Custom(half_close_mid_request),
    );
    c.add(
        "a 16 MiB line: 101 and close (over the server's limit) or 200 (no limit)",
        Script::Custom(line_of_16_mib),
    );
    let mut six = b"get_metadata ".to_vec();
    six.resize((6 << 20) - 2, b'b');
    six.extend_from_slice(b"\r\n");
    c.add(
        "a 6 MiB request is within every server's line limit: 202",
        x(&six, status(FileNotFound), Open),
    );
    c.add(
        "pipelined requests sent one byte per write are answered in order",
        bytewise(
            &concat(&[&absent, b"nope\r\nquit\r\n"]),
            concat(&[&status(FileNotFound), &status(NoSuchCommand), &status(Ok)]),
            Closed,
        ),
    );

    c.section(Section::Replies);
    c.add(
        "requests behind a 100 are dropped, and the server closes",
        x(
            &concat(&[b"get_metadata a\n", &absent]),
            status(BadEol),
            Closed,
        ),
    );
    c.add(
        "after 101 the server closes at once, though the client keeps its side open",
        x(b"\x01\r\n", status(BadRequest), Closed),
    );
    c.add(
        "requests behind a 101 are dropped unanswered",
        x(
            &concat(&[&absent, b"get\0\r\n", &absent, b"quit\r\n"]),
            concat(&[&status(FileNotFound), &status(BadRequest)]),
            Closed,
        ),
    );
    c.add(
        "after 199 the server closes",
        x(
            &request(&["get_slice", UNREADABLE, "0", "1"]),
            status(InternalServerError),
            Closed,
        ),
    )
    .files()
    .since(Kit::K2026);
    c.add(
        "200 leaves the connection open",
        x(b"nope\r\n", status(NoSuchCommand), Open),
    );
    c.add(
        "201 leaves the connection open",
        x(b"get_metadata\r\n", status(InvalidArguments), Open),
    );
    c.add(
        "202 leaves the connection open",
        x(
            &request(&["get_slice", ABSENT, "0", "1"]),
            status(FileNotFound),
            Open,
        ),
    );
    c.add(
        "203 leaves the connection open",
        x(&archivo("0", "42"), status(OffsetExceedsFileSize), Open),
    )
    .files();
    c.add(
        "requests behind a 199 are dropped unanswered",
        x(
            &concat(&[
                &request(&["get_metadata", UNREADABLE]),
                &request(&["get_metadata", ARCHIVO]),
            ]),
            status(InternalServerError),
            Closed,
        ),
    )
    .files()
    .since(Kit::K2026);

    c.section(Section::Listing);
    c.add(
        "the reply is 0 OK, one valid, non-hidden name a line, then an empty line",
        Script::Listing(Listed::WellFormed),
    );
    c.add(
        "get_file_listing takes no argument: 201",
        x(b"get_file_listing x\r\n", status(InvalidArguments), Open),
    );
    c.add(
        "a regular file is listed",
        Script::Listing(Listed::Shows(ARCHIVO)),
    )
    .files();
    c.add(
        "a directory is not listed",
        Script::Listing(Listed::Hides(DIR)),
    )
    .files();
    c.add(
        "a hidden file is not listed",
        Script::Listing(Listed::Hides(HIDDEN)),
    )
    .files();
    c.add(
        "a link to a file inside the directory is listed",
        Script::Listing(Listed::Shows(LINK_IN)),
    )
    .files();
    c.add(
        "a link leaving the directory is not listed",
        Script::Listing(Listed::Hides(LINK_OUT)),
    )
    .files();
    c.add(
        "a name with a space (no request can carry it) is not listed",
        Script::Listing(Listed::Hides(UNREQUESTABLE[0])),
    )
    .files();
    c.add(
        "a file nobody may read is still listed",
        Script::Listing(Listed::Shows(UNREADABLE)),
    )
    .files()
    .since(Kit::K2026);
    c.add(
        "names are in byte-wise order",
        Script::Listing(Listed::Sorted),
    )
    .files();
    c.add(
        "an empty file and a 5 GiB file are listed",
        Script::Listing(Listed::Shows(SPARSE)),
    )
    .files();
    c.add(
        "a name with a ~ is not listed",
        Script::Listing(Listed::Hides(UNREQUESTABLE[1])),
    )
    .files();

    c.section(Section::Metadata);
    c.add(
        "the size of a file, in decimal",
        x(
            &request(&["get_metadata", ARCHIVO]),
            metadata(ARCHIVO_DATA.len() as u64),
            Open,
        ),
    )
    .files();
    c.add(
        "an empty file is 0",
        x(&request(&["get_metadata", EMPTY]), metadata(0), Open),
    )
    .files();
    c.add(
        "a binary file's size",
        x(
            &request(&["get_metadata", BINARY]),
            metadata(binary_data().len() as u64),
            Open,
        ),
    )
    .files();
    c.add(
        "a file of more than 4 GiB: 64-bit sizes",
        x(
            &request(&["get_metadata", SPARSE]),
            metadata(SPARSE_LEN),
            Open,
        ),
    )
    .files();
    c.add(
        "an absent file is 202",
        x(&absent, status(FileNotFound), Open),
    );
    c.add(
        "a directory is 202",
        x(&request(&["get_metadata", DIR]), status(FileNotFound), Open),
    )
    .files();
    c.add(
        "a hidden file is 202",
        x(
            &request(&["get_metadata", HIDDEN]),
            status(FileNotFound),
            Open,
        ),
    )
    .files();
    c.add(
        "a link to a file inside is served",
        x(
            &request(&["get_metadata", LINK_IN]),
            metadata(ARCHIVO_DATA.len() as u64),
            Open,
        ),
    )
    .files();
    c.add(
        "a link leaving the directory is 202",
        x(
            &request(&["get_metadata", LINK_OUT]),
            status(FileNotFound),
            Open,
        ),
    )
    .files();
    c.add(
        "no argument is 201",
        x(b"get_metadata\r\n", status(InvalidArguments), Open),
    );
    c.add(
        "two arguments are 201",
        x(
            b"get_metadata hftp-check-absent x\r\n",
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "a file nobody may read is 199, then close",
        x(
            &request(&["get_metadata", UNREADABLE]),
            status(InternalServerError),
            Closed,
        ),
    )
    .files()
    .since(Kit::K2026);
    c.add(
        "an 8 MiB file's size",
        x(
            &request(&["get_metadata", BIG]),
            metadata(BIG_LEN as u64),
            Open,
        ),
    )
    .files();

    c.section(Section::Slice);
    c.add(
        "OFFSET 5 SIZE 20 of HFTP.md's example",
        x(&archivo("5", "20"), slice(&ARCHIVO_DATA[5..25]), Open),
    )
    .files();
    c.add(
        "the whole file",
        x(&archivo("0", "41"), slice(ARCHIVO_DATA), Open),
    )
    .files();
    c.add(
        "SIZE 0 is an empty line",
        x(&archivo("3", "0"), slice(b""), Open),
    )
    .files();
    c.add(
        "OFFSET+SIZE beyond the file is 203",
        x(&archivo("0", "42"), status(OffsetExceedsFileSize), Open),
    )
    .files();
    c.add(
        "OFFSET equal to the size with SIZE 0 is fine",
        x(&archivo("41", "0"), slice(b""), Open),
    )
    .files();
    c.add(
        "OFFSET beyond the size, even with SIZE 0, is 203",
        x(&archivo("42", "0"), status(OffsetExceedsFileSize), Open),
    )
    .files();
    c.add(
        "a SIZE too large for 64 bits is 203, not 201",
        x(
            &archivo("0", "99999999999999999999999"),
            status(OffsetExceedsFileSize),
            Open,
        ),
    )
    .files();
    c.add(
        "OFFSET+SIZE overflowing 64 bits is 203",
        x(
            &archivo("18446744073709551615", "2"),
            status(OffsetExceedsFileSize),
            Open,
        ),
    )
    .files();
    c.add(
        "leading zeros are fine",
        x(&archivo("0005", "00020"), slice(&ARCHIVO_DATA[5..25]), Open),
    )
    .files();
    c.add(
        "a negative number is 201",
        x(
            &request(&["get_slice", ABSENT, "-1", "1"]),
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "a number with a + is 201",
        x(
            &request(&["get_slice", ABSENT, "+1", "1"]),
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "a decimal point is 201",
        x(
            &request(&["get_slice", ABSENT, "0", "1.0"]),
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "hexadecimal is 201",
        x(
            &request(&["get_slice", ABSENT, "0x1", "1"]),
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "an empty number (two spaces) is 201",
        x(
            b"get_slice hftp-check-absent 1  2\r\n",
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "two arguments are 201",
        x(
            &request(&["get_slice", ABSENT, "1"]),
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "four arguments, the last not raw, are 201",
        x(
            &request(&["get_slice", ABSENT, "1", "2", "3"]),
            status(InvalidArguments),
            Open,
        ),
    );
    let binary = binary_data();
    c.add(
        "bytes with NULs, CRs and LFs, and every byte value",
        x(
            &request(&["get_slice", BINARY, "0", &binary.len().to_string()]),
            slice(&binary),
            Open,
        ),
    )
    .files();
    c.add(
        "one byte: base64 with two = of padding",
        x(&archivo("1", "1"), slice(&ARCHIVO_DATA[1..2]), Open),
    )
    .files();
    c.add(
        "two bytes: base64 with one = of padding",
        x(&archivo("1", "2"), slice(&ARCHIVO_DATA[1..3]), Open),
    )
    .files();
    let mark_at = (SPARSE_MARK_AT - 5).to_string();
    let mark_len = SPARSE_MARK.len() + 10;
    c.add(
        "an OFFSET past 4 GiB: 64-bit offsets",
        x(
            &request(&["get_slice", SPARSE, &mark_at, &mark_len.to_string()]),
            slice(&sparse_data(SPARSE_MARK_AT - 5, mark_len)),
            Open,
        ),
    )
    .files();
    let big = big_data();
    c.add(
        "8 MiB in one base64 line",
        x(
            &request(&["get_slice", BIG, "0", &BIG_LEN.to_string()]),
            slice(&big),
            Open,
        ),
    )
    .files();
    c.add(
        "an absent file is 202",
        x(
            &request(&["get_slice", ABSENT, "0", "1"]),
            status(FileNotFound),
            Open,
        ),
    );
    c.add(
        "a directory is 202",
        x(
            &request(&["get_slice", DIR, "0", "0"]),
            status(FileNotFound),
            Open,
        ),
    )
    .files();
    c.add(
        "a file nobody may read is 199, then close",
        x(
            &request(&["get_slice", UNREADABLE, "0", "1"]),
            status(InternalServerError),
            Closed,
        ),
    )
    .files()
    .since(Kit::K2026);
    c.add(
        "a link to a file inside is served",
        x(
            &request(&["get_slice", LINK_IN, "5", "20"]),
            slice(&ARCHIVO_DATA[5..25]),
            Open,
        ),
    )
    .files();
    c.add(
        "a link leaving the directory is 202",
        x(
            &request(&["get_slice", LINK_OUT, "0", "1"]),
            status(FileNotFound),
            Open,
        ),
    )
    .files();
    c.add(
        "a hidden file is 202",
        x(
            &request(&["get_slice", HIDDEN, "0", "1"]),
            status(FileNotFound),
            Open,
        ),
    )
    .files();
    let end_at = SPARSE_LEN - SPARSE_END.len() as u64;
    c.add(
        "the last bytes of a 5 GiB file",
        x(
            &request(&[
                "get_slice",
                SPARSE,
                &end_at.to_string(),
                &SPARSE_END.len().to_string(),
            ]),
            slice(SPARSE_END),
            Open,
        ),
    )
    .files();
    c.add(
        "one byte past the end of a 5 GiB file is 203",
        x(
            &request(&["get_slice", SPARSE, &SPARSE_LEN.to_string(), "1"]),
            status(OffsetExceedsFileSize),
            Open,
        ),
    )
    .files();
    c.add(
        "a slice of an empty file: OFFSET 0 SIZE 0",
        x(&request(&["get_slice", EMPTY, "0", "0"]), slice(b""), Open),
    )
    .files();

    c.section(Section::RawSlice);
    let k2026 = Kit::K2026;
    c.add(
        "OFFSET 5 SIZE 20 of HFTP.md's example, raw",
        x(&raw_of(ARCHIVO, "5", "20"), raw(&ARCHIVO_DATA[5..25]), Open),
    )
    .files()
    .since(k2026);
    c.add(
        "bytes with NULs, CRs and LFs, raw",
        x(
            &raw_of(BINARY, "0", &binary.len().to_string()),
            raw(&binary),
            Open,
        ),
    )
    .files()
    .since(k2026);
    c.add(
        "SIZE 0: Content-Length: 0 and nothing after the empty line",
        x(&raw_of(ARCHIVO, "41", "0"), raw(b""), Open),
    )
    .files()
    .since(k2026);
    c.add(
        "the next reply starts right after the last byte",
        x(
            &concat(&[
                &raw_of(BINARY, "1", "9"),
                &request(&["get_metadata", ARCHIVO]),
            ]),
            concat(&[&raw(&binary[1..10]), &metadata(ARCHIVO_DATA.len() as u64)]),
            Open,
        ),
    )
    .files()
    .since(k2026);
    c.add(
        "RAW (upper case) is 201",
        x(
            &request(&["get_slice", ABSENT, "0", "1", "RAW"]),
            status(InvalidArguments),
            Open,
        ),
    )
    .since(k2026);
    c.add(
        "rawx is 201",
        x(
            &request(&["get_slice", ABSENT, "0", "1", "rawx"]),
            status(InvalidArguments),
            Open,
        ),
    )
    .since(k2026);
    c.add(
        "base64 is 201",
        x(
            &request(&["get_slice", ABSENT, "0", "1", "base64"]),
            status(InvalidArguments),
            Open,
        ),
    )
    .since(k2026);
    c.add(
        "raw raw (six elements) is 201",
        x(
            &request(&["get_slice", ABSENT, "0", "1", "raw", "raw"]),
            status(InvalidArguments),
            Open,
        ),
    )
    .since(k2026);
    c.add(
        "OFFSET+SIZE beyond the file is 203",
        x(
            &raw_of(ARCHIVO, "1", "41"),
            status(OffsetExceedsFileSize),
            Open,
        ),
    )
    .files()
    .since(k2026);
    c.add(
        "an absent file is 202",
        x(&raw_of(ABSENT, "0", "1"), status(FileNotFound), Open),
    )
    .since(k2026);
    c.add(
        "an OFFSET past 4 GiB, raw",
        x(
            &raw_of(SPARSE, &mark_at, &mark_len.to_string()),
            raw(&sparse_data(SPARSE_MARK_AT - 5, mark_len)),
            Open,
        ),
    )
    .files()
    .since(k2026);
    c.add(
        "8 MiB raw",
        x(&raw_of(BIG, "0", &BIG_LEN.to_string()), raw(&big), Open),
    )
    .files()
    .since(k2026);
    c.add(
        "a file nobody may read is 199, then close",
        x(
            &raw_of(UNREADABLE, "0", "1"),
            status(InternalServerError),
            Closed,
        ),
    )
    .files()
    .since(k2026);

    c.section(Section::Help);
    c.add(
        "the five commands, in order, then an empty line",
        x(b"help\r\n", help(), Open),
    )
    .since(k2026);
    c.add(
        "help takes no argument: 201",
        x(b"help me\r\n", status(InvalidArguments), Open),
    )
    .since(k2026);
    c.add(
        "HELP (upper case) is 200",
        x(b"HELP\r\n", status(NoSuchCommand), Open),
    )
    .since(k2026);

    c.section(Section::Quit);
    c.add("0 OK, then close", x(b"quit\r\n", status(Ok), Closed));
    c.add(
        "a request behind quit in the same write is ignored",
        x(&concat(&[b"quit\r\n", &absent]), status(Ok), Closed),
    );
    c.add(
        "bad bytes behind quit are ignored (no 100 or 101)",
        x(b"quit\r\n\0garbage\n", status(Ok), Closed),
    );
    c.add(
        "quit sent one byte per write",
        bytewise(b"quit\r\n", status(Ok), Closed),
    );
    c.add(
        "quit with an argument is 201, and the connection stays open",
        x(b"quit now\r\n", status(InvalidArguments), Open),
    );
    c.add(
        "quit after other requests",
        x(
            &concat(&[&absent, b"quit\r\n"]),
            concat(&[&status(FileNotFound), &status(Ok)]),
            Closed,
        ),
    );

    c.section(Section::FileNames);
    let mut long = b"get_metadata ".to_vec();
    long.resize(long.len() + (5 << 20), b'a');
    long.extend_from_slice(b"\r\n");
    c.add(
        "a 5 MiB name of valid characters is 202 (the course's suite sends one)",
        x(&long, status(FileNotFound), Open),
    );
    let mut long_slice = b"get_slice ".to_vec();
    long_slice.resize(long_slice.len() + (5 << 20), b'z');
    long_slice.extend_from_slice(b" 0 1\r\n");
    c.add(
        "a 5 MiB name in get_slice is 202",
        x(&long_slice, status(FileNotFound), Open),
    );
    c.add(
        "a name longer than the system allows (300 bytes) is 202",
        x(
            &request(&["get_metadata", &"n".repeat(300)]),
            status(FileNotFound),
            Open,
        ),
    );
    c.add(
        "/ in a name is 201: /etc/passwd",
        x(
            b"get_metadata /etc/passwd\r\n",
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "../ in a name is 201",
        x(
            b"get_metadata ../hftp-check-archivo.txt\r\n",
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        ".. is 202",
        x(b"get_metadata ..\r\n", status(FileNotFound), Open),
    );
    c.add(
        ". is 202",
        x(b"get_metadata .\r\n", status(FileNotFound), Open),
    );
    c.add(
        "~ in a name is 201",
        x(b"get_metadata ~root\r\n", status(InvalidArguments), Open),
    );
    c.add(
        "* in a name is 201",
        x(b"get_metadata *\r\n", status(InvalidArguments), Open),
    );
    c.add(
        "\\ in a name is 201",
        x(
            b"get_metadata ..\\hftp-check-archivo.txt\r\n",
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "every allowed character (A-Z a-z 0-9 . _ -) makes a well-formed name: 202",
        x(b"get_metadata AZaz09._-\r\n", status(FileNotFound), Open),
    );
    c.add(
        "% in a name is 201: no URL decoding",
        x(b"get_metadata %2e%2e\r\n", status(InvalidArguments), Open),
    );
    c.add(
        "a name with a space is two arguments: 201",
        x(
            &request(&["get_metadata", UNREQUESTABLE[0]]),
            status(InvalidArguments),
            Open,
        ),
    )
    .files();
    c.add(
        "../ in get_slice is 201",
        x(
            b"get_slice ../hftp-check-archivo.txt 0 1\r\n",
            status(InvalidArguments),
            Open,
        ),
    );

    c.section(Section::Precedence);
    c.add(
        "qui\\nt\\n\\r\\n is 100, at every split",
        splits(b"qui\nt\n\r\n", status(BadEol), Closed),
    );
    c.add(
        "a bare LF beats a NUL before it: 100, at every split",
        splits(b"get\0x\n", status(BadEol), Closed),
    );
    c.add(
        "a NUL beats an unknown command: 101, at every split",
        splits(b"nope\0\r\n", status(BadRequest), Closed),
    );
    c.add(
        "a byte of 0x80 or more beats an unknown command: 101, at every split",
        splits(b"\xffquit\r\n", status(BadRequest), Closed),
    );
    c.add(
        "a lone CR beats a wrong argument count: 101",
        splits(b"get_metadata\r a b\r\n", status(BadRequest), Closed),
    );
    c.add(
        "an unknown command beats wrong arguments: 200, at every split",
        splits(b"nope a  b /\r\n", status(NoSuchCommand), Open),
    );
    c.add(
        "commands are case-sensitive: 200",
        x(
            b"Get_metadata hftp-check-absent\r\n",
            status(NoSuchCommand),
            Open,
        ),
    );
    c.add(
        "a leading space makes an empty command: 200",
        x(
            b" get_metadata hftp-check-absent\r\n",
            status(NoSuchCommand),
            Open,
        ),
    );
    c.add(
        "a malformed name beats not found: 201, at every split",
        splits(
            b"get_metadata ../absent\r\n",
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "a malformed number beats not found: 201",
        x(
            &request(&["get_slice", ABSENT, "x", "1"]),
            status(InvalidArguments),
            Open,
        ),
    );
    c.add(
        "not found beats out of range: 202, at every split",
        splits(
            &request(&["get_slice", ABSENT, "99999999999999999999", "1"]),
            status(FileNotFound),
            Open,
        ),
    );
    c.add(
        "a file nobody may read beats out of range: 199",
        x(
            &request(&["get_slice", UNREADABLE, "0", "999999"]),
            status(InternalServerError),
            Closed,
        ),
    )
    .files()
    .since(k2026);
    c.add(
        "a command with an argument it does not take is 201, not the command",
        x(b"get_file_listing now\r\n", status(InvalidArguments), Open),
    );
    c.add(
        "one space alone is a blank line: 101",
        x(b" \r\n", status(BadRequest), Closed),
    )
    .since(k2026);
    c.add(
        "a well-formed request at every split is unchanged",
        splits(&absent, status(FileNotFound), Open),
    );
    c.add(
        "a slice request at every split is unchanged",
        splits(&archivo("5", "20"), slice(&ARCHIVO_DATA[5..25]), Open),
    )
    .files();
    c.add(
        "quit\\n\\r\\n is 100: quit is not obeyed, at every split",
        splits(b"quit\n\r\n", status(BadEol), Closed),
    );
    c.add(
        "a NUL beats a malformed name: 101",
        x(b"get_metadata ../\0\r\n", status(BadRequest), Closed),
    );

    c.section(Section::Connection);
    c.add(
        "a client that disconnects mid-request disturbs no other",
        Script::Custom(disconnect_mid_request),
    );
    c.add(
        "a client that vanishes mid-slice disturbs no other",
        Script::Custom(vanish_mid_slice),
    )
    .files();
    c.add(
        "idle clients, some mid-request, do not delay another's answer",
        Script::Custom(idle_clients),
    )
    .alone();
    c.add(
        "a client sending slowly does not delay another's answer",
        Script::Custom(slow_sender),
    );
    c.add(
        "a client not reading its slice does not delay another's answer",
        Script::Custom(slow_reader),
    )
    .files();
    c.add(
        "many clients at once are all answered",
        Script::Custom(many_clients),
    )
    .alone();
    let mut probes = Vec::new();
    let mut replies = Vec::new();
    for _ in 0..20_000 {
        probes.extend_from_slice(PROBE);
        replies.extend_from_slice(PROBE_REPLY);
    }
    c.add(
        "20000 requests pipelined before reading any reply are all answered",
        x(&probes, replies, Open),
    );
    c.add(
        "a connection serves request after request",
        Script::Custom(lockstep),
    );
    c.add(
        "a client that vanishes mid-raw-slice disturbs no other",
        Script::Custom(vanish_mid_raw_slice),
    )
    .files()
    .since(k2026);
    c.cases
}
