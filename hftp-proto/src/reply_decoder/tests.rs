use super::*;

/// A reply as a whole, for comparing.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Code(Status),
    Name(String),
    Size(u64),
    Data(Vec<u8>),
    End,
}

/// Decodes `input` for `request`; returns the pieces (data merged) and the
/// bytes left after the reply.
fn decode(request: &Request, mut input: &[u8]) -> Result<(Vec<Piece>, usize), ReplyError> {
    let mut decoder = ReplyDecoder::new(request);
    let mut pieces = Vec::new();
    while !decoder.is_done() {
        let (consumed, event) = decoder.decode(input)?;
        input = &input[consumed..];
        match event {
            Some(ReplyEvent::Status(status)) => pieces.push(Piece::Code(status)),
            Some(ReplyEvent::FileName(name) | ReplyEvent::Command(name)) => {
                pieces.push(Piece::Name(name.to_string()));
            }
            Some(ReplyEvent::Size(size)) => pieces.push(Piece::Size(size)),
            Some(ReplyEvent::Data(data)) => match pieces.last_mut() {
                Some(Piece::Data(so_far)) => so_far.extend_from_slice(data),
                _ => pieces.push(Piece::Data(data.to_vec())),
            },
            Some(ReplyEvent::End) => pieces.push(Piece::End),
            None => {
                decoder.finish()?;
            }
        }
    }
    Ok((pieces, input.len()))
}

fn slice(size: u64) -> Request {
    Request::GetSlice {
        name: FileName::new("a").expect("valid"),
        offset: 0,
        size,
        raw: false,
    }
}

fn metadata() -> Request {
    Request::GetMetadata {
        name: FileName::new("a").expect("valid"),
    }
}

