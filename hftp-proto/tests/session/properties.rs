//! Properties of the session as a whole: whatever the requests, their
//! splits and the peer's reading, the peer gets exactly what HFTP.md says,
//! and the session's memory stays bounded.

use std::collections::BTreeMap;
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hftp_proto::*;
use proptest::prelude::*;

use super::driver::{Driver, FakeDir};

/// What a name in the served directory is, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    /// Mode 000: nobody may read it.
    Locked,
    /// The system refuses to open it (permission denied).
    Refused,
    Directory,
    /// Looking it up fails for the server's own reasons.
    Broken,
}

#[derive(Debug, Clone)]
struct Dir {
    entries: BTreeMap<&'static str, (Kind, Vec<u8>)>,
    show_hidden: bool,
}

/// Names requested but in no directory.
const ABSENT: [&str; 4] = ["gone", ".gone", ".", ".."];

impl Dir {
    fn names(&self) -> Vec<&'static str> {
        self.entries.keys().copied().chain(ABSENT).collect()
    }

    fn fake(&self) -> FakeDir {
        let mut fake = FakeDir::default();
        for (&name, (kind, data)) in &self.entries {
            let size = data.len() as u64;
            let found = match kind {
                Kind::File => None,
                Kind::Locked => Some(Ok(Entry::File {
                    size,
                    mode: 0o000,
                    readable: true,
                })),
                Kind::Refused => Some(Ok(Entry::File {
                    size,
                    mode: 0o600,
                    readable: false,
                })),
                Kind::Directory => Some(Ok(Entry::NotAFile)),
                Kind::Broken => Some(Err(io::ErrorKind::OutOfMemory)),
            };
            if !matches!(kind, Kind::Directory | Kind::Broken) {
                fake.files.insert(name.into(), data.clone());
            }
            if let Some(found) = found {
                fake.overrides.insert(name.into(), found);
            }
        }
        fake
    }

    fn visible(&self, name: &str) -> bool {
        !name.starts_with('.') || (self.show_hidden && name != "." && name != "..")
    }

    /// The file's bytes, or the status that refuses the name.
    fn find(&self, name: &str) -> Result<&[u8], Status> {
        if !self.visible(name) {
            return Err(Status::FileNotFound);
        }
        match self.entries.get(name) {
            None | Some((Kind::Directory, _)) => Err(Status::FileNotFound),
            Some((Kind::Locked | Kind::Refused | Kind::Broken, _)) => {
                Err(Status::InternalServerError)
            }
            Some((Kind::File, data)) => Ok(data),
        }
    }
}

/// How the model's connection ends.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// Still open: the peer may send more.
    Open,
    Closed(CloseReason),
}

/// The bytes a peer sending `input` must receive, the status of each
/// request, and how the connection ends: each request judged by the
/// line-at-a-time model, answered the plain way.
fn expected(input: &[u8], dir: &Dir, eof: bool) -> (Vec<u8>, Vec<Status>, Ending) {
    let mut out = Vec::new();
    let mut statuses = Vec::new();
    for event in crate::model(input) {
        let (status, body) = match event {
            RequestEvent::Refused(status) => (status, Vec::new()),
            RequestEvent::Request(Request::GetFileListing) => {
                let mut body = Vec::new();
                for (name, (kind, _)) in &dir.entries {
                    let is_file = matches!(kind, Kind::File | Kind::Locked | Kind::Refused);
                    if is_file && dir.visible(name) {
                        body.extend_from_slice(format!("{name}\r\n").as_bytes());
                    }
                }
                body.extend_from_slice(b"\r\n");
                (Status::Ok, body)
            }
            RequestEvent::Request(Request::GetMetadata { name }) => match dir.find(name.as_str()) {
                Ok(data) => (Status::Ok, format!("{}\r\n", data.len()).into_bytes()),
                Err(status) => (status, Vec::new()),
            },
            RequestEvent::Request(Request::GetSlice {
                name,
                offset,
                size,
                raw,
            }) => match dir.find(name.as_str()) {
                Ok(data) => slice_reply(data, offset, size, raw),
                Err(status) => (status, Vec::new()),
            },
            RequestEvent::Request(Request::Help) => {
                let commands = [
                    "get_file_listing",
                    "get_metadata",
                    "get_slice",
                    "help",
                    "quit",
                ];
                let body = format!("{}\r\n\r\n", commands.join("\r\n"));
                (Status::Ok, body.into_bytes())
            }
            RequestEvent::Request(Request::Quit) => {
                out.extend_from_slice(Status::Ok.line().as_bytes());
                statuses.push(Status::Ok);
                return (out, statuses, Ending::Closed(CloseReason::Quit));
            }
        };
        out.extend_from_slice(status.line().as_bytes());
        out.extend_from_slice(&body);
        statuses.push(status);
        if status.is_fatal() {
            return (out, statuses, Ending::Closed(CloseReason::Fatal(status)));
        }
    }
    let ending = if !eof {
        Ending::Open
    } else if input.ends_with(b"\n") || input.is_empty() {
        Ending::Closed(CloseReason::PeerClosed)
    } else {
        Ending::Closed(CloseReason::PeerLeftMidRequest)
    };
    (out, statuses, ending)
}

