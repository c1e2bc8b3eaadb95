//! Reproducible pseudo-random data: what test files are made of, and the
//! soak's random choices.

/// Seeds are spread by this odd constant (2⁶⁴ / φ), so that seeds 1, 2, 3…
/// start far apart.
const SEED_SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

/// A xorshift64 generator (13, 7, 17): reproducible, fast, no
/// dependency; not for anything that must be unpredictable.
///
/// ```
/// use hftp_test_support::{Xorshift, noise};
///
/// let mut rng = Xorshift::new(7);
/// assert!(rng.upto(9) <= 9);
/// assert_eq!(noise(3, 10), Xorshift::new(3).bytes(10));
/// // A longer run of the same seed starts with the shorter one.
/// assert_eq!(noise(3, 100)[..10], noise(3, 10));
/// ```
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// The generator for `seed`; every seed, 0 included, gives a sequence
    /// of its own.
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed.wrapping_mul(SEED_SPREAD) | 1)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..=max`.
    pub fn upto(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(bound) => self.next_u64() % bound,
            None => self.next_u64(),
        }
    }

    /// An index into a slice of `len` items (`len` > 0).
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.upto(len.saturating_sub(1) as u64)).unwrap_or(0)
    }

    /// The next `len` bytes: each number's eight bytes, little-endian.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(len + 8);
        while bytes.len() < len {
            bytes.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        bytes.truncate(len);
        bytes
    }
}

/// `len` bytes of the sequence of `seed`: incompressible-looking content
/// that no two seeds share by accident, and whose prefix is the content of
/// a shorter call with the same seed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    Xorshift::new(seed).bytes(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes the suites' files were made of before this crate, by
    /// the same generator: a test that recorded a figure of its data
    /// would still hold.
    #[test]
    fn the_sequence_is_the_one_the_suites_always_used() {
        assert_eq!(
            noise(5, 16),
            [
                0xf1, 0xbe, 0xf8, 0xaf, 0x3a, 0x26, 0x6f, 0xbe, 0xcc, 0xd3, 0xce, 0x94, 0x8f, 0x45,
                0x59, 0x1c
            ]
        );
        assert_ne!(noise(5, 16), noise(6, 16));
    }

    #[test]
    fn upto_and_index_stay_in_range() {
        let mut rng = Xorshift::new(1);
        for max in [0, 1, 2, 63, u64::MAX] {
            assert!((0..100).all(|_| rng.upto(max) <= max));
        }
        assert!((0..100).all(|_| rng.index(3) < 3));
        assert_eq!(rng.index(1), 0);
    }
}
