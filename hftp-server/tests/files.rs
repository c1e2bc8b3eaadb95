//! The served directory: looked up at each request, links, hidden files.

use std::fs;
use std::os::unix::fs::symlink;

use hftp_proto::{Request, Status};

use crate::support::{Reply, Server, metadata, slice};

#[test]
fn the_directory_is_deleted_and_re_created_while_serving() {
    let parent = tempfile::tempdir().expect("a temporary directory");
    let dir = parent.path().join("testdata");
    fs::create_dir(&dir).expect("the served directory");
    fs::write(dir.join("old"), "old").expect("a file");
    let server = Server::serve(&dir, &[]);
    let mut client = server.connect();
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(vec!["old".into()])
    );

    fs::remove_dir_all(&dir).expect("remove the directory");
    assert_eq!(
        client.ask(&metadata("old")),
        Reply::Status(Status::FileNotFound)
    );
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Status(Status::FileNotFound)
    );

    fs::create_dir(&dir).expect("the directory again");
    fs::write(dir.join("new"), "brand new").expect("a file");
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(vec!["new".into()])
    );
    assert_eq!(client.ask(&metadata("new")), Reply::Size(9));
    assert_eq!(
        client.ask(&slice("new", 6, 3)),
        Reply::Data(b"new".to_vec())
    );
    assert_eq!(
        client.ask(&metadata("old")),
        Reply::Status(Status::FileNotFound)
    );
}

#[test]
fn links_are_served_only_inside_the_directory() {
    let outside = tempfile::tempdir().expect("a temporary directory");
    fs::write(outside.path().join("secret"), "secret").expect("a file");
    let server = Server::start();
    server.file("plain", "plain");
    fs::create_dir(server.dir.join("sub")).expect("a subdirectory");
    fs::write(server.dir.join("sub").join("deep"), "deep").expect("a file");
    let link = |target: &std::path::Path, name: &str| {
        symlink(target, server.dir.join(name)).expect("a link");
    };
    link(&outside.path().join("secret"), "leaves");
    link("../".as_ref(), "parent");
    link("plain".as_ref(), "same");
    link(&server.dir.join("sub").join("deep"), "deeper");
    link("missing".as_ref(), "dangling");
    link("sub".as_ref(), "subdir");

    let mut client = server.connect();
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(vec!["deeper".into(), "plain".into(), "same".into()])
    );
    for name in ["leaves", "parent", "dangling", "subdir", "sub"] {
        assert_eq!(
            client.ask(&metadata(name)),
            Reply::Status(Status::FileNotFound),
            "{name}"
        );
        assert_eq!(
            client.ask(&slice(name, 0, 0)),
            Reply::Status(Status::FileNotFound),
            "{name}"
        );
    }
    assert_eq!(
        client.ask(&slice("same", 1, 3)),
        Reply::Data(b"lai".to_vec())
    );
    assert_eq!(
        client.ask(&slice("deeper", 0, 4)),
        Reply::Data(b"deep".to_vec())
    );
}

#[test]
fn hidden_files_only_with_the_option() {
    for (args, listed) in [
        (&[][..], vec!["visible"]),
        (&["--hidden"][..], vec![".hidden", "visible"]),
    ] {
        let server = Server::start_with(args);
        server.file(".hidden", "h");
        server.file("visible", "v");
        let mut client = server.connect();
        let listed: Vec<String> = listed.into_iter().map(String::from).collect();
        let served = listed.len() == 2;
        assert_eq!(client.ask(&Request::GetFileListing), Reply::Listing(listed));
        let expected = if served {
            Reply::Size(1)
        } else {
            Reply::Status(Status::FileNotFound)
        };
        assert_eq!(client.ask(&metadata(".hidden")), expected, "{args:?}");
        // `.` and `..` are directories, hidden or not.
        for name in [".", ".."] {
            assert_eq!(
                client.ask(&metadata(name)),
                Reply::Status(Status::FileNotFound),
                "{name} {args:?}"
            );
        }
    }
}

#[test]
fn names_that_cannot_be_requested_are_not_listed() {
    let server = Server::start();
    for name in ["with space", "tilde~", "ñ", "ok"] {
        server.file(name, "");
    }
    fs::create_dir(server.dir.join("dir")).expect("a directory");
    let mut client = server.connect();
    assert_eq!(
        client.ask(&Request::GetFileListing),
        Reply::Listing(vec!["ok".into()])
    );
}

#[test]
fn sizes_and_offsets_beyond_4_gib() {
    use std::os::unix::fs::FileExt;

    const SIZE: u64 = 5 << 30;
    let server = Server::start();
    // Sparse: costs no disk.
    let file = fs::File::create(server.dir.join("huge")).expect("a file");
    file.set_len(SIZE).expect("a sparse 5 GiB file");
    file.write_all_at(b"end", SIZE - 3).expect("its last bytes");
    file.write_all_at(b"4gib", 4 << 30)
        .expect("bytes past 4 GiB");
    let mut client = server.connect();
    assert_eq!(client.ask(&metadata("huge")), Reply::Size(SIZE));
    assert_eq!(
        client.ask(&slice("huge", SIZE - 3, 3)),
        Reply::Data(b"end".to_vec())
    );
    assert_eq!(
        client.ask(&slice("huge", (4 << 30) - 2, 6)),
        Reply::Data(b"\x00\x004gib".to_vec())
    );
    assert_eq!(client.ask(&slice("huge", SIZE, 0)), Reply::Data(Vec::new()));
    assert_eq!(
        client.ask(&slice("huge", SIZE - 2, 3)),
        Reply::Status(Status::OffsetExceedsFileSize)
    );
}

/// A `get_metadata` sent after a change answers as of after the change,
/// however often the name was asked for before (the events engine
/// remembers answers, and must forget them in time).
#[test]
fn every_change_is_seen_by_the_next_request() {
    let parent = tempfile::tempdir().expect("a temporary directory");
    let dir = parent.path().join("served");
    fs::create_dir(&dir).expect("the served directory");
    let path = dir.join("file");
    fs::write(&path, "1").expect("a file");
    let server = Server::serve(&dir, &[]);
    let mut client = server.connect();
    let mut ask = || client.ask(&metadata("file"));
    let size = |path: &std::path::Path| Reply::Size(fs::metadata(path).expect("the file").len());
    for round in 1..=5_usize {
        // Asked for again and again, so that it is remembered...
        for _ in 0..3 {
            assert_eq!(ask(), size(&path));
        }
        // ... then changed in another way each round.
        match round {
            1 => {
                let mut file = fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .expect("the file");
                std::io::Write::write_all(&mut file, b"appended").expect("an append");
            }
            2 => fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_len(2))
                .expect("a truncation"),
            3 => {
                fs::write(dir.join("new"), "renamed over the old one").expect("a file");
                fs::rename(dir.join("new"), &path).expect("a rename");
            }
            4 => {
                let elsewhere = parent.path().join("elsewhere");
                fs::hard_link(&path, &elsewhere).expect("a hard link");
                fs::write(&elsewhere, "written through another name").expect("a write");
            }
            _ => {
                fs::remove_file(&path).expect("a removal");
                assert_eq!(ask(), Reply::Status(Status::FileNotFound));
                fs::write(&path, "created again").expect("a file");
            }
        }
        assert_eq!(ask(), size(&path), "after change {round}");
    }
}
