//! The server's side of replies: encoders that append whole replies to a
//! caller-owned buffer, so a batch of pipelined replies goes out in one
//! write.

use crate::{FileName, Status, base64};

/// Appends a reply that is only a status line, e.g. `202 FILE NOT FOUND\r\n`
/// (also the `0 OK\r\n` that answers `quit`).
pub fn encode_status(status: Status, out: &mut Vec<u8>) {
    out.extend_from_slice(status.line().as_bytes());
}

/// Appends the whole `get_file_listing` reply: `0 OK`, one line per name in
/// byte-wise order (the slice is sorted in place), then an empty line.
///
/// ```
/// use hftp_proto::{encode_listing, FileName};
///
/// let mut names = [FileName::new("b.jpg")?, FileName::new("a.txt")?];
/// let mut out = Vec::new();
/// encode_listing(&mut names, &mut out);
/// assert_eq!(out, b"0 OK\r\na.txt\r\nb.jpg\r\n\r\n");
/// # Ok::<(), hftp_proto::FileNameError>(())
/// ```
pub fn encode_listing(names: &mut [FileName], out: &mut Vec<u8>) {
    names.sort_unstable();
    encode_status(Status::Ok, out);
    for name in names.iter() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the whole `get_metadata` reply: `0 OK` and the size.
///
/// ```
/// let mut out = Vec::new();
/// hftp_proto::encode_metadata(3199, &mut out);
/// assert_eq!(out, b"0 OK\r\n3199\r\n");
/// ```
pub fn encode_metadata(size: u64, out: &mut Vec<u8>) {
    encode_status(Status::Ok, out);
    push_decimal(size, out);
    out.extend_from_slice(b"\r\n");
}

/// The commands a 2026 server knows, in the order `help` lists them.
pub const COMMANDS: [&str; 5] = [
    "get_file_listing",
    "get_metadata",
    "get_slice",
    "help",
    "quit",
];

/// Appends the whole `help` reply: `0 OK`, the command names one per line
/// ([`COMMANDS`]), then an empty line.
///
/// ```
/// let mut out = Vec::new();
/// hftp_proto::encode_help(&mut out);
/// assert_eq!(out, b"0 OK\r\nget_file_listing\r\nget_metadata\r\nget_slice\r\nhelp\r\nquit\r\n\r\n");
/// ```
pub fn encode_help(out: &mut Vec<u8>) {
    encode_status(Status::Ok, out);
    for command in COMMANDS {
        out.extend_from_slice(command.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the head of a raw `get_slice` reply: `0 OK`, the
/// `Content-Length` header and the empty line; the `size` bytes of the
/// file follow as they are, with nothing after them.
///
/// ```
/// let mut out = Vec::new();
/// hftp_proto::encode_raw_slice_head(20, &mut out);
/// assert_eq!(out, b"0 OK\r\nContent-Length: 20\r\n\r\n");
/// ```
pub fn encode_raw_slice_head(size: u64, out: &mut Vec<u8>) {
    encode_status(Status::Ok, out);
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(size, out);
    out.extend_from_slice(b"\r\n\r\n");
}

pub(crate) fn push_decimal(mut value: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Streams a `get_slice` reply: `0 OK`, then the file's bytes, fed in
/// chunks of any size, as one line of standard base64, then CRLF.
///
/// It keeps at most two bytes between chunks (base64 encodes whole groups
/// of three), so a slice of many gigabytes costs no more than a small one.
///
/// ```
/// use hftp_proto::SliceEncoder;
///
/// let file = b"!Que calor que hace hoy, pinta una birra!";
/// let mut out = Vec::new();
/// let mut encoder = SliceEncoder::new(20, &mut out);
/// for chunk in file[5..25].chunks(7) {
///     encoder.encode(chunk, &mut out);
/// }
/// encoder.finish(&mut out)?;
/// assert_eq!(out, b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n");
/// # Ok::<(), hftp_proto::IncompleteSlice>(())
/// ```
#[derive(Debug, Clone)]
pub struct SliceEncoder {
    remaining: u64,
    carry: [u8; 2],
    carry_len: usize,
}

/// The file gave fewer bytes than the slice promised (it shrank while being
/// sent). The `0 OK` cannot be taken back: the server must close the
/// connection without the final CRLF, so the client sees a short body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the slice is {missing} bytes short: the file shrank while it was sent")]
pub struct IncompleteSlice {
    /// How many promised bytes never came.
    pub missing: u64,
}

impl SliceEncoder {
    /// Starts the reply to a slice of `size` bytes, appending `0 OK\r\n`.
    pub fn new(size: u64, out: &mut Vec<u8>) -> SliceEncoder {
        encode_status(Status::Ok, out);
        SliceEncoder {
            remaining: size,
            carry: [0; 2],
            carry_len: 0,
        }
    }

    /// How many bytes of the slice are still to be fed.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// How many bytes the body of a slice of `size` bytes takes on the
    /// wire, CRLF included.
    pub const fn encoded_len(size: u64) -> u64 {
        size.div_ceil(3) * 4 + 2
    }

    /// Encodes the next `data` of the file, appending base64 to `out`.
    /// Returns how many bytes it took: all of them, except past the end of
    /// the slice.
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let taken = data
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        self.remaining -= taken as u64;
        let mut data = &data[..taken];
        if self.carry_len > 0 {
            let mut group = [0u8; 3];
            group[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
            let wanted = (3 - self.carry_len).min(data.len());
            group[self.carry_len..self.carry_len + wanted].copy_from_slice(&data[..wanted]);
            data = &data[wanted..];
            self.carry_len += wanted;
            if self.carry_len < 3 {
                self.carry[..self.carry_len].copy_from_slice(&group[..self.carry_len]);
                return taken;
            }
            base64::encode_append(&group, out);
            self.carry_len = 0;
        }
        let whole = data.len() - data.len() % 3;
        base64::encode_append(&data[..whole], out);
        let rest = &data[whole..];
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len = rest.len();
        taken
    }

    /// Ends the reply: the last, padded group and the CRLF. Fails, writing
    /// nothing, if fewer bytes were fed than the slice's size.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), IncompleteSlice> {
        if self.remaining > 0 {
            return Err(IncompleteSlice {
                missing: self.remaining,
            });
        }
        base64::encode_append(&self.carry[..self.carry_len], out);
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_replies() {
        for status in Status::ALL {
            let mut out = Vec::new();
            encode_status(status, &mut out);
            assert_eq!(
                out,
                format!("{} {}\r\n", status.code(), status.text()).as_bytes()
            );
        }
    }

    #[test]
    fn metadata_of_extreme_sizes() {
        for size in [0, 9, 10, 123_459, u64::MAX] {
            let mut out = Vec::new();
            encode_metadata(size, &mut out);
            assert_eq!(out, format!("0 OK\r\n{size}\r\n").as_bytes());
        }
    }

    #[test]
    fn empty_listing_is_an_empty_line() {
        let mut out = Vec::new();
        encode_listing(&mut [], &mut out);
        assert_eq!(out, b"0 OK\r\n\r\n");
    }

    #[test]
    fn listing_is_byte_wise_sorted() {
        let mut names: Vec<FileName> = ["b", "B", "a", "_", "-", "0", "a.b", "."]
            .iter()
            .map(|n| FileName::new(n).expect("valid name"))
            .collect();
        let mut out = Vec::new();
        encode_listing(&mut names, &mut out);
        assert_eq!(
            out,
            b"0 OK\r\n-\r\n.\r\n0\r\nB\r\n_\r\na\r\na.b\r\nb\r\n\r\n"
        );
    }

    #[test]
    fn slice_of_size_zero_is_an_empty_line() {
        let mut out = Vec::new();
        let encoder = SliceEncoder::new(0, &mut out);
        assert_eq!(encoder.finish(&mut out), Ok(()));
        assert_eq!(out, b"0 OK\r\n\r\n");
    }

    #[test]
    fn short_slice_is_refused_without_crlf() {
        let mut out = Vec::new();
        let mut encoder = SliceEncoder::new(10, &mut out);
        assert_eq!(encoder.encode(b"abcd", &mut out), 4);
        assert_eq!(
            encoder.finish(&mut out),
            Err(IncompleteSlice { missing: 6 })
        );
        assert_eq!(out, b"0 OK\r\nYWJj");
    }

    #[test]
    fn bytes_past_the_slice_are_not_taken() {
        let mut out = Vec::new();
        let mut encoder = SliceEncoder::new(2, &mut out);
        assert_eq!(encoder.encode(b"abcd", &mut out), 2);
        assert_eq!(encoder.encode(b"cd", &mut out), 0);
        assert_eq!(encoder.finish(&mut out), Ok(()));
        assert_eq!(out, b"0 OK\r\nYWI=\r\n");
    }

    #[test]
    fn encoded_len_matches_the_wire() {
        for size in 0..20u64 {
            let data = vec![7u8; size as usize];
            let mut out = Vec::new();
            let mut encoder = SliceEncoder::new(size, &mut out);
            encoder.encode(&data, &mut out);
            encoder.finish(&mut out).expect("whole slice");
            assert_eq!(out.len() as u64 - 6, SliceEncoder::encoded_len(size));
        }
    }
}
