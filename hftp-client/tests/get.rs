//! `get`'s destinations, resuming and leniency, end to end.

use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::thread;

use hftp_client::Status;

use crate::cli::{MIB, entries, stderr_of};
use crate::util::{ARCHIVO, FakeServer, Quirks, RealServer, fake_with, hftp, pattern, served_dir};
use crate::util::{assert_file, stderr_when};

fn archivo_server() -> (tempfile::TempDir, RealServer) {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    (served, server)
}

#[test]
fn dev_null_is_written_through_not_replaced() {
    let (_served, server) = archivo_server();
    let here = tempfile::tempdir().expect("a directory");
    hftp(server.port(), here.path())
        .args(["get", "archivo.txt", "-o", "/dev/null"])
        .assert()
        .success();
    let null = fs::metadata("/dev/null").expect("/dev/null");
    assert!(null.file_type().is_char_device());
    assert!(!Path::new("/dev/null.part").exists());
    assert!(entries(here.path()).is_empty());
}

#[test]
fn a_fifo_is_written_through_to_its_reader() {
    let (_served, server) = archivo_server();
    let here = tempfile::tempdir().expect("a directory");
    let fifo = here.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    // Opening a FIFO for reading waits for its writer: no other sync.
    let reader = {
        let fifo = fifo.clone();
        thread::spawn(move || {
            let mut data = Vec::new();
            fs::File::open(fifo)
                .and_then(|mut file| file.read_to_end(&mut data))
                .expect("the FIFO's data");
            data
        })
    };
    hftp(server.port(), here.path())
        .args(["get", "archivo.txt", "-o", "fifo"])
        .assert()
        .success();
    // Checked first: had the FIFO been replaced, its reader would wait
    // forever.
    assert!(fs::metadata(&fifo).expect("the FIFO").file_type().is_fifo());
    assert_eq!(reader.join().expect("the reader"), ARCHIVO);
    assert_eq!(entries(here.path()), ["fifo"]);
}

#[test]
fn a_symbolic_link_is_followed_and_stays_a_link() {
    let (_served, server) = archivo_server();
    let here = tempfile::tempdir().expect("a directory");
    fs::write(here.path().join("real.txt"), b"old").expect("a file");
    std::os::unix::fs::symlink("real.txt", here.path().join("link")).expect("a link");
    hftp(server.port(), here.path())
        .args(["get", "archivo.txt", "-o", "link"])
        .assert()
        .success();
    let link = fs::symlink_metadata(here.path().join("link")).expect("the link");
    assert!(link.file_type().is_symlink());
    assert_file(&here.path().join("real.txt"), ARCHIVO);
    assert_eq!(entries(here.path()), ["link", "real.txt"]);
}

#[test]
fn dash_is_standard_output() {
    let (_served, server) = archivo_server();
    let here = tempfile::tempdir().expect("a directory");
    hftp(server.port(), here.path())
        .args(["get", "archivo.txt", "archivo.txt", "-o", "-"])
        .assert()
        .success()
        .stdout([ARCHIVO, ARCHIVO].concat());
    assert!(entries(here.path()).is_empty());
}

#[test]
fn destinations_are_checked_before_the_first_request() {
    let server = FakeServer::start(&[("a.txt", b"aaa"), ("b.txt", b"bb")], Quirks::default());
    let here = tempfile::tempdir().expect("a directory");
    fs::create_dir(here.path().join("b.txt")).expect("a directory in the way");

    let stderr = stderr_when(
        hftp(server.port(), here.path()).args(["get", "a.txt", "-o", "newdir/"]),
        6,
    );
    assert_eq!(
        stderr,
        "hftp: newdir/: no such directory (--create-dirs creates it)\n"
    );
    let stderr = stderr_when(
        hftp(server.port(), here.path()).args(["get", "a.txt", "b.txt"]),
        6,
    );
    assert_eq!(stderr, "hftp: b.txt is a directory\n");
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    assert_eq!(entries(here.path()), ["b.txt"]);

    hftp(server.port(), here.path())
        .args(["get", "a.txt", "b.txt", "-o", "new/dir/", "--create-dirs"])
        .assert()
        .success();
    assert_eq!(entries(&here.path().join("new/dir")), ["a.txt", "b.txt"]);
}

#[test]
fn continue_with_nothing_to_resume_downloads() {
    let (_served, server) = archivo_server();
    let here = tempfile::tempdir().expect("a directory");
    hftp(server.port(), here.path())
        .args(["get", "-c", "archivo.txt"])
        .assert()
        .success()
        .stderr("");
    assert_file(&here.path().join("archivo.txt"), ARCHIVO);
    assert_eq!(entries(here.path()), ["archivo.txt"]);
}

