//! The request reference: `redis-server` answering inline `PING`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{ChildGuard, wait_until_ready};

/// A running `redis-server` without persistence, on a free loopback port.
#[derive(Debug)]
pub struct Redis {
    _child: ChildGuard,
    addr: SocketAddr,
}

impl Redis {
    pub fn start(binary: &Path) -> Result<Redis> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .context("could not find a free port")?
            .port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let mut child = ChildGuard(child);
        wait_until_ready(&mut child, "redis-server", || ping(addr))?;
        Ok(Redis {
            _child: child,
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn ping(addr: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(b"PING\r\n")?;
        let mut reply = [0; 7];
        stream.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    };
    attempt().unwrap_or(false)
}
