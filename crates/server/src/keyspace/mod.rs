//! The keyspace: numbered databases of key → value, with expire times.
//!
//! **All key creation, lookup and deletion goes through [`Keyspace`].** Its lookups apply lazy
//! expiry (a key past its expire time is deleted when touched and reads as missing), count
//! `keyspace_hits`/`keyspace_misses` and refresh the access clock; its writes bump the dirty
//! counter that decides what is propagated to the AOF. Command handlers never reach into a
//! `Db`'s tables directly.
//!
//! Expire times are absolute Unix milliseconds kept in a second table per database (as
//! Redis's `db->expires`), so they persist unchanged to disk and the active expire cycle
//! ([`expire`]) can sample only keys that have one.

pub mod access;
pub mod expire;
pub mod snapshot;
pub mod watch;

pub use access::{idle_seconds, lru_clock};

use crate::types::dict::Dict;
use crate::types::Value;

/// A stored value and its access bits (LRU clock or LFU counter, see [`access`]).
#[derive(Clone, Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Access bits: the LRU clock of the last access, or the LFU counter and its clock,
    /// depending on `maxmemory-policy` (see [`access`]).
    pub lru: u32,
    /// True for a value duplicated by `COPY`. Redis stores the integers 0..9999 as shared
    /// objects (`OBJECT REFCOUNT` = 2147483647), but COPY makes a private duplicate even of
    /// those (refcount 1); this flag is how Keel answers the same.
    pub unshared: bool,
}

/// One numbered database.
#[derive(Default)]
pub struct Db {
    /// key → entry.
    pub(crate) dict: Dict<Entry>,
    /// key → absolute expire time in Unix milliseconds, for keys that have one.
    pub(crate) expires: Dict<u64>,
    /// Where the active expire cycle resumes its scan of `expires`.
    pub(crate) expire_cursor: u64,
    /// Running average TTL of sampled keys, for `INFO keyspace` (`avg_ttl`).
    pub avg_ttl: u64,
}

impl Db {
    /// Number of keys (`DBSIZE`), including keys expired but not yet deleted.
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True if the database has no keys.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Number of keys with an expire time.
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// The keys' table, for read-only walks (KEYS, SCAN, RANDOMKEY).
    pub fn dict(&self) -> &Dict<Entry> {
        &self.dict
    }

    /// The expire table, for read-only walks.
    pub fn expires(&self) -> &Dict<u64> {
        &self.expires
    }
}

/// Counters the keyspace keeps for `INFO stats`.
#[derive(Default, Debug, Clone)]
pub struct KeyspaceStats {
    /// Successful key lookups for reading.
    pub hits: u64,
    /// Failed key lookups for reading.
    pub misses: u64,
    /// Keys deleted because their time was up (lazily or by the active cycle).
    pub expired: u64,
    /// Keys whose expire time had passed but which were still stored when last sampled.
    pub expired_stale_perc: f64,
    /// Times the active cycle stopped because it ran out of time.
    pub expired_time_cap_reached: u64,
    /// Total microseconds spent in the active expire cycle.
    pub expire_cycle_time_used: u64,
}

/// How a lookup treats the key's access state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// Refresh the access clock (normal commands).
    Yes,
    /// Leave it alone (`OBJECT`, `TOUCH`-less introspection, `CLIENT NO-TOUCH`).
    No,
    /// Leave it alone, and do not announce a miss as a `keymiss` event (Redis's
    /// `LOOKUP_NONOTIFY`, used by `OBJECT`).
    Quiet,
}

/// A keyspace event the keyspace raises by itself, queued in [`Keyspace::events`] so that
/// `notify.rs` publishes it in order with the running command's own events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KsEvent {
    /// A key was deleted because its time was up (`expired`, class `x`).
    Expired,
    /// A key was added to a database (`new`, class `n`).
    New,
    /// A read lookup found no key (`keymiss`, class `m`).
    KeyMiss,
}

