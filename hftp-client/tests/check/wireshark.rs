//! contrib/wireshark/hftp.lua: a session captured on loopback with
//! tcpdump, decoded by tshark with the dissector. Skipped, with a note,
//! where tshark or tcpdump is missing (`.ci/run` installs both).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use super::quiet_server;

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn the_dissector_decodes_a_captured_session() {
    if !have("tshark") || !have("tcpdump") {
        eprintln!("skipped: the dissector's test needs tshark and tcpdump (.ci/run installs them)");
        return;
    }
    let dir = tempfile::tempdir().expect("a served directory");
    std::fs::write(
        dir.path().join("archivo.txt"),
        b"!Que calor que hace hoy, pinta una birra!",
    )
    .expect("a file");
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &big).expect("a file");
    let server = quiet_server(dir.path(), &[]);
    let port = server.addr.port();
    let captures = tempfile::tempdir().expect("a directory for the capture");
    let capture = captures.path().join("session.pcap");

    let mut attempts = 0;
    while !capture_session(&capture, server.addr) {
        attempts += 1;
        assert!(
            attempts < 3,
            "tcpdump lost packets of the session three times"
        );
    }

    let fields = tshark_fields(&capture, port);
    let column = |name: &str| -> Vec<String> {
        let index = FIELDS
            .iter()
            .position(|f| *f == name)
            .expect("a field asked for");
        fields
            .iter()
            .filter_map(|row| row.get(index))
            .filter(|value| !value.is_empty())
            .flat_map(|value| value.split('|').map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    assert_eq!(
        column("hftp.command"),
        [
            "get_file_listing",
            "get_metadata",
            "get_slice",
            "get_slice",
            "help",
            "get_metadata",
            "get_slice",
            "quit"
        ]
    );
    assert_eq!(
        column("hftp.filename"),
        ["archivo.txt", "archivo.txt", "big.bin", "nope", "big.bin"]
    );
    assert_eq!(
        column("hftp.status"),
        ["0", "0", "0", "0", "0", "202", "0", "0"]
    );
    assert_eq!(column("hftp.listing.name"), ["archivo.txt", "big.bin"]);
    assert_eq!(column("hftp.metadata.size"), ["41"]);
    assert_eq!(column("hftp.slice.content_length"), ["70000"]);
    assert_eq!(
        column("hftp.help.command"),
        [
            "get_file_listing",
            "get_metadata",
            "get_slice",
            "help",
            "quit"
        ]
    );
    let total = |name: &str| {
        column(name)
            .iter()
            .map(|n| n.parse::<u64>().expect("a count"))
            .sum::<u64>()
    };
    assert_eq!(total("hftp.slice.raw_bytes"), 70_000);
    // 28 characters for 20 bytes, 80000 for 60000.
    assert_eq!(total("hftp.slice.base64_bytes"), 28 + 80_000);
    let meanings = column("hftp.meaning");
    assert!(
        meanings.contains(&"refused: no servable file of that name".to_string()),
        "{meanings:?}"
    );
}

/// Captures one session with the server at `addr` into `capture`: whether
/// tcpdump saw all of it, up to the server's FIN. On a loaded machine it
/// may lose packets of a fast loopback transfer, so the caller tries again.
fn capture_session(capture: &Path, addr: std::net::SocketAddr) -> bool {
    let port = addr.port();
    // --print shows each packet as it is written (-U), so the test knows
    // when the last one it needs is in the file.
    let mut tcpdump = Command::new("tcpdump")
        .args([
            "-i",
            "lo",
            "-n",
            "-l",
            "-U",
            "--immediate-mode",
            // A larger capture buffer than the default 2 MiB: fewer packets
            // lost when the transfer outruns tcpdump.
            "-B",
            "16384",
            "--print",
            "-w",
        ])
        .arg(capture)
        .arg(format!("tcp port {port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump starts");
    let mut stderr = BufReader::new(tcpdump.stderr.take().expect("its stderr"));
    let mut line = String::new();
    // "listening on lo, ...": the capture has begun.
    while !line.contains("listening on") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("tcpdump's stderr") > 0,
            "tcpdump ended: {line}"
        );
    }

    let mut client = TcpStream::connect(addr).expect("a connection");
    let client_port = client.local_addr().expect("its address").port();
    client
        .write_all(
            b"get_file_listing\r\nget_metadata archivo.txt\r\nget_slice archivo.txt 5 20\r\n\
              get_slice big.bin 0 70000 raw\r\nhelp\r\nget_metadata nope\r\n\
              get_slice big.bin 1 60000\r\nquit\r\n",
        )
        .expect("the requests");
    let mut replies = Vec::new();
    client.read_to_end(&mut replies).expect("the replies");

    // The server's FIN comes after all its data.
    let fin = format!("127.0.0.1.{port} > 127.0.0.1.{client_port}: Flags [F");
    let stdout = BufReader::new(tcpdump.stdout.take().expect("its stdout"));
    // Read on a thread, so that a capture that lost the FIN fails this
    // attempt instead of hanging the test.
    let (seen_fin, fin_seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let seen = stdout
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains(&fin));
        let _ = seen_fin.send(seen);
    });
    let seen = fin_seen.recv_timeout(std::time::Duration::from_secs(5));
    let _ = Command::new("kill")
        .args(["-INT", &tcpdump.id().to_string()])
        .status();
    let _ = tcpdump.wait();
    seen == Ok(true)
}

const FIELDS: [&str; 10] = [
    "hftp.command",
    "hftp.filename",
    "hftp.status",
    "hftp.listing.name",
    "hftp.metadata.size",
    "hftp.slice.content_length",
    "hftp.slice.raw_bytes",
    "hftp.slice.base64_bytes",
    "hftp.help.command",
    "hftp.meaning",
];

/// tshark's values of [`FIELDS`], a row per HFTP frame.
fn tshark_fields(capture: &Path, port: u16) -> Vec<Vec<String>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/wireshark/hftp.lua");
    let mut command = Command::new("tshark");
    command
        .arg("-r")
        .arg(capture)
        .arg("-X")
        .arg(format!("lua_script:{}", script.display()))
        .args([
            "-d",
            &format!("tcp.port=={port},hftp"),
            "-Y",
            "hftp",
            "-T",
            "fields",
        ])
        .args(["-E", "occurrence=a", "-E", "aggregator=|"]);
    for field in FIELDS {
        command.args(["-e", field]);
    }
    let output = command.output().expect("tshark runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tshark failed: {stderr}");
    assert!(
        !stderr.contains("Lua: Error"),
        "the dissector failed: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect()
}
