//! File-name attacks: `..`, `/`, absolute paths, `~`, links leaving the
//! directory, a link swapped in between `get_metadata` and `get_slice`, and
//! a link flipping while requests race it. A secret file is planted next to
//! the served directory: nothing outside is ever listed, and its bytes
//! never appear in any reply.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use hftp_proto::{Request, Status};
use tempfile::TempDir;

use crate::reference::base64;
use crate::support::wire;
use crate::support::{Client, Reply, Server, metadata, slice};

/// The planted secret, and an inside file of the same length, so that
/// every slice range that fits one fits the other.
const SECRET: &[u8] = b"TOP-SECRET-7f3c9e1d";
const INSIDE: &[u8] = b"inside-bytes-000001";

/// `parent/secret` outside, `parent/served/inside` served.
struct Planted {
    parent: TempDir,
    server: Server,
}

impl Planted {
    fn new() -> Planted {
        assert_eq!(SECRET.len(), INSIDE.len());
        let parent = tempfile::tempdir().expect("a temporary directory");
        fs::write(parent.path().join("secret"), SECRET).expect("the secret");
        let served = parent.path().join("served");
        fs::create_dir(&served).expect("the served directory");
        fs::write(served.join("inside"), INSIDE).expect("a file");
        let server = Server::serve(&served, &[]);
        Planted { parent, server }
    }

    fn secret(&self) -> PathBuf {
        self.parent.path().join("secret")
    }

    /// Points the link `name` in the served directory at `target`,
    /// atomically replacing whatever was there.
    fn link(&self, target: &Path, name: &str) {
        // A name with a space is never listed nor served, even for an instant.
        let temporary = self.server.dir.join(format!("{name} new"));
        symlink(target, &temporary).expect("a link");
        fs::rename(&temporary, self.server.dir.join(name)).expect("swap the link in");
    }
}

/// Sends `line` and returns the status of its (bodiless) reply.
fn raw_status(client: &mut Client, line: &[u8]) -> Status {
    client.send(line);
    client.status()
}

/// Asserts no reply a client can get holds the secret, raw or in base64.
fn assert_no_secret(raw: &[u8]) {
    for needle in [SECRET.to_vec(), base64(SECRET), base64(&SECRET[..18])] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "the secret leaked: {:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn path_tricks_in_names_are_refused() {
    let planted = Planted::new();
    let secret = planted.secret();
    let absolute = secret.to_str().expect("a UTF-8 path");
    let mut client = planted.server.connect();
    let refusals = [
        ("../secret", Status::InvalidArguments),
        ("../../etc/passwd", Status::InvalidArguments),
        ("/etc/passwd", Status::InvalidArguments),
        (absolute, Status::InvalidArguments),
        ("~", Status::InvalidArguments),
        ("~/secret", Status::InvalidArguments),
        ("~root", Status::InvalidArguments),
        ("..%2fsecret", Status::InvalidArguments),
        ("..\\secret", Status::InvalidArguments),
        ("inside/", Status::InvalidArguments),
        ("./inside", Status::InvalidArguments),
        ("*", Status::InvalidArguments),
        ("..", Status::FileNotFound),
        (".", Status::FileNotFound),
        ("...", Status::FileNotFound),
        ("secret", Status::FileNotFound),
        ("served", Status::FileNotFound),
    ];
    for (name, status) in refusals {
        let line = format!("get_metadata {name}\r\n");
        assert_eq!(raw_status(&mut client, line.as_bytes()), status, "{name}");
        let line = format!("get_slice {name} 0 1\r\n");
        assert_eq!(raw_status(&mut client, line.as_bytes()), status, "{name}");
    }
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(vec!["inside".into()])
    );
    // A NUL cannot cut a name short: the whole request is 101.
    assert_eq!(
        raw_status(&mut client, b"get_slice inside\0../secret 0 1\r\n"),
        Status::BadRequest
    );
    client.expect_eof();
}

