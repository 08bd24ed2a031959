//! Eviction: keeping `used_memory` under `maxmemory` by the configured policy, and the
//! out-of-memory gate dispatch runs before each command.
//!
//! The policies are Redis's eight, with Redis's approximations: no policy keeps keys in
//! order of access (that would cost memory per key and time per access). Instead each
//! round samples `maxmemory-samples` keys of every database (all keys, or only keys with
//! a TTL for the `volatile-*` policies) and merges them into a 16-entry pool of the best
//! candidates seen so far, kept across rounds; the best one still present is evicted. The
//! score is the idle time (LRU), `255 -` the decayed access counter (LFU), or how soon the
//! TTL runs out (`volatile-ttl`). The random policies take a random key of the databases in
//! turn.
//!
//! Memory freed is measured, not estimated: the allocator's counter before and after each
//! deletion. One call evicts until usage is back under the limit, but stops after the time
//! `maxmemory-eviction-tenacity` allows (checked every 16 keys); the cron then carries on,
//! and until then commands are not refused (the server is making progress). When nothing
//! is left to evict, or the policy is `noeviction`, the call fails and the gate refuses
//! commands that may grow memory, with Redis's OOM rules for transactions.

use crate::commands::spec::flags;
use crate::config::P;
use crate::dispatch::Resolved;
use crate::error::CmdError;
use crate::keyspace::access::AccessPolicy;
use crate::net::client::Client;
use crate::server::Server;
use bytes::Bytes;
use slab::Slab;
use std::time::{Duration, Instant};

/// Candidates kept between rounds (`EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;

/// Which keys a policy picks from, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Longest idle first.
    Lru,
    /// Least frequently used first.
    Lfu,
    /// Any key.
    Random,
    /// Nearest expire time first (`volatile-ttl`).
    Ttl,
}

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Evict nothing: refuse commands that may grow memory.
    NoEviction,
    /// Evict among all keys.
    AllKeys(Pick),
    /// Evict among keys that have an expire time.
    Volatile(Pick),
}

impl Policy {
    /// The policy a `maxmemory-policy` word names.
    pub fn from_word(word: &str) -> Policy {
        let pick = |w: &str| match w {
            "lru" => Some(Pick::Lru),
            "lfu" => Some(Pick::Lfu),
            "random" => Some(Pick::Random),
            "ttl" => Some(Pick::Ttl),
            _ => None,
        };
        match word.split_once('-') {
            Some(("allkeys", p)) => pick(p).map_or(Policy::NoEviction, Policy::AllKeys),
            Some(("volatile", p)) => pick(p).map_or(Policy::NoEviction, Policy::Volatile),
            _ => Policy::NoEviction,
        }
    }
}

/// What one eviction call achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Usage is under the limit (or there is none).
    Ok,
    /// Still over, but the time budget ran out while keys were being evicted: the cron
    /// continues, and commands are not refused meanwhile.
    Running,
    /// Over the limit with nothing (more) to evict.
    Fail,
}

/// One candidate of the pool.
#[derive(Debug)]
struct Candidate {
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// Eviction state kept between calls.
#[derive(Debug, Default)]
pub struct Eviction {
    /// Candidates by ascending score (the best to evict last).
    pool: Vec<Candidate>,
    /// True when the last call stopped on its time limit with work left.
    pub running: bool,
    /// The database the random policies look at next.
    next_db: usize,
    /// Since when usage has been over the limit, while it is.
    over_since: Option<Instant>,
    /// Time spent over the limit in earlier episodes (`total_eviction_exceeded_time`).
    exceeded_before: Duration,
}

impl Eviction {
    /// Time over the limit in the current episode (`current_eviction_exceeded_time`).
    pub fn exceeded_current(&self) -> Duration {
        self.over_since.map(|t| t.elapsed()).unwrap_or_default()
    }

    /// Time over the limit since start (`total_eviction_exceeded_time`).
    pub fn exceeded_total(&self) -> Duration {
        self.exceeded_before + self.exceeded_current()
    }

    fn set_over(&mut self, over: bool) {
        match (over, self.over_since) {
            (true, None) => self.over_since = Some(Instant::now()),
            (false, Some(t)) => {
                self.exceeded_before += t.elapsed();
                self.over_since = None;
            }
            _ => {}
        }
    }

    /// Adds a sampled key to the pool if it beats the worst candidate of a full pool.
    fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if self.pool.iter().any(|c| c.db == db && *c.key == *key) {
            return;
        }
        if self.pool.len() == POOL_SIZE {
            if score <= self.pool[0].score {
                return;
            }
            self.pool.remove(0);
        }
        let at = self.pool.partition_point(|c| c.score < score);
        self.pool.insert(at, Candidate { score, db, key: key.into() });
    }
}

/// The longest `maxmemory-eviction-tenacity` lets one call evict: 50 µs per step up to 10
/// (the default, 500 µs), then 15% more per step, and no limit at 100.
fn time_limit(tenacity: i64) -> Option<Duration> {
    match tenacity {
        t if t <= 10 => Some(Duration::from_micros(50 * t.max(0) as u64)),
        t if t < 100 => Some(Duration::from_micros((500.0 * 1.15f64.powi(t as i32 - 10)) as u64)),
        _ => None,
    }
}