/// All databases plus the counters that every write and lookup updates.
pub struct Keyspace {
    dbs: Vec<Db>,
    /// Hit/miss/expiry counters.
    pub stats: KeyspaceStats,
    /// Changes since the last save (`rdb_changes_since_last_save`); also how dispatch tells
    /// that a write command changed something and must be propagated.
    pub dirty: u64,
    /// When false (`DEBUG SET-ACTIVE-EXPIRE 0`) the cron does not expire keys.
    pub active_expire: bool,
    /// The database the next active expire cycle starts with (round robin, so a cycle cut
    /// short by its time budget does not starve the higher-numbered databases).
    pub(crate) expire_next_db: usize,
    /// True while some client is blocked on keys: then every stored key is recorded in
    /// `ready` so the event loop can re-run the commands waiting on it.
    pub track_ready: bool,
    /// Keys written while `track_ready` was set, in order, for blocked clients.
    pub ready: Vec<(usize, bytes::Bytes)>,
    /// Set when whole databases were flushed or swapped while clients were blocked: every
    /// blocked key must be looked at again.
    pub all_ready: bool,
    /// WATCHed keys and the transactions they invalidate.
    pub watches: watch::Watches,
    /// When set (the `x` notification class is on), expired keys are queued in `events`
    /// for `expired` keyspace events.
    pub record_expired: bool,
    /// When set (class `n`), keys added to a database are queued for `new` events.
    pub record_new: bool,
    /// When set (class `m`), read lookups that miss are queued for `keymiss` events.
    pub record_keymiss: bool,
    /// Events raised here since they were last published, in order: (event, db, key).
    pub events: Vec<(KsEvent, usize, bytes::Bytes)>,
    /// True while some client has CLIENT TRACKING on: modified keys are then collected.
    pub tracking_on: bool,
    /// Keys the running command may modify, for tracking (settled like WATCH touches).
    tracking_pending: Vec<bytes::Bytes>,
    /// Keys modified since tracking invalidations were last sent.
    pub invalidated: Vec<bytes::Bytes>,
    /// Set when a database was flushed: every tracking client is invalidated.
    pub flushed: bool,
    /// True while the AOF is open: keys deleted by expiry are queued in `expired_keys`
    /// so they reach the log as `DEL`s (see `aof.rs`).
    pub propagate_expired: bool,
    /// Keys expired since the persistence stage last took them: (db, key).
    pub expired_keys: Vec<(usize, bytes::Bytes)>,
    /// True while the AOF is replayed at start-up: nothing expires then (the log says
    /// when keys were deleted), as in Redis.
    pub loading: bool,
    /// How key accesses are recorded (LRU clock or LFU counter), from the configuration.
    pub access: access::AccessPolicy,
    /// Set by dispatch while a `CLIENT NO-TOUCH` client's command runs: write lookups then
    /// leave the access bits alone too (read lookups get `Touch::No` from the caller).
    pub no_touch: bool,
    /// The running snapshot (BGSAVE, AOF rewrite): every change passes its copy-on-write
    /// hook first (see [`snapshot`]).
    snapshot: Option<Box<snapshot::Snapshot>>,
    /// BullMQ queues discovered from the keys created, for the built-in metrics.
    pub queues: crate::metrics::bullmq::QueueNames,
}

impl Keyspace {
    /// `n` empty databases.
    pub fn new(n: usize) -> Keyspace {
        Keyspace {
            dbs: (0..n.max(1)).map(|_| Db::default()).collect(),
            stats: KeyspaceStats::default(),
            dirty: 0,
            active_expire: true,
            expire_next_db: 0,
            track_ready: false,
            ready: Vec::new(),
            all_ready: false,
            watches: watch::Watches::default(),
            record_expired: false,
            record_new: false,
            record_keymiss: false,
            events: Vec::new(),
            tracking_on: false,
            tracking_pending: Vec::new(),
            invalidated: Vec::new(),
            flushed: false,
            propagate_expired: false,
            expired_keys: Vec::new(),
            loading: false,
            access: access::AccessPolicy::default(),
            no_touch: false,
            snapshot: None,
            queues: Default::default(),
        }
    }

    /// Number of databases (`databases`).
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `i`, read-only (for INFO keyspace, DBSIZE, SCAN).
    pub fn db(&self, i: usize) -> &Db {
        &self.dbs[i]
    }

    /// All databases, read-only.
    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    /// True if `key` has an expire time at or before `now` (without deleting it: KEYS
    /// only skips such keys, as Redis does).
    pub fn is_expired(&self, db: usize, key: &[u8], now: u64) -> bool {
        if self.loading {
            return false;
        }
        matches!(self.dbs[db].expires.get(key), Some(&when) if when <= now)
    }

