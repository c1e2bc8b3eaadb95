//! A broken server: our real server behind a proxy that breaks one rule.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// Rewrites one request line (its LF included).
pub type Rewrite = fn(&[u8]) -> Vec<u8>;

/// How a broken server departs from HFTP.md. Everything not named here
/// passes through to the real server unchanged.
#[derive(Debug, Clone, Default)]
pub struct Quirks {
    /// After a fatal status (or quit), keeps the connection open until the
    /// client closes it.
    pub close_late: bool,
    /// Looks for a bare LF only once a CRLF arrives: holds a line ending
    /// in a bare LF until one does.
    pub bare_lf_at_crlf: bool,
    /// Answers only the first request of each read; drops the rest.
    pub no_pipelining: bool,
    /// Serves one connection at a time.
    pub one_at_a_time: bool,
    /// Stops serving for good after a client vanishes mid-request or
    /// mid-reply (with `one_at_a_time`, deterministically before the next).
    pub fragile: bool,
    /// Rewrites each request line (its LF included) before serving it.
    pub requests: Option<Rewrite>,
    /// Reply lines (CRLF included) replaced by others.
    pub replies: &'static [(&'static [u8], &'static [u8])],
    /// Serves a quit after the requests that followed it in the same read.
    pub quit_last: bool,
    /// Treats the end of the stream as the end of a request.
    pub answer_at_eof: bool,
    /// Closes the connection after this many requests.
    pub max_requests: Option<usize>,
    /// Closes, without a reply, a request line longer than this.
    pub max_line: Option<usize>,
}

/// A broken server: a proxy in front of the real one.
pub struct Proxy {
    pub addr: SocketAddr,
}

impl Proxy {
    pub fn start(upstream: SocketAddr, quirks: Quirks) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a listening socket");
        let addr = listener.local_addr().expect("its address");
        let dead = Arc::new(AtomicBool::new(false));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if dead.load(Ordering::SeqCst) {
                    // Accepted by the kernel, never served.
                    std::mem::forget(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let one_at_a_time = quirks.one_at_a_time;
                let quirks = quirks.clone();
                let dead = Arc::clone(&dead);
                let serve = thread::spawn(move || relay(client, server, &quirks, &dead));
                if one_at_a_time {
                    let _ = serve.join();
                }
            }
        });
        Proxy { addr }
    }
}

fn relay(client: TcpStream, server: TcpStream, quirks: &Quirks, dead: &AtomicBool) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_in), Ok(server_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let quirks_in = quirks.clone();
    let upward = thread::spawn(move || forward_requests(client_in, server_out, &quirks_in));
    let cut_short = forward_replies(&server, &client, quirks.replies);
    if !quirks.close_late || cut_short {
        let _ = client.shutdown(Shutdown::Both);
    }
    // With `close_late`, the request side ends only when the client
    // closes or sends more.
    let vanished = upward.join().unwrap_or(false);
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    if quirks.fragile && (vanished || cut_short) {
        dead.store(true, Ordering::SeqCst);
    }
}

/// Client to server, a line at a time. Returns whether the client left
/// in the middle of a request.
fn forward_requests(mut client: TcpStream, mut server: TcpStream, quirks: &Quirks) -> bool {
    let mut pending: Vec<u8> = Vec::new();
    let mut held: Vec<u8> = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    let served = AtomicUsize::new(0);
    loop {
        let read = match client.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        // Only the new bytes can end a line: a 16 MiB line is scanned
        // once, not once per read.
        let mut ends: Vec<usize> = buffer[..read]
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(at, _)| pending.len() + at + 1)
            .collect();
        pending.extend_from_slice(&buffer[..read]);
        let mut lines = Vec::new();
        let mut start = 0;
        for end in ends.drain(..) {
            lines.push(pending[start..end].to_vec());
            start = end;
        }
        pending.drain(..start);
        if quirks.max_line.is_some_and(|max| pending.len() > max) {
            let _ = server.shutdown(Shutdown::Both);
            return false;
        }
        if quirks.no_pipelining {
            lines.truncate(1);
        }
        if quirks.quit_last
            && let Some(at) = lines.iter().position(|line| line == b"quit\r\n")
        {
            let quit = lines.remove(at);
            lines.push(quit);
        }
        let mut out = Vec::new();
        for line in lines {
            let line = match quirks.requests {
                Some(rewrite) => rewrite(&line),
                None => line,
            };
            if quirks.bare_lf_at_crlf {
                held.extend_from_slice(&line);
                if !line.ends_with(b"\r\n") {
                    continue;
                }
                out.append(&mut held);
            } else {
                out.extend_from_slice(&line);
            }
            if quirks
                .max_requests
                .is_some_and(|max| served.fetch_add(1, Ordering::SeqCst) + 1 > max)
            {
                let _ = server.write_all(&out);
                let _ = server.shutdown(Shutdown::Both);
                return false;
            }
        }
        if server.write_all(&out).is_err() {
            break;
        }
    }
    let mid_request = !pending.is_empty();
    if quirks.answer_at_eof && mid_request {
        pending.extend_from_slice(b"\r\n");
    }
    let _ = server.write_all(&pending);
    let _ = server.shutdown(Shutdown::Write);
    mid_request
}

/// Server to client, replacing whole lines; a line that may still become
/// one to replace is held until it is complete. Returns whether the
/// client went away before the whole reply was sent.
fn forward_replies(
    mut server: &TcpStream,
    mut client: &TcpStream,
    replace: &[(&[u8], &[u8])],
) -> bool {
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = match server.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        pending.extend_from_slice(&buffer[..read]);
        let mut out = Vec::new();
        let mut start = 0;
        while start < pending.len() {
            let rest = &pending[start..];
            let end = rest.iter().position(|&b| b == b'\n').map(|at| at + 1);
            match end {
                Some(end) => {
                    let line = &rest[..end];
                    match replace.iter().find(|(from, _)| *from == line) {
                        Some((_, to)) => out.extend_from_slice(to),
                        None => out.extend_from_slice(line),
                    }
                    start += end;
                }
                None if replace.iter().any(|(from, _)| from.starts_with(rest)) => break,
                None => {
                    out.extend_from_slice(rest);
                    start = pending.len();
                }
            }
        }
        pending.drain(..start);
        if client.write_all(&out).is_err() {
            return true;
        }
    }
    client.write_all(&pending).is_err()
}
