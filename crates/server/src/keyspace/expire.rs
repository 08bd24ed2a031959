//! The active expire cycle.
//!
//! Lazy expiry alone would keep keys that nobody touches again forever. Like Redis's
//! `activeExpireCycle` (slow mode, run from the cron), each call walks the databases round
//! robin, sampling each one's expire table with a scan cursor a few keys at a time and
//! deleting keys whose time has passed. It adapts: while the share of sampled keys found
//! expired stays above an acceptable level (10%) it keeps sampling the same database, since
//! there are probably many more; it moves on when the share drops. The whole call is bounded
//! by a time budget (25% of a cron period); when that runs out it stops and the next call
//! resumes from the same database and cursor. When few keys are expiring it costs almost
//! nothing.
//!
//! `active-expire-effort` (1..=10) scales the work exactly as in Redis: more keys per loop,
//! a bigger share of CPU, a lower acceptable share of stale keys.

use super::Keyspace;
use std::time::{Duration, Instant};

/// Keys sampled per database per loop at effort 1 (`ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const KEYS_PER_LOOP: usize = 20;
/// Buckets visited per key to sample, at most, so a sparse table cannot stall a loop.
const BUCKETS_PER_KEY: usize = 20;
/// Percentage of each cron period the cycle may use at effort 1.
const SLOW_TIME_PERCENT: u64 = 25;
/// Keep sampling a database while more than this percentage of samples were stale.
const ACCEPTABLE_STALE_PERCENT: usize = 10;

/// The tuning that `active-expire-effort` derives.
struct Tuning {
    keys_per_loop: usize,
    time_percent: u64,
    acceptable_stale: usize,
}

impl Tuning {
    fn new(effort: i64) -> Tuning {
        // Effort 1 is the baseline; each extra step adds a quarter of the keys per loop,
        // two points of CPU and one point less of tolerated staleness.
        let extra = (effort.clamp(1, 10) - 1) as usize;
        Tuning {
            keys_per_loop: KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * extra,
            time_percent: SLOW_TIME_PERCENT + 2 * extra as u64,
            acceptable_stale: ACCEPTABLE_STALE_PERCENT - extra,
        }
    }
}

/// What one sampling loop over a database found.
struct Sample {
    sampled: usize,
    expired: usize,
}

/// Runs one slow cycle. `hz` is the cron frequency, `effort` the `active-expire-effort`
/// setting, `now` the time in Unix ms.
pub fn active_expire_cycle(ks: &mut Keyspace, hz: u32, effort: i64, now: u64) {
    if !ks.active_expire {
        return;
    }
    let tune = Tuning::new(effort);
    let start = Instant::now();
    let budget = Duration::from_micros(tune.time_percent * 1_000_000 / u64::from(hz.max(1)) / 100);
    let (mut sampled_total, mut stale_total) = (0usize, 0usize);
    let dbs = ks.db_count();
    let mut timed_out = false;
    for _ in 0..dbs {
        let dbi = ks.expire_next_db % dbs;
        ks.expire_next_db = (dbi + 1) % dbs;
        loop {
            if ks.db(dbi).expires_len() == 0 {
                let db = ks.db_mut(dbi);
                db.avg_ttl = 0;
                db.expire_cursor = 0;
                break;
            }
            let s = sample_db(ks, dbi, tune.keys_per_loop, now);
            sampled_total += s.sampled;
            stale_total += s.expired;
            if start.elapsed() > budget {
                ks.stats.expired_time_cap_reached += 1;
                timed_out = true;
                break;
            }
            // An empty sample (only empty buckets seen) says nothing: look further.
            if s.sampled > 0 && s.expired * 100 / s.sampled <= tune.acceptable_stale {
                break;
            }
        }
        if timed_out {
            break;
        }
    }
    ks.stats.expire_cycle_time_used += start.elapsed().as_micros() as u64;
    let current = if sampled_total > 0 { stale_total as f64 / sampled_total as f64 } else { 0.0 };
    ks.stats.expired_stale_perc = current * 0.05 + ks.stats.expired_stale_perc * 0.95;
}

/// Samples up to `want` keys of database `dbi`'s expire table from its saved cursor,
/// deletes the expired ones, and folds the others' TTLs into `avg_ttl`.
fn sample_db(ks: &mut Keyspace, dbi: usize, want: usize, now: u64) -> Sample {
    let db = ks.db_mut(dbi);
    let want = want.min(db.expires.len());
    let mut due: Vec<Box<[u8]>> = Vec::new();
    let (mut sampled, mut ttl_sum, mut ttl_n) = (0usize, 0u64, 0u64);
    let mut cursor = db.expire_cursor;
    let mut buckets = 0usize;
    while sampled < want && buckets < want * BUCKETS_PER_KEY {
        cursor = db.expires.scan(cursor, |key, &when| {
            sampled += 1;
            if when <= now {
                due.push(key.into());
            } else {
                ttl_sum += when - now;
                ttl_n += 1;
            }
        });
        buckets += 1;
        if cursor == 0 {
            // A full pass is done; the next loop starts a new one.
            break;
        }
    }
    db.expire_cursor = cursor;
    if let Some(avg) = ttl_sum.checked_div(ttl_n) {
        // A running average that weighs each new sample at 2%, as Redis does.
        db.avg_ttl = if db.avg_ttl == 0 { avg } else { (db.avg_ttl / 50) * 49 + avg / 50 };
    }
    let expired = due.len();
    for key in due {
        ks.expire_if_needed(dbi, &key, now);
    }
    Sample { sampled, expired }
}
