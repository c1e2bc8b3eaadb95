//! The PROXY protocol header (HAProxy's, v1 text or v2 binary) that a
//! balancer sends first on each connection with `--proxy-protocol`: it
//! names the real client, which the log then shows. Parsing is the `ppp`
//! crate's; this module only gathers the header's bytes, bounded in size
//! (and the engines bound it in time).

use std::net::SocketAddr;
use std::time::Duration;

use ppp::{HeaderResult, PartialResult, v1, v2};

/// The most bytes a header may take: v1 is at most 107; v2 is 16 plus
/// its addresses (36 for IPv6) plus whatever TLVs the balancer adds.
pub(crate) const MAX_HEADER: usize = 4096;
/// How long a connection may take to send its header.
pub(crate) const HEADER_TIME: Duration = Duration::from_secs(5);

const V1_START: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included (the specification's bound).
const V1_MAX: usize = 107;
const V2_START: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// The header's bytes so far.
#[derive(Debug, Default)]
pub(crate) struct HeaderReader {
    bytes: Vec<u8>,
}

/// What the bytes so far make.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// More bytes are needed.
    Incomplete,
    /// A whole header: the client it names (`None` for a balancer's own
    /// connection, `LOCAL` or `UNKNOWN`, such as a health check), and the
    /// bytes after it, the start of the HFTP stream.
    Done {
        client: Option<SocketAddr>,
        rest: Vec<u8>,
    },
    /// Not a PROXY header: why.
    Bad(String),
}

impl HeaderReader {
    /// Adds bytes read from the connection and says what they make.
    pub(crate) fn push(&mut self, read: &[u8]) -> Header {
        self.bytes.extend_from_slice(read);
        let bytes = &self.bytes[..];
        // A client speaking HFTP straight away is told apart at its first
        // byte, not after the timeout.
        let starts = |start: &[u8]| {
            let n = bytes.len().min(start.len());
            bytes[..n] == start[..n]
        };
        if !starts(V1_START) && !starts(V2_START) {
            return Header::Bad(format!(
                "no PROXY header: it starts \"{}\"",
                bytes[..bytes.len().min(16)].escape_ascii()
            ));
        }
        // v1 is one line: ppp takes a line cut short for a bad one, so it
        // is only given the whole line.
        let whole_line = starts(V1_START);
        let bytes = if whole_line {
            match bytes.windows(2).position(|pair| pair == b"\r\n") {
                Some(at) => &bytes[..at + 2],
                None if bytes.len() > V1_MAX => {
                    return Header::Bad(format!("a PROXY v1 line longer than {V1_MAX} bytes"));
                }
                None => return Header::Incomplete,
            }
        } else {
            bytes
        };
        let parsed = HeaderResult::parse(bytes);
        if parsed.is_incomplete() && whole_line {
            return Header::Bad("a bad PROXY v1 header: fields are missing".to_owned());
        }
        if parsed.is_incomplete() {
            return if bytes.len() >= MAX_HEADER {
                Header::Bad(format!("a PROXY header longer than {MAX_HEADER} bytes"))
            } else {
                Header::Incomplete
            };
        }
        let (len, client) = match parsed {
            HeaderResult::V1(Ok(header)) => (header.header.len(), v1_client(&header.addresses)),
            HeaderResult::V2(Ok(header)) => (header.len(), v2_client(&header)),
            HeaderResult::V1(Err(error)) => {
                return Header::Bad(format!("a bad PROXY v1 header: {error}"));
            }
            HeaderResult::V2(Err(error)) => {
                return Header::Bad(format!("a bad PROXY v2 header: {error}"));
            }
        };
        Header::Done {
            client,
            rest: self.bytes[len.min(self.bytes.len())..].to_vec(),
        }
    }
}

fn v1_client(addresses: &v1::Addresses) -> Option<SocketAddr> {
    match addresses {
        v1::Addresses::Tcp4(ip) => Some((ip.source_address, ip.source_port).into()),
        v1::Addresses::Tcp6(ip) => Some((ip.source_address, ip.source_port).into()),
        v1::Addresses::Unknown => None,
    }
}

