//! deploy/haproxy.cfg for real: HAProxy in front of three servers over
//! one directory, many clients through it with every byte checked, one
//! server killed mid-load and later restarted. Skipped, with a note, when
//! `haproxy` is not installed (`.ci/run` installs it).

use std::collections::HashSet;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hftp_client::Client;
use hftp_proto::FileName;

use crate::support::{PATIENCE, Server, noise};

const SERVERS: usize = 3;
const CLIENTS: usize = 8;
const FILES: usize = 6;
const FILE_LEN: usize = 1536 * 1024;
/// Each slice request asks for this much, so a download is several
/// requests and a kill catches some mid-file.
const PIECE: u64 = 256 * 1024;
/// Bytes checked before the kill, and after the restart.
const BEFORE_KILL: u64 = 24 * 1024 * 1024;
const AFTER_RESTART: u64 = 24 * 1024 * 1024;
/// Reconnections one download may need before the test fails.
const MAX_RETRIES: u32 = 100;

/// A running HAProxy, its log in a file; killed on drop.
struct Haproxy {
    child: Child,
    log: PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the log holds `needle` `count` times.
    fn wait_for_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.log().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in: {}",
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// deploy/haproxy.cfg with the test's ports and a quick health check.
fn config(front: u16, backends: &[u16]) -> String {
    let recipe =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy.cfg"))
            .expect("deploy/haproxy.cfg");
    let mut servers = 0;
    let mut out = String::new();
    for line in recipe.lines() {
        let trimmed = line.trim_start();
        let line = if trimmed.starts_with("bind ") {
            format!("    bind 127.0.0.1:{front}")
        } else if let Some(rest) = trimmed.strip_prefix("server ") {
            let name = rest.split_whitespace().next().unwrap_or("hftp");
            servers += 1;
            format!("    server {name} 127.0.0.1:{}", backends[servers - 1])
        } else {
            line.replace("inter 2s", "inter 100ms")
                .replace("fall 3", "fall 2")
        };
        out.push_str(&line);
        out.push('\n');
    }
    assert_eq!(
        servers,
        backends.len(),
        "the recipe names {servers} servers"
    );
    out
}

/// What the clients share: the files, progress, and when to stop.
struct Load {
    files: Vec<(FileName, Vec<u8>)>,
    front: SocketAddr,
    checked: Mutex<u64>,
    progress: Condvar,
    stop: AtomicBool,
    requests: AtomicU64,
    reconnects: AtomicU64,
    /// The clients' own addresses, to find in the servers' logs.
    locals: Mutex<HashSet<SocketAddr>>,
}

impl Load {
    fn connect(&self) -> Option<Client> {
        let stream = TcpStream::connect_timeout(&self.front, Duration::from_secs(5)).ok()?;
        let local = stream.local_addr().ok()?;
        self.locals.lock().expect("not poisoned").insert(local);
        Client::from_stream(stream, Some(Duration::from_secs(10))).ok()
    }

    /// Downloads `file` in pieces, reconnecting and resuming after a
    /// failure, and checks it byte for byte.
    fn download(&self, name: &FileName, expected: &[u8]) {
        let mut got = Vec::with_capacity(expected.len());
        let mut client: Option<Client> = None;
        let mut retries = 0;
        while got.len() < expected.len() {
            let Some(connected) = client.as_mut() else {
                client = self.connect();
                if client.is_none() {
                    retries += 1;
                    assert!(retries < MAX_RETRIES, "cannot reach HAProxy");
                }
                continue;
            };
            let offset = got.len() as u64;
            let size = PIECE.min(expected.len() as u64 - offset);
            self.requests.fetch_add(1, Ordering::Relaxed);
            let before = got.len();
            if let Err(error) = connected.slice(name, offset, size, &mut got) {
                // The bytes that came are a prefix of the piece: resume
                // after them on a new connection.
                retries += 1;
                assert!(
                    retries < MAX_RETRIES,
                    "{name}: {error} after {retries} retries"
                );
                assert!(got.len() <= before + size as usize);
                self.reconnects.fetch_add(1, Ordering::Relaxed);
                client = None;
            }
        }
        assert!(got == expected, "{name} differs from the served file");
        if let Some(client) = client {
            let _ = client.quit();
        }
        *self.checked.lock().expect("not poisoned") += expected.len() as u64;
        self.progress.notify_all();
    }

