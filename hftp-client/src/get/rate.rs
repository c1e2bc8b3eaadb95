//! `--limit-rate`: a token bucket over the bytes received, shared by
//! every connection of a download, so that `-j N` keeps to the total.
//!
//! The bucket itself reads no clock (the time is passed in), so its
//! arithmetic is tested with simulated time; [`Limiter`] is the thin
//! part that reads the clock and waits. Pacing the reads of the data
//! pacing the server too: what the client does not read fills the
//! socket's buffers, and TCP stops the sender.

use std::io::{self, Write};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::interrupt;

/// The bytes a bucket saves up while the data is slower than the limit,
/// in seconds' worth of the rate: a tenth of a second, so a stall is not
/// followed by a burst far above the limit.
const BURST_SECONDS: f64 = 0.1;

/// The most bytes passed on before the next wait: the waits stay short
/// (a tenth of a second's worth of bytes at most), so the rate is even
/// and Ctrl-C is never kept waiting.
const MAX_WRITE: usize = 64 * 1024;

/// A rate in bytes per second, as `--limit-rate` takes it: a number,
/// perhaps with a fraction, and a suffix K, M, G or T (powers of 1024,
/// as curl and wget count them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u64);

/// `--limit-rate`'s value parser.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let invalid = || {
        format!(
            "{text:?} is not a rate: expected bytes per second, such as 500K, 2M or 1G \
             (K, M, G are 1024, 1024², 1024³)"
        )
    };
    let (number, unit) = match text.char_indices().last() {
        Some((at, suffix)) if suffix.is_ascii_alphabetic() => (&text[..at], suffix),
        _ => (text, ' '),
    };
    let multiplier: f64 = match unit.to_ascii_uppercase() {
        ' ' => 1.0,
        'K' => 1024.0,
        'M' => 1024.0 * 1024.0,
        'G' => 1024.0 * 1024.0 * 1024.0,
        'T' => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(invalid()),
    };
    // Digits and one point only: no sign, exponent, `inf` or `nan`.
    let well_formed = !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.chars().filter(|&c| c == '.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    let value = match number.parse::<f64>() {
        Ok(value) if well_formed => value * multiplier,
        _ => return Err(invalid()),
    };
    if value < 1.0 {
        return Err(format!(
            "{text:?} is below 1 byte per second: give a rate such as 500K, 2M or 1G"
        ));
    }
    Ok(Rate(value.min(u64::MAX as f64) as u64))
}

/// Bytes allowed at `rate` per second, with [`BURST_SECONDS`] of them
/// saved up at most. Taking more than the bucket holds runs it into
/// debt: the wait [`take`](TokenBucket::take) returns is how long the
/// rate takes to pay it.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    /// Negative while in debt.
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// Empty at `now`: the first bytes already wait for the rate.
    pub fn new(rate: Rate, now: Instant) -> TokenBucket {
        let rate = rate.0.max(1) as f64;
        TokenBucket {
            rate,
            capacity: rate * BURST_SECONDS,
            tokens: 0.0,
            updated: now,
        }
    }

    /// Takes `len` bytes at `now`; returns how long to wait before
    /// taking more, so that the bytes taken keep to the rate.
    pub fn take(&mut self, len: usize, now: Instant) -> Duration {
        // Several threads share the bucket: a `now` read before another
        // thread's later one adds nothing.
        let elapsed = now.saturating_duration_since(self.updated);
        self.updated = self.updated.max(now);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
        self.tokens -= len as f64;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-self.tokens / self.rate)
    }

    /// The most bytes to take at once: a tenth of a second's worth, so
    /// that waits stay short, within `1..=MAX_WRITE`.
    pub fn chunk(&self) -> usize {
        ((self.rate * BURST_SECONDS) as usize).clamp(1, MAX_WRITE)
    }
}

/// A [`TokenBucket`] on the real clock, shared by the threads of a
/// download.
#[derive(Debug)]
pub struct Limiter {
    bucket: Mutex<TokenBucket>,
}

impl Limiter {
    pub fn new(rate: Rate) -> Limiter {
        Limiter {
            bucket: Mutex::new(TokenBucket::new(rate, Instant::now())),
        }
    }

    /// Waits until `len` more bytes keep to the rate; fails if Ctrl-C
    /// cuts the wait short.
    fn pace(&self, len: usize) -> io::Result<()> {
        let wait = self
            .bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(len, Instant::now());
        if !wait.is_zero() && interrupt::wait(wait) {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        Ok(())
    }

    fn chunk(&self) -> usize {
        self.bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .chunk()
    }
}

/// Passes bytes on to `inner` no faster than `limiter` allows (all of
/// them, without one).
pub struct Paced<'a, W> {
    pub inner: W,
    pub limiter: Option<&'a Limiter>,
}

