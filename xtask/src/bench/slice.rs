//! The bulk figures: one `get_slice` decoded at the client, and its
//! ceiling, the same reply bytes blasted over a loopback socket; in base64
//! and raw (the 2026 kit's `get_slice … raw`, the file's bytes as they
//! are).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hftp_proto::{FileName, ReplyEvent, Request, SliceEncoder, Status, encode_raw_slice_head};
use hftp_test_support::{ReplyReader, socket, wire};

use super::data::{PATTERN_LEN, pattern};

/// Bytes read from the socket at once, by both readers alike. 256 KiB,
/// not more: the decoder reads back what `read` just wrote, and a buffer
/// that fits the L2 cache (1 MiB per core here, with the decoded output
/// beside it) is decoded from cache rather than memory — with 1 MiB the
/// decoded slice ran ~15% slower. The blast is as fast with 256 KiB as with
/// 1 MiB (4.1-4.4 GB/s either way on this machine), so the ceiling stands.
const READ_BUF_LEN: usize = 256 << 10;
/// The blast writer's socket send buffer ("large buffers"; Linux caps it
/// at `net.core.wmem_max`).
const BLAST_SEND_BUFFER: usize = 4 << 20;
/// How long a reader waits for bytes before the run fails.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the client does with a slice reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Decode it with `hftp_proto::ReplyDecoder`: the real figure.
    Decode,
    /// Only count its bytes, as the blast reader does: how fast the server
    /// alone can go.
    Count,
}

/// How a slice's body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Base64,
    Raw,
}

impl Body {
    /// The reply's bytes for a slice of `size` bytes, status line included.
    fn wire_len(self, size: u64) -> u64 {
        match self {
            Body::Base64 => STATUS_LINE.len() as u64 + SliceEncoder::encoded_len(size),
            Body::Raw => raw_head(size).len() as u64 + size,
        }
    }
}

fn slice_request(name: &str, size: u64, body: Body) -> Result<Request> {
    Ok(Request::GetSlice {
        name: FileName::new(name).context("the slice file's name")?,
        offset: 0,
        size,
        raw: body == Body::Raw,
    })
}

/// The wire bytes of `get_slice NAME 0 SIZE`.
pub fn request(name: &str, size: u64) -> Result<Vec<u8>> {
    body_request(name, size, Body::Base64)
}

/// The wire bytes of `get_slice NAME 0 SIZE`, raw or not.
pub fn body_request(name: &str, size: u64, body: Body) -> Result<Vec<u8>> {
    Ok(wire(&slice_request(name, size, body)?))
}

/// Asks the server at `addr` for the whole of `name` (`size` bytes) with
/// a `body` of that kind and reads the reply; returns the time from the
/// request to the reply's end.
pub fn hftp_slice(
    addr: SocketAddr,
    name: &str,
    size: u64,
    body: Body,
    reading: Reading,
) -> Result<Duration> {
    let request = slice_request(name, size, body)?;
    let mut buf = vec![0; READ_BUF_LEN];
    let mut reader = ReplyReader::new(READ_BUF_LEN);
    let mut stream =
        TcpStream::connect(addr).with_context(|| format!("could not connect to {addr}"))?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let start = Instant::now();
    stream.write_all(&wire(&request))?;
    match reading {
        Reading::Decode => {
            let payload = decode_reply(&mut stream, &request, &mut reader)?;
            if payload != size {
                bail!("the slice decoded to {payload} bytes, not {size}");
            }
        }
        Reading::Count => count_bytes(&mut stream, body.wire_len(size), &mut buf)?,
    }
    Ok(start.elapsed())
}

/// Reads and decodes the reply to `request`; returns the payload's size.
fn decode_reply(
    stream: &mut TcpStream,
    request: &Request,
    reader: &mut ReplyReader,
) -> Result<u64> {
    let mut payload = 0u64;
    reader.read_reply(stream, request, |event| {
        match event {
            ReplyEvent::Status(status) if status != Status::Ok => {
                bail!("the slice was refused: {status}")
            }
            ReplyEvent::Data(data) => payload += data.len() as u64,
            _ => {}
        }
        Ok(())
    })?;
    Ok(payload)
}