#[test]
fn well_formed_replies() {
    use Piece::*;
    let table: Vec<(Request, &[u8], Vec<Piece>)> = vec![
        (
            Request::GetFileListing,
            b"0 OK\r\narchivo1.txt\r\narchivo2.jpg\r\n\r\n",
            vec![
                Code(Status::Ok),
                Name("archivo1.txt".into()),
                Name("archivo2.jpg".into()),
                End,
            ],
        ),
        (
            Request::GetFileListing,
            b"0 OK\r\n\r\n",
            vec![Code(Status::Ok), End],
        ),
        (
            metadata(),
            b"0 OK\r\n3199\r\n",
            vec![Code(Status::Ok), Size(3199), End],
        ),
        (
            metadata(),
            b"0 OK\n0\n",
            vec![Code(Status::Ok), Size(0), End],
        ),
        (
            metadata(),
            b"202 FILE NOT FOUND\r\n",
            vec![Code(Status::FileNotFound), End],
        ),
        (
            metadata(),
            b"101 BAD REQUEST\r\n",
            vec![Code(Status::BadRequest), End],
        ),
        (
            slice(20),
            b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n",
            vec![
                Code(Status::Ok),
                Data(b"calor que hace hoy, ".to_vec()),
                End,
            ],
        ),
        // Another server's body split over several lines.
        (
            slice(20),
            b"0 OK\r\nY2Fsb3Ig\r\ncXVlIGhh\r\nY2UgaG95LCA=\r\n",
            vec![
                Code(Status::Ok),
                Data(b"calor que hace hoy, ".to_vec()),
                End,
            ],
        ),
        (
            slice(20),
            b"0 OK\r\nY2Fsb3Ig\ncXVlIGh\r\nhY2UgaG95LCA=\n",
            vec![
                Code(Status::Ok),
                Data(b"calor que hace hoy, ".to_vec()),
                End,
            ],
        ),
        (slice(0), b"0 OK\r\n\r\n", vec![Code(Status::Ok), End]),
        (
            slice(1),
            b"0 OK\r\nAA==\r\n",
            vec![Code(Status::Ok), Data(vec![0]), End],
        ),
        (
            slice(9),
            b"203 OFFSET EXCEEDS FILE SIZE\r\n",
            vec![Code(Status::OffsetExceedsFileSize), End],
        ),
        (Request::Quit, b"0 OK\r\n", vec![Code(Status::Ok), End]),
        // Status texts are not checked; codes are.
        (Request::Quit, b"0 Bien\r\n", vec![Code(Status::Ok), End]),
    ];
    for (request, input, expected) in table {
        let (pieces, left) = decode(&request, input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(pieces, expected, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(left, 0);
    }
}

#[test]
fn malformed_replies() {
    let long_line = format!("0 OK\r\n{}\r\n", "a".repeat(MAX_REPLY_LINE_LEN + 1));
    let long_garbage = [b"0 OK\r\n" as &[u8], &[b'!'; 400]].concat();
    let table: Vec<(Request, &[u8], ReplyError)> = vec![
        (Request::Quit, b"OK\r\n", ReplyError::BadStatusLine),
        (Request::Quit, b"\r\n", ReplyError::BadStatusLine),
        (Request::Quit, b"-1 X\r\n", ReplyError::BadStatusLine),
        (Request::Quit, b"99999 X\r\n", ReplyError::BadStatusLine),
        (Request::Quit, b"204 X\r\n", ReplyError::UnknownStatus(204)),
        (
            Request::GetFileListing,
            b"0 OK\r\n../etc\r\n\r\n",
            ReplyError::BadFileName(FileNameError::InvalidCharacter { found: '/', at: 2 }),
        ),
        (
            Request::GetFileListing,
            long_line.as_bytes(),
            ReplyError::LineTooLong,
        ),
        (metadata(), b"0 OK\r\n12a\r\n", ReplyError::BadSize),
        (metadata(), b"0 OK\r\n\r\n", ReplyError::BadSize),
        (
            metadata(),
            b"0 OK\r\n18446744073709551616\r\n",
            ReplyError::BadSize,
        ),
        (slice(3), b"0 OK\r\n!!!!\r\n", ReplyError::BadBase64),
        (slice(2), b"0 OK\r\nYWJj\r\n", ReplyError::BadBase64),
        (slice(2), b"0 OK\r\nYQ==\r\n", ReplyError::BadBase64),
        (slice(0), b"0 OK\r\nYQ==\r\n", ReplyError::BadBase64),
        (slice(6), b"0 OK\r\nYQ==YWJj\r\n", ReplyError::BadBase64),
        (slice(300), &long_garbage, ReplyError::BadBase64),
        // Cut short.
        (slice(3), b"0 OK\r\nYWJ", ReplyError::Truncated),
        (slice(3), b"0 OK\r\nYWJj", ReplyError::Truncated),
        (
            Request::GetFileListing,
            b"0 OK\r\na\r\n",
            ReplyError::Truncated,
        ),
        (Request::Quit, b"0 O", ReplyError::Truncated),
    ];
    for (request, input, expected) in table {
        assert_eq!(
            decode(&request, input).map(|_| ()),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn the_next_reply_is_left_alone() {
    let (pieces, left) = decode(&Request::Quit, b"0 OK\r\n0 OK\r\n").expect("valid");
    assert_eq!(pieces, [Piece::Code(Status::Ok), Piece::End]);
    assert_eq!(left, 6);
    let (_, left) = decode(&slice(1), b"0 OK\r\nAA==\r\n202 FILE NOT FOUND\r\n").expect("valid");
    assert_eq!(left, 20);
}

#[test]
fn a_decoder_is_reused_for_the_next_request() {
    let mut decoder = ReplyDecoder::new(&Request::Quit);
    assert_eq!(
        decoder.decode(b"0 OK\r\n"),
        Ok((6, Some(ReplyEvent::Status(Status::Ok))))
    );
    assert_eq!(decoder.decode(b""), Ok((0, Some(ReplyEvent::End))));
    assert!(decoder.is_done());
    decoder.reset(&metadata());
    assert!(!decoder.is_done());
    assert_eq!(decoder.finish(), Err(ReplyError::Truncated));
    assert_eq!(
        decoder.decode(b"0 OK\r\n"),
        Ok((6, Some(ReplyEvent::Status(Status::Ok))))
    );
}
