//! A hash value (`TYPE` = `hash`): a packed buffer for small hashes, a [`Dict`] for big ones.
//!
//! Redis keeps a small hash as a `listpack` (pairs in insertion order, which clients see in
//! HGETALL) and converts it for good to a `hashtable` once it has more fields than
//! `hash-max-listpack-entries` or any field or value longer than `hash-max-listpack-value`
//! bytes. Keel reports exactly the encoding Redis would have (`OBJECT ENCODING`, the RDB/DUMP
//! type), but stores more hashes packed than Redis does: a hash Redis would have converted
//! only because a value is a little over 64 bytes (a BullMQ job's `data` and `opts` JSON,
//! typically) stays in one packed buffer while that buffer is at most [`PACKED_MAX_BYTES`]
//! and the field count within the entry limit. That is what holds a waiting job in well
//! under half of what Redis spends on it: one allocation instead of a table, a node per field
//! and two strings per node.
//!
//! The "Redis would have converted" bit is set by the same rules Redis converts by and never
//! clears, as Redis never converts back. A hash reported as `hashtable` has no defined field
//! order, so its packed form can keep insertion order; HSCAN returns it whole in one call
//! with cursor 0, as Redis does for a listpack, which is a valid full iteration.
//!
//! The packed buffer and its shared values are [`Pairs`] (`pairs.rs`): a long value that
//! many job hashes repeat, such as BullMQ's `opts`, is stored once.

use crate::memory::defrag::{relocate_dict, RelocateVec, NO_STEP};
use crate::types::dict::{Dict, RelocateStep};
use crate::types::pairs::{entry_size, Pairs};
use rand::Rng;

/// Largest packed buffer kept for a hash Redis would hold as a hashtable. A write rewrites
/// the buffer and a lookup walks it, so both stay a few hundred nanoseconds at this size,
/// while it holds a BullMQ job with kilobyte-sized data, result or stack trace.
pub const PACKED_MAX_BYTES: usize = 4096;

/// The conversion thresholds, read from the config by the command layer.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `hash-max-listpack-entries`.
    pub max_entries: usize,
    /// `hash-max-listpack-value`.
    pub max_value: usize,
}

/// A hash.
#[derive(Default)]
pub struct HashValue {
    repr: Repr,
}

enum Repr {
    /// Pairs in insertion order in one buffer.
    Packed(Packed),
    /// A hash table (boxed, so a hash costs a pointer in the keyspace entry until it is big).
    Table(Box<Dict<Box<[u8]>>>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Packed(Packed::default())
    }
}

#[derive(Clone, Default)]
struct Packed {
    /// The pairs.
    pairs: Pairs,
    /// Number of pairs (a `u32` keeps the hash as small as a string value in the
    /// keyspace entry; a packed hash never holds more than `hash-max-listpack-entries`).
    len: u32,
    /// Redis would hold this hash as a hashtable (what `OBJECT ENCODING` reports).
    redis_table: bool,
}

// Written by hand rather than derived so the value does not depend on which traits the
// dict implements.
impl Clone for HashValue {
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Packed(p) => Repr::Packed(p.clone()),
            Repr::Table(d) => {
                let mut copy = Dict::new();
                for (k, v) in d.iter() {
                    copy.insert(k, v.clone());
                }
                Repr::Table(Box::new(copy))
            }
        };
        HashValue { repr }
    }
}

impl std::fmt::Debug for HashValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashValue({}, {} fields)", self.encoding(), self.len())
    }
}

impl Packed {
    /// Sets `field` to `value`; true if the field is new.
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let created = self.pairs.set(field, value);
        self.len += u32::from(created);
        created
    }

    /// Removes `field`; true if it existed.
    fn remove(&mut self, field: &[u8]) -> bool {
        let removed = self.pairs.remove(field);
        self.len -= u32::from(removed);
        removed
    }
}

impl HashValue {
    /// An empty hash in the compact encoding.
    pub fn new() -> HashValue {
        HashValue::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len as usize,
            Repr::Table(d) => d.len(),
        }
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when Redis would hold this hash as a hashtable.
    fn redis_table(&self) -> bool {
        match &self.repr {
            Repr::Packed(p) => p.redis_table,
            Repr::Table(_) => true,
        }
    }

