//! What `hftp` prints besides the data: `-v`'s transcript, `-q`'s
//! silence.

use crate::cli::MIB;
use crate::util::{ARCHIVO, FakeServer, Quirks, RealServer, fake_with, hftp, pattern, served_dir};

#[test]
fn verbose_prints_the_exchange_as_the_course_writes_it() {
    let served = served_dir(&[("archivo.txt", ARCHIVO)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    hftp(server.port(), here.path())
        .args(["-v", "cat", "archivo.txt", "--offset", "5", "--size", "20"])
        .assert()
        .success()
        .stdout("calor que hace hoy, ")
        .stderr(
            "C: get_slice archivo.txt 5 20 raw\nS: 0 OK\nS: Content-Length: 20\nS: \n\
             S: [20 raw bytes]\nC: quit\nS: 0 OK\n",
        );
    hftp(server.port(), here.path())
        .args(["ls", "--verbose"])
        .assert()
        .success()
        .stdout("archivo.txt\n")
        .stderr("C: get_file_listing\nS: 0 OK\nS: archivo.txt\nS: \nC: quit\nS: 0 OK\n");

    // An older server: the refused raw slice, then base64.
    let old = FakeServer::start(&[("archivo.txt", ARCHIVO)], Quirks::default());
    hftp(old.port(), here.path())
        .args(["-v", "cat", "archivo.txt", "--size", "4"])
        .assert()
        .success()
        .stdout("!Que")
        .stderr(
            "C: get_slice archivo.txt 0 4 raw\nS: 201 INVALID ARGUMENTS FOR COMMAND\n\
             C: get_slice archivo.txt 0 4\nS: 0 OK\nS: [4 bytes in base64]\nC: quit\nS: 0 OK\n",
        );
}

#[test]
fn quiet_prints_no_notes_but_errors() {
    let data = pattern(MIB, 51);
    let (server, here) = fake_with(
        "data.bin",
        &data,
        Quirks {
            cut_slices: 1,
            ..Quirks::default()
        },
    );
    // A retry and a resume, both noted without -q.
    std::fs::write(here.path().join("data.bin.part"), &data[..1000]).expect("a .part");
    let args = [
        "--retry",
        "1",
        "--retry-delay",
        "0",
        "get",
        "-c",
        "data.bin",
    ];
    hftp(server.port(), here.path())
        .arg("-q")
        .args(args)
        .assert()
        .success()
        .stderr("");
    crate::util::assert_file(&here.path().join("data.bin"), &data);
    hftp(server.port(), here.path())
        .args(["-q", "get", "nope"])
        .assert()
        .code(1)
        .stderr(format!(
            "hftp: get nope: file not found on 127.0.0.1:{}\n",
            server.port()
        ));
}
