use ::base64::Engine as _;
use ::base64::engine::general_purpose::STANDARD as REFERENCE;
use proptest::prelude::*;

use super::*;

/// Bytes that are not all alike, so a field in the wrong place shows.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The fast path on (where the CPU has it) and off.
const PATHS: [bool; 2] = [true, false];

/// Encodes with every entry point; checks they agree and returns the text.
fn encode_all_ways(input: &[u8], fast: bool) -> Vec<u8> {
    let mut appended = b"head".to_vec();
    encode_append_with(input, &mut appended, fast);
    assert_eq!(&appended[..4], b"head", "append keeps what was there");

    // Room to spare, which must stay as it was.
    let mut out = vec![b'#'; encoded_len(input.len()) + 5];
    let len = encode_with(input, &mut out, fast);
    assert_eq!(&out[len..], b"#####", "no write past the encoding");
    assert_eq!(out[..len], appended[4..]);
    out.truncate(len);
    out
}

/// Decodes after some bytes already in the output; `None` on an error.
fn decode_with(input: &[u8], fast: bool) -> Option<Vec<u8>> {
    let mut out = b"head".to_vec();
    let result = decode_append_with(input, &mut out, fast);
    assert_eq!(&out[..4], b"head", "append keeps what was there");
    match result {
        Ok(()) => Some(out.split_off(4)),
        Err(_) => {
            assert_eq!(out, b"head", "an error leaves the output as it was");
            None
        }
    }
}

#[test]
fn every_short_length_at_every_alignment_matches_the_reference() {
    let buffer = data(400 + 64);
    for fast in PATHS {
        for len in 0..=400 {
            for misalign in [0, 1, 3, 7, 31, 63] {
                let input = &buffer[misalign..misalign + len];
                let text = encode_all_ways(input, fast);
                assert_eq!(
                    text,
                    REFERENCE.encode(input).as_bytes(),
                    "len {len} at {misalign}"
                );

                let mut chars = vec![0; misalign];
                chars.extend_from_slice(&text);
                let decoded = decode_with(&chars[misalign..], fast);
                assert_eq!(decoded.as_deref(), Some(input), "len {len} at {misalign}");
            }
        }
    }
}

#[test]
fn big_bodies_match_the_reference() {
    let buffer = data((1 << 20) + 64);
    for fast in PATHS {
        for (len, misalign) in [(1 << 20, 0), ((1 << 20) - 1, 5), ((1 << 20) - 2, 33)] {
            let input = &buffer[misalign..misalign + len];
            let text = encode_all_ways(input, fast);
            assert!(text == REFERENCE.encode(input).as_bytes(), "len {len}");
            assert!(
                decode_with(&text, fast).as_deref() == Some(input),
                "len {len}"
            );
        }
    }
}

#[test]
fn the_fast_path_takes_every_whole_block_where_the_cpu_has_it() {
    let input = data(48 * 10 + 47);
    let mut chars = vec![MaybeUninit::uninit(); 64 * 11];
    let encoded = encode_bulk(&input, &mut chars);
    // Blocks only as far as the output has room.
    let short = encode_bulk(&input, &mut chars[..64 * 3 + 63]);

    let text = REFERENCE.encode(&input).into_bytes();
    let mut bytes = vec![MaybeUninit::uninit(); 48 * 10];
    let decoded = decode_bulk(&text, &mut bytes);
    let short_decoded = decode_bulk(&text, &mut bytes[..48 * 2 + 47]);
    if fast_path() {
        assert_eq!((encoded, short), (48 * 10, 48 * 3));
        assert_eq!((decoded, short_decoded), (64 * 10, 64 * 2));
    } else {
        assert_eq!((encoded, short, decoded, short_decoded), (0, 0, 0, 0));
    }
}

#[test]
fn the_fast_path_decodes_up_to_the_first_block_with_a_stranger() {
    let text = REFERENCE.encode(data(48 * 6)).into_bytes();
    for at in 0..text.len() {
        for stranger in [b'=', 0x80] {
            let mut chars = text.clone();
            chars[at] = stranger;
            let mut out = vec![MaybeUninit::uninit(); 48 * 6];
            let taken = decode_bulk(&chars, &mut out);
            assert_eq!(taken, if fast_path() { at / 64 * 64 } else { 0 });
        }
    }
}

#[test]
fn one_stranger_anywhere_is_refused_as_base64_simd_refuses_it() {
    let text = REFERENCE.encode(data(192)).into_bytes();
    assert_eq!(text.len(), 256);
    for stranger in [b'=', b'-', b'_', b'*', b' ', b'\r', b'\n', 0, 0x80, 0xFF] {
        for at in 0..text.len() {
            let mut chars = text.clone();
            chars[at] = stranger;
            let expected = BASE64.decode_to_vec(&chars).ok();
            for fast in PATHS {
                let got = decode_with(&chars, fast);
                assert_eq!(got, expected, "{stranger:#x} at {at}, fast {fast}");
            }
        }
    }
}

#[test]
fn every_character_outside_the_alphabet_is_refused_in_the_bulk() {
    let text = REFERENCE.encode(data(48 * 4)).into_bytes();
    for stranger in (0..=255u8).filter(|b| !ALPHABET.contains(b)) {
        let mut chars = text.clone();
        chars[70] = stranger;
        for fast in PATHS {
            assert_eq!(decode_with(&chars, fast), None, "{stranger:#x}");
        }
    }
}

/// Base64 characters with, now and then, one that is not.
fn chars() -> impl Strategy<Value = Vec<u8>> {
    let char = prop_oneof![
        40 => proptest::sample::select(&ALPHABET[..]),
        1 => proptest::sample::select(&b"=-_* \r\n\0\x80\xff"[..]),
    ];
    proptest::collection::vec(char, 0..600)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_encode_as_base64_simd_does(
        input in proptest::collection::vec(any::<u8>(), 0..1000),
        misalign in 0..64usize,
    ) {
        let mut buffer = vec![0; misalign];
        buffer.extend_from_slice(&input);
        let input = &buffer[misalign..];
        let expected = BASE64.encode_to_string(input).into_bytes();
        for fast in PATHS {
            let text = encode_all_ways(input, fast);
            prop_assert_eq!(&text, &expected);
            prop_assert_eq!(decode_with(&text, fast), Some(input.to_vec()));
        }
    }

    #[test]
    fn random_strings_decode_as_base64_simd_does(text in chars(), padded in any::<bool>()) {
        let mut text = text;
        if padded {
            // Whole groups of mostly valid base64, some with valid padding.
            text.truncate(text.len() / 4 * 4);
            if let Some(last) = text.last_mut() {
                *last = b'=';
            }
        }
        let expected = BASE64.decode_to_vec(&text).ok();
        for fast in PATHS {
            prop_assert_eq!(decode_with(&text, fast), expected.clone());
        }
    }
}
