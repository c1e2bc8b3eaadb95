//! deploy/haproxy.cfg for real: HAProxy in front of three servers over
//! one directory, many `hftp --retry` clients through it with every byte
//! checked, one server killed mid-load and later restarted. Skipped, with
//! a note, when `haproxy` is not installed (`.ci/run` installs it).
//!
//! The clients are the workspace's `hftp` binary, from the directory
//! `hftp-server` is built in: `cargo nextest run --workspace` (what
//! `cargo xtask ci` runs) builds both; `-p hftp-server` alone does not,
//! and the test then says so.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hftp_test_support::binary_beside_test;
use wait_timeout::ChildExt;

use crate::support::{PATIENCE, Server, noise};

const SERVERS: usize = 3;
const CLIENTS: usize = 8;
const FILES: usize = 6;
const FILE_LEN: usize = 1536 * 1024;
/// The file of the client the kill cuts for sure (see `stalled`): well
/// beyond what the sockets and HAProxy buffer on the way.
const BIG_LEN: usize = 32 * 1024 * 1024;
/// Bytes checked before the kill, and after the restart.
const BEFORE_KILL: u64 = 24 * 1024 * 1024;
const AFTER_RESTART: u64 = 24 * 1024 * 1024;
/// `hftp --retry`: failures in a row one download may meet.
const RETRIES: &str = "20";

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
    files: Vec<(String, Vec<u8>)>,
    front: SocketAddr,
    client: PathBuf,
    /// Where the clients download to.
    downloads: PathBuf,
    checked: Mutex<u64>,
    progress: Condvar,
    stop: AtomicBool,
    runs: AtomicU64,
    retries: AtomicU64,
}

/// `hftp --retry get NAME -o DEST` through HAProxy at `front`, with what
/// it says on stderr gathered by a thread.
fn hftp_get(
    client: &Path,
    front: SocketAddr,
    name: &str,
    dest: &Path,
    stdout: Stdio,
) -> (Child, thread::JoinHandle<String>) {
    let mut child = Command::new(client)
        .args(["-H", &front.to_string(), "--timeout", "10"])
        .args(["--retry", RETRIES, "--retry-delay", "0.1"])
        .args(["get", name, "-o"])
        .arg(dest)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("hftp starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let said = thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    (child, said)
}

/// The port of `ports` that has an established connection with bytes
/// waiting in its send queue (`/proc/net/tcp`), if exactly one has.
fn sending(ports: &[u16]) -> Option<usize> {
    let table = fs::read_to_string("/proc/net/tcp").expect("the TCP table");
    let mut found: Vec<usize> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            let established = *fields.get(3)? == "01";
            let queued = u64::from_str_radix(fields.get(4)?.split(':').next()?, 16).ok()?;
            let index = ports.iter().position(|&p| p == port)?;
            (established && queued > 0).then_some(index)
        })
        .collect();
    found.dedup();
    match found[..] {
        [one] => Some(one),
        _ => None,
    }
}

