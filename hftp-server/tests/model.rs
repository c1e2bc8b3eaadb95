//! Model-based garbage: proptest generates byte streams (valid requests,
//! bare `\n`, NUL, high bytes, lone CRs, huge numbers, huge and hostile
//! names, any split into writes), sends each over a real socket to one
//! running server, and checks the whole reply stream, byte for byte and up
//! to the close, against a small model of HFTP.md written here: one status
//! per request line with the precedence 100 > 101 > 200 > 201 > 202 > 203,
//! bodies computed from the files, the connection closed exactly after a
//! fatal status or `quit`, and no reply to a line left unfinished.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::fs::symlink;
use std::thread;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::reference::base64;
use crate::support::{PATIENCE, Reply, Server, noise};

/// The servable files of the model's directory, and their sizes: empty,
/// around the 3-byte groups of base64, and a few KB. `inner` is a link.
const SERVED: [(&str, usize); 10] = [
    ("a", 0),
    ("b", 1),
    ("c", 2),
    ("d", 3),
    ("e", 4),
    ("f", 5),
    ("g.txt", 7),
    ("h_i-J", 100),
    ("k", 3000),
    ("inner", 5),
];

/// Well-formed names that are not servable files: 202.
const UNSERVABLE: [&str; 9] = [
    "..", ".", ".hidden", "dir", "outer", "dangling", "missing", "A", "a.",
];

/// Names of the wrong form: 201.
const MALFORMED: [&str; 9] = [
    "a/b",
    "../k",
    "/etc/passwd",
    "~",
    "~root",
    "*",
    "a\\b",
    "k;",
    "%2e%2e",
];

/// HFTP.md, as a function from what a client sends to what it must get.
struct Model {
    files: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// What one request line gets: the reply bytes, and whether the server
/// then closes the connection.
struct Answer {
    reply: Vec<u8>,
    closes: bool,
}

impl Answer {
    fn status(code: u16) -> Answer {
        let text = match code {
            0 => "OK",
            100 => "BAD EOL",
            101 => "BAD REQUEST",
            200 => "NO SUCH COMMAND",
            201 => "INVALID ARGUMENTS FOR COMMAND",
            202 => "FILE NOT FOUND",
            203 => "OFFSET EXCEEDS FILE SIZE",
            _ => unreachable!("the model never answers {code}"),
        };
        Answer {
            reply: format!("{code} {text}\r\n").into_bytes(),
            closes: code == 100 || code == 101,
        }
    }

    fn ok(body: &[u8]) -> Answer {
        let mut reply = b"0 OK\r\n".to_vec();
        reply.extend_from_slice(body);
        Answer {
            reply,
            closes: false,
        }
    }
}

fn is_name(word: &[u8]) -> bool {
    !word.is_empty()
        && word
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A well-formed number, or `None`; too large for 64 bits is `u64::MAX`
/// (it can only be out of range).
fn number(word: &[u8]) -> Option<u64> {
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        std::str::from_utf8(word)
            .ok()
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(u64::MAX),
    )
}

impl Model {
    /// Everything the server must send in reply to `stream`, followed by
    /// the client's half-close, up to the server's close.
    fn replies(&self, stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line = Vec::new();
        for &byte in stream {
            if byte != b'\n' {
                line.push(byte);
                continue;
            }
            if line.pop() != Some(b'\r') {
                // A bare `\n`: answered at once, whatever came before.
                out.extend_from_slice(&Answer::status(100).reply);
                return out;
            }
            let answer = self.answer(&line);
            out.extend_from_slice(&answer.reply);
            if answer.closes {
                return out;
            }
            line.clear();
        }
        // A line left unfinished by the half-close gets no reply.
        out
    }