/// Bytes `maxmemory` is compared against: used memory less the buffers Redis does not
/// count (the AOF buffer; evicting keys would not shrink it).
fn counted(srv: &mut Server) -> u64 {
    super::used(srv).saturating_sub(srv.propagation.buffered() as u64)
}

/// Evicts keys until usage is under `maxmemory`, within the tenacity time limit.
pub fn perform(srv: &mut Server, now: u64) -> Outcome {
    let max = srv.config.int(P::Maxmemory).max(0) as u64;
    let used = counted(srv);
    if max == 0 || used <= max {
        srv.memory.eviction.running = false;
        srv.memory.eviction.set_over(false);
        return Outcome::Ok;
    }
    srv.memory.eviction.set_over(true);
    // Redis's `eviction-cycle` latency event: the time spent evicting, when there is any.
    crate::latency::timed(srv, "eviction-cycle", |srv| evict_down(srv, used - max, now))
}

/// Evicts by policy until `to_free` bytes are freed, nothing is left to evict, or the
/// tenacity time limit is reached (the cron then continues).
fn evict_down(srv: &mut Server, to_free: u64, now: u64) -> Outcome {
    let policy = Policy::from_word(srv.config.word(P::MaxmemoryPolicy));
    let limit = time_limit(srv.config.int(P::MaxmemoryEvictionTenacity));
    let start = Instant::now();
    let (mut freed, mut evicted) = (0u64, 0u64);
    while freed < to_free {
        let Some((db, key)) = choose(srv, policy, now) else {
            srv.memory.eviction.running = false;
            return Outcome::Fail;
        };
        let before = crate::memory::used_memory();
        if !srv.ks.evict(db, &key) {
            continue;
        }
        freed += before.saturating_sub(crate::memory::used_memory());
        announce(srv, db, key);
        evicted += 1;
        if evicted % 16 == 0 && limit.is_some_and(|l| start.elapsed() > l) {
            srv.memory.eviction.running = true;
            return Outcome::Running;
        }
    }
    srv.memory.eviction.running = false;
    srv.memory.eviction.set_over(false);
    Outcome::Ok
}

/// Counts an eviction, logs it to the AOF as a `DEL` and raises the `evicted` event.
fn announce(srv: &mut Server, db: usize, key: Box<[u8]>) {
    srv.stats.evicted_keys += 1;
    let key = Bytes::from(key);
    srv.propagation.feed(db, &[Bytes::from_static(b"DEL"), key.clone()]);
    crate::notify::publish(srv, crate::notify::class::EVICTED, "evicted", db, &key, None);
}

/// The next key to evict under `policy`, or None when no key qualifies.
fn choose(srv: &mut Server, policy: Policy, now: u64) -> Option<(usize, Box<[u8]>)> {
    let (volatile, pick) = match policy {
        Policy::NoEviction => return None,
        Policy::AllKeys(p) => (false, p),
        Policy::Volatile(p) => (true, p),
    };
    let dbs = srv.ks.db_count();
    let size = |srv: &Server, i: usize| {
        let d = srv.ks.db(i);
        if volatile {
            d.expires_len()
        } else {
            d.len()
        }
    };
    if pick == Pick::Random {
        for _ in 0..dbs {
            let i = srv.memory.eviction.next_db % dbs;
            srv.memory.eviction.next_db = (i + 1) % dbs;
            let d = srv.ks.db(i);
            let key = if volatile {
                d.expires().random_entry(&mut srv.rng).map(|(k, _)| Box::from(k))
            } else {
                d.dict().random_entry(&mut srv.rng).map(|(k, _)| Box::from(k))
            };
            if let Some(key) = key {
                return Some((i, key));
            }
        }
        return None;
    }
    let samples = srv.config.int(P::MaxmemorySamples).max(1) as usize;
    while (0..dbs).any(|i| size(srv, i) > 0) {
        for i in 0..dbs {
            if size(srv, i) > 0 {
                populate(srv, i, volatile, pick, samples, now);
            }
        }
        // The best candidates come last; ones deleted since they were sampled are dropped.
        while let Some(c) = srv.memory.eviction.pool.pop() {
            if srv.ks.db(c.db).dict().contains_key(&c.key)
                && (!volatile || srv.ks.db(c.db).expires().contains_key(&c.key))
            {
                return Some((c.db, c.key));
            }
        }
    }
    None
}

