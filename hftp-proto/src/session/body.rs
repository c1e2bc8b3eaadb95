//! A slice body the driver sends itself, straight from the file, with no
//! buffer of the session's: where it stands on the wire, which file bytes
//! come next, and how those become wire bytes in the driver's buffer.

use crate::{SliceEncoder, base64};

/// A slice body in flight, by the body bytes the peer has taken so far.
///
/// Everything follows from that count: the next file bytes to read (a
/// base64 body restarts at the group its last sent character belongs to,
/// so a socket that takes a group in part leaves nothing to keep), and how
/// much of a base64 body's final CRLF is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StreamedBody {
    /// Where the slice starts in the file.
    offset: u64,
    /// The slice's size, in file bytes.
    size: u64,
    /// The body is the file's bytes as they are, not base64.
    raw: bool,
    /// Body bytes sent.
    sent: u64,
}

impl StreamedBody {
    pub(super) fn new(offset: u64, size: u64, raw: bool) -> StreamedBody {
        StreamedBody {
            offset,
            size,
            raw,
            sent: 0,
        }
    }

    /// The body's length on the wire.
    fn wire_len(&self) -> u64 {
        if self.raw {
            self.size
        } else {
            SliceEncoder::encoded_len(self.size)
        }
    }

    /// The part of the body made from the file: all of it, but a base64
    /// body's final CRLF.
    fn file_part_len(&self) -> u64 {
        if self.raw {
            self.size
        } else {
            self.size.div_ceil(3) * 4
        }
    }

    /// Where in the file the next chunk starts, and how many file bytes of
    /// the slice are left from there; `None` once only a base64 body's CRLF
    /// (or nothing) is left.
    pub(super) fn next_read(&self) -> Option<(u64, u64)> {
        if self.sent >= self.file_part_len() {
            return None;
        }
        let from = if self.raw {
            self.sent
        } else {
            self.sent / 4 * 3
        };
        Some((self.offset + from, self.size - from))
    }

    /// File bytes that make at most `wire` wire bytes (one base64 group
    /// at least).
    pub(super) fn read_len(&self, wire: usize) -> usize {
        if self.raw {
            wire
        } else {
            (wire / 4).max(1) * 3
        }
    }

    /// The wire bytes that `read` — the file's bytes from where
    /// [`next_read`](Self::next_read) says — make next: `read` itself for a
    /// raw body; for base64, as many whole groups as fit in `out` (the last,
    /// padded group and the CRLF once `read` reaches the slice's end),
    /// without the characters of the first group already sent. Empty when
    /// `read` is too short to make a byte (the file ended).
    pub(super) fn chunk<'a>(&self, read: &'a [u8], out: &'a mut [u8]) -> &'a [u8] {
        let Some((_, left)) = self.next_read() else {
            return &[];
        };
        let read = &read[..read.len().min(usize::try_from(left).unwrap_or(usize::MAX))];
        if self.raw {
            return read;
        }
        // The slice's end, and room for the whole of it and the CRLF.
        let last = read.len() as u64 == left && read.len().div_ceil(3) * 4 + 2 <= out.len();
        let whole = if last {
            read.len()
        } else {
            (read.len() / 3).min(out.len() / 4) * 3
        };
        let mut len = base64::encode(&read[..whole], out);
        if last {
            out[len..len + 2].copy_from_slice(b"\r\n");
            len += 2;
        }
        let skip = usize::try_from(self.sent % 4).unwrap_or(0);
        out.get(skip..len).unwrap_or_default()
    }

    /// The peer took `sent` more bytes of the body.
    pub(super) fn advance(&mut self, sent: u64) {
        self.sent = self.sent.saturating_add(sent).min(self.wire_len());
    }

