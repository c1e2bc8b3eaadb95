//! `mirror`: every listed file into a directory, sizes deciding what is
//! up to date (HFTP has no dates), names outside the charset skipped.

use std::fs;

use crate::cli::{MIB, entries};
use crate::util::{
    ARCHIVO, FakeServer, Quirks, RealServer, assert_file, hftp, pattern, served_dir, stderr_when,
};

#[test]
fn mirror_fetches_what_is_missing_or_of_another_size() {
    let big = pattern(3 * MIB + 5, 61);
    let served = served_dir(&[("a.txt", ARCHIVO), ("big.bin", &big), ("c.txt", b"cccc")]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    let out = here.path().join("out");
    let mirror = |extra: &[&str]| {
        stderr_when(
            hftp(server.port(), here.path())
                .args(["mirror", "out"])
                .args(extra),
            0,
        )
    };

    // Into a directory that is not there yet.
    assert_eq!(
        mirror(&[]),
        "mirrored 3 files (3.00 MiB), 0 up to date, 0 failed\n"
    );
    assert_eq!(entries(&out), ["a.txt", "big.bin", "c.txt"]);
    assert_file(&out.join("a.txt"), ARCHIVO);
    assert_file(&out.join("big.bin"), &big);
    assert_file(&out.join("c.txt"), b"cccc");

    // A file of another size is fetched again; one of the same size is
    // kept, even with other bytes: HFTP cannot tell it changed.
    fs::write(out.join("a.txt"), b"stale").expect("a file");
    fs::write(out.join("c.txt"), b"mine").expect("a file");
    fs::remove_file(out.join("big.bin")).expect("removed");
    assert_eq!(
        mirror(&["-j", "2"]),
        "mirrored 2 files (3.00 MiB), 1 up to date, 0 failed\n"
    );
    assert_file(&out.join("a.txt"), ARCHIVO);
    assert_file(&out.join("big.bin"), &big);
    assert_file(&out.join("c.txt"), b"mine");

    // --only-missing keeps whatever is there.
    fs::write(out.join("a.txt"), b"stale").expect("a file");
    fs::remove_file(out.join("c.txt")).expect("removed");
    assert_eq!(
        mirror(&["--only-missing"]),
        "mirrored 1 file (4 B), 2 already there, 0 failed\n"
    );
    assert_file(&out.join("a.txt"), b"stale");
    assert_file(&out.join("c.txt"), b"cccc");
    assert_eq!(entries(&out), ["a.txt", "big.bin", "c.txt"]);
}

#[test]
fn mirror_resumes_what_an_interrupted_mirror_left() {
    let big = pattern(2 * MIB, 62);
    let served = served_dir(&[("big.bin", &big)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    // A .part whose head is not the file's but whose last 64 KiB are
    // (which is what resuming checks): if the head survives, the mirror
    // resumed rather than started over.
    let mut part = vec![b'x'; MIB - 64 * 1024];
    part.extend_from_slice(&big[MIB - 64 * 1024..MIB]);
    fs::write(here.path().join("big.bin.part"), &part).expect("a .part");
    assert_eq!(
        stderr_when(hftp(server.port(), here.path()).arg("mirror"), 0),
        "big.bin: resuming at 1.00 MiB of 2.00 MiB\n\
         mirrored 1 file (2.00 MiB), 0 up to date, 0 failed\n"
    );
    let got = fs::read(here.path().join("big.bin")).expect("the file");
    assert!(got[..part.len()] == part[..] && got[part.len()..] == big[part.len()..]);
    assert_eq!(entries(here.path()), ["big.bin"]);
}

#[test]
fn mirror_skips_names_it_cannot_ask_for_and_goes_on_past_failures() {
    // A careless server: one name with a space, one listed but gone.
    let server = FakeServer::start(
        &[("a.txt", ARCHIVO), ("b.txt", b"b")],
        Quirks {
            listed_too: &[b"gone.txt", b"my file.txt"],
            ..Quirks::default()
        },
    );
    let here = tempfile::tempdir().expect("a directory");
    fs::create_dir_all(here.path().join("out/b.txt")).expect("a directory in the way");
    // The exit code is that of the last failure: b.txt's, a local one.
    let stderr = stderr_when(hftp(server.port(), here.path()).args(["mirror", "out"]), 6);
    let port = server.port();
    assert_eq!(
        stderr,
        format!(
            "hftp: mirror: \"my file.txt\" is listed, but is not a valid HFTP name: skipped\n\
             hftp: mirror gone.txt: file not found on 127.0.0.1:{port}\n\
             hftp: mirror b.txt: out/b.txt is a directory\n\
             hftp: mirror: mirrored 1 file (41 B), 0 up to date, 2 failed, \
             1 skipped (not valid HFTP names)\n"
        )
    );
    assert_file(&here.path().join("out/a.txt"), ARCHIVO);
    assert_eq!(entries(&here.path().join("out")), ["a.txt", "b.txt"]);

    // Names outside the charset alone are no failure.
    let server = FakeServer::start(
        &[("a.txt", ARCHIVO)],
        Quirks {
            listed_too: &[b"my file.txt"],
            ..Quirks::default()
        },
    );
    hftp(server.port(), here.path())
        .args(["-q", "mirror", "quiet"])
        .assert()
        .success()
        .stderr("hftp: mirror: \"my file.txt\" is listed, but is not a valid HFTP name: skipped\n");
    assert_file(&here.path().join("quiet/a.txt"), ARCHIVO);
}

#[test]
fn mirror_in_the_shell_fills_the_local_directory() {
    let served = served_dir(&[("a.txt", ARCHIVO), ("b.txt", b"bee")]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    fs::create_dir(here.path().join("local")).expect("a directory");
    hftp(server.port(), here.path())
        .write_stdin("lcd local\nmirror\nmirror --only-missing\nmirror 'sub dir'\n")
        .assert()
        .success()
        .stderr(
            "mirrored 2 files (44 B), 0 up to date, 0 failed\n\
             mirrored 0 files (0 B), 2 already there, 0 failed\n\
             mirrored 2 files (44 B), 0 up to date, 0 failed\n",
        );
    for dir in ["local", "local/sub dir"] {
        assert_file(&here.path().join(dir).join("a.txt"), ARCHIVO);
        assert_file(&here.path().join(dir).join("b.txt"), b"bee");
    }
}

#[test]
fn mirror_into_a_file_fails_before_fetching() {
    let served = served_dir(&[("a.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    fs::write(here.path().join("plain"), b"x").expect("a file");
    let stderr = stderr_when(
        hftp(server.port(), here.path()).args(["mirror", "plain"]),
        6,
    );
    assert!(
        stderr.starts_with("hftp: mirror: cannot create the directory plain: "),
        "{stderr}"
    );
    assert_eq!(entries(here.path()), ["plain"]);
}