    fn answer(&self, line: &[u8]) -> Answer {
        if line.iter().any(|b| !(0x20..=0x7E).contains(b)) {
            return Answer::status(101);
        }
        if line.iter().all(|&b| b == b' ') {
            // Blank: empty, or spaces only.
            return Answer::status(101);
        }
        let mut words = line.split(|&b| b == b' ');
        let command = words.next().unwrap_or_default();
        let args: Vec<&[u8]> = words.collect();
        match (command, args.as_slice()) {
            (b"get_file_listing", []) => {
                let mut body = Vec::new();
                for name in self.files.keys() {
                    body.extend_from_slice(name);
                    body.extend_from_slice(b"\r\n");
                }
                body.extend_from_slice(b"\r\n");
                Answer::ok(&body)
            }
            (b"help", []) => {
                Answer::ok(b"get_file_listing\r\nget_metadata\r\nget_slice\r\nhelp\r\nquit\r\n\r\n")
            }
            (b"quit", []) => Answer {
                closes: true,
                ..Answer::ok(b"")
            },
            (b"get_metadata", [name]) if is_name(name) => match self.files.get(*name) {
                None => Answer::status(202),
                Some(content) => Answer::ok(format!("{}\r\n", content.len()).as_bytes()),
            },
            (b"get_slice", [name, offset, size] | [name, offset, size, b"raw"])
                if is_name(name) =>
            {
                let raw = args.len() == 4;
                let (Some(offset), Some(size)) = (number(offset), number(size)) else {
                    return Answer::status(201);
                };
                let Some(content) = self.files.get(*name) else {
                    return Answer::status(202);
                };
                match offset.checked_add(size) {
                    Some(end) if end <= content.len() as u64 => {
                        let range = usize::try_from(offset).expect("small")
                            ..usize::try_from(end).expect("small");
                        let body = if raw {
                            let mut body = format!("Content-Length: {size}\r\n\r\n").into_bytes();
                            body.extend_from_slice(&content[range]);
                            body
                        } else {
                            let mut body = base64(&content[range]);
                            body.extend_from_slice(b"\r\n");
                            body
                        };
                        Answer::ok(&body)
                    }
                    _ => Answer::status(203),
                }
            }
            (b"get_file_listing" | b"help" | b"quit" | b"get_metadata" | b"get_slice", _) => {
                Answer::status(201)
            }
            _ => Answer::status(200),
        }
    }
}

/// A generated byte stream, shown escaped and with long runs abbreviated
/// (a 70 000-byte name would drown a failure report).
#[derive(Clone)]
struct Stream(Vec<u8>);

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&show(&self.0))
    }
}

fn show(bytes: &[u8]) -> String {
    let mut text = String::from("\"");
    let mut rest = bytes;
    while let Some(&first) = rest.first() {
        let run = rest.iter().take_while(|&&b| b == first).count();
        let escaped: String = std::ascii::escape_default(first).map(char::from).collect();
        if run > 8 {
            text.push_str(&format!("{{{escaped}×{run}}}"));
        } else {
            text.push_str(&escaped.repeat(run));
        }
        rest = &rest[run..];
    }
    text.push('"');
    text
}

fn concat(parts: Vec<Vec<u8>>) -> Vec<u8> {
    parts.concat()
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    let pick = |names: &'static [&'static str]| {
        proptest::sample::select(names).prop_map(|name| name.as_bytes().to_vec())
    };
    let served: &'static [&'static str] = &["a", "b", "c", "d", "e", "f", "g.txt", "h_i-J", "k"];
    prop_oneof![
        6 => pick(served),
        1 => Just(b"inner".to_vec()),
        3 => pick(&UNSERVABLE),
        2 => pick(&MALFORMED),
        // Longer than any file's name (255): 202, not 101, however long.
        1 => proptest::sample::select(&[255usize, 256, 4096, 70_000][..])
            .prop_map(|len| vec![b'k'; len]),
        1 => Just(Vec::new()),
    ]
}

fn decimal() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (0u64..3100).prop_map(|n| n.to_string().into_bytes()),
        1 => (0u64..10).prop_map(|n| format!("000{n}").into_bytes()),
        1 => proptest::sample::select(
            &[
                "18446744073709551615",
                "18446744073709551616",
                "99999999999999999999999999999999999999",
                "-1",
                "+1",
                "1.0",
                "0x1",
                "1e3",
                "",
            ][..]
        )
        .prop_map(|n| n.as_bytes().to_vec()),
    ]
}