/// The reply to a slice of `data`: base64 on one line, or the raw bytes
/// after their length.
fn slice_reply(data: &[u8], offset: u64, size: u64, raw: bool) -> (Status, Vec<u8>) {
    let end = offset.checked_add(size);
    let Some(end) = end.filter(|&end| end <= data.len() as u64) else {
        return (Status::OffsetExceedsFileSize, Vec::new());
    };
    let slice = &data[offset as usize..end as usize];
    let body = if raw {
        [format!("Content-Length: {size}\r\n\r\n").as_bytes(), slice].concat()
    } else {
        format!("{}\r\n", STANDARD.encode(slice)).into_bytes()
    };
    (Status::Ok, body)
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..200)
}

/// A file whose base64 is longer than a session sends through its output,
/// so the driver streams it.
fn long_content() -> impl Strategy<Value = Vec<u8>> {
    (15_300usize..20_000, any::<u8>())
        .prop_map(|(len, seed)| (0..len).map(|i| (i as u8).wrapping_mul(seed | 1)).collect())
}

fn dir() -> impl Strategy<Value = Dir> {
    (
        content(),
        content(),
        content(),
        long_content(),
        any::<bool>(),
    )
        .prop_map(|(a, b, hidden, long, show_hidden)| {
            let entries = [
                ("a.txt", (Kind::File, a)),
                ("long", (Kind::File, long)),
                ("b", (Kind::File, b)),
                ("empty", (Kind::File, Vec::new())),
                (".hidden", (Kind::File, hidden)),
                ("locked", (Kind::Locked, b"abc".to_vec())),
                ("refused", (Kind::Refused, b"abc".to_vec())),
                ("dir", (Kind::Directory, Vec::new())),
                ("broken", (Kind::Broken, Vec::new())),
            ];
            Dir {
                entries: entries.into_iter().collect(),
                show_hidden,
            }
        })
}

fn number(max: u64) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0..=210u64).prop_map(|n| n.to_string()),
        2 => (0..=max).prop_map(|n| n.to_string()),
        1 => "[0-9]{1,25}",
        1 => Just("000".to_string()),
        1 => Just("-1".to_string()),
        1 => Just(String::new()),
    ]
}

/// One request line (or a run of mistakes) over `names`.
fn line(names: Vec<&'static str>, max: u64) -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(names);
    prop_oneof![
        3 => Just(b"get_file_listing\r\n".to_vec()),
        6 => name.clone().prop_map(|n| format!("get_metadata {n}\r\n").into_bytes()),
        8 => (name.clone(), number(max), number(max), prop::sample::select(vec!["", " raw"]))
            .prop_map(|(n, o, s, raw)| format!("get_slice {n} {o} {s}{raw}\r\n").into_bytes()),
        // Long enough for the driver to stream it, from `long`.
        3 => (name.clone(), 0..=210u64, 12_300..=15_000u64, prop::sample::select(vec!["", " raw"]))
            .prop_map(|(n, o, s, raw)| format!("get_slice {n} {o} {s}{raw}\r\n").into_bytes()),
        1 => Just(b"help\r\n".to_vec()),
        1 => Just(b"quit\r\n".to_vec()),
        1 => Just(b"\n".to_vec()),
        2 => prop::sample::select(vec![
            &b"verdura\r\n"[..],
            b"get_metadata\r\n",
            b"get_metadata a.txt b\r\n",
            b" get_file_listing\r\n",
            b"get_slice b 0 1 \r\n",
            b"get_slice b 0 1 RAW\r\n",
            b"get_slice b 0 1 raw raw\r\n",
            b"  \r\n",
            b"help me\r\n",
            b"get_file_listing\r",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => crate::request_stream(),
    ]
}

fn requests(names: Vec<&'static str>, max: u64) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(line(names, max), 0..16).prop_map(|lines| lines.concat())
}

/// Socket read and write sizes, 1 byte often among them.
fn io_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(1usize), 1usize..64, 64usize..4096], 1..6)
}