impl Load {
    /// Downloads `name` with `hftp --retry` (which reconnects through
    /// HAProxy and resumes after a lost connection) and checks the file
    /// it wrote byte for byte.
    fn download(&self, client: usize, run: u64, name: &str, expected: &[u8]) {
        let dest = self.downloads.join(format!("{name}.{client}.{run}"));
        let (mut child, said) = hftp_get(&self.client, self.front, name, &dest, Stdio::null());
        let status = child.wait_timeout(PATIENCE).expect("waiting for hftp");
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hftp get {name} did not finish");
        };
        let said = said.join().unwrap_or_default();
        assert!(status.success(), "hftp get {name}: {status}: {said}");
        let retries = said.lines().filter(|line| line.contains("retry")).count();
        self.retries.fetch_add(retries as u64, Ordering::Relaxed);
        self.runs.fetch_add(1, Ordering::Relaxed);
        let got = fs::read(&dest).expect("the downloaded file");
        assert!(
            got == expected,
            "{name} differs from the served file: {said}"
        );
        fs::remove_file(&dest).expect("the download is removed");
        *self.checked.lock().expect("not poisoned") += expected.len() as u64;
        self.progress.notify_all();
    }

    fn run(&self, client: usize) {
        let mut run = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let (name, content) = &self.files[(client + run as usize) % self.files.len()];
            self.download(client, run, name, content);
            run += 1;
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

/// The clients HAProxy served, from its log (`option tcplog`: a line per
/// connection, `CLIENT:PORT [DATE] FRONTEND BACKEND/SERVER ...`).
fn clients_of(haproxy_log: &str) -> HashSet<SocketAddr> {
    haproxy_log
        .lines()
        .filter(|line| line.contains(" hftp hftp_servers/"))
        .filter_map(|line| line.split(' ').next()?.parse().ok())
        .collect()
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
    let client = binary_beside_test("hftp");
    let big = noise(99, BIG_LEN);
    fs::write(dir.path().join("big"), &big).expect("a file");
    let files: Vec<(String, Vec<u8>)> = (0..FILES)
        .map(|i| {
            let content = noise(i as u64 + 1, FILE_LEN + i * 1000);
            fs::write(dir.path().join(format!("f{i}")), &content).expect("a file");
            (format!("f{i}"), content)
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
    // One client stalls mid-download (it writes to a pipe nobody reads
    // yet), so that the server sending to it is the one killed: the
    // kill cuts at least this download for sure.
    let front_addr = SocketAddr::from(([127, 0, 0, 1], front));
    let (mut stalled, stalled_said) =
        hftp_get(&client, front_addr, "big", Path::new("-"), Stdio::piped());
    let deadline = Instant::now() + PATIENCE;
    let victim = loop {
        if let Some(victim) = sending(&ports) {
            break victim;
        }
        assert!(Instant::now() < deadline, "no server is sending `big`");
        thread::sleep(Duration::from_millis(10));
    };
    let downloads = tempfile::tempdir().expect("a temporary directory");
    let load = Arc::new(Load {
        files,
        front: front_addr,
        client,
        downloads: downloads.path().to_owned(),
        checked: Mutex::new(0),
        progress: Condvar::new(),
        stop: AtomicBool::new(false),
        runs: AtomicU64::new(0),
        retries: AtomicU64::new(0),
    });
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|number| {
            let load = Arc::clone(&load);
            thread::spawn(move || load.run(number))
        })
        .collect();

    load.wait_for_checked(BEFORE_KILL);
    servers[victim].kill();
    let killed = Instant::now();
    let name = format!("hftp{}", victim + 1);
    haproxy.wait_for_log(&format!("{name} is DOWN"), 1);
    let failover = killed.elapsed();
    // The stalled client, read now, gets its file whole through another
    // server, after a retry.
    let mut stdout = stalled.stdout.take().expect("piped stdout");
    let mut got = Vec::with_capacity(BIG_LEN);
    stdout
        .read_to_end(&mut got)
        .expect("the stalled client's output");
    let status = stalled.wait_timeout(PATIENCE).expect("waiting for hftp");
    let said = stalled_said.join().unwrap_or_default();
    assert!(status.is_some_and(|status| status.success()), "{said}");
    assert!(got == big, "big differs from the served file: {said}");
    assert!(said.contains("retry"), "the kill cut no download: {said:?}");
    let retried = said.lines().filter(|line| line.contains("retry")).count();
    load.retries.fetch_add(retried as u64, Ordering::Relaxed);
    load.runs.fetch_add(1, Ordering::Relaxed);
    *load.checked.lock().expect("not poisoned") += BIG_LEN as u64;
    let at_restart = load.wait_for_checked(0);

    let restarted_args = ["--proxy-protocol", "-p", &ports[victim].to_string()];
    servers[victim] = Server::serve(dir.path(), &restarted_args);
    haproxy.wait_for_log(&format!("{name} is UP"), 1);
    load.wait_for_checked(at_restart + AFTER_RESTART);
    // Every server, the restarted one included, logs real clients, as
    // HAProxy's log names them (either log may lag its work by a few
    // milliseconds; the clients go on meanwhile).
    let deadline = Instant::now() + PATIENCE;
    for (number, server) in servers.iter().enumerate() {
        while !served_one_of(&server.stderr(), &clients_of(&haproxy.log())) {
            assert!(
                Instant::now() < deadline,
                "server {} logged no client address HAProxy did: {}",
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
    let retries = load.retries.load(Ordering::Relaxed);
    eprintln!(
        "cluster: {} `hftp --retry` downloads, {} MiB checked byte for byte, {retries} {}, \
         failover (kill to HAProxy's DOWN) {:.0} ms, {:.1} s in all",
        load.runs.load(Ordering::Relaxed),
        checked >> 20,
        if retries == 1 { "retry" } else { "retries" },
        failover.as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64()
    );
}