/// Reads and discards `total` bytes.
fn count_bytes(stream: &mut TcpStream, total: u64, buf: &mut [u8]) -> Result<()> {
    let mut received = 0u64;
    while received < total {
        let read = stream.read(buf).context("read failed")?;
        if read == 0 {
            bail!("the peer closed after {received} of {total} bytes");
        }
        received += read as u64;
    }
    Ok(())
}

/// The exact bytes of the server's reply to a slice of the whole slice
/// file, pre-encoded: the file repeats a pattern of whole base64 groups,
/// so its base64 repeats the pattern's.
#[derive(Debug)]
pub struct BlastData {
    /// The status line, and a raw body's header.
    head: Vec<u8>,
    /// The pattern's base64, or the pattern itself for a raw body.
    chunk: Vec<u8>,
    /// How many times the whole pattern is sent.
    chunks: u64,
    /// The last, partial pattern's base64 and the final CRLF.
    tail: Vec<u8>,
}

impl BlastData {
    /// The reply to a slice of `size` bytes of the slice file, with a
    /// `body` of that kind.
    pub fn new(size: u64, body: Body) -> BlastData {
        let pattern = pattern();
        let rest = usize::try_from(size % PATTERN_LEN as u64).unwrap_or(0);
        let chunks = size / PATTERN_LEN as u64;
        match body {
            Body::Base64 => {
                let whole = encode(&pattern);
                BlastData {
                    head: STATUS_LINE.to_vec(),
                    chunk: whole[STATUS_LINE.len()..whole.len() - 2].to_vec(),
                    chunks,
                    tail: encode(&pattern[..rest])[STATUS_LINE.len()..].to_vec(),
                }
            }
            Body::Raw => BlastData {
                head: raw_head(size),
                chunk: pattern.clone(),
                chunks,
                tail: pattern[..rest].to_vec(),
            },
        }
    }

    /// Every byte of the reply, status line included.
    fn wire_len(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64 + self.chunks * self.chunk.len() as u64
    }
}

/// A raw slice reply's status line and header.
fn raw_head(size: u64) -> Vec<u8> {
    let mut head = Vec::new();
    encode_raw_slice_head(size, &mut head);
    head
}

const STATUS_LINE: &[u8] = b"0 OK\r\n";

/// `0 OK\r\n`, `data` in base64, CRLF: a slice reply.
fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 3 * 4 + 16);
    let mut encoder = SliceEncoder::new(data.len() as u64, &mut out);
    encoder.encode(data, &mut out);
    if encoder.finish(&mut out).is_err() {
        unreachable!("all of the data was fed");
    }
    out
}

/// One thread writes the pre-encoded reply over a loopback socket with a
/// large send buffer once the reader asks; the reader counts and discards
/// it. Returns the time from the request to the last byte.
pub fn blast(data: &BlastData) -> Result<Duration> {
    blast_with(data.wire_len(), |stream| {
        socket::set_send_buffer(stream, BLAST_SEND_BUFFER)?;
        stream.write_all(&data.head)?;
        for _ in 0..data.chunks {
            stream.write_all(&data.chunk)?;
        }
        stream.write_all(&data.tail)?;
        Ok(())
    })
}

/// How [`file_blast`] moves the file into its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCopy {
    /// `sendfile(2)`: page cache to socket, no user-space copy.
    Sendfile,
    /// `pread(2)` into a buffer and `write(2)` of it, as `cat` does.
    ReadWrite,
}

/// Buffer of [`FileCopy::ReadWrite`]: the event loop's largest chunk,
/// and the fastest of 24 KiB to 4 MiB tried here.
const FILE_COPY_BUF_LEN: usize = 768 << 10;

/// A raw slice reply sent the simplest way: one thread writes its head,
/// then copies the `size` bytes of the file at `path` into a blocking
/// loopback socket (default buffer sizes, as the server's), once the
/// reader asks; the reader counts and discards it. Returns the time from
/// the request to the last byte.
pub fn file_blast(path: &Path, size: u64, copy: FileCopy) -> Result<Duration> {
    let file = File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let head = raw_head(size);
    blast_with(head.len() as u64 + size, |stream| {
        stream.write_all(&head)?;
        match copy {
            FileCopy::Sendfile => send_file(stream, &file, size),
            FileCopy::ReadWrite => {
                let mut buf = vec![0; FILE_COPY_BUF_LEN];
                let mut offset = 0;
                while offset < size {
                    let read = file.read_at(&mut buf, offset)?;
                    if read == 0 {
                        bail!("{} ended at {offset} of {size} bytes", path.display());
                    }
                    stream.write_all(&buf[..read])?;
                    offset += read as u64;
                }
                Ok(())
            }
        }
    })
}