/// Samples database `i` into the pool.
fn populate(srv: &mut Server, i: usize, volatile: bool, pick: Pick, samples: usize, now: u64) {
    let Server { ks, rng, memory, .. } = srv;
    let access: &AccessPolicy = &ks.access;
    let db = ks.db(i);
    let pool = &mut memory.eviction;
    let mut seen = 0usize;
    if volatile {
        db.expires().sample(samples, rng, |key, &when| {
            seen += 1;
            let score = match pick {
                Pick::Ttl => u64::MAX - when,
                _ => db.dict().get(key).map_or(0, |e| access.eviction_score(e.lru, now)),
            };
            pool.offer(score, i, key);
        });
        if seen == 0 {
            // A very sparse table can defeat the bounded walk: take one random key.
            if let Some((key, &when)) = db.expires().random_entry(rng) {
                let score = match pick {
                    Pick::Ttl => u64::MAX - when,
                    _ => db.dict().get(key).map_or(0, |e| access.eviction_score(e.lru, now)),
                };
                pool.offer(score, i, key);
            }
        }
    } else {
        db.dict().sample(samples, rng, |key, e| {
            seen += 1;
            pool.offer(access.eviction_score(e.lru, now), i, key);
        });
        if seen == 0 {
            if let Some((key, e)) = db.dict().random_entry(rng) {
                pool.offer(access.eviction_score(e.lru, now), i, key);
            }
        }
    }
}

/// The gate dispatch runs before a command while `maxmemory` is set: evicts as the policy
/// allows, then, if memory is still over the limit, refuses what Redis refuses: commands
/// flagged `denyoom`; inside MULTI, any command but EXEC, DISCARD, QUIT and RESET (queueing
/// itself costs memory); and EXEC of a transaction holding a `denyoom` command, which
/// dispatch then discards with EXECABORT, as it does any refused EXEC. Commands run by EXEC or by a script pass (their gate was the EXEC or
/// the script's own rule), and so does the AOF replay at start-up.
pub fn gate(
    srv: &mut Server,
    clients: &mut Slab<Client>,
    cid: usize,
    r: &Resolved,
    argv: &[bytes::Bytes],
    now: u64,
) -> Result<(), CmdError> {
    // Replaying the AOF must restore everything the log holds, whatever the limit.
    if clients[cid].in_exec || srv.ks.loading {
        return Ok(());
    }
    if srv.config.int(P::Maxmemory) == 0 {
        srv.memory.over_limit = false;
        return Ok(());
    }
    srv.memory.over_limit = perform(srv, now) == Outcome::Fail;
    if !srv.memory.over_limit {
        return Ok(());
    }
    let top = r.parent.is_none();
    let name = r.spec.name;
    let is_exec = top && name == "exec";
    let c = &clients[cid];
    let in_multi =
        c.multi.is_some() && !(top && matches!(name, "exec" | "discard" | "quit" | "reset"));
    let denyoom = r.spec.has(flags::DENYOOM)
        || (is_exec && queued_denyoom(c))
        || srv.scripting.declared_flags(argv).is_some_and(|f| f.denies_oom());
    if !(denyoom || in_multi) {
        return Ok(());
    }
    Err(CmdError::Oom)
}

/// True if the transaction `c` has queued holds a command flagged `denyoom`.
fn queued_denyoom(c: &Client) -> bool {
    c.multi.as_ref().is_some_and(|m| {
        m.queue
            .iter()
            .any(|argv| crate::dispatch::lookup(argv).is_ok_and(|q| q.spec.has(flags::DENYOOM)))
    })
}

/// Evict-then-check for callers outside dispatch's gate (scripts decide at their first
/// write): `Err(OOM)` when memory stays over `maxmemory` after evicting what the policy
/// allows.
pub fn oom_check(srv: &mut Server) -> Result<(), CmdError> {
    if srv.config.int(P::Maxmemory) == 0 {
        return Ok(());
    }
    let now = srv.now_ms();
    match perform(srv, now) {
        Outcome::Fail => Err(CmdError::Oom),
        Outcome::Ok | Outcome::Running => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_words() {
        assert_eq!(Policy::from_word("noeviction"), Policy::NoEviction);
        assert_eq!(Policy::from_word("allkeys-lru"), Policy::AllKeys(Pick::Lru));
        assert_eq!(Policy::from_word("volatile-ttl"), Policy::Volatile(Pick::Ttl));
        assert_eq!(Policy::from_word("volatile-lfu"), Policy::Volatile(Pick::Lfu));
        assert_eq!(Policy::from_word("allkeys-random"), Policy::AllKeys(Pick::Random));
    }

    #[test]
    fn tenacity_limits() {
        assert_eq!(time_limit(0), Some(Duration::ZERO));
        assert_eq!(time_limit(10), Some(Duration::from_micros(500)));
        assert!(time_limit(99).is_some_and(|d| d > Duration::from_secs(60)));
        assert_eq!(time_limit(100), None);
    }

    #[test]
    fn pool_keeps_the_best_sixteen() {
        let mut e = Eviction::default();
        for n in 0..40u64 {
            e.offer(n, 0, format!("k{n}").as_bytes());
        }
        e.offer(39, 0, b"k39");
        assert_eq!(e.pool.len(), POOL_SIZE);
        assert_eq!(e.pool.first().map(|c| c.score), Some(24));
        assert_eq!(e.pool.last().map(|c| &*c.key), Some(&b"k39"[..]));
    }
}
