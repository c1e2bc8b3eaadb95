//! Standard base64 (with `=` padding) for slice bodies: AVX-512 VBMI for
//! the bulk of a body where the CPU has it, `base64_simd::STANDARD` for
//! the rest and on every other CPU.
//!
//! The results are those of `base64_simd::STANDARD`, byte for byte and
//! error for error: the fast path only ever takes whole blocks that hold
//! nothing but alphabet characters (48 bytes to 64 characters, or 64
//! characters to 48 bytes), a prefix whose base64 is the same whether it
//! is coded alone or with what follows. Padding, the tail and every error
//! are base64-simd's own.

use std::mem::MaybeUninit;

use base64_simd::{Error, STANDARD as BASE64};

/// How many characters `len` bytes encode to, padding included.
const fn encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// Encodes `input` into the start of `out`; returns how many characters
/// that took ([`encoded_len`] of the input).
///
/// # Panics
///
/// If `out` is shorter than that, as `base64_simd` does.
pub(crate) fn encode(input: &[u8], out: &mut [u8]) -> usize {
    encode_with(input, out, true)
}

/// Appends the base64 of `input` to `out`.
pub(crate) fn encode_append(input: &[u8], out: &mut Vec<u8>) {
    encode_append_with(input, out, true);
}

/// Decodes `input`, appending the bytes to `out`; on an error `out` is as
/// it was.
pub(crate) fn decode_append(input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    decode_append_with(input, out, true)
}

/// Whether this CPU runs the AVX-512 VBMI path. `std` caches the answer,
/// so asking once per call costs a load; the `_with` functions below ask
/// only where they would take it (`fast` on).
#[cfg(any(target_arch = "x86_64", test))]
fn fast_path() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vbmi")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`encode_append`], with `fast` off to keep base64-simd for all of it.
fn encode_append_with(input: &[u8], out: &mut Vec<u8>, fast: bool) {
    let start = out.len();
    let len = encoded_len(input.len());
    out.reserve(len);
    let written = encode_into(input, &mut out.spare_capacity_mut()[..len], fast);
    // SAFETY: `encode_into` initialised the `written` (= `len`) bytes past
    // `start`, which `reserve` made room for.
    unsafe { out.set_len(start + written) };
}

/// [`encode`], with `fast` off to keep base64-simd for all of it.
fn encode_with(input: &[u8], out: &mut [u8], fast: bool) -> usize {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and `encode_into`
    // only writes initialised bytes through it, so `out` stays initialised.
    let out = unsafe { &mut *(std::ptr::from_mut(out) as *mut [MaybeUninit<u8>]) };
    encode_into(input, out, fast)
}

/// [`encode`] into bytes that may be uninitialised; with `fast` on, the
/// bulk goes the AVX-512 way where the CPU has it.
fn encode_into(input: &[u8], out: &mut [MaybeUninit<u8>], fast: bool) -> usize {
    assert!(
        out.len() >= encoded_len(input.len()),
        "no room for the base64 of the input"
    );
    let taken = if fast { encode_bulk(input, out) } else { 0 };
    // A multiple of 3 bytes encodes to whole groups with no padding, so the
    // rest continues the same string.
    let rest = base64_simd::Out::from_uninit_slice(&mut out[taken / 3 * 4..]);
    taken / 3 * 4 + BASE64.encode(&input[taken..], rest).len()
}

/// [`decode_append`], with `fast` off to keep base64-simd for all of it.
fn decode_append_with(input: &[u8], out: &mut Vec<u8>, fast: bool) -> Result<(), Error> {
    let start = out.len();
    // As much as the whole input can decode to, so base64-simd needs no
    // second allocation for the tail.
    out.reserve(input.len() / 4 * 3);
    let taken = if fast {
        let taken = decode_bulk(input, out.spare_capacity_mut());
        // SAFETY: `decode_bulk` initialised 3 bytes past `start` for every
        // 4 characters it took.
        unsafe { out.set_len(start + taken / 4 * 3) };
        taken
    } else {
        0
    };
    BASE64
        .decode_append(&input[taken..], out)
        .inspect_err(|_| out.truncate(start))
}

