//! Helpers of the hostile-client tests that are independent of the code
//! under test: base64 written from RFC 4648 rather than taken from
//! `hftp_proto`, so a bug there cannot hide the same bug in the server.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let bits = group
            .iter()
            .enumerate()
            .fold(0u32, |bits, (i, &b)| bits | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(bits >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// Decodes the whole quads at the start of `text` that hold no padding:
/// the bytes a client can trust of a slice body that was cut short.
/// Panics on a character outside the alphabet (the body is never garbage,
/// even when short).
pub fn base64_prefix(text: &[u8]) -> Vec<u8> {
    let mut values = [u8::MAX; 256];
    for (value, &c) in (0..).zip(ALPHABET) {
        values[usize::from(c)] = value;
    }
    let value = |c: u8| match values[usize::from(c)] {
        u8::MAX => panic!("{:?} is not base64", char::from(c)),
        value => u32::from(value),
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for quad in text.chunks_exact(4) {
        if quad.contains(&b'=') {
            break;
        }
        let bits = quad.iter().fold(0, |bits, &c| bits << 6 | value(c));
        out.extend_from_slice(&bits.to_be_bytes()[1..]);
    }
    out
}

#[test]
fn base64_of_rfc_4648_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded.as_bytes(), "{plain}");
        let whole = plain.len() / 3 * 3;
        assert_eq!(
            base64_prefix(encoded.as_bytes()),
            &plain.as_bytes()[..whole]
        );
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(base64_prefix(&base64(&all)), &all[..255]);
}