/// A slice inside a served file, or one byte past it.
fn fitting_slice() -> impl Strategy<Value = Vec<u8>> {
    (0..SERVED.len())
        .prop_flat_map(|i| {
            let len = SERVED[i].1;
            (Just(i), 0..=len)
                .prop_flat_map(move |(i, offset)| (Just(i), Just(offset), 0..=len - offset + 1))
        })
        .prop_map(|(i, offset, size)| {
            format!("get_slice {} {offset} {size}", SERVED[i].0).into_bytes()
        })
}

fn word() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::sample::select(
            &[
                "get_file_listing",
                "get_metadata",
                "get_slice",
                "quit",
                "help",
                "raw",
                "GET_FILE_LISTING",
                "Quit",
                "get_slice2",
                "",
            ][..]
        )
        .prop_map(|w| w.as_bytes().to_vec()),
        name(),
        decimal(),
    ]
}

/// One request line, without its line end.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b"get_file_listing".to_vec()),
        6 => name().prop_map(|name| concat(vec![b"get_metadata ".to_vec(), name])),
        8 => fitting_slice(),
        4 => fitting_slice().prop_map(|slice| concat(vec![slice, b" raw".to_vec()])),
        1 => Just(b"help".to_vec()),
        4 => (name(), decimal(), decimal()).prop_map(|(name, offset, size)| {
            concat(vec![b"get_slice ".to_vec(), name, b" ".to_vec(), offset, b" ".to_vec(), size])
        }),
        1 => Just(b"quit".to_vec()),
        4 => proptest::collection::vec(word(), 0..6).prop_map(|words| words.join(&b' ')),
        // Bytes of every kind but `\n`: NUL, TAB, lone CR, high bytes.
        1 => proptest::collection::vec(
            prop_oneof![
                30 => 0x20u8..=0x7E,
                1 => Just(0u8),
                1 => Just(b'\t'),
                1 => Just(b'\r'),
                1 => 0x80u8..=0xFF,
            ],
            0..40,
        ),
    ]
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    let end = prop_oneof![
        80 => Just(&b"\r\n"[..]),
        1 => Just(&b"\n"[..]),
        1 => Just(&b"\r"[..]),
        2 => Just(&b""[..]),
    ];
    prop_oneof![
        60 => (line(), end).prop_map(|(line, end)| concat(vec![line, end.to_vec()])),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\0".to_vec()),
    ]
}

/// The stream, and the sizes of the writes it is sent in (cycled).
fn case() -> impl Strategy<Value = (Stream, Vec<usize>)> {
    (
        proptest::collection::vec(piece(), 1..32).prop_map(|pieces| Stream(pieces.concat())),
        proptest::collection::vec(1usize..3000, 1..8),
    )
}

/// Sends `stream` in writes of `splits` sizes from one thread, half-closes,
/// and returns everything read on another until the server closes.
fn exchange(addr: SocketAddr, stream: &[u8], splits: &[usize]) -> std::io::Result<Vec<u8>> {
    let socket = TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(PATIENCE))?;
    socket.set_write_timeout(Some(PATIENCE))?;
    socket.set_nodelay(true)?;
    let mut writer = socket.try_clone()?;
    let mut reader = socket;
    thread::scope(|scope| {
        scope.spawn(move || {
            let mut rest = stream;
            for &len in splits.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at(len.min(rest.len()));
                // The server stops reading after a fatal status or `quit`
                // (it drains for a while, then may reset): not an error.
                if writer.write_all(now).is_err() {
                    return;
                }
                rest = later;
            }
            let _ = writer.shutdown(Shutdown::Write);
        });
        let mut got = Vec::new();
        match reader.read_to_end(&mut got) {
            Ok(_) => Ok(got),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => Ok(got),
            Err(error) => Err(error),
        }
    })
}

fn first_difference(expected: &[u8], got: &[u8]) -> String {
    let at = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let from = at.saturating_sub(60);
    format!(
        "replies differ at byte {at} (expected {} bytes, got {}):\n expected …{}\n      got …{}",
        expected.len(),
        got.len(),
        show(&expected[from..expected.len().min(at + 60)]),
        show(&got[from..got.len().min(at + 60)]),
    )
}