#[test]
fn continue_on_a_complete_file_says_so_and_fetches_nothing_more() {
    let server = FakeServer::start(&[("archivo.txt", ARCHIVO)], Quirks::default());
    let here = tempfile::tempdir().expect("a directory");
    fs::write(here.path().join("archivo.txt"), ARCHIVO).expect("a file");
    hftp(server.port(), here.path())
        .args(["get", "-c", "archivo.txt"])
        .assert()
        .success()
        .stderr("archivo.txt: ./archivo.txt is already complete\n".replace("./", ""));
    // Only the check of its last bytes was asked for.
    assert_eq!(server.slices_asked(), [(0, ARCHIVO.len() as u64)]);
    assert_eq!(entries(here.path()), ["archivo.txt"]);

    // A file that is not the server's is downloaded again.
    fs::write(
        here.path().join("archivo.txt"),
        b"another file, as long as archivo.txt",
    )
    .expect("a file");
    hftp(server.port(), here.path())
        .args(["get", "-c", "archivo.txt"])
        .assert()
        .success();
    assert_file(&here.path().join("archivo.txt"), ARCHIVO);
}

#[test]
fn a_refusal_leaves_no_part_file() {
    for status in [Status::InvalidArguments, Status::InternalServerError] {
        let server = FakeServer::start(
            &[("archivo.txt", ARCHIVO)],
            Quirks {
                refuse_slices: Some(status),
                ..Quirks::default()
            },
        );
        let here = tempfile::tempdir().expect("a directory");
        for args in [
            &["get", "archivo.txt"][..],
            &["get", "-j", "4", "archivo.txt"],
        ] {
            hftp(server.port(), here.path()).args(args).assert().code(3);
            assert!(entries(here.path()).is_empty(), "{status:?} {args:?}");
        }
    }
}

#[test]
fn an_empty_file_is_created_without_asking_for_a_zero_length_slice() {
    // As a course server that answers `get_slice empty.txt 0 0` with 201.
    let server = FakeServer::start(
        &[("empty.txt", b"")],
        Quirks {
            refuse_empty_slices: true,
            ..Quirks::default()
        },
    );
    let here = tempfile::tempdir().expect("a directory");
    for args in [&["get", "empty.txt"][..], &["get", "-c", "empty.txt"]] {
        hftp(server.port(), here.path())
            .args(args)
            .assert()
            .success();
        assert_eq!(entries(here.path()), ["empty.txt"]);
        assert!(
            fs::read(here.path().join("empty.txt"))
                .expect("a file")
                .is_empty()
        );
    }
    hftp(server.port(), here.path())
        .args(["cat", "empty.txt"])
        .assert()
        .success()
        .stdout("");
    assert!(server.slices_asked().is_empty());
}

#[test]
fn a_file_that_changed_during_the_download_is_reported_as_such() {
    let data = pattern(MIB, 8);
    let (server, here) = fake_with(
        "data.bin",
        &data,
        Quirks {
            change_after_first_slice: Some(("data.bin", pattern(MIB + 1, 9))),
            ..Quirks::default()
        },
    );
    let stderr = stderr_when(
        hftp(server.port(), here.path()).args(["get", "data.bin"]),
        7,
    );
    assert_eq!(
        stderr,
        "hftp: get data.bin: the file changed on the server during the download \
         (1048576 bytes, now 1048577); try again\n"
    );
    assert!(entries(here.path()).is_empty());
}

