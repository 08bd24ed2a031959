//! The active expire cycle.
//!
//! Lazy expiry alone would keep keys that nobody touches again forever. Like Redis's
//! `activeExpireCycle`, the cron walks each database's expire table with a scan cursor, a few
//! buckets at a time, deleting keys whose time has passed. It adapts: while a good share
//! (more than 10%) of the sampled keys turned out to be expired, it keeps going, because
//! there are probably many more; it stops when the share drops or when its time budget
//! (a quarter of a cron tick, i.e. 25% CPU) is spent, and resumes from the same cursor next
//! tick. When few keys are expiring it costs almost nothing.

use super::Keyspace;
use std::time::{Duration, Instant};

/// Keys sampled per database per loop (Redis's `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const KEYS_PER_LOOP: usize = 20;
/// Keep looping while more than this percentage of sampled keys were stale.
const ACCEPTABLE_STALE_PERCENT: usize = 10;
/// Share of each cron period the cycle may use, in percent.
const SLOW_TIME_PERCENT: u32 = 25;

/// Runs one slow cycle over all databases; `hz` is the cron frequency, `now` the time in ms.
pub fn active_expire_cycle(ks: &mut Keyspace, hz: u32, now: u64) {
    if !ks.active_expire {
        return;
    }
    let start = Instant::now();
    let budget = Duration::from_micros(u64::from(1_000_000 * SLOW_TIME_PERCENT / 100 / hz.max(1)));
    let mut sampled_total = 0usize;
    let mut stale_total = 0usize;
    for dbi in 0..ks.db_count() {
        loop {
            let db = ks.db_mut(dbi);
            if db.expires.is_empty() {
                db.expire_cursor = 0;
                break;
            }
            let mut due = Vec::new();
            let mut sampled = 0usize;
            let mut ttl_sum = 0u64;
            let mut ttl_n = 0u64;
            let mut cursor = db.expire_cursor;
            // Scan buckets until enough keys were looked at (or a full pass completed).
            while sampled < KEYS_PER_LOOP {
                cursor = db.expires.scan(cursor, |key, &when| {
                    sampled += 1;
                    if when <= now {
                        due.push(key.to_vec());
                    } else {
                        ttl_sum += when - now;
                        ttl_n += 1;
                    }
                });
                if cursor == 0 {
                    break;
                }
            }
            db.expire_cursor = cursor;
            if ttl_n > 0 {
                let avg = ttl_sum / ttl_n;
                // Redis smooths avg_ttl as a running average of the samples.
                db.avg_ttl = if db.avg_ttl == 0 { avg } else { (db.avg_ttl / 50) * 49 + avg / 50 };
            }
            let expired = due.len();
            for key in due {
                if db.expires.remove(&key).is_some() {
                    db.dict.remove(&key);
                }
            }
            ks.stats.expired += expired as u64;
            ks.dirty += expired as u64;
            sampled_total += sampled;
            stale_total += expired;
            if start.elapsed() > budget {
                ks.stats.expired_time_cap_reached += 1;
                break;
            }
            if sampled == 0 || expired * 100 / sampled <= ACCEPTABLE_STALE_PERCENT {
                break;
            }
        }
        if start.elapsed() > budget {
            break;
        }
    }
    ks.stats.expire_cycle_time_used += start.elapsed().as_micros() as u64;
    let current = if sampled_total > 0 { stale_total as f64 / sampled_total as f64 } else { 0.0 };
    ks.stats.expired_stale_perc = current * 0.05 + ks.stats.expired_stale_perc * 0.95;
}