fn v2_client(header: &v2::Header<'_>) -> Option<SocketAddr> {
    if header.command == v2::Command::Local {
        return None;
    }
    match header.addresses {
        v2::Addresses::IPv4(ip) => Some((ip.source_address, ip.source_port).into()),
        v2::Addresses::IPv6(ip) => Some((ip.source_address, ip.source_port).into()),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(source: &str, command: v2::Command) -> Vec<u8> {
        let source: SocketAddr = source.parse().expect("an address");
        let destination: SocketAddr = if source.is_ipv4() {
            "127.0.0.1:19500"
        } else {
            "[::1]:19500"
        }
        .parse()
        .expect("an address");
        v2::Builder::with_addresses(
            v2::Version::Two | command,
            v2::Protocol::Stream,
            (source, destination),
        )
        .build()
        .expect("a v2 header")
    }

    /// What `input` makes fed in pieces of `step` bytes.
    fn fed(input: &[u8], step: usize) -> Header {
        let mut reader = HeaderReader::default();
        for piece in input.chunks(step) {
            match reader.push(piece) {
                Header::Incomplete => {}
                done => return done,
            }
        }
        Header::Incomplete
    }

    #[test]
    fn both_versions_name_the_client_in_any_split_and_keep_what_follows() {
        let v1 = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 19500\r\n".to_vec();
        let v1_six = b"PROXY TCP6 2001:db8::7 ::1 40000 19500\r\n".to_vec();
        for (header, client) in [
            (v1, "192.0.2.7:40000"),
            (v1_six, "[2001:db8::7]:40000"),
            (v2("192.0.2.7:40000", v2::Command::Proxy), "192.0.2.7:40000"),
            (
                v2("[2001:db8::7]:40000", v2::Command::Proxy),
                "[2001:db8::7]:40000",
            ),
        ] {
            let mut input = header.clone();
            input.extend_from_slice(b"help\r\n");
            let client: SocketAddr = client.parse().expect("an address");
            for step in [1, 3, input.len()] {
                let Header::Done { client: got, rest } = fed(&input, step) else {
                    panic!("{client}, step {step}: {:?}", fed(&input, step));
                };
                assert_eq!(got, Some(client), "step {step}");
                // A split may end anywhere after the header.
                assert!(b"help\r\n".starts_with(&rest), "{rest:?}");
                if step == input.len() {
                    assert_eq!(rest, b"help\r\n");
                }
            }
        }
    }

    #[test]
    fn a_health_check_of_the_balancer_names_no_client() {
        let header = v2("127.0.0.1:1", v2::Command::Local);
        assert_eq!(
            fed(&header, header.len()),
            Header::Done {
                client: None,
                rest: Vec::new()
            }
        );
        assert_eq!(
            fed(b"PROXY UNKNOWN\r\n", 4),
            Header::Done {
                client: None,
                rest: Vec::new()
            }
        );
    }

    #[test]
    fn no_header_or_a_bad_one_is_refused_at_once_or_at_the_bound() {
        assert!(matches!(fed(b"help\r\n", 1), Header::Bad(why) if why.contains("no PROXY header")));
        assert!(matches!(fed(b"PROXY TCP9 x\r\n", 1), Header::Bad(_)));
        assert!(matches!(fed(b"PROXY TCP4 nonsense\r\n", 1), Header::Bad(_)));
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; MAX_HEADER]].concat();
        assert!(matches!(fed(&endless, 512), Header::Bad(_)));
        let mut endless = v2("192.0.2.7:1", v2::Command::Proxy);
        // A v2 header says its length: this one says 65,535.
        endless[14..16].copy_from_slice(&[0xff, 0xff]);
        endless.resize(MAX_HEADER + 1, 0);
        assert!(matches!(fed(&endless, 512), Header::Bad(_)));
    }
}