    /// What is left of the body that needs no file: the rest of a base64
    /// body's CRLF, once every group is sent.
    pub(super) fn tail(&self) -> &'static [u8] {
        let crlf: &'static [u8] = b"\r\n";
        match self.sent.checked_sub(self.file_part_len()) {
            Some(into) if !self.raw => crlf.get(into as usize..).unwrap_or_default(),
            _ => &[],
        }
    }

    /// Body bytes not sent yet.
    pub(super) fn unsent(&self) -> u64 {
        self.wire_len() - self.sent
    }

    /// File bytes of the slice that will not be sent if the body stops now.
    pub(super) fn missing(&self) -> u64 {
        self.next_read().map_or(0, |(_, left)| left)
    }
}

#[cfg(test)]
mod tests {
    use base64_simd::STANDARD as BASE64;

    use super::*;

    /// The body a client gets when the socket takes `takes` bytes of each
    /// chunk (at least one), from a file of `file`, through an `out` of
    /// `room` bytes and reads of at most `read_len`.
    fn stream(
        file: &[u8],
        offset: u64,
        size: u64,
        raw: bool,
        room: usize,
        read_len: usize,
        takes: usize,
    ) -> Vec<u8> {
        let mut body = StreamedBody::new(offset, size, raw);
        let mut wire = Vec::new();
        let mut out = vec![0; room];
        while let Some((from, _)) = body.next_read() {
            let from = from as usize;
            let read = &file[from..file.len().min(from + read_len)];
            let chunk = body.chunk(read, &mut out);
            assert!(!chunk.is_empty(), "the file has the slice's bytes");
            let taken = chunk.len().min(takes);
            wire.extend_from_slice(&chunk[..taken]);
            body.advance(taken as u64);
        }
        wire.extend_from_slice(body.tail());
        body.advance(body.tail().len() as u64);
        assert_eq!(body.unsent(), 0);
        wire
    }

    #[test]
    fn any_socket_and_buffer_sizes_give_the_whole_body() {
        let file: Vec<u8> = (0..200u8).map(|b| b.wrapping_mul(37)).collect();
        for (offset, size) in [
            (0, 1),
            (0, 2),
            (0, 3),
            (0, 48),
            (5, 100),
            (7, 193),
            (0, 200),
        ] {
            let slice = &file[offset as usize..(offset + size) as usize];
            let mut base64 = BASE64.encode_to_string(slice).into_bytes();
            base64.extend_from_slice(b"\r\n");
            for room in [6, 7, 8, 64, 300] {
                for read_len in [1, 3, 4, 10, 200] {
                    for takes in [1, 2, 3, 5, 1000] {
                        assert_eq!(
                            stream(&file, offset, size, false, room, read_len.max(3), takes),
                            base64,
                            "offset {offset} size {size} room {room} read {read_len} takes {takes}"
                        );
                        assert_eq!(
                            stream(&file, offset, size, true, room, read_len, takes),
                            slice
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_file_that_ends_early_makes_an_empty_chunk() {
        let body = StreamedBody::new(0, 10, false);
        let mut out = [0; 64];
        assert_eq!(body.chunk(b"ab", &mut out), b"");
        assert_eq!(body.chunk(b"abc", &mut out), b"YWJj");
        assert_eq!(StreamedBody::new(0, 10, true).chunk(b"", &mut out), b"");
        assert_eq!(body.missing(), 10);
    }

    #[test]
    fn a_group_taken_in_part_is_read_again_and_skipped() {
        let mut body = StreamedBody::new(10, 6, false);
        let mut out = [0; 64];
        assert_eq!(body.chunk(b"abcdef", &mut out), b"YWJjZGVm\r\n");
        body.advance(5);
        assert_eq!(body.next_read(), Some((13, 3)));
        assert_eq!(body.chunk(b"def", &mut out), b"GVm\r\n");
        body.advance(4);
        assert_eq!(body.next_read(), None);
        assert_eq!(body.tail(), b"\n");
        assert_eq!(body.unsent(), 1);
        assert_eq!(body.missing(), 0);
    }
}
