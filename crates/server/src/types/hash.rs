//! A hash value (`TYPE` = `hash`) with Redis's two encodings.
//!
//! Small hashes are a `listpack`: field/value pairs in a vector, kept in insertion order
//! (clients see that order in HGETALL, so it must match Redis). Once a hash has more fields
//! than `hash-max-listpack-entries`, or any field or value longer than
//! `hash-max-listpack-value` bytes, it becomes a `hashtable` (a [`Dict`]) and never goes back,
//! as in Redis.

use crate::types::dict::Dict;
use rand::Rng;

/// The conversion thresholds, read from the config by the command layer.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `hash-max-listpack-entries`.
    pub max_entries: usize,
    /// `hash-max-listpack-value`.
    pub max_value: usize,
}

/// One field and its value.
pub type Pair = (Box<[u8]>, Box<[u8]>);

/// A hash.
pub enum HashValue {
    /// Pairs in insertion order (`listpack`).
    Listpack(Vec<Pair>),
    /// A hash table (`hashtable`).
    Table(Dict<Box<[u8]>>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Vec::new())
    }
}

// Written by hand rather than derived so the value does not depend on which traits the
// dict implements.
impl Clone for HashValue {
    fn clone(&self) -> Self {
        match self {
            HashValue::Listpack(v) => HashValue::Listpack(v.clone()),
            HashValue::Table(d) => {
                let mut copy = Dict::new();
                for (k, v) in d.iter() {
                    copy.insert(k.into(), v.clone());
                }
                HashValue::Table(copy)
            }
        }
    }
}

impl std::fmt::Debug for HashValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashValue({}, {} fields)", self.encoding(), self.len())
    }
}

impl HashValue {
    /// An empty hash in the compact encoding.
    pub fn new() -> HashValue {
        HashValue::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(v) => v.len(),
            HashValue::Table(d) => d.len(),
        }
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        // Each pair costs its bytes plus two boxed-slice headers (and a table slot).
        let per_pair = 2 * std::mem::size_of::<Box<[u8]>>();
        self.iter().map(|(k, v)| k.len() + v.len() + per_pair).sum()
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(v) => v.iter().find(|(k, _)| &k[..] == field).map(|(_, v)| &v[..]),
            HashValue::Table(d) => d.get(field).map(|v| &v[..]),
        }
    }

    /// True if `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Converts ahead of a write of `items` (alternating fields and values), as Redis does
    /// before HSET: a command bringing more pairs than the listpack may hold converts at once
    /// (Redis 7.2 guesses the fields are new), and so does any item too long for it.
    pub fn prepare_for(&mut self, items: &[impl AsRef<[u8]>], limits: Limits) {
        if matches!(self, HashValue::Listpack(_))
            && (items.len() / 2 > limits.max_entries
                || items.iter().any(|i| i.as_ref().len() > limits.max_value))
        {
            self.convert();
        }
    }

    /// Sets `field` to `value`; true if the field is new. A field or value too long for the
    /// listpack converts first, and exceeding the entry limit converts after the insert.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: Limits) -> bool {
        if field.len() > limits.max_value || value.len() > limits.max_value {
            self.convert();
        }
        let created = match self {
            HashValue::Listpack(v) => match v.iter_mut().find(|(k, _)| &k[..] == field) {
                Some((_, old)) => {
                    *old = value.into();
                    false
                }
                None => {
                    v.push((field.into(), value.into()));
                    true
                }
            },
            HashValue::Table(d) => d.insert(field.into(), value.into()).is_none(),
        };
        if self.len() > limits.max_entries {
            self.convert();
        }
        created
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(v) => match v.iter().position(|(k, _)| &k[..] == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            HashValue::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Every pair: insertion order for a listpack, table order otherwise.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            HashValue::Listpack(v) => Box::new(v.iter().map(|(k, v)| (&k[..], &v[..]))),
            HashValue::Table(d) => Box::new(d.iter().map(|(k, v)| (k, &v[..]))),
        }
    }

    /// One SCAN step from `cursor`, calling `f` for each pair visited; returns the next
    /// cursor. A listpack is returned whole in one step (cursor 0), as Redis does. A table
    /// goes on (in whole buckets) until `count` reply items were gathered, a field and its
    /// value counting as two as in Redis, or the scan completes, trying at most ten buckets
    /// per requested item so a sparse table cannot stall the server.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            HashValue::Listpack(v) => {
                for (k, val) in v {
                    f(k, val);
                }
                0
            }
            HashValue::Table(d) => {
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
    /// its own order, as Redis 7.2 does; a table in random order.
    pub fn random_distinct_pairs(&self, count: usize, rng: &mut impl Rng) -> Vec<(&[u8], &[u8])> {
        let mut all: Vec<(&[u8], &[u8])> = self.iter().collect();
        let count = count.min(all.len());
        match self {
            HashValue::Listpack(_) => {
                let mut picked = rand::seq::index::sample(rng, all.len(), count).into_vec();
                picked.sort_unstable();
                picked.into_iter().map(|i| all[i]).collect()
            }
            HashValue::Table(_) => {
                // A partial Fisher-Yates shuffle: the first `count` slots end up a uniform
                // random selection.
                for i in 0..count {
                    let j = rng.random_range(i..all.len());
                    all.swap(i, j);
                }
                all.truncate(count);
                all
            }
        }
    }

    /// Switches to the hashtable encoding (no-op if already there).
    fn convert(&mut self) {
        if let HashValue::Listpack(v) = self {
            let mut d = Dict::new();
            for (k, val) in std::mem::take(v) {
                d.insert(k, val);
            }
            *self = HashValue::Table(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const SMALL: Limits = Limits { max_entries: 3, max_value: 4 };

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
        assert!(h.remove(b"d") && h.remove(b"c") && !h.remove(b"zz"));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn long_items_convert() {
        let mut h = HashValue::new();
        h.set(b"f", b"12345", SMALL);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::new();
        h.prepare_for(&[&b"a"[..], b"1", b"b", b"2", b"a", b"3", b"a", b"4"], SMALL);
        assert_eq!(h.encoding(), "hashtable");
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
    }
}