    /// The name `OBJECT ENCODING` replies with: the encoding Redis would have.
    pub fn encoding(&self) -> &'static str {
        if self.redis_table() {
            "hashtable"
        } else {
            "listpack"
        }
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.pairs.heap_size(),
            Repr::Table(d) => {
                std::mem::size_of::<Dict<Box<[u8]>>>()
                    + d.overhead_bytes()
                    + d.iter().map(|(_, v)| v.len()).sum::<usize>()
            }
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(p) => p.pairs.find(field).map(|(_, v)| v),
            Repr::Table(d) => d.get(field).map(|v| &v[..]),
        }
    }

    /// True if `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Records that Redis would now hold the hash as a hashtable (for good).
    fn mark_redis_table(&mut self) {
        if let Repr::Packed(p) = &mut self.repr {
            p.redis_table = true;
        }
    }

    /// Moves a hash Redis would hold as a hashtable into a real table once it has more than
    /// `extra_pairs` + its fields over the entry limit, or its buffer plus `extra_bytes`
    /// would pass [`PACKED_MAX_BYTES`]. A hash Redis holds as a listpack stays packed
    /// whatever its size, because its order is visible.
    fn settle(&mut self, limits: Limits, extra_pairs: usize, extra_bytes: usize) {
        if let Repr::Packed(p) = &self.repr {
            // The count is a `u32`: a (theoretical) four-billionth field moves to the table
            // rather than overflow it.
            if p.len == u32::MAX
                || p.redis_table
                    && ((p.len as usize).saturating_add(extra_pairs) > limits.max_entries
                        || p.pairs.buf_len().saturating_add(extra_bytes) > PACKED_MAX_BYTES)
            {
                self.convert();
            }
        }
    }

    /// Converts ahead of a write of `items` (alternating fields and values), as Redis does
    /// before HSET: a command bringing more pairs than the listpack may hold converts at once
    /// (Redis 7.2 guesses the fields are new), and so does any item too long for it.
    pub fn prepare_for(&mut self, items: &[impl AsRef<[u8]>], limits: Limits) {
        if items.len() / 2 > limits.max_entries
            || items.iter().any(|i| i.as_ref().len() > limits.max_value)
        {
            self.mark_redis_table();
        }
        // What the items add at most, so a big write goes straight to the table.
        let bytes = items.iter().map(|i| i.as_ref().len() + 10).sum();
        self.settle(limits, items.len() / 2, bytes);
    }

    /// Sets `field` to `value`; true if the field is new. A field or value too long for the
    /// listpack converts (as reported) first, and exceeding the entry limit converts after
    /// the insert.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: Limits) -> bool {
        if field.len() > limits.max_value || value.len() > limits.max_value {
            self.mark_redis_table();
        }
        self.settle(limits, 0, entry_size(field, value));
        let created = match &mut self.repr {
            Repr::Packed(p) => p.set(field, value),
            Repr::Table(d) => d.insert(field, value.into()).is_none(),
        };
        if self.len() > limits.max_entries {
            self.mark_redis_table();
        }
        self.settle(limits, 0, 0);
        created
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => p.remove(field),
            Repr::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Every pair: insertion order when packed, table order otherwise.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.repr {
            Repr::Packed(p) => Box::new(p.pairs.iter()),
            Repr::Table(d) => Box::new(d.iter().map(|(k, v)| (k, &v[..]))),
        }
    }

    /// One SCAN step from `cursor`, calling `f` for each pair visited; returns the next
    /// cursor. A packed hash is returned whole in one step (cursor 0), as Redis does for a
    /// listpack. A table goes on (in whole buckets) until `count` reply items were
    /// gathered, a field and its value counting as two as in Redis, or the scan completes,
    /// trying at most ten buckets per requested item so a sparse table cannot stall the
    /// server.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (k, val) in p.pairs.iter() {
                    f(k, val);
                }
                0
            }
            Repr::Table(d) => {
                let mut next = cursor;
                let mut visited = 0usize;
                let mut budget = count.saturating_mul(10);
                loop {
                    next = d.scan(next, |k, val| {
                        visited += 2;
                        f(k, val);
                    });
                    budget = budget.saturating_sub(1);
                    if next == 0 || budget == 0 || visited >= count {
                        return next;
                    }
                }
            }
        }
    }

    /// `count` pairs chosen at random, repeats allowed.
    pub fn random_pairs(&self, count: usize, rng: &mut impl Rng) -> Vec<(&[u8], &[u8])> {
        let all: Vec<(&[u8], &[u8])> = self.iter().collect();
        if all.is_empty() {
            return Vec::new();
        }
        (0..count).map(|_| all[rng.random_range(0..all.len())]).collect()
    }

    /// `count` distinct pairs chosen at random (`count` < `len`). A listpack gives them in
    /// its own order, as Redis 7.2 does; a hashtable (as reported) in random order.
    pub fn random_distinct_pairs(&self, count: usize, rng: &mut impl Rng) -> Vec<(&[u8], &[u8])> {
        let mut all: Vec<(&[u8], &[u8])> = self.iter().collect();
        let count = count.min(all.len());
        if self.redis_table() {
            // A partial Fisher-Yates shuffle: the first `count` slots end up a uniform
            // random selection.
            for i in 0..count {
                let j = rng.random_range(i..all.len());
                all.swap(i, j);
            }
            all.truncate(count);
            all
        } else {
            let mut picked = rand::seq::index::sample(rng, all.len(), count).into_vec();
            picked.sort_unstable();
            picked.into_iter().map(|i| all[i]).collect()
        }
    }

    /// Moves the pairs into a real table (no-op if already there).
    fn convert(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut d = Dict::new();
            for (k, val) in p.pairs.iter() {
                d.insert(k, val.into());
            }
            self.repr = Repr::Table(Box::new(d));
        }
    }
}