#[test]
fn an_interrupted_parallel_download_resumes_each_segment_where_it_stopped() {
    let data = pattern(8 * MIB, 7);
    // Every segment's reply is cut halfway, as when the connections drop
    // or the process is killed: the record says how far each got.
    let (server, here) = fake_with(
        "data.bin",
        &data,
        Quirks {
            cut_slices: 4,
            ..Quirks::default()
        },
    );
    hftp(server.port(), here.path())
        .args(["get", "-j", "4", "data.bin"])
        .assert()
        .code(4);
    assert_eq!(
        entries(here.path()),
        ["data.bin.part", "data.bin.part.segments"]
    );
    let mut first_run = server.slices_asked();
    first_run.sort_unstable();
    let segment = 2 * MIB as u64;
    assert_eq!(
        first_run,
        (0..4).map(|i| (i * segment, segment)).collect::<Vec<_>>()
    );

    let output = hftp(server.port(), here.path())
        .args(["get", "-c", "data.bin"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        stderr_of(&output).starts_with("data.bin: resuming at "),
        "{}",
        stderr_of(&output)
    );
    assert_file(&here.path().join("data.bin"), &data);
    assert_eq!(entries(here.path()), ["data.bin"]);
    // Each segment went on from where it had stopped, about halfway (the
    // server sent half of each).
    let mut resumed: Vec<(u64, u64)> = server.slices_asked()[first_run.len()..]
        .iter()
        .copied()
        .filter(|&(_, size)| size > 64 * 1024)
        .collect();
    resumed.sort_unstable();
    assert_eq!(resumed.len(), 4, "{resumed:?}");
    for (index, (offset, size)) in resumed.into_iter().enumerate() {
        let from = index as u64 * segment;
        assert!(
            offset > from + MIB as u64 / 2,
            "segment {index} at {offset}"
        );
        assert_eq!(offset + size, from + segment);
    }
}

#[test]
fn ctrl_c_stops_get_with_a_resume_hint_and_keeps_the_part_file() {
    let data = pattern(4 * MIB, 12);
    let (server, here) = fake_with(
        "data.bin",
        &data,
        Quirks {
            stall_slices: true,
            ..Quirks::default()
        },
    );
    let child = crate::util::hftp_command(server.port(), here.path())
        .args(["get", "data.bin"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hftp runs");
    server.wait_for_stalls(1);
    let pid = i32::try_from(child.id()).expect("a pid");
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let output = child.wait_with_output().expect("hftp ends");
    assert_eq!(output.status.code(), Some(130));
    assert_eq!(
        stderr_of(&output),
        "hftp: get data.bin: interrupted; `hftp get -c data.bin` resumes the download\n"
    );
    let part = fs::read(here.path().join("data.bin.part")).expect("the .part");
    assert!(!part.is_empty() && part[..] == data[..part.len()]);
}

#[test]
fn several_files_keep_going_past_a_failure_with_one_summary_line() {
    let served = served_dir(&[("a.txt", b"aaa".as_slice()), ("b.txt", b"bb")]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    let stderr = stderr_when(
        hftp(server.port(), here.path()).args(["get", "a.txt", "nope.txt", "b.txt"]),
        1,
    );
    assert_eq!(
        stderr,
        format!(
            "hftp: get nope.txt: file not found on 127.0.0.1:{}\n\
             hftp: get: 1 of 3 files failed\n",
            server.port()
        )
    );
    assert_eq!(entries(here.path()), ["a.txt", "b.txt"]);

    // The exit code is the last failure's: here a refused range (3)
    // after a missing file (1).
    let refusing = FakeServer::start(
        &[("a.txt", b"aaa")],
        Quirks {
            refuse_slices: Some(Status::OffsetExceedsFileSize),
            ..Quirks::default()
        },
    );
    let elsewhere = tempfile::tempdir().expect("a directory");
    let stderr = stderr_when(
        hftp(refusing.port(), elsewhere.path()).args(["get", "nope.txt", "a.txt"]),
        3,
    );
    assert!(
        stderr.ends_with("hftp: get: 2 of 2 files failed\n"),
        "{stderr}"
    );
    assert!(entries(elsewhere.path()).is_empty());
}

#[test]
fn a_glob_gets_the_listed_files_it_matches() {
    let served = served_dir(&[
        ("a.txt", b"first"),
        ("b.txt", b"second"),
        ("c.bin", b"third"),
        ("atxt", b"not a .txt"),
    ]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    hftp(server.port(), here.path())
        .args(["get", "*.txt"])
        .assert()
        .success();
    assert_eq!(entries(here.path()), ["a.txt", "b.txt"]);
    assert_file(&here.path().join("a.txt"), b"first");
    assert_file(&here.path().join("b.txt"), b"second");

    // `mget` is the same command; `[...]` and `?` work too.
    let there = tempfile::tempdir().expect("a directory");
    hftp(server.port(), there.path())
        .args(["mget", "[ac].*", "b.tx?"])
        .assert()
        .success();
    assert_eq!(entries(there.path()), ["a.txt", "b.txt", "c.bin"]);
}

#[test]
fn a_glob_that_matches_nothing_fetches_nothing_and_exits_1() {
    let (_served, server) = archivo_server();
    let here = tempfile::tempdir().expect("a directory");
    let stderr = stderr_when(
        hftp(server.port(), here.path()).args(["get", "archivo.txt", "*.jpg"]),
        1,
    );
    assert!(
        stderr.contains("*.jpg") && stderr.contains("matches"),
        "{stderr}"
    );
    assert!(
        entries(here.path()).is_empty(),
        "nothing fetched before the check"
    );
}

#[test]
fn no_clobber_keeps_an_existing_file_and_gets_the_rest() {
    let served = served_dir(&[("a.txt", b"server's a"), ("b.txt", b"server's b")]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    fs::write(here.path().join("a.txt"), "mine").expect("a local file");
    let output = hftp(server.port(), here.path())
        .args(["get", "-n", "a.txt", "b.txt"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_file(&here.path().join("a.txt"), b"mine");
    assert_file(&here.path().join("b.txt"), b"server's b");
    assert!(stderr_of(&output).contains("skipped (--no-clobber)"));
    // Without it, the named file is replaced, as before.
    hftp(server.port(), here.path())
        .args(["get", "a.txt"])
        .assert()
        .success();
    assert_file(&here.path().join("a.txt"), b"server's a");
}
