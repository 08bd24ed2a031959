//! BullMQ queues seen from their keys: discovery, per-state job counts and a sampled
//! memory estimate.
//!
//! BullMQ keeps a queue `q` under keys `<prefix>:q:<suffix>` (`wait`, `active`, `delayed`,
//! `meta`, `id`, ...; prefix `bull` by default) and each job in the hash `<prefix>:q:<id>`.
//! Discovery must not walk the keyspace per scrape, so [`QueueNames`] is fed by the
//! keyspace itself: every key *created* goes through [`QueueNames::note`], which costs one
//! prefix comparison for keys outside the prefix. Keys that existed before the prefix was
//! set (a `CONFIG SET metrics-bullmq-prefix`) are found by a bounded incremental SCAN in the
//! cron ([`cron`]). Queues whose keys are all gone are forgotten at the next collection.

use crate::keyspace::Keyspace;
use crate::types::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The job states exported, each the suffix of the key that holds its jobs (a list for the
/// first three, a sorted set for the others).
pub const STATES: [&str; 8] = [
    "wait",
    "active",
    "paused",
    "delayed",
    "prioritized",
    "completed",
    "failed",
    "waiting-children",
];

/// Suffixes that reveal a queue besides the state keys: BullMQ creates `meta` and `id` when
/// the first job is added, and `events` carries its event stream.
const MARKERS: [&str; 3] = ["meta", "id", "events"];

/// Other keys of a queue counted in its memory (`marker`, the priority counter, the stalled
/// set, the rate limiter).
const EXTRA_KEYS: [&str; 5] = ["marker", "pc", "stalled", "stalled-check", "limiter"];

/// Queue names longer than this are not tracked: they cannot be BullMQ's, and the bound
/// keeps the set's memory small whatever keys clients create.
const MAX_NAME: usize = 256;

/// Job hashes sampled per queue for the memory estimate.
const JOB_SAMPLES: usize = 8;

/// Elements sized per big value before extrapolating to its length.
const ELEMENT_SAMPLES: usize = 16;

/// Dict SCAN steps per cron tick while a rescan runs.
const RESCAN_STEPS: usize = 128;

/// A queue: its database and name.
pub type QueueId = (usize, Box<[u8]>);

/// The known queues, by database, fed on key creation.
#[derive(Debug, Default)]
pub struct QueueNames {
    /// `<prefix>:` as bytes; empty turns discovery off.
    prefix: Vec<u8>,
    /// The configured prefix this was set up for (to notice a CONFIG SET).
    configured: Option<String>,
    /// Most queues tracked (`metrics-max-queues`).
    cap: usize,
    /// db → queue names.
    known: BTreeMap<usize, BTreeSet<Box<[u8]>>>,
    /// Queues tracked in all databases.
    count: usize,
    /// Set when a queue was seen but not tracked because `cap` were already known.
    pub overflow: bool,
    /// A SCAN in progress over (database, cursor), to find queues created before.
    rescan: Option<(usize, u64)>,
}

impl QueueNames {
    /// Called by the keyspace for every key it creates.
    #[inline]
    pub fn note(&mut self, db: usize, key: &[u8]) {
        if !self.prefix.is_empty() && key.starts_with(&self.prefix) {
            self.note_prefixed(db, &key[self.prefix.len()..]);
        }
    }

    fn note_prefixed(&mut self, db: usize, rest: &[u8]) {
        let Some((name, suffix)) = split_queue_key(rest) else { return };
        let reveals = STATES.iter().chain(MARKERS.iter()).any(|s| s.as_bytes() == suffix);
        if !reveals || self.known.get(&db).is_some_and(|s| s.contains(name)) {
            return;
        }
        if self.count >= self.cap {
            self.overflow = true;
            return;
        }
        self.known.entry(db).or_default().insert(name.into());
        self.count += 1;
    }

    /// Follows the configuration: a new prefix forgets every queue and starts a rescan.
    pub fn configure(&mut self, prefix: &str, cap: usize) {
        self.cap = cap;
        if self.configured.as_deref() == Some(prefix) {
            return;
        }
        self.configured = Some(prefix.to_string());
        self.known.clear();
        self.count = 0;
        self.overflow = false;
        self.prefix.clear();
        if !prefix.is_empty() {
            self.prefix.extend_from_slice(prefix.as_bytes());
            self.prefix.push(b':');
            self.rescan = Some((0, 0));
        }
    }

    /// The tracked queues, as (db, name), in order.
    pub fn list(&self) -> Vec<QueueId> {
        self.known.iter().flat_map(|(db, set)| set.iter().map(|n| (*db, n.clone()))).collect()
    }

    /// Forgets a queue whose keys are gone; a rescan then looks for queues an overflow left
    /// out.
    fn forget(&mut self, db: usize, name: &[u8]) {
        if let Some(set) = self.known.get_mut(&db) {
            if set.remove(name) {
                self.count -= 1;
            }
        }
        if std::mem::take(&mut self.overflow) && self.rescan.is_none() {
            self.rescan = Some((0, 0));
        }
    }
}

/// `name:suffix` with a name free of `:` (BullMQ refuses queue names holding one).
fn split_queue_key(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = rest.iter().position(|&b| b == b':')?;
    let (name, suffix) = (&rest[..colon], &rest[colon + 1..]);
    (!name.is_empty() && name.len() <= MAX_NAME).then_some((name, suffix))
}

/// The cron's part: follows the configuration and advances a rescan by a bounded step.
pub fn cron(ks: &mut Keyspace, prefix: &str, cap: usize) {
    ks.queues.configure(prefix, cap);
    let Some((mut db, mut cursor)) = ks.queues.rescan else { return };
    let mut found = Vec::new();
    for _ in 0..RESCAN_STEPS {
        if db >= ks.db_count() {
            break;
        }
        let prefix = &ks.queues.prefix;
        cursor = ks.db(db).dict().scan(cursor, |k, _| {
            if k.starts_with(prefix) {
                found.push((db, Box::<[u8]>::from(k)));
            }
        });
        if cursor == 0 {
            db += 1;
        }
    }
    ks.queues.rescan = (db < ks.db_count()).then_some((db, cursor));
    for (db, key) in found {
        ks.queues.note(db, &key);
    }
}

/// One queue's figures at collection time.
#[derive(Debug, Clone)]
pub struct QueueFigures {
    /// Database number.
    pub db: usize,
    /// Queue name.
    pub name: Box<[u8]>,
    /// Jobs per state, in [`STATES`] order.
    pub counts: [u64; 8],
    /// Estimated bytes of the queue's keys and job hashes.
    pub memory: u64,
}

impl QueueFigures {
    /// Jobs waiting to be processed: wait, paused, delayed and prioritized.
    pub fn backlog(&self) -> u64 {
        self.counts[0] + self.counts[2] + self.counts[3] + self.counts[4]
    }
}

/// The figures of every tracked queue (forgetting queues with no key left). With
/// `with_memory` false the memory estimate is skipped (the history sampler needs counts
/// only).
pub fn collect(ks: &mut Keyspace, with_memory: bool) -> Vec<QueueFigures> {
    let prefix = ks.queues.prefix.clone();
    let mut out = Vec::new();
    let mut gone = Vec::new();
    for (db, name) in ks.queues.list() {
        let dict = ks.db(db).dict();
        let key = |suffix: &[u8]| {
            let mut k = Vec::with_capacity(prefix.len() + name.len() + 1 + suffix.len());
            k.extend_from_slice(&prefix);
            k.extend_from_slice(&name);
            k.push(b':');
            k.extend_from_slice(suffix);
            k
        };
        let mut counts = [0u64; 8];
        let mut present = false;
        let mut memory = 0u64;
        let mut ids: Vec<Vec<u8>> = Vec::new();
        for (i, state) in STATES.iter().enumerate() {
            let k = key(state.as_bytes());
            let Some(entry) = dict.get(&k) else { continue };
            present = true;
            counts[i] = match &entry.value {
                Value::List(l) => l.len() as u64,
                Value::ZSet(z) => z.len() as u64,
                _ => 0,
            };
            if with_memory {
                memory += key_size(&k, &entry.value);
                sample_ids(&entry.value, &mut ids);
            }
        }
        for extra in MARKERS.iter().chain(EXTRA_KEYS.iter()) {
            let k = key(extra.as_bytes());
            if let Some(entry) = dict.get(&k) {
                present = true;
                if with_memory {
                    memory += key_size(&k, &entry.value);
                }
            }
        }
        if !present {
            gone.push((db, name));
            continue;
        }
        if with_memory {
            memory += jobs_size(&ids, counts.iter().sum(), |id| {
                let k = key(id);
                dict.get(&k).map(|e| key_size(&k, &e.value))
            });
        }
        out.push(QueueFigures { db, name, counts, memory });
    }
    for (db, name) in gone {
        ks.queues.forget(db, &name);
    }
    out
}

/// Up to [`JOB_SAMPLES`] job ids from a state key, head first.
fn sample_ids(v: &Value, ids: &mut Vec<Vec<u8>>) {
    let room = JOB_SAMPLES.saturating_sub(ids.len());
    match v {
        Value::List(l) => ids.extend(l.iter().take(room).map(|b| b.to_vec())),
        Value::ZSet(z) => ids.extend(z.iter().take(room).map(|(m, _)| m.to_vec())),
        _ => {}
    }
}

/// The job hashes' estimated bytes: the average size of the sampled jobs that exist, times
/// the number of jobs.
fn jobs_size(ids: &[Vec<u8>], jobs: u64, size_of: impl Fn(&[u8]) -> Option<u64>) -> u64 {
    let sizes: Vec<u64> = ids.iter().filter_map(|id| size_of(id)).collect();
    if sizes.is_empty() {
        return 0;
    }
    sizes.iter().sum::<u64>() / sizes.len() as u64 * jobs
}

/// Bytes a key takes: its name, a table node, and its value (sampled when large).
fn key_size(key: &[u8], v: &Value) -> u64 {
    /// The table node and entry header, as MEMORY USAGE counts them, rounded.
    const NODE: usize = 64;
    (NODE + key.len() + value_size(v)) as u64
}

/// A value's heap bytes. Strings, lists and streams know theirs cheaply; hashes, sets and
/// sorted sets would need a walk of every element, so past [`ELEMENT_SAMPLES`] elements the
/// first ones are sized and the average extrapolated, as `MEMORY USAGE ... SAMPLES` does.
fn value_size(v: &Value) -> usize {
    /// Per-element bookkeeping of the big encodings (table slot, pointers, skiplist links).
    const ELEMENT: usize = 48;
    let extrapolate = |len: usize, sizes: &mut dyn Iterator<Item = usize>| {
        let sampled: Vec<usize> = sizes.take(ELEMENT_SAMPLES).collect();
        let avg = sampled.iter().sum::<usize>() / sampled.len().max(1);
        (avg + ELEMENT) * len
    };
    match v {
        Value::Hash(h) if h.len() > ELEMENT_SAMPLES => {
            extrapolate(h.len(), &mut h.iter().map(|(f, x)| f.len() + x.len()))
        }
        Value::Set(s) if s.len() > ELEMENT_SAMPLES => {
            extrapolate(s.len(), &mut s.iter().map(|m| m.len()))
        }
        Value::ZSet(z) if z.len() > ELEMENT_SAMPLES => {
            extrapolate(z.len(), &mut z.iter().map(|(m, _)| m.len() + 8))
        }
        _ => v.heap_size(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(q: &QueueNames) -> Vec<(usize, Vec<u8>)> {
        q.list().into_iter().map(|(d, n)| (d, n.to_vec())).collect()
    }

    #[test]
    fn notes_only_queue_keys_under_the_prefix() {
        let mut q = QueueNames::default();
        q.configure("bull", 10);
        q.note(0, b"bull:emails:wait");
        q.note(0, b"bull:emails:42");
        q.note(0, b"bull:reports:meta");
        q.note(1, b"bull:other:id");
        q.note(0, b"bull:x:y:wait"); // name with a colon: not BullMQ's
        q.note(0, b"bullx:q:wait");
        q.note(0, b"other:q:wait");
        q.note(0, b"bull::wait");
        assert_eq!(
            names(&q),
            vec![(0, b"emails".to_vec()), (0, b"reports".to_vec()), (1, b"other".to_vec())]
        );
    }

    #[test]
    fn stops_at_the_cap_and_flags_overflow() {
        let mut q = QueueNames::default();
        q.configure("bull", 2);
        for n in ["a", "b", "c"] {
            q.note(0, format!("bull:{n}:wait").as_bytes());
        }
        assert_eq!(names(&q).len(), 2);
        assert!(q.overflow);
        q.forget(0, b"a");
        assert!(!q.overflow);
        assert_eq!(q.rescan, Some((0, 0)));
    }

    #[test]
    fn a_new_prefix_forgets_and_an_empty_one_turns_discovery_off() {
        let mut q = QueueNames::default();
        q.configure("bull", 10);
        q.note(0, b"bull:a:wait");
        q.configure("jobs", 10);
        assert!(names(&q).is_empty());
        q.note(0, b"bull:a:wait");
        q.note(0, b"jobs:b:wait");
        assert_eq!(names(&q), vec![(0, b"b".to_vec())]);
        q.configure("", 10);
        q.note(0, b":c:wait");
        assert!(names(&q).is_empty());
    }

    #[test]
    fn job_memory_is_the_sample_average_times_the_jobs() {
        let ids = vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()];
        let size = |id: &[u8]| match id {
            b"1" => Some(100),
            b"2" => Some(300),
            _ => None,
        };
        assert_eq!(jobs_size(&ids, 10, size), 2000);
        assert_eq!(jobs_size(&[], 10, size), 0);
    }
}