#[test]
fn links_leaving_the_directory_are_neither_listed_nor_read() {
    let planted = Planted::new();
    let secret = planted.secret();
    let leaving: [(&str, PathBuf); 7] = [
        ("absolute", secret.clone()),
        ("relative", "../secret".into()),
        ("chained", "relative".into()),
        ("parent", "..".into()),
        ("root", "/".into()),
        // The same outside file, reached through /proc.
        (
            "proc",
            Path::new("/proc/self/root").join(secret.strip_prefix("/").expect("absolute")),
        ),
        ("loop", "loop".into()),
    ];
    for (name, target) in &leaving {
        planted.link(target, name);
    }
    // A link that leaves and comes back in is inside: served.
    planted.link("../served/inside".as_ref(), "roundtrip");

    let mut client = planted.server.connect();
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(vec!["inside".into(), "roundtrip".into()])
    );
    let mut requests = Vec::new();
    for (name, _) in &leaving {
        for request in [
            metadata(name),
            slice(name, 0, SECRET.len() as u64),
            slice(name, 4, 6),
        ] {
            let reply = client.ask(&request);
            assert_eq!(reply, Reply::Status(Status::FileNotFound), "{request:?}");
            requests.extend_from_slice(&wire(&request));
        }
    }
    assert_eq!(
        client.ask(&slice("roundtrip", 0, INSIDE.len() as u64)),
        Reply::Data(INSIDE.to_vec())
    );

    // The raw bytes of every reply, in case a decoder would hide a leak.
    let mut raw = planted.server.connect();
    raw.send(&requests);
    raw.send(&wire(&Request::Quit));
    assert_no_secret(&raw.read_to_eof());
}

#[test]
fn a_link_swapped_in_between_metadata_and_slice_is_refused() {
    let planted = Planted::new();
    let swap = planted.server.dir.join("swap");
    fs::write(&swap, INSIDE).expect("a file");
    let mut client = planted.server.connect();
    assert_eq!(
        client.ask(&metadata("swap")),
        Reply::Size(INSIDE.len() as u64)
    );

    // Between the two requests, `swap` becomes a link to the secret.
    planted.link(&planted.secret(), "swap");
    let request = slice("swap", 0, SECRET.len() as u64);
    assert_eq!(client.ask(&request), Reply::Status(Status::FileNotFound));
    assert_eq!(
        client.ask(&metadata("swap")),
        Reply::Status(Status::FileNotFound)
    );
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(vec!["inside".into()])
    );

    // And back to a link inside: served again.
    planted.link("inside".as_ref(), "swap");
    assert_eq!(client.ask(&request), Reply::Data(INSIDE.to_vec()));
}

#[test]
fn a_link_flipping_under_racing_requests_never_yields_the_secret() {
    let planted = Planted::new();
    planted.link("inside".as_ref(), "flip");
    let stop = AtomicBool::new(false);
    let request = slice("flip", 0, SECRET.len() as u64);
    let (mut served, mut refused) = (0, 0);
    thread::scope(|scope| {
        scope.spawn(|| {
            let secret = planted.secret();
            while !stop.load(Ordering::Relaxed) {
                planted.link(&secret, "flip");
                planted.link("inside".as_ref(), "flip");
            }
        });
        let mut client = planted.server.connect();
        let batch = [wire(&request), wire(&metadata("flip"))]
            .concat()
            .repeat(50);
        for _ in 0..40 {
            client.send(&batch);
            for _ in 0..50 {
                match client.reply(&request) {
                    Reply::Data(data) => {
                        assert_eq!(data, INSIDE, "a slice of the flipping link");
                        served += 1;
                    }
                    Reply::Status(Status::FileNotFound) => refused += 1,
                    other => panic!("{other:?}"),
                }
                match client.reply(&metadata("flip")) {
                    Reply::Size(size) => assert_eq!(size, INSIDE.len() as u64),
                    Reply::Status(Status::FileNotFound) => {}
                    other => panic!("{other:?}"),
                }
            }
            match client.ask(&Request::GetFileListing) {
                Reply::Listing(names) => assert!(
                    names == ["flip", "inside"] || names == ["inside"],
                    "{names:?}"
                ),
                other => panic!("{other:?}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(served + refused, 2000);
}
