//! The units the reports print figures in.

/// Bytes in a MiB.
pub const MIB: f64 = (1u64 << 20) as f64;

/// Bytes in MiB (2²⁰ bytes), for a memory figure.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}