/// Active defragmentation hooks (see `memory/defrag.rs`).
impl HashValue {
    /// Offers the fixed blocks: the packed buffer, or the table's box.
    pub fn defrag_fixed(&mut self, mv: &mut impl RelocateVec) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => p.pairs.defrag(mv),
            Repr::Table(d) => mv.relocate(d),
        }
    }

    /// Fields the element walk covers (none for a packed hash, moved whole).
    pub fn defrag_elements(&self) -> usize {
        match &self.repr {
            Repr::Packed(_) => 0,
            Repr::Table(d) => d.len(),
        }
    }

    /// Offers up to `max` fields from `cursor` (the table's SCAN cursor).
    pub fn defrag_elements_from(
        &mut self,
        mv: &mut impl RelocateVec,
        cursor: u64,
        max: usize,
    ) -> RelocateStep {
        match &mut self.repr {
            Repr::Packed(_) => NO_STEP,
            Repr::Table(d) => relocate_dict(d, mv, cursor, max, |mv, v| mv.relocate_bytes(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const SMALL: Limits = Limits { max_entries: 3, max_value: 4 };
    const REDIS: Limits = Limits { max_entries: 128, max_value: 64 };

    fn is_packed(h: &HashValue) -> bool {
        matches!(h.repr, Repr::Packed(_))
    }

    #[test]
    fn keeps_insertion_order_and_converts_one_way() {
        let mut h = HashValue::new();
        assert!(h.set(b"b", b"1", SMALL));
        assert!(h.set(b"a", b"2", SMALL));
        assert!(!h.set(b"b", b"3", SMALL));
        let order: Vec<&[u8]> = h.iter().map(|(k, _)| k).collect();
        assert_eq!(order, vec![&b"b"[..], &b"a"[..]]);
        assert_eq!(h.get(b"b"), Some(&b"3"[..]));
        assert_eq!(h.encoding(), "listpack");
        h.set(b"c", b"1", SMALL);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"d", b"1", SMALL);
        assert_eq!(h.encoding(), "hashtable");
        assert!(!is_packed(&h));
        assert!(h.remove(b"d") && h.remove(b"c") && !h.remove(b"zz"));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn long_items_report_hashtable_but_stay_packed() {
        let mut h = HashValue::new();
        h.set(b"f", b"12345", SMALL);
        assert_eq!(h.encoding(), "hashtable");
        assert!(is_packed(&h));
        // Shrinking the value back does not revert the reported encoding.
        h.set(b"f", b"1", SMALL);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::new();
        h.prepare_for(&[&b"a"[..], b"1", b"b", b"2", b"a", b"3", b"a", b"4"], SMALL);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn bullmq_job_is_one_small_allocation() {
        let mut h = HashValue::new();
        let data = vec![b'd'; 150];
        let opts = vec![b'o'; 90];
        let fields: [(&[u8], &[u8]); 6] = [
            (b"name", b"send-invoice"),
            (b"data", &data),
            (b"opts", &opts),
            (b"timestamp", b"1764370000000"),
            (b"delay", b"0"),
            (b"priority", b"0"),
        ];
        for (f, v) in fields {
            assert!(h.set(f, v, REDIS));
        }
        assert_eq!(h.encoding(), "hashtable");
        assert!(is_packed(&h));
        let expected: usize = fields.iter().map(|(f, v)| entry_size(f, v)).sum();
        assert_eq!(h.heap_size(), expected);
        assert!(h.heap_size() < 320, "{}", h.heap_size());
        // As small as a string value, so a hash key costs no more in the keyspace entry.
        assert_eq!(std::mem::size_of::<HashValue>(), 24);
        assert_eq!(h.get(b"opts"), Some(&opts[..]));
        assert_eq!(h.iter().map(|(f, _)| f).collect::<Vec<_>>(), fields.map(|(f, _)| f));
    }

    #[test]
    fn big_buffers_and_many_fields_move_to_the_table() {
        let mut h = HashValue::new();
        h.set(b"big", &[b'x'; 100], REDIS);
        // Distinct values: a repeated one would be shared and keep the buffer small.
        for i in 0..40u8 {
            h.set(&[b'f', i], &[i; 100], REDIS);
        }
        assert!(!is_packed(&h), "a buffer over the bound becomes a table");
        assert_eq!(h.len(), 41);
        assert_eq!(h.get(&[b'f', 7]), Some(&[7; 100][..]));
        // A listpack (as Redis holds it) stays packed whatever its byte size.
        let wide = Limits { max_entries: 128, max_value: 100_000 };
        let mut h = HashValue::new();
        h.set(b"f", &vec![b'y'; 50_000], wide);
        assert!(is_packed(&h) && h.encoding() == "listpack");
        // More fields than the limit: a table, reported as such.
        let mut h = HashValue::new();
        for i in 0..=128u8 {
            h.set(&[i], b"v", REDIS);
        }
        assert!(!is_packed(&h) && h.encoding() == "hashtable");
    }

    #[test]
    fn packed_edits_keep_entries_intact() {
        let mut h = HashValue::new();
        let long = vec![b'z'; 300]; // a two-byte varint
        h.set(b"a", b"", REDIS);
        h.set(b"", b"empty field", REDIS);
        h.set(b"b\x00\xff", &long, REDIS);
        h.set(b"a", b"again", REDIS);
        assert_eq!(h.get(b""), Some(&b"empty field"[..]));
        assert_eq!(h.get(b"b\x00\xff"), Some(&long[..]));
        assert!(h.remove(b""));
        assert!(!h.remove(b""));
        let all: Vec<(&[u8], &[u8])> = h.iter().collect();
        assert_eq!(all, vec![(&b"a"[..], &b"again"[..]), (&b"b\x00\xff"[..], &long[..])]);
        assert_eq!(h.len(), 2);
        assert_eq!(h.heap_size(), entry_size(b"a", b"again") + entry_size(b"b\x00\xff", &long));
    }

    #[test]
    fn random_pairs_properties() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut h = HashValue::new();
        for i in 0..10u8 {
            h.set(&[b'a' + i], &[i], Limits { max_entries: 100, max_value: 64 });
        }
        assert_eq!(h.random_pairs(25, &mut rng).len(), 25);
        let picked = h.random_distinct_pairs(6, &mut rng);
        assert_eq!(picked.len(), 6);
        // Listpack order is kept: the fields come out sorted here because they went in so.
        assert!(picked.windows(2).all(|w| w[0].0 < w[1].0));
        for (k, v) in &picked {
            assert_eq!(h.get(k), Some(*v));
        }
        h.convert();
        let picked = h.random_distinct_pairs(9, &mut rng);
        let mut keys: Vec<&[u8]> = picked.iter().map(|(k, _)| *k).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 9);
    }

    #[test]
    fn scan_returns_everything() {
        let mut h = HashValue::new();
        let big = Limits { max_entries: 0, max_value: 64 };
        for i in 0..50u8 {
            h.set(&[i], b"v", big);
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, 5, |k, _| seen.push(k.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 50);
        // Packed but reported as a hashtable: one step, cursor 0, every pair.
        let mut h = HashValue::new();
        h.set(b"f", &[b'x'; 65], REDIS);
        h.set(b"g", b"1", REDIS);
        let mut n = 0;
        assert_eq!(h.scan(0, 1, |_, _| n += 1), 0);
        assert_eq!(n, 2);
    }
}
