//! `Client`: one HFTP connection, driven through `hftp-proto`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use hftp_proto::{
    FileName, MAX_REPLY_LINE_LEN, ReplyDecoder, ReplyError, ReplyEvent, Request, Status,
};

use crate::{Error, QUOTED_LEN};

/// Bytes read from the socket at most per `read`: 64 KiB of a raw
/// slice, 48 KiB of file in base64.
const READ_BUFFER_LEN: usize = 64 * 1024;

/// How many requests [`Client::metadata_many`] sends before reading their
/// replies: small enough that neither side's socket buffers can fill up
/// and leave both peers blocked writing.
const PIPELINE_DEPTH: usize = 64;

/// A server's listing, as [`Client::listing`] reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The valid names, in the server's order.
    pub names: Vec<FileName>,
    /// The listed lines that are not valid HFTP names, as they came:
    /// no request can name them.
    pub invalid: Vec<Vec<u8>>,
}

/// How [`Client::slice`] asks for slices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SliceEncoding {
    /// Raw bytes (the 2026 kit's `get_slice ... raw`) while the server
    /// takes them; base64 from the first `201` a raw slice gets, which is
    /// how a server older than the 2026 kit answers it.
    #[default]
    Auto,
    /// Raw bytes only: a server that does not know them refuses the
    /// slice.
    Raw,
    /// Base64 only, as every year's kit knows it.
    Base64,
}

/// Where a [`Client`] reports its exchange, line by line, in the
/// course's transcript form: `C: get_metadata archivo.txt` for a request,
/// `S: 0 OK` for a reply line. A slice's body is summed up in one line
/// (`S: [41 bytes in base64]`, `S: [41 raw bytes]`) rather than copied.
pub type Transcript = Box<dyn FnMut(&str) + Send + Sync>;

/// A connection to an HFTP server.
///
/// Each method sends one request (or a batch, for
/// [`metadata_many`](Client::metadata_many)) and reads its reply to the
/// end, so the connection is ready for the next one. All protocol work —
/// framing, statuses, base64, names — is `hftp-proto`'s: requests are
/// written with [`Request::encode`] and replies read with a
/// [`ReplyDecoder`], fed from one reusable buffer whose leftover bytes
/// carry over to the next reply.
///
/// A refusal ([`Error::Refused`]) leaves the connection usable unless its
/// status is fatal; any other error leaves it [broken](Error::Broken).
///
/// ```no_run
/// use std::time::Duration;
/// use hftp_client::Client;
/// use hftp_proto::FileName;
///
/// let mut client = Client::connect("127.0.0.1:19500", Some(Duration::from_secs(10)))?;
/// for name in client.list()? {
///     println!("{name}: {} bytes", client.metadata(&name)?);
/// }
/// let mut head = Vec::new();
/// client.slice(&FileName::new("archivo.txt")?, 0, 16, &mut head)?;
/// client.quit()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    decoder: ReplyDecoder,
    /// The encoded request(s) being sent, reused.
    request: Vec<u8>,
    buffer: Box<[u8]>,
    /// Bytes read but not yet decoded: `buffer[start..end]`.
    start: usize,
    end: usize,
    /// An error left the connection mid-reply or closed.
    broken: bool,
    encoding: SliceEncoding,
    /// Whether this server takes raw slices, once a raw slice told.
    raw_support: Option<bool>,
    transcript: Option<Traced>,
}

/// A [`Transcript`], which has no `Debug` of its own.
struct Traced(Transcript);

impl std::fmt::Debug for Traced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transcript")
    }
}