    fn run(&self, seed: usize) {
        let mut next = seed;
        while !self.stop.load(Ordering::Relaxed) {
            let (name, content) = &self.files[next % self.files.len()];
            self.download(name, content);
            next += 1;
        }
    }

    fn wait_for_checked(&self, bytes: u64) -> u64 {
        let checked = self.checked.lock().expect("not poisoned");
        let (checked, timeout) = self
            .progress
            .wait_timeout_while(checked, PATIENCE, |checked| *checked < bytes)
            .expect("not poisoned");
        assert!(!timeout.timed_out(), "only {} bytes checked", *checked);
        *checked
    }
}

/// Whether `log` has an access line from one of `locals`.
fn served_one_of(log: &str, locals: &HashSet<SocketAddr>) -> bool {
    log.lines().any(|line| {
        line.split(' ')
            .nth(3)
            .and_then(|peer| peer.parse().ok())
            .is_some_and(|peer| locals.contains(&peer))
    })
}

#[test]
fn haproxy_fails_over_and_takes_a_restarted_server_back() {
    let Ok(status) = Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .status()
    else {
        eprintln!(
            "NOTE: haproxy is not installed: the cluster test is skipped (.ci/run installs it)"
        );
        return;
    };
    assert!(status.success());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files: Vec<(FileName, Vec<u8>)> = (0..FILES)
        .map(|i| {
            let content = noise(i as u64 + 1, FILE_LEN + i * 1000);
            fs::write(dir.path().join(format!("f{i}")), &content).expect("a file");
            (FileName::new(&format!("f{i}")).expect("a name"), content)
        })
        .collect();
    let args = ["--proxy-protocol"];
    let mut servers: Vec<Server> = (0..SERVERS)
        .map(|_| Server::serve(dir.path(), &args))
        .collect();
    let ports: Vec<u16> = servers.iter().map(|server| server.addr.port()).collect();
    let front = free_port();
    let logs = tempfile::tempdir().expect("a temporary directory");
    let cfg = logs.path().join("haproxy.cfg");
    fs::write(&cfg, config(front, &ports)).expect("the config");
    let log = logs.path().join("haproxy.log");
    let haproxy = Haproxy {
        child: Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("a log"))
            .spawn()
            .expect("haproxy starts"),
        log,
    };
    // A bounded readiness probe: HAProxy has no line that says it serves.
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", front)).is_err() {
        assert!(
            Instant::now() < deadline,
            "HAProxy does not listen: {}",
            haproxy.log()
        );
        thread::sleep(Duration::from_millis(10));
    }
    let load = Arc::new(Load {
        files,
        front: SocketAddr::from(([127, 0, 0, 1], front)),
        checked: Mutex::new(0),
        progress: Condvar::new(),
        stop: AtomicBool::new(false),
        requests: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        locals: Mutex::new(HashSet::new()),
    });
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|seed| {
            let load = Arc::clone(&load);
            thread::spawn(move || load.run(seed))
        })
        .collect();

    load.wait_for_checked(BEFORE_KILL);
    let victim = 1;
    servers[victim].kill();
    let killed = Instant::now();
    haproxy.wait_for_log("hftp2 is DOWN", 1);
    let failover = killed.elapsed();
    let at_restart = load.wait_for_checked(0);

    let restarted_args = ["--proxy-protocol", "-p", &ports[victim].to_string()];
    servers[victim] = Server::serve(dir.path(), &restarted_args);
    haproxy.wait_for_log("hftp2 is UP", 1);
    load.wait_for_checked(at_restart + AFTER_RESTART);
    // Every server, the restarted one included, logs real clients (its
    // log may lag its work by a few milliseconds; the clients go on
    // meanwhile).
    let deadline = Instant::now() + PATIENCE;
    for (number, server) in servers.iter().enumerate() {
        while !served_one_of(&server.stderr(), &load.locals.lock().expect("not poisoned")) {
            assert!(
                Instant::now() < deadline,
                "server {} logged no client address: {}",
                number + 1,
                server.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
    load.stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client finished byte-exact");
    }
    let checked = *load.checked.lock().expect("not poisoned");
    eprintln!(
        "cluster: {} slice requests, {} MiB checked byte for byte, {} reconnections, \
         failover (kill to HAProxy's DOWN) {:.0} ms, {:.1} s in all",
        load.requests.load(Ordering::Relaxed),
        checked >> 20,
        load.reconnects.load(Ordering::Relaxed),
        failover.as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64()
    );
}