/// `size` bytes of `file` from its start into `stream` by `sendfile(2)`.
fn send_file(stream: &TcpStream, file: &File, size: u64) -> Result<()> {
    let mut offset: libc::off_t = 0;
    let end = libc::off_t::try_from(size).context("the file is too large for off_t")?;
    while offset < end {
        let left = usize::try_from(end - offset).unwrap_or(usize::MAX);
        // SAFETY: both descriptors are open for the whole call (borrowed
        // from live `File` and `TcpStream` values), and `offset` is a
        // valid, exclusive `off_t` the kernel updates in place.
        let sent =
            unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut offset, left) };
        if sent < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error).context("sendfile failed");
            }
        } else if sent == 0 {
            bail!("the file ended at {offset} of {size} bytes");
        }
    }
    Ok(())
}

/// The blasts' frame: a loopback connection whose writer thread runs
/// `send` once the reader's one-byte request arrives, while the reader
/// counts `total` bytes. Returns the time from the request to the last
/// byte.
fn blast_with(
    total: u64,
    send: impl FnOnce(&mut TcpStream) -> Result<()> + Send,
) -> Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").context("could not listen on loopback")?;
    let mut reader = TcpStream::connect(listener.local_addr()?)?;
    reader.set_read_timeout(Some(READ_TIMEOUT))?;
    thread::scope(|scope| {
        let writer = scope.spawn(|| -> Result<()> {
            let (mut stream, _) = listener.accept()?;
            let mut request = [0; 1];
            stream.read_exact(&mut request)?;
            send(&mut stream)
        });
        let mut buf = vec![0; READ_BUF_LEN];
        let start = Instant::now();
        reader.write_all(b"g")?;
        count_bytes(&mut reader, total, &mut buf)?;
        let elapsed = start.elapsed();
        match writer.join() {
            Ok(result) => result.context("the blast writer failed")?,
            Err(_) => bail!("the blast writer panicked"),
        }
        Ok(elapsed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::data::{DataDir, SMALL_FILE_LEN};

    #[test]
    fn blast_bytes_are_the_reply_to_a_slice_of_the_file() {
        for size in [
            0,
            1,
            2,
            3,
            PATTERN_LEN as u64 - 1,
            PATTERN_LEN as u64 * 2 + 5,
        ] {
            let file: Vec<u8> = pattern()
                .iter()
                .copied()
                .cycle()
                .take(usize::try_from(size).unwrap_or(0))
                .collect();
            let mut raw = raw_head(size);
            raw.extend_from_slice(&file);
            for (body, reply) in [(Body::Base64, encode(&file)), (Body::Raw, raw)] {
                let data = BlastData::new(size, body);
                let mut wire = data.head.clone();
                for _ in 0..data.chunks {
                    wire.extend_from_slice(&data.chunk);
                }
                wire.extend_from_slice(&data.tail);
                assert_eq!(wire, reply, "size {size}, {body:?}");
                assert_eq!(wire.len() as u64, data.wire_len());
                assert_eq!(body.wire_len(size), data.wire_len());
            }
        }
    }

    #[test]
    fn blast_runs() -> Result<()> {
        let elapsed = blast(&BlastData::new(5 << 20, Body::Raw))?;
        assert!(elapsed > Duration::ZERO);
        Ok(())
    }

    #[test]
    fn file_blast_sends_the_whole_file_either_way() -> Result<()> {
        let size = PATTERN_LEN as u64 * 3 + 7;
        let dir = std::env::temp_dir().join(format!("xtask-file-blast-{}", std::process::id()));
        let data = DataDir::create(dir, "small", "large", size)?;
        for copy in [FileCopy::Sendfile, FileCopy::ReadWrite] {
            file_blast(&data.path().join("large"), size, copy)?;
        }
        // One byte more than the file holds: the writer runs out, closes,
        // and the reader, short of its count, fails.
        let short = data.path().join("small");
        assert!(file_blast(&short, SMALL_FILE_LEN as u64 + 1, FileCopy::ReadWrite).is_err());
        assert!(file_blast(&short, SMALL_FILE_LEN as u64 + 1, FileCopy::Sendfile).is_err());
        Ok(())
    }
}
