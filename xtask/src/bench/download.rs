//! What a user waits for: `hftp get` of the slice file to a local file,
//! over one connection and over four (`-j 4`), against `curl` fetching the
//! same file from nginx on loopback (nginx sends it with `sendfile`), each
//! measured in the same run.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{ChildGuard, wait_until_ready};

/// An nginx serving one directory on a loopback port, stopped on drop.
#[derive(Debug)]
pub struct Nginx {
    _child: ChildGuard,
    addr: SocketAddr,
}

impl Nginx {
    /// Starts `binary` serving `root`, with its configuration, pid and
    /// logs under `work`.
    pub fn start(binary: &Path, root: &Path, work: &Path) -> Result<Nginx> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .context("could not find a free port")?
            .port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        fs::create_dir_all(work)?;
        let work = fs::canonicalize(work)?;
        let root = fs::canonicalize(root)?;
        let w = work.display();
        // Temp paths of its own: the packaged defaults under /var may not
        // be writable, and nothing of the system's nginx is touched. One
        // process, no master: the guard's SIGKILL of a master left its
        // worker running, one more after every run, each taking CPU from
        // the runs after it.
        let conf = format!(
            "master_process off;\n\
             worker_processes 1;\n\
             pid {w}/nginx.pid;\n\
             error_log {w}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               access_log off;\n\
               sendfile on;\n\
               tcp_nopush on;\n\
               client_body_temp_path {w}/body;\n\
               proxy_temp_path {w}/proxy;\n\
               fastcgi_temp_path {w}/fastcgi;\n\
               uwsgi_temp_path {w}/uwsgi;\n\
               scgi_temp_path {w}/scgi;\n\
               server {{ listen 127.0.0.1:{port}; root {}; }}\n\
             }}\n",
            root.display()
        );
        let conf_path = work.join("nginx.conf");
        fs::write(&conf_path, conf)?;
        let child = Command::new(binary)
            .arg("-p")
            .arg(&work)
            .arg("-c")
            .arg(&conf_path)
            .args(["-e", "stderr", "-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let mut child = ChildGuard(child);
        wait_until_ready(&mut child, "nginx", || TcpStream::connect(addr).is_ok())?;
        Ok(Nginx {
            _child: child,
            addr,
        })
    }

    /// The URL of `name` in the served directory.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }
}

/// Runs `command`, which writes a file of `size` bytes to `out`, and
/// returns how long it took; `out` is removed first and after.
pub fn fetch(command: &mut Command, out: &Path, size: u64) -> Result<Duration> {
    remove(out)?;
    let start = Instant::now();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("could not run {command:?}"))?;
    let elapsed = start.elapsed();
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    let got = fs::metadata(out)
        .with_context(|| format!("{command:?} wrote no {}", out.display()))?
        .len();
    remove(out)?;
    if got != size {
        bail!("{command:?} wrote {got} bytes, not {size}");
    }
    Ok(elapsed)
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("could not remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Where the downloads of a run go: beside the served data, so a stopped
/// run's gigabyte is cleared with the rest of target/bench.
pub fn out_dir(bench_dir: &Path) -> Result<PathBuf> {
    let dir = bench_dir.join("download");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}
