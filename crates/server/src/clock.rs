//! Cheap elapsed-time measurement for per-command statistics.
//!
//! `INFO commandstats` needs every command's duration. Reading the clock through the vDSO
//! twice per command cost over 5% of a pipelined benchmark, so on x86-64 durations are
//! measured with the CPU's time-stamp counter, calibrated once against the monotonic clock
//! at start-up. Elsewhere it falls back to `Instant`. Only statistics use this: expiry and
//! timeouts use wall-clock milliseconds.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Time-stamp counter ticks per microsecond, measured once.
fn ticks_per_us() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        let (t0, c0) = (Instant::now(), ticks());
        while t0.elapsed() < Duration::from_millis(2) {}
        let us = t0.elapsed().as_secs_f64() * 1e6;
        let n = ticks().wrapping_sub(c0) as f64;
        if us > 0.0 && n > 0.0 {
            n / us
        } else {
            1.0
        }
    })
}

/// Calibrates the counter (call once at start-up so no command pays for it).
pub fn calibrate() {
    ticks_per_us();
}

/// A point in time for measuring a duration.
#[derive(Clone, Copy, Debug)]
pub struct Stamp(u64);

impl Stamp {
    /// Now.
    pub fn now() -> Stamp {
        Stamp(ticks())
    }

    /// Microseconds since this stamp.
    pub fn elapsed_us(self) -> u64 {
        (ticks().wrapping_sub(self.0) as f64 / ticks_per_us()) as u64
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn ticks() -> u64 {
    // SAFETY: RDTSC reads a counter register; it touches no memory and exists on every
    // x86-64 processor.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn ticks() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_sleep() {
        calibrate();
        let s = Stamp::now();
        std::thread::sleep(Duration::from_millis(20));
        let us = s.elapsed_us();
        assert!((15_000..200_000).contains(&us), "{us}");
    }
}