impl Client {
    /// Connects to the first address of `addr` that accepts, each attempt
    /// waiting at most `timeout`. The same `timeout` then bounds every
    /// read and write on the connection; `None` waits forever.
    pub fn connect(addr: impl ToSocketAddrs, timeout: Option<Duration>) -> Result<Client, Error> {
        let timeout = timeout.filter(|t| !t.is_zero());
        let mut last_error = None;
        for addr in addr.to_socket_addrs().map_err(Error::Connect)? {
            let stream = match timeout {
                Some(timeout) => TcpStream::connect_timeout(&addr, timeout),
                None => TcpStream::connect(addr),
            };
            match stream {
                Ok(stream) => return Client::from_stream(stream, timeout),
                Err(error) => last_error = Some(error),
            }
        }
        Err(Error::Connect(last_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to nothing",
            )
        })))
    }

    /// Wraps a connected stream, bounding its reads and writes by
    /// `timeout` (`None` waits forever).
    pub fn from_stream(stream: TcpStream, timeout: Option<Duration>) -> Result<Client, Error> {
        let timeout = timeout.filter(|t| !t.is_zero());
        let setup = || -> io::Result<SocketAddr> {
            stream.set_read_timeout(timeout)?;
            stream.set_write_timeout(timeout)?;
            // Requests are whole lines written at once: nothing to batch.
            stream.set_nodelay(true)?;
            stream.peer_addr()
        };
        let peer = setup().map_err(Error::Connect)?;
        let request = Request::GetFileListing;
        Ok(Client {
            stream,
            peer,
            decoder: ReplyDecoder::new(&request),
            request: Vec::new(),
            buffer: vec![0; READ_BUFFER_LEN].into_boxed_slice(),
            start: 0,
            end: 0,
            broken: false,
            encoding: SliceEncoding::Auto,
            raw_support: None,
            transcript: None,
        })
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// A handle that can cut this connection from another thread, e.g.
    /// when the user presses Ctrl-C: see [`AbortHandle`].
    pub fn abort_handle(&self) -> Result<AbortHandle, Error> {
        let stream = self.stream.try_clone().map_err(Error::Io)?;
        Ok(AbortHandle { stream })
    }

    /// Chooses how slices are asked for from now on ([`SliceEncoding::Auto`]
    /// unless set).
    pub fn set_slice_encoding(&mut self, encoding: SliceEncoding) {
        self.encoding = encoding;
    }

    /// Reports every request and reply line to `transcript` from now on
    /// (`None`: to nothing, the default).
    pub fn set_transcript(&mut self, transcript: Option<Transcript>) {
        self.transcript = transcript.map(Traced);
    }

    /// Whether the server takes raw slices: `None` until a raw slice was
    /// asked for on this connection.
    pub fn raw_support(&self) -> Option<bool> {
        self.raw_support
    }

    /// Whether an earlier error left the connection unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// `get_file_listing`: the names of the served files, in the server's
    /// (byte-wise sorted) order. Listed names that are not valid HFTP
    /// names are left out; [`listing`](Client::listing) keeps them.
    pub fn list(&mut self) -> Result<Vec<FileName>, Error> {
        Ok(self.listing()?.names)
    }

    /// `get_file_listing`, lenient: a server may list a name that HFTP
    /// cannot ask for (one with a space, say); it is kept apart in
    /// [`Listing::invalid`] instead of failing the whole listing.
    pub fn listing(&mut self) -> Result<Listing, Error> {
        self.send_batch_of(&[Request::GetFileListing])?;
        // The status line is the decoder's, read as that of a reply
        // without a body; the body is read here, because the decoder is
        // strict and rejects the whole listing for one bad name.
        self.read_reply(&Request::Quit, |_| Ok(()))?;
        let mut listing = Listing::default();
        let result = self.read_listing_body(&mut listing);
        if result.is_err() {
            self.broken = true;
        }
        result.map(|()| listing)
    }

    /// `get_metadata`: the size of a file in bytes.
    pub fn metadata(&mut self, name: &FileName) -> Result<u64, Error> {
        let mut size = 0;
        self.exchange(&Request::GetMetadata { name: *name }, |event| {
            if let ReplyEvent::Size(value) = event {
                size = value;
            }
            Ok(())
        })?;
        Ok(size)
    }

    /// `get_metadata` for many files, pipelined: the requests go out in
    /// batches without waiting for each reply, which saves a round trip
    /// per file. One result per name, in order; after a connection
    /// failure the rest are [`Error::Broken`].
    pub fn metadata_many(&mut self, names: &[FileName]) -> Vec<Result<u64, Error>> {
        let mut results = Vec::with_capacity(names.len());
        for batch in names.chunks(PIPELINE_DEPTH) {
            if let Err(error) = self.send_batch(batch) {
                results.push(Err(error));
                break;
            }
            for name in batch {
                let mut size = 0;
                let result = self.read_reply(&Request::GetMetadata { name: *name }, |event| {
                    if let ReplyEvent::Size(value) = event {
                        size = value;
                    }
                    Ok(())
                });
                results.push(result.map(|()| size));
                if self.broken {
                    break;
                }
            }
            if self.broken {
                break;
            }
        }
        results.resize_with(names.len(), || Err(Error::Broken));
        results
    }

    /// `get_slice`: writes `size` bytes of a file from `offset` to `out`,
    /// as they arrive (memory does not grow with `size`). Returns the
    /// number of bytes written, which is `size`: a short or overlong body
    /// is an error, never a short count.
    ///
    /// The slice comes raw or in base64 as [`set_slice_encoding`] says.
    /// With [`SliceEncoding::Auto`], a `201` to a raw slice means a server
    /// older than the 2026 kit: it is remembered for this connection and
    /// the slice asked for again in base64, so the caller never sees it.
    ///
    /// On an error other than a refusal, `out` may have received part of
    /// the slice.
    ///
    /// [`set_slice_encoding`]: Client::set_slice_encoding
    pub fn slice(
        &mut self,
        name: &FileName,
        offset: u64,
        size: u64,
        out: &mut impl Write,
    ) -> Result<u64, Error> {
        let raw = match self.encoding {
            SliceEncoding::Raw => true,
            SliceEncoding::Base64 => false,
            SliceEncoding::Auto => self.raw_support != Some(false),
        };
        let result = self.slice_as(name, offset, size, raw, out);
        match result {
            Err(Error::Refused(Status::InvalidArguments))
                if raw && self.encoding == SliceEncoding::Auto =>
            {
                // The name and numbers are valid by construction, so the
                // only argument a server can find wrong is `raw` itself.
                // A 201 carries no body: nothing reached `out`.
                let before = self.raw_support;
                self.raw_support = Some(false);
                let retried = self.slice_as(name, offset, size, false, out);
                if let Err(Error::Refused(Status::InvalidArguments)) = retried {
                    // Refused in base64 too: the 201 was about something
                    // else (some servers refuse any zero-length slice).
                    self.raw_support = before;
                }
                retried
            }
            Ok(written) => {
                if raw {
                    self.raw_support = Some(true);
                }
                Ok(written)
            }
            other => other,
        }
    }

    fn slice_as(
        &mut self,
        name: &FileName,
        offset: u64,
        size: u64,
        raw: bool,
        out: &mut impl Write,
    ) -> Result<u64, Error> {
        let request = Request::GetSlice {
            name: *name,
            offset,
            size,
            raw,
        };
        let mut written = 0;
        self.exchange(&request, |event| {
            if let ReplyEvent::Data(data) = event {
                out.write_all(data).map_err(Error::Write)?;
                written += data.len() as u64;
            }
            Ok(())
        })?;
        Ok(written)
    }

    /// `help` (the 2026 kit): the commands the server knows, in its
    /// order. A server older than that kit refuses it with
    /// [`Status::NoSuchCommand`], as any unknown command.
    pub fn help(&mut self) -> Result<Vec<FileName>, Error> {
        let mut commands = Vec::new();
        self.exchange(&Request::Help, |event| {
            if let ReplyEvent::Command(command) = event {
                commands.push(command);
            }
            Ok(())
        })?;
        Ok(commands)
    }

    /// `quit`, then closes the connection. A server that closes right
    /// after its `0 OK`, or even before sending it, is fine: the
    /// connection was ending anyway.
    pub fn quit(mut self) -> Result<(), Error> {
        if self.broken {
            return Ok(());
        }
        let result = match self.exchange(&Request::Quit, |_| Ok(())) {
            Err(Error::Closed) => Ok(()),
            Err(Error::Io(error)) if is_peer_gone(&error) => Ok(()),
            other => other,
        };
        // The peer may be gone already; nothing is lost if this fails.
        let _ = self.stream.shutdown(Shutdown::Both);
        result
    }

    /// Sends `request` and reads its reply, handing each body event to
    /// `on_body`.
    fn exchange(
        &mut self,
        request: &Request,
        on_body: impl FnMut(ReplyEvent<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.send_batch_of(std::slice::from_ref(request))?;
        self.read_reply(request, on_body)
    }

    fn send_batch(&mut self, names: &[FileName]) -> Result<(), Error> {
        let requests: Vec<Request> = names
            .iter()
            .map(|name| Request::GetMetadata { name: *name })
            .collect();
        self.send_batch_of(&requests)
    }

    fn send_batch_of(&mut self, requests: &[Request]) -> Result<(), Error> {
        if self.broken {
            return Err(Error::Broken);
        }
        self.request.clear();
        for request in requests {
            let start = self.request.len();
            request.encode(&mut self.request);
            if let Some(Traced(transcript)) = &mut self.transcript {
                let line = &self.request[start..self.request.len() - 2];
                transcript(&format!("C: {}", line.escape_ascii()));
            }
        }
        if let Err(error) = self.stream.write_all(&self.request) {
            self.broken = true;
            return Err(Error::Io(with_timeout_kind(error)));
        }
        Ok(())
    }

    /// Reads the reply to `request` (already sent) to its end.
    fn read_reply(
        &mut self,
        request: &Request,
        on_body: impl FnMut(ReplyEvent<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.broken {
            return Err(Error::Broken);
        }
        let result = self.decode_reply(request, on_body);
        match &result {
            Ok(()) => {}
            Err(Error::Refused(status)) if !status.is_fatal() => {}
            Err(_) => self.broken = true,
        }
        result
    }

    fn decode_reply(
        &mut self,
        request: &Request,
        mut on_body: impl FnMut(ReplyEvent<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.decoder.reset(request);
        // The part of a line the decoder took in earlier reads, to quote
        // it whole should it turn out malformed.
        let mut partial = Vec::new();
        let mut refusal = None;
        // A slice's body, summed up in the transcript at its end.
        let mut body_len = 0u64;
        loop {
            let input = &self.buffer[self.start..self.end];
            let (consumed, event) = match self.decoder.decode(input) {
                Ok(decoded) => decoded,
                Err(error) => {
                    let line = &input[..memchr_newline(input).unwrap_or(input.len())];
                    partial.extend_from_slice(line);
                    return Err(Error::protocol(error, &partial));
                }
            };
            if event.is_none() && partial.len() < QUOTED_LEN {
                partial.extend_from_slice(&input[..consumed.min(QUOTED_LEN)]);
            } else if event.is_some() {
                partial.clear();
            }
            self.start += consumed;
            if let (Some(Traced(transcript)), Some(event)) = (&mut self.transcript, &event) {
                trace_event(transcript, request, event, &mut body_len);
            }
            match event {
                Some(ReplyEvent::End) => break,
                Some(ReplyEvent::Status(Status::Ok)) => {}
                Some(ReplyEvent::Status(status)) => refusal = Some(status),
                Some(event) => on_body(event)?,
                None => {
                    if !self.fill()? {
                        // The connection ended: `finish` says whether the
                        // reply was whole (it never is here).
                        self.decoder
                            .finish()
                            .map_err(|error| Error::protocol(error, &partial))?;
                        return Err(Error::Closed);
                    }
                }
            }
        }
        match refusal {
            Some(status) => Err(Error::Refused(status)),
            None => Ok(()),
        }
    }

    /// Reads a listing's body, up to its empty line. A line that is no
    /// valid name goes to `invalid` instead of failing the whole listing.
    fn read_listing_body(&mut self, listing: &mut Listing) -> Result<(), Error> {
        loop {
            let input = &self.buffer[self.start..self.end];
            let Some(at) = memchr_newline(input) else {
                if input.len() > MAX_REPLY_LINE_LEN {
                    return Err(Error::protocol(ReplyError::LineTooLong, input));
                }
                if !self.fill()? {
                    return Err(Error::Closed);
                }
                continue;
            };
            let line = input[..at].strip_suffix(b"\r").unwrap_or(&input[..at]);
            if line.len() > MAX_REPLY_LINE_LEN {
                return Err(Error::protocol(ReplyError::LineTooLong, line));
            }
            let done = line.is_empty();
            if let Some(Traced(transcript)) = &mut self.transcript {
                transcript(&format!("S: {}", line.escape_ascii()));
            }
            match FileName::from_bytes(line) {
                _ if done => {}
                Ok(name) => listing.names.push(name),
                Err(_) => listing.invalid.push(line.to_vec()),
            }
            self.start += at + 1;
            if done {
                return Ok(());
            }
        }
    }

    /// Reads more bytes into the buffer; `false` at the end of the stream.
    fn fill(&mut self) -> Result<bool, Error> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buffer.len() {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.stream.read(&mut self.buffer[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(read) => {
                    self.end += read;
                    return Ok(true);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(Error::Io(with_timeout_kind(error))),
            }
        }
    }
}

/// Cuts a [`Client`]'s connection from elsewhere: a call blocked on the
/// server, or the next one, fails at once with [`Error::Closed`] or
/// [`Error::Io`], and the connection is broken.
///
/// It holds a duplicate of the connection's socket, so drop it with the
/// client, not long after.
///
/// ```no_run
/// use hftp_client::Client;
///
/// let client = Client::connect("127.0.0.1:19500", None)?;
/// let abort = client.abort_handle()?;
/// std::thread::spawn(move || {
///     // ... on Ctrl-C:
///     abort.abort();
/// });
/// # Ok::<(), hftp_client::Error>(())
/// ```
#[derive(Debug)]
pub struct AbortHandle {
    stream: TcpStream,
}

impl AbortHandle {
    /// Shuts the connection down both ways.
    pub fn abort(&self) {
        // Already closed is as good as aborted.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// The transcript's lines for one event of the reply to `request`.
fn trace_event(
    transcript: &mut Transcript,
    request: &Request,
    event: &ReplyEvent<'_>,
    body_len: &mut u64,
) {
    match event {
        ReplyEvent::Status(status) => transcript(&format!("S: {status}")),
        ReplyEvent::FileName(name) | ReplyEvent::Command(name) => {
            transcript(&format!("S: {name}"));
        }
        ReplyEvent::Size(size) => transcript(&format!("S: {size}")),
        ReplyEvent::Data(data) => *body_len += data.len() as u64,
        ReplyEvent::End => match request {
            Request::GetSlice { raw: true, .. } if *body_len > 0 => {
                transcript(&format!("S: Content-Length: {body_len}"));
                transcript("S: ");
                transcript(&format!("S: [{body_len} raw bytes]"));
            }
            Request::GetSlice { raw: false, .. } if *body_len > 0 => {
                transcript(&format!("S: [{body_len} bytes in base64]"));
            }
            Request::GetFileListing | Request::Help => transcript("S: "),
            _ => {}
        },
    }
}

fn memchr_newline(input: &[u8]) -> Option<usize> {
    input.iter().position(|&byte| byte == b'\n')
}

/// A socket timeout surfaces as `WouldBlock` on Unix; call it what it is.
fn with_timeout_kind(error: io::Error) -> io::Error {
    match error.kind() {
        io::ErrorKind::WouldBlock => {
            io::Error::new(io::ErrorKind::TimedOut, "the server did not answer in time")
        }
        _ => error,
    }
}

/// Failures that only mean the peer has already closed the connection.
fn is_peer_gone(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}