fn any_dir_and_requests() -> impl Strategy<Value = (Dir, Vec<u8>)> {
    dir().prop_flat_map(|dir| {
        let names = dir.names();
        (Just(dir), requests(names, 20_000))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_peer_receives_what_the_model_says(
        (dir, input) in any_dir_and_requests(),
        read_sizes in io_sizes(),
        write_sizes in io_sizes(),
        file_read_cap in 1usize..300,
        wire_room in 6usize..2000,
        eof in any::<bool>(),
    ) {
        let config = SessionConfig { show_hidden: dir.show_hidden, ..Driver::config() };
        let mut driver = Driver::new(config, dir.fake());
        driver.read_sizes = read_sizes;
        driver.write_sizes = write_sizes;
        driver.file_read_cap = file_read_cap;
        driver.wire = vec![0; wire_room];
        driver.send(&input);
        if eof {
            driver.shutdown_write();
        }
        let (bytes, statuses, ending) = expected(&input, &dir, eof);
        prop_assert_eq!(
            String::from_utf8_lossy(&driver.received),
            String::from_utf8_lossy(&bytes)
        );
        let logged: Vec<Status> = driver.answered.iter().map(|record| record.status).collect();
        prop_assert_eq!(logged, statuses);
        match ending {
            Ending::Open => {
                prop_assert_eq!(driver.unread(), 0, "all was taken");
                prop_assert_eq!(driver.session.close_reason(), None);
                prop_assert!(driver.session.wants_read());
            }
            Ending::Closed(reason) => {
                prop_assert_eq!(driver.session.close_reason(), Some(reason));
                prop_assert!(driver.closed);
            }
        }
    }
}

/// Bytes of heap a session may hold beyond its output limit: a few small
/// buffers, the log records, and this test's small listing.
const HEAP_SLACK: isize = 8 * 1024;

fn big_dir() -> FakeDir {
    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    FakeDir::with(&[("big", &big), ("a.txt", b"abc"), (".hidden", b"h")])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_session_holds_bounded_memory(
        input in requests(vec!["big", "a.txt", ".hidden", "gone"], 1 << 20),
        repeat in 1usize..100,
        long_line in prop::option::of(1usize..(1 << 20)),
        read_sizes in io_sizes(),
        write_sizes in io_sizes(),
        // The peer reads up to 1 MiB, then stalls: where memory is tightest.
        window in 0usize..(1 << 20),
        file_read_cap in prop_oneof![Just(usize::MAX), 1usize..100_000],
        wire_room in prop_oneof![Just(262_146usize), 6usize..100_000],
        show_hidden in any::<bool>(),
    ) {
        let config = SessionConfig { show_hidden, ..Driver::config() };
        let mut driver = Driver::new(config, big_dir());
        driver.keep = false;
        driver.read_sizes = read_sizes;
        driver.write_sizes = write_sizes;
        driver.window = window;
        driver.file_read_cap = file_read_cap;
        driver.wire = vec![0; wire_room];
        for _ in 0..repeat {
            driver.queue(&input);
        }
        if let Some(len) = long_line {
            driver.queue(&vec![b'x'; len]);
        }
        let ((), peak) = crate::peak_heap(|| driver.run());
        let bound = OUTPUT_LIMIT as isize + HEAP_SLACK;
        prop_assert!(peak <= bound, "the session held {} bytes (bound {})", peak, bound);
    }
}
