//! Per-key access metadata: the 24 bits each [`Entry`](super::Entry) keeps in `lru`.
//!
//! The bits mean one of two things, chosen by `maxmemory-policy`, exactly as in Redis:
//! - under every policy but the LFU ones, the LRU clock (seconds, wrapped to 24 bits) of
//!   the last access, read back as `OBJECT IDLETIME` and by the LRU eviction policies;
//! - under `allkeys-lfu`/`volatile-lfu`, the minute of the last decrement in the top 16
//!   bits and a logarithmic access counter (0..=255) in the low 8 bits.
//!
//! Switching policy at run time does not rewrite existing entries (Redis does not either):
//! their bits are read in the new meaning until they are next touched, which is why
//! Redis's error texts warn that "LRU and LFU data will take some time to adjust".
//!
//! The LFU counter grows with probability `1 / ((counter - 5) * lfu-log-factor + 1)`, so it
//! climbs logarithmically with the number of accesses, and it loses one point per
//! `lfu-decay-time` minutes without access, so keys that were hot long ago cool down.

/// The counter a new key starts with under LFU, so it is not evicted before it had a
/// chance to be read (`LFU_INIT_VAL`).
pub const LFU_INIT: u32 = 5;

/// How accesses are recorded, derived from the configuration.
#[derive(Clone, Debug)]
pub struct AccessPolicy {
    /// True under an LFU eviction policy.
    pub lfu: bool,
    /// `lfu-log-factor`.
    pub log_factor: u32,
    /// `lfu-decay-time`, in minutes; 0 means counters never decay.
    pub decay_minutes: u32,
    /// State of the small generator that decides the counter's probabilistic increments.
    rng: u64,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy { lfu: false, log_factor: 10, decay_minutes: 1, rng: 0x9E37_79B9_7F4A_7C15 }
    }
}

impl AccessPolicy {
    /// The access bits of a key created at `now_ms`.
    pub fn fresh(&self, now_ms: u64) -> u32 {
        if self.lfu {
            (lfu_minutes(now_ms) << 8) | LFU_INIT
        } else {
            lru_clock(now_ms)
        }
    }

    /// Records one access to a key whose bits are `bits`.
    pub fn touch(&mut self, bits: &mut u32, now_ms: u64) {
        if self.lfu {
            let counter = self.log_incr(self.decayed(*bits, now_ms));
            *bits = (lfu_minutes(now_ms) << 8) | counter;
        } else {
            *bits = lru_clock(now_ms);
        }
    }

    /// The LFU counter of `bits` after the decay owed since its last decrement (what
    /// `OBJECT FREQ` reports; the stored bits are not changed).
    pub fn decayed(&self, bits: u32, now_ms: u64) -> u32 {
        let counter = bits & 0xFF;
        if self.decay_minutes == 0 {
            return counter;
        }
        let periods = lfu_elapsed(bits >> 8, now_ms) / self.decay_minutes;
        counter.saturating_sub(periods)
    }

    /// The logarithmic increment: certain below the initial value, then ever less likely.
    fn log_incr(&mut self, counter: u32) -> u32 {
        if counter >= 255 {
            return 255;
        }
        let base = f64::from(counter.saturating_sub(LFU_INIT));
        let p = 1.0 / (base * f64::from(self.log_factor) + 1.0);
        if self.random_unit() < p {
            counter + 1
        } else {
            counter
        }
    }

    /// A uniform number in [0, 1) from a xorshift generator: the keyspace has no other
    /// random source at hand, and the quality needed here is modest.
    fn random_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An eviction score for `bits`: the larger, the better a candidate for eviction
    /// (idle milliseconds under LRU, `255 - counter` under LFU).
    pub fn eviction_score(&self, bits: u32, now_ms: u64) -> u64 {
        if self.lfu {
            u64::from(255 - self.decayed(bits, now_ms).min(255))
        } else {
            idle_seconds(bits, now_ms) * 1000
        }
    }
}

/// Redis's LRU clock: seconds, wrapped to 24 bits.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & 0xFF_FFFF) as u32
}

/// Seconds since `lru` by the clock at `now_ms` (`OBJECT IDLETIME`), allowing for one
/// wrap-around of the 24-bit clock.
pub fn idle_seconds(lru: u32, now_ms: u64) -> u64 {
    let clock = lru_clock(now_ms);
    if clock >= lru {
        u64::from(clock - lru)
    } else {
        u64::from(clock) + 0xFF_FFFF - u64::from(lru)
    }
}

/// The LFU decrement clock: minutes, wrapped to 16 bits.
fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

/// Minutes since the LFU clock read `then`, allowing for one wrap-around.
fn lfu_elapsed(then: u32, now_ms: u64) -> u32 {
    let now = lfu_minutes(now_ms);
    if now >= then {
        now - then
    } else {
        0xFFFF - then + now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut p = AccessPolicy { lfu: true, ..AccessPolicy::default() };
        let now = 10 * 60_000;
        let mut bits = p.fresh(now);
        assert_eq!(p.decayed(bits, now), LFU_INIT);
        p.touch(&mut bits, now);
        assert_eq!(p.decayed(bits, now), LFU_INIT + 1, "the first step is certain");
        for _ in 0..10_000 {
            p.touch(&mut bits, now);
        }
        let hot = p.decayed(bits, now);
        assert!((15..60).contains(&hot), "10k accesses with factor 10 give {hot}");
        assert_eq!(p.decayed(bits, now + 3 * 60_000), hot - 3, "one point per minute");
        p.decay_minutes = 0;
        assert_eq!(p.decayed(bits, now + 3 * 60_000), hot, "decay off");
        p.log_factor = 0;
        let before = p.decayed(bits, now);
        p.touch(&mut bits, now);
        assert_eq!(p.decayed(bits, now), before + 1, "factor 0 counts every access");
    }

    #[test]
    fn lru_clock_wraps() {
        assert_eq!(idle_seconds(lru_clock(5_000), 9_000), 4);
        assert_eq!(idle_seconds(0xFF_FFFE, 1000), 2);
    }
}