impl<W: Write> Write for Paced<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(limiter) = self.limiter else {
            return self.inner.write(data);
        };
        let len = data.len().min(limiter.chunk());
        let written = self.inner.write(&data[..len])?;
        limiter.pace(written)?;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;

    #[test]
    fn rates_as_curl_writes_them() {
        for (text, bytes) in [
            ("500", 500),
            ("100K", 100 * KIB),
            ("100k", 100 * KIB),
            ("2M", 2 * KIB * KIB),
            ("1.5M", 3 * KIB * KIB / 2),
            ("1G", KIB * KIB * KIB),
            ("1g", KIB * KIB * KIB),
            ("0.5K", 512),
            ("2T", 2 * KIB * KIB * KIB * KIB),
        ] {
            assert_eq!(parse_rate(text), Ok(Rate(bytes)), "{text}");
        }
        for bad in [
            "", "K", "0", "0K", "0.1", "-1", "+1", "1X", "1KB", "1e3", "1.5.5", ".", "inf", "nan",
            " 1", "1 ", "१",
        ] {
            let error = parse_rate(bad).expect_err(bad);
            assert!(error.contains("such as 500K, 2M or 1G"), "{bad:?}: {error}");
        }
    }

    /// Feeds `total` bytes in chunks as fast as the bucket allows, on a
    /// simulated clock; returns the time it took.
    fn drain(bucket: &mut TokenBucket, start: Instant, total: usize) -> Duration {
        let mut now = start;
        let mut left = total;
        while left > 0 {
            let len = left.min(bucket.chunk());
            now += bucket.take(len, now);
            left -= len;
        }
        now - start
    }

    #[test]
    fn a_transfer_as_fast_as_allowed_keeps_to_the_rate() {
        let start = Instant::now();
        for rate in [1, 1000, 100 * KIB, 2 * KIB * KIB, KIB * KIB * KIB] {
            let mut bucket = TokenBucket::new(Rate(rate), start);
            let total = usize::try_from(rate * 3).expect("small enough");
            let took = drain(&mut bucket, start, total).as_secs_f64();
            // An empty bucket lets nothing through early: exactly the
            // rate, give or take float rounding.
            assert!((took - 3.0).abs() < 1e-6, "{rate} B/s: {took} s");
        }
    }

    #[test]
    fn a_pause_saves_up_a_tenth_of_a_second_at_most() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(Rate(1000), start);
        // Idle for an hour: a hundred bytes pass at once, no more.
        let later = start + Duration::from_secs(3600);
        assert_eq!(bucket.take(100, later), Duration::ZERO);
        let wait = bucket.take(50, later);
        assert!((wait.as_secs_f64() - 0.05).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn threads_share_the_rate() {
        // Two connections taking at the same moments: the second waits
        // for the first's bytes too, so the total keeps to the rate.
        let start = Instant::now();
        let mut bucket = TokenBucket::new(Rate(1000), start);
        let first = bucket.take(100, start);
        let second = bucket.take(100, start);
        assert!((first.as_secs_f64() - 0.1).abs() < 1e-9, "{first:?}");
        assert!((second.as_secs_f64() - 0.2).abs() < 1e-9, "{second:?}");
        // A clock read before the other thread's later one gives nothing
        // back.
        let earlier = bucket.take(0, start);
        assert!((earlier.as_secs_f64() - 0.2).abs() < 1e-9, "{earlier:?}");
    }

    #[test]
    fn writes_are_cut_to_a_tenth_of_a_second() {
        let start = Instant::now();
        assert_eq!(TokenBucket::new(Rate(1), start).chunk(), 1);
        assert_eq!(TokenBucket::new(Rate(10_000), start).chunk(), 1000);
        assert_eq!(
            TokenBucket::new(Rate(KIB * KIB * KIB), start).chunk(),
            MAX_WRITE
        );
    }

    #[test]
    fn paced_writes_pass_every_byte_in_order() {
        let data: Vec<u8> = (0..=255).cycle().take(300_000).collect();
        let limiter = Limiter::new(Rate(1 << 40));
        let mut out = Paced {
            inner: Vec::new(),
            limiter: Some(&limiter),
        };
        out.write_all(&data).expect("written");
        assert!(out.inner == data);
    }
}