/// Encodes the whole 48-byte blocks of `input` that fit in `out`; returns
/// how many bytes it took (written: 4 characters for each 3).
fn encode_bulk(input: &[u8], out: &mut [MaybeUninit<u8>]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if fast_path() {
        // SAFETY: the CPU has the features `avx512::encode` is compiled for.
        return unsafe { avx512::encode(input, out) };
    }
    let _ = (input, out);
    0
}

/// Decodes the whole 64-character blocks of `input` up to the first that
/// holds anything but alphabet characters (`=` included), as far as `out`
/// has room; returns how many characters it took (written: 3 bytes for
/// each 4).
fn decode_bulk(input: &[u8], out: &mut [MaybeUninit<u8>]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if fast_path() {
        // SAFETY: the CPU has the features `avx512::decode` is compiled for.
        return unsafe { avx512::decode(input, out) };
    }
    let _ = (input, out);
    0
}

/// The standard alphabet, for the tables of the AVX-512 path (base64-simd
/// keeps its own).
#[cfg(any(target_arch = "x86_64", test))]
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The algorithms of Muła and Lemire, "Base64 encoding and decoding at
/// almost the speed of a memory copy" (2019), one 64-byte register per
/// block.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_madd_epi16, _mm512_maddubs_epi16,
        _mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8, _mm512_movepi8_mask,
        _mm512_multishift_epi64_epi8, _mm512_or_si512, _mm512_permutex2var_epi8,
        _mm512_permutexvar_epi8, _mm512_set1_epi32, _mm512_set1_epi64, _mm512_storeu_si512,
    };
    use std::mem::MaybeUninit;

    use super::ALPHABET;

    /// The low 48 lanes of a byte mask: a block of bytes to encode, or of
    /// decoded bytes.
    const BYTES: u64 = (1 << 48) - 1;

    /// For encoding: lane `4i..4i + 4` gets bytes `3i + 1, 3i, 3i + 2,
    /// 3i + 1` of the block, so that each 6-bit field of the group lies in
    /// one 32-bit lane, read little-endian, at the offsets [`FIELDS`] picks.
    const SPREAD: [u8; 64] = {
        let mut table = [0; 64];
        let mut group = 0;
        while group < 16 {
            let from = 3 * group as u8;
            table[4 * group] = from + 1;
            table[4 * group + 1] = from;
            table[4 * group + 2] = from + 2;
            table[4 * group + 3] = from + 1;
            group += 1;
        }
        table
    };

    /// The bit offsets, within each 64-bit lane (two spread groups), of the
    /// four 6-bit fields of each group in the order they are written:
    /// group bytes `b0 b1 b2` sit as `b1 | b0 << 8 | b2 << 16 | b1 << 24`,
    /// so `b0 >> 2` starts at bit 10, `b0 << 4 | b1 >> 4` at 4, `b1 << 2 |
    /// b2 >> 6` at 22 and `b2 & 63` at 16.
    const FIELDS: [u8; 8] = [10, 4, 22, 16, 42, 36, 54, 48];

    /// For decoding: the 6-bit value of each of the 64 ASCII characters
    /// from `first`, and a value with the high bit set for every one
    /// outside the alphabet.
    const fn values(first: u8) -> [u8; 64] {
        let mut table = [0x80; 64];
        let mut value = 0;
        while value < 64 {
            let char = ALPHABET[value];
            if char >= first && char - first < 64 {
                table[(char - first) as usize] = value as u8;
            }
            value += 1;
        }
        table
    }

    /// For decoding: once packed, group `i`'s 24 bits sit in 32-bit lane
    /// `i` little-endian, first byte highest; bytes `4i + 2, 4i + 1, 4i`
    /// are the group's in order. The last 16 lanes are not stored.
    const COMPACT: [u8; 64] = {
        let mut table = [0; 64];
        let mut group = 0;
        while group < 16 {
            table[3 * group] = 4 * group as u8 + 2;
            table[3 * group + 1] = 4 * group as u8 + 1;
            table[3 * group + 2] = 4 * group as u8;
            group += 1;
        }
        table
    };

    /// A 64-byte table as a register.
    #[target_feature(enable = "avx512f")]
    fn load(table: &[u8; 64]) -> __m512i {
        // SAFETY: `table` is 64 bytes, all that an unaligned 64-byte load
        // reads.
        unsafe { _mm512_loadu_si512(table.as_ptr().cast()) }
    }

    /// Encodes the whole 48-byte blocks of `input` that fit, 64 characters
    /// each, in `out`; returns how many bytes it took.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) fn encode(input: &[u8], out: &mut [MaybeUninit<u8>]) -> usize {
        let spread = load(&SPREAD);
        let fields = _mm512_set1_epi64(i64::from_le_bytes(FIELDS));
        let alphabet = load(ALPHABET);
        let mut blocks = 0;
        for (bytes, chars) in input.chunks_exact(48).zip(out.chunks_exact_mut(64)) {
            // SAFETY: the mask selects the first 48 bytes, which `bytes`
            // holds; a masked load does not touch the lanes it leaves out.
            let bytes = unsafe { _mm512_maskz_loadu_epi8(BYTES, bytes.as_ptr().cast()) };
            let spread = _mm512_permutexvar_epi8(spread, bytes);
            // Each lane gets 8 bits from its offset; the alphabet lookup
            // reads only the low 6.
            let values = _mm512_multishift_epi64_epi8(fields, spread);
            let ascii = _mm512_permutexvar_epi8(values, alphabet);
            // SAFETY: `chars` is 64 bytes, all that an unaligned 64-byte
            // store writes.
            unsafe { _mm512_storeu_si512(chars.as_mut_ptr().cast(), ascii) };
            blocks += 1;
        }
        blocks * 48
    }

    /// Decodes the whole 64-character blocks of `input`, up to the first
    /// that holds a character outside the alphabet, 48 bytes each into
    /// `out` as far as it has room; returns how many characters it took.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) fn decode(input: &[u8], out: &mut [MaybeUninit<u8>]) -> usize {
        let low = load(&const { values(0) });
        let high = load(&const { values(64) });
        // Pairs of values into 12 bits (first times 64 plus second), then
        // pairs of those into 24 (first times 4096 plus second).
        let pairs = _mm512_set1_epi32(0x0140_0140);
        let quads = _mm512_set1_epi32(0x0001_1000);
        let compact = load(&COMPACT);
        let mut blocks = 0;
        for (chars, bytes) in input.chunks_exact(64).zip(out.chunks_exact_mut(48)) {
            // SAFETY: `chars` is 64 bytes, all that an unaligned 64-byte
            // load reads.
            let chars = unsafe { _mm512_loadu_si512(chars.as_ptr().cast()) };
            // The lookup reads 7 bits of each character: a byte of 0x80 and
            // up keeps its own high bit in the `or`.
            let values = _mm512_permutex2var_epi8(low, chars, high);
            if _mm512_movepi8_mask(_mm512_or_si512(values, chars)) != 0 {
                break;
            }
            let packed = _mm512_madd_epi16(_mm512_maddubs_epi16(values, pairs), quads);
            let decoded = _mm512_permutexvar_epi8(compact, packed);
            // SAFETY: the mask selects the first 48 lanes, and `bytes` is
            // 48 bytes; a masked store does not touch the others.
            unsafe { _mm512_mask_storeu_epi8(bytes.as_mut_ptr().cast(), BYTES, decoded) };
            blocks += 1;
        }
        blocks * 64
    }
}

#[cfg(test)]
mod tests;