#[test]
fn generated_streams_get_exactly_the_replies_of_the_model() {
    let outside = tempfile::tempdir().expect("a temporary directory");
    fs::write(outside.path().join("secret"), "secret").expect("a file");
    let mut server = Server::start();
    let mut files = BTreeMap::new();
    for (seed, (name, len)) in (1..).zip(SERVED) {
        if name != "inner" {
            let content = noise(seed, len);
            server.file(name, &content);
            files.insert(name.as_bytes().to_vec(), content);
        }
    }
    files.insert(b"inner".to_vec(), files[&b"f"[..]].clone());
    symlink("f", server.dir.join("inner")).expect("a link");
    symlink(outside.path().join("secret"), server.dir.join("outer")).expect("a link");
    symlink("nowhere", server.dir.join("dangling")).expect("a link");
    server.file(".hidden", "hidden");
    fs::create_dir(server.dir.join("dir")).expect("a directory");
    let model = Model { files };

    let mut runner = TestRunner::new(Config {
        cases: 256,
        source_file: Some(file!()),
        ..Config::default()
    });
    let outcome = runner.run(&case(), |(stream, splits)| {
        let expected = model.replies(&stream.0);
        let got = exchange(server.addr, &stream.0, &splits)
            .map_err(|error| TestCaseError::fail(format!("the exchange failed: {error}")))?;
        if got != expected {
            return Err(TestCaseError::fail(first_difference(&expected, &got)));
        }
        Ok(())
    });
    if let Err(error) = outcome {
        panic!("{error}");
    }

    assert!(server.is_running(), "the server died");
    assert_eq!(
        server.connect().ask(&crate::support::metadata("k")),
        Reply::Size(3000)
    );
}

#[test]
fn the_model_follows_hftp_md() {
    let model = Model {
        files: BTreeMap::from([(
            b"archivo.txt".to_vec(),
            b"!Que calor que hace hoy, pinta una birra!".to_vec(),
        )]),
    };
    let table: [(&[u8], &[u8]); 16] = [
        (
            b"get_slice archivo.txt 5 20\r\n",
            b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n",
        ),
        (b"get_metadata archivo.txt\r\n", b"0 OK\r\n41\r\n"),
        (b"get_file_listing\r\n", b"0 OK\r\narchivo.txt\r\n\r\n"),
        (b"qui\nt\n\r\n", b"100 BAD EOL\r\n"),
        (b"get_\0file_listing\r\nquit\r\n", b"101 BAD REQUEST\r\n"),
        (b"get_\0file\nlisting\r\n", b"100 BAD EOL\r\n"),
        (b"quit\r\r\n", b"101 BAD REQUEST\r\n"),
        (b"\r\nquit\r\n", b"101 BAD REQUEST\r\n"),
        (b"  \r\n", b"101 BAD REQUEST\r\n"),
        (
            b"help\r\n",
            b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nhelp\r\nquit\r\n\r\n",
        ),
        (b" quit\r\n", b"200 NO SUCH COMMAND\r\n"),
        (b"quit \r\n", b"201 INVALID ARGUMENTS FOR COMMAND\r\n"),
        (
            b"get_slice archivo.txt -1 2\r\n",
            b"201 INVALID ARGUMENTS FOR COMMAND\r\n",
        ),
        (
            b"get_slice nada 99999999999999999999 2\r\n",
            b"202 FILE NOT FOUND\r\n",
        ),
        (
            b"get_slice archivo.txt 41 0\r\nget_slice archivo.txt 18446744073709551615 2\r\n",
            b"0 OK\r\n\r\n203 OFFSET EXCEEDS FILE SIZE\r\n",
        ),
        (b"quit\r\nget_file_listing\r\nget_meta", b"0 OK\r\n"),
    ];
    for (stream, replies) in table {
        assert_eq!(
            show(&model.replies(stream)),
            show(replies),
            "{}",
            show(stream)
        );
    }
}