    /// Deletes `key` from `db` if its expire time is at or before `now`. Returns true if it
    /// was deleted.
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        let d = &mut self.dbs[db];
        if d.expires.is_empty() || self.loading {
            return false;
        }
        match d.expires.get(key) {
            Some(&when) if when <= now => {
                self.cow(db, key);
                let d = &mut self.dbs[db];
                d.expires.remove(key);
                d.dict.remove(key);
                self.stats.expired += 1;
                // An expiry is a change: it is propagated as a DEL in Redis.
                self.dirty += 1;
                self.watches.touch(db, key);
                if self.record_expired {
                    self.queue_event(KsEvent::Expired, db, key);
                }
                if self.tracking_on {
                    self.invalidated.push(bytes::Bytes::copy_from_slice(key));
                }
                if self.propagate_expired {
                    self.expired_keys.push((db, bytes::Bytes::copy_from_slice(key)));
                }
                true
            }
            _ => false,
        }
    }

    /// Looks a key up for reading: lazy expiry, hit/miss counting, access clock refresh.
    pub fn lookup_read(
        &mut self,
        db: usize,
        key: &[u8],
        now: u64,
        touch: Touch,
    ) -> Option<&mut Entry> {
        self.expire_if_needed(db, key, now);
        // Split the borrows so a hit costs one hash lookup: the entry borrows `dbs`, the
        // counters and the event queue are other fields.
        let Keyspace { dbs, stats, events, record_keymiss, access, .. } = self;
        match dbs[db].dict.get_mut(key) {
            Some(e) => {
                stats.hits += 1;
                if touch == Touch::Yes {
                    access.touch(&mut e.lru, now);
                }
                Some(e)
            }
            None => {
                stats.misses += 1;
                if *record_keymiss && touch != Touch::Quiet {
                    events.push((KsEvent::KeyMiss, db, bytes::Bytes::copy_from_slice(key)));
                }
                None
            }
        }
    }

    /// A random key of `db` that is not expired (expired ones met on the way are deleted,
    /// as Redis's `dbRandomKey` does), or None when the database is empty.
    pub fn random_key(
        &mut self,
        db: usize,
        now: u64,
        rng: &mut impl rand::Rng,
    ) -> Option<Box<[u8]>> {
        loop {
            let key = random_dict_key(&self.dbs[db].dict, rng)?;
            if !self.expire_if_needed(db, &key, now) {
                return Some(key);
            }
        }
    }

    /// Looks a key up for writing: lazy expiry, access clock refresh, no hit/miss counting.
    pub fn lookup_write(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.expire_if_needed(db, key, now);
        self.maybe_touch(db, key);
        self.cow(db, key);
        let e = self.dbs[db].dict.get_mut(key)?;
        if !self.no_touch {
            self.access.touch(&mut e.lru, now);
        }
        Some(e)
    }

    /// True if `key` exists (after lazy expiry), without touching stats or access clock.
    pub fn exists(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        self.expire_if_needed(db, key, now);
        self.dbs[db].dict.contains_key(key)
    }

    /// Stores `value` under `key`, replacing any old value. Unless `keep_ttl`, an old expire
    /// time is removed (a SET makes a key persistent). Counts as one change.
    pub fn set(&mut self, db: usize, key: &[u8], value: Value, now: u64, keep_ttl: bool) {
        self.maybe_touch(db, key);
        self.cow(db, key);
        // An expired key is gone before it is replaced (as Redis's write lookup does), so
        // storing under its name creates a new key.
        self.expire_if_needed(db, key, now);
        let d = &mut self.dbs[db];
        let mut entry = Entry { value, lru: self.access.fresh(now), unshared: false };
        if let Some(e) = d.dict.get_mut(key) {
            // An overwritten key keeps its LFU history, as in Redis: a hot key replaced by
            // a new value is still a hot key.
            if self.access.lfu {
                entry.lru = e.lru;
            }
            *e = entry;
        } else {
            d.dict.insert(key, entry);
            self.queues.note(db, key);
            if self.record_new {
                self.queue_event(KsEvent::New, db, key);
            }
        }
        let d = &mut self.dbs[db];
        if !keep_ttl {
            d.expires.remove(key);
        }
        self.dirty += 1;
        self.signal_ready(db, key);
    }

    /// Incremental rehashing from the cron (`activerehashing`): spends up to `budget` moving
    /// buckets of tables that are resizing, so a large table finishes growing even when no
    /// command touches it. Returns true if work remains.
    pub fn rehash(&mut self, budget: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        let mut more = false;
        for db in &mut self.dbs {
            if db.dict.is_rehashing() {
                more |= db.dict.rehash_for(budget.saturating_sub(start.elapsed()));
            }
            if db.expires.is_rehashing() {
                more |= db.expires.rehash_for(budget.saturating_sub(start.elapsed()));
            }
            if start.elapsed() >= budget {
                return true;
            }
        }
        more
    }

    /// Notes that the running command may modify `key` (for WATCH and client tracking).
    fn maybe_touch(&mut self, db: usize, key: &[u8]) {
        self.watches.maybe_touch(db, key);
        if self.tracking_on {
            self.tracking_pending.push(bytes::Bytes::copy_from_slice(key));
        }
    }

    /// Called by dispatch after each command: the keys it looked up for writing count as
    /// modified only if it changed the dataset.
    pub fn settle(&mut self, changed: bool) {
        self.watches.settle(changed);
        if self.tracking_pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.tracking_pending);
        if changed {
            self.invalidated.extend(pending);
        }
    }

    /// Queues a keyspace event for `notify.rs` to publish.
    fn queue_event(&mut self, event: KsEvent, db: usize, key: &[u8]) {
        self.events.push((event, db, bytes::Bytes::copy_from_slice(key)));
    }

    /// Records that `key` was stored or changed so clients blocked on it get another try.
    /// Costs nothing while no client is blocked.
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        if self.track_ready {
            self.ready.push((db, bytes::Bytes::copy_from_slice(key)));
        }
    }

    /// Deletes `key`. Returns true if it existed (after lazy expiry).
    pub fn delete(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        self.maybe_touch(db, key);
        if self.expire_if_needed(db, key, now) {
            return false;
        }
        self.cow(db, key);
        let d = &mut self.dbs[db];
        if d.dict.remove(key).is_some() {
            d.expires.remove(key);
            self.dirty += 1;
            // Clients blocked in XREADGROUP must learn that their stream is gone.
            self.signal_ready(db, key);
            true
        } else {
            false
        }
    }

    /// Deletes `key` to free memory (`maxmemory` eviction). Unlike [`Keyspace::delete`] it
    /// applies no lazy expiry and counts no change: eviction is not a write of the running
    /// command. Watchers, tracking clients and blocked clients learn of it all the same.
    pub fn evict(&mut self, db: usize, key: &[u8]) -> bool {
        self.cow(db, key);
        let d = &mut self.dbs[db];
        if d.dict.remove(key).is_none() {
            return false;
        }
        d.expires.remove(key);
        self.watches.touch(db, key);
        if self.tracking_on {
            self.invalidated.push(bytes::Bytes::copy_from_slice(key));
        }
        self.signal_ready(db, key);
        true
    }

    /// Removes `key` and returns its value and expire time, for RENAME/MOVE/COPY-style moves.
    /// Counts no change; the caller's insert does.
    pub fn take(&mut self, db: usize, key: &[u8], now: u64) -> Option<(Entry, Option<u64>)> {
        self.maybe_touch(db, key);
        self.expire_if_needed(db, key, now);
        self.cow(db, key);
        let d = &mut self.dbs[db];
        let entry = d.dict.remove(key)?;
        let ttl = d.expires.remove(key);
        self.signal_ready(db, key);
        Some((entry, ttl))
    }

    /// Inserts an entry with an optional expire time, replacing any old key. The key counts
    /// as new even if one was replaced: RENAME, COPY and MOVE delete the old target first.
    pub fn put(&mut self, db: usize, key: &[u8], entry: Entry, expire_at: Option<u64>) {
        self.maybe_touch(db, key);
        self.cow(db, key);
        if self.record_new {
            self.queue_event(KsEvent::New, db, key);
        }
        self.queues.note(db, key);
        let d = &mut self.dbs[db];
        d.dict.insert(key, entry);
        match expire_at {
            Some(t) => {
                d.expires.insert(key, t);
            }
            None => {
                d.expires.remove(key);
            }
        }
        self.dirty += 1;
        self.signal_ready(db, key);
    }

    /// Sizes an empty database's tables for `keys` keys, `expires` of them with an expire
    /// time (RDB loading: the file announces the sizes). No-op for a database in use.
    pub fn reserve(&mut self, db: usize, keys: usize, expires: usize) {
        let d = &mut self.dbs[db];
        d.dict.reserve(keys);
        d.expires.reserve(expires);
    }

    /// The expire time of `key` in Unix ms, if it has one (no lazy expiry here).
    pub fn get_expire(&self, db: usize, key: &[u8]) -> Option<u64> {
        self.dbs[db].expires.get(key).copied()
    }

    /// Sets the expire time of an existing key. Returns false if the key does not exist.
    pub fn set_expire(&mut self, db: usize, key: &[u8], when: u64) -> bool {
        self.maybe_touch(db, key);
        self.cow(db, key);
        let d = &mut self.dbs[db];
        if !d.dict.contains_key(key) {
            return false;
        }
        if let Some(t) = d.expires.get_mut(key) {
            *t = when;
        } else {
            d.expires.insert(key, when);
        }
        self.dirty += 1;
        true
    }

    /// Removes the expire time of `key`. Returns true if it had one.
    pub fn persist(&mut self, db: usize, key: &[u8]) -> bool {
        self.maybe_touch(db, key);
        self.cow(db, key);
        let removed = self.dbs[db].expires.remove(key).is_some();
        if removed {
            self.dirty += 1;
        }
        removed
    }

    /// Counts a change made in place through a `&mut Entry` from a lookup (APPEND, INCR...).
    pub fn mark_dirty(&mut self, n: u64) {
        self.dirty += n;
    }

    /// Empties database `db`, returning how many keys it had.
    pub fn flush_db(&mut self, db: usize) -> usize {
        self.touch_watched_in(db, db);
        self.cow_db(db);
        self.flushed |= self.tracking_on;
        self.all_ready |= self.track_ready;
        let n = self.dbs[db].len();
        self.dbs[db] = Db::default();
        self.dirty += n as u64;
        n
    }

    /// Empties every database.
    pub fn flush_all(&mut self) -> usize {
        (0..self.dbs.len()).map(|i| self.flush_db(i)).sum()
    }

    /// Swaps the contents of two databases (`SWAPDB`).
    pub fn swap(&mut self, a: usize, b: usize) {
        self.touch_watched_in(a, b);
        self.touch_watched_in(b, a);
        self.cow_db(a);
        self.cow_db(b);
        self.all_ready |= self.track_ready;
        self.dbs.swap(a, b);
        self.dirty += 1;
    }

    /// Before database `db` is emptied or replaced by database `with`: watched keys of `db`
    /// that exist in either are touched (a watched key missing from both is unaffected, as
    /// in Redis).
    fn touch_watched_in(&mut self, db: usize, with: usize) {
        if !self.watches.any() {
            return;
        }
        for key in self.watches.keys_in(db) {
            if self.dbs[db].dict.contains_key(&key) || self.dbs[with].dict.contains_key(&key) {
                self.watches.touch(db, &key);
            }
        }
    }

    /// Mutable access to a whole database, for the active expire cycle and incremental
    /// rehashing in the cron.
    pub(crate) fn db_mut(&mut self, i: usize) -> &mut Db {
        &mut self.dbs[i]
    }
}

/// A random key of `dict`: a scan step from a random cursor lands on one bucket (walking on
/// past empty ones), then one of that bucket's keys is picked; the same two-level choice as
/// Redis's `dictGetRandomKey`. A step from the same cursor visits the same keys, so the
/// bucket is counted first and read again to pick, with no allocation.
fn random_dict_key<V>(dict: &Dict<V>, rng: &mut impl rand::Rng) -> Option<Box<[u8]>> {
    if dict.is_empty() {
        return None;
    }
    let mut cursor: u64 = rng.random();
    loop {
        let mut n = 0usize;
        let next = dict.scan(cursor, |_, _| n += 1);
        if n > 0 {
            let pick = rng.random_range(0..n);
            let mut i = 0usize;
            let mut key = None;
            dict.scan(cursor, |k, _| {
                if i == pick {
                    key = Some(k.into());
                }
                i += 1;
            });
            return key;
        }
        cursor = next;
    }
}
