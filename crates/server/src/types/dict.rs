//! `Dict<V>`: the keyspace hash table, keyed by binary-safe byte strings.
//!
//! # Layout
//!
//! The table is built like the classic Redis dictionary: separate chaining
//! (each bucket is a singly linked list of boxed nodes) over bucket arrays
//! whose length is always a power of two, so a key's bucket is simply
//! `hash & (len - 1)`. There are two such arrays, `ht[0]` and `ht[1]`. In the
//! steady state only `ht[0]` is in use. When the table has to change size, a
//! new array of the target size is put in `ht[1]` and entries migrate from the
//! old array into the new one bucket by bucket; when `ht[0]` is empty the new
//! array takes its place and `ht[1]` is released.
//!
//! * The table grows when the number of entries reaches the number of buckets
//!   (load factor 1), to the next power of two above the entry count.
//! * It shrinks when it is less than 1/8 full, to the smallest power of two
//!   that holds every entry, but never below [`MIN_BUCKETS`] buckets.
//! * The hash is foldhash with a per-table random seed, so bucket placement is
//!   not predictable from outside (hash flooding resistance), and the same
//!   hash function serves both arrays, which the cursor scheme below needs.
//!
//! # Why rehashing is incremental
//!
//! Moving every entry to a new array in one go costs time proportional to the
//! size of the table. For a keyspace of tens of millions of keys that is a
//! pause of a good fraction of a second, and because the server answers every
//! client from one thread, all clients would see that pause as latency on
//! whatever command happened to trigger the resize. Instead the work is spread
//! out: every `insert`, `get_mut` and `remove` first moves one bucket of the
//! old array (skipping at most ten empty buckets while looking for one), and
//! the server's cron can spend a bounded slice of idle time on it via
//! [`Dict::rehash_for`]. Each operation therefore pays a small constant extra
//! cost, and the resize finishes after a number of operations proportional to
//! the table size. While a migration is in progress lookups consult both
//! arrays (skipping buckets of the old array that were already emptied) and
//! new entries always go into the new array, so the old one only ever drains.
//!
//! # Why the SCAN cursor survives resizes
//!
//! A bucket index in a table of `2^n` buckets is the low `n` bits of the hash.
//! When the table grows to `2^(n+k)` buckets, the entries of small bucket `b`
//! spread over the large buckets whose low `n` bits equal `b`; when it shrinks,
//! those large buckets fold back into `b`. So the relation between tables of
//! different sizes is all about the *low* bits.
//!
//! The cursor is the index of the next bucket to visit, but it advances in
//! *reversed* bit order: it is incremented at its most significant masked bit
//! and carries towards bit 0. (Concretely: set all bits above the mask, reverse
//! the word, add one, reverse back; the set high bits make the carry fall
//! straight into the top masked bit.) Read that way, the buckets already
//! visited are exactly those whose reversed index is smaller than the reversed
//! cursor, and that set is described by the low bits alone:
//!
//! * If the table grows, every large bucket whose low `n` bits belong to an
//!   already visited small bucket holds only entries that were already
//!   reported, and those are precisely the large buckets that come before the
//!   cursor in reversed order. The cursor (which keeps its value) therefore
//!   resumes at the right place in the large table: nothing is missed and
//!   nothing is repeated.
//! * If the table shrinks, the cursor is reduced to its low bits and lands on
//!   a small bucket that merges the current large bucket with some siblings
//!   that may already have been visited. Those entries may be reported again,
//!   but no entry that stayed in the table is skipped.
//!
//! A plain increasing cursor would not have this property: after a growth the
//! already-visited region would correspond to scattered buckets of the new
//! table, and the scan would miss or repeat large portions.
//!
//! While a migration is in progress an entry can be in either array, so a scan
//! step visits the cursor's bucket in the smaller array and then every bucket
//! of the larger array that expands from it (the ones sharing its low bits),
//! advancing the cursor through those expansions and returning once the carry
//! reaches the bits the two masks share. Consequently an element that is in
//! the dictionary for the whole duration of a scan is reported at least once,
//! however the table was resized between the calls, and elements may repeat.

use std::hash::{BuildHasher, Hasher};
use std::iter::FusedIterator;
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;

/// Smallest bucket array a non-empty table uses (and the floor for shrinking).
pub const MIN_BUCKETS: usize = 4;
/// Shrink when fewer than one entry per `SHRINK_RATIO` buckets is used.
const SHRINK_RATIO: usize = 8;
/// Empty buckets a single rehash step may skip per bucket it is asked to move.
const EMPTY_VISITS_PER_STEP: usize = 10;
/// Buckets moved between clock checks in [`Dict::rehash_for`].
const REHASH_BATCH: usize = 100;
/// Random probes `random_entry` makes before falling back to a linear search.
const RANDOM_PROBES: usize = 64;

mod node;

use node::{Link, Node};

/// One bucket array. `buckets.len()` is zero or a power of two.
struct Table<V> {
    buckets: Vec<Link<V>>,
    used: usize,
}

impl<V> Table<V> {
    fn empty() -> Self {
        Table { buckets: Vec::new(), used: 0 }
    }

    fn with_buckets(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        let mut buckets = Vec::with_capacity(n);
        buckets.resize_with(n, || None);
        Table { buckets, used: 0 }
    }

    #[inline]
    fn size(&self) -> usize {
        self.buckets.len()
    }

    /// Bucket mask; only meaningful when the table has buckets.
    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// Drop every node without recursing down the chains.
    fn drop_nodes(&mut self) {
        for bucket in &mut self.buckets {
            let mut cur = bucket.take();
            while let Some(mut node) = cur {
                cur = node.next_mut().take();
            }
        }
        self.used = 0;
    }
}

impl<V> Drop for Table<V> {
    fn drop(&mut self) {
        self.drop_nodes();
    }
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table::empty()
    }
}

#[inline]
fn hash_key(hasher: &RandomState, key: &[u8]) -> u64 {
    let mut h = hasher.build_hasher();
    h.write(key);
    h.finish()
}

#[inline]
fn chain_find<'a, V>(mut cur: Option<&'a Node<V>>, key: &[u8]) -> Option<&'a Node<V>> {
    while let Some(node) = cur {
        if node.key() == key {
            return Some(node);
        }
        cur = node.next();
    }
    None
}

#[inline]
fn chain_find_mut<'a, V>(mut cur: Option<&'a mut Node<V>>, key: &[u8]) -> Option<&'a mut Node<V>> {
    while let Some(node) = cur {
        if node.key() == key {
            return Some(node);
        }
        cur = node.next_mut().as_mut();
    }
    None
}

/// Detach the node holding `key` from the chain starting at `link`.
fn chain_unlink<V>(mut link: &mut Link<V>, key: &[u8]) -> Option<Node<V>> {
    loop {
        let found = match link.as_ref() {
            None => return None,
            Some(node) => node.key() == key,
        };
        if found {
            let mut node = link.take()?;
            *link = node.next_mut().take();
            return Some(node);
        }
        link = link.as_mut()?.next_mut();
    }
}

#[inline]
fn chain_visit<V>(mut cur: Option<&Node<V>>, f: &mut impl FnMut(&[u8], &V)) {
    while let Some(node) = cur {
        f(node.key(), node.value());
        cur = node.next();
    }
}

/// A hash table from byte-string keys to `V` with incremental rehashing and a
/// resize-tolerant SCAN cursor. See the module documentation.
pub struct Dict<V> {
    ht: [Table<V>; 2],
    /// `Some(i)` while migrating `ht[0]` into `ht[1]`: buckets of `ht[0]`
    /// below `i` are already empty.
    rehash_idx: Option<usize>,
    /// Total length of all stored keys, for [`Dict::overhead_bytes`].
    key_bytes: usize,
    hasher: RandomState,
    /// Set while a snapshot walks the table in SCAN order: no shrink may start, because a
    /// shrink can report entries twice and breaks [`Dict::scan_visited`].
    hold_shrink: bool,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for Dict<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(k, v)| (String::from_utf8_lossy(k), v))).finish()
    }
}

impl<V> Dict<V> {
    /// An empty dictionary. Does not allocate until the first insert.
    pub fn new() -> Self {
        Dict {
            ht: [Table::empty(), Table::empty()],
            rehash_idx: None,
            key_bytes: 0,
            hasher: RandomState::default(),
            hold_shrink: false,
        }
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.ht[0].used + self.ht[1].used
    }

    /// True if there are no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a migration between the two bucket arrays is in progress.
    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Total buckets of both arrays.
    pub fn bucket_count(&self) -> usize {
        self.ht[0].size() + self.ht[1].size()
    }

    /// Bytes of the block an entry with a key of `key_len` bytes takes (before the
    /// allocator rounds it up to its size class).
    pub fn entry_block(key_len: usize) -> usize {
        Node::<V>::block_size(key_len)
    }

    /// Approximate heap bytes owned by the table structure itself: the bucket
    /// arrays, the nodes (which embed `V` inline) and the key bytes. Heap
    /// memory owned *by* the values is not counted.
    pub fn overhead_bytes(&self) -> usize {
        let slots = self.ht[0].buckets.capacity() + self.ht[1].buckets.capacity();
        slots * std::mem::size_of::<Link<V>>() + self.len() * Node::<V>::FIXED + self.key_bytes
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        hash_key(&self.hasher, key)
    }

    /// One bounded unit of migration work, done by the mutating operations.
    #[inline]
    fn rehash_step(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash(1);
        }
    }

    /// Move up to `n` non-empty buckets from `ht[0]` to `ht[1]`, visiting at
    /// most `10 * n` empty buckets. Returns true if rehashing is still in
    /// progress afterwards.
    fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let hasher = &self.hasher;
        let [t0, t1] = &mut self.ht;
        let shrinking = t1.size() < t0.size();
        let mask1 = t1.mask();
        let mut empty_visits = n.saturating_mul(EMPTY_VISITS_PER_STEP);
        let mut n = n;
        while n > 0 && t0.used != 0 {
            n -= 1;
            // `t0.used != 0` and every bucket below `idx` is empty, so a
            // non-empty bucket exists at or after `idx`.
            while t0.buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut cur = t0.buckets[idx].take();
            while let Some(mut node) = cur {
                cur = node.next_mut().take();
                // When shrinking, the new index is the old one with the high
                // bits dropped, so the key need not be hashed again.
                let dst = if shrinking {
                    idx & mask1
                } else {
                    hash_key(hasher, node.key()) as usize & mask1
                };
                *node.next_mut() = t1.buckets[dst].take();
                t1.buckets[dst] = Some(node);
                t0.used -= 1;
                t1.used += 1;
            }
            idx += 1;
        }
        if t0.used == 0 {
            self.finish_rehash();
            self.rehash_idx.is_some()
        } else {
            self.rehash_idx = Some(idx);
            true
        }
    }

    /// Install `ht[1]` as the main table. Only valid when `ht[0]` is empty.
    fn finish_rehash(&mut self) {
        debug_assert_eq!(self.ht[0].used, 0);
        self.ht[0] = std::mem::take(&mut self.ht[1]);
        self.rehash_idx = None;
        // Deletions during the migration may have left the new table sparse.
        self.shrink_if_needed();
    }

    /// After removals: if the old table drained, complete the migration now.
    #[inline]
    fn finish_if_drained(&mut self) {
        if self.rehash_idx.is_some() && self.ht[0].used == 0 {
            self.finish_rehash();
        }
    }

    /// Begin resizing to `size` buckets (a power of two).
    fn start_resize(&mut self, size: usize) {
        debug_assert!(self.rehash_idx.is_none());
        if size == self.ht[0].size() {
            return;
        }
        let table = Table::with_buckets(size);
        if self.ht[0].used == 0 {
            // Nothing to migrate (includes the very first allocation).
            self.ht[0] = table;
        } else {
            self.ht[1] = table;
            self.rehash_idx = Some(0);
        }
    }

    fn expand_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let t0 = &self.ht[0];
        if t0.size() == 0 {
            self.start_resize(MIN_BUCKETS);
        } else if t0.used >= t0.size() {
            if let Some(size) = (t0.used + 1).checked_next_power_of_two() {
                self.start_resize(size);
            }
        }
    }

    fn shrink_if_needed(&mut self) {
        if self.rehash_idx.is_some() || self.hold_shrink {
            return;
        }
        let t0 = &self.ht[0];
        if t0.size() > MIN_BUCKETS && t0.used.saturating_mul(SHRINK_RATIO) < t0.size() {
            let size = t0.used.next_power_of_two().max(MIN_BUCKETS);
            self.start_resize(size);
        }
    }

    /// Shared lookup: both tables, skipping the already-migrated part of `ht[0]`.
    #[inline]
    fn find(&self, key: &[u8]) -> Option<&Node<V>> {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(key) as usize;
        let t0 = &self.ht[0];
        let idx = h & t0.mask();
        match self.rehash_idx {
            None => chain_find(t0.buckets[idx].as_ref(), key),
            Some(r) => {
                if idx >= r {
                    if let Some(node) = chain_find(t0.buckets[idx].as_ref(), key) {
                        return Some(node);
                    }
                }
                let t1 = &self.ht[1];
                chain_find(t1.buckets[h & t1.mask()].as_ref(), key)
            }
        }
    }

    /// Mutable lookup with an already computed hash; does no rehash work.
    #[inline]
    fn find_mut_hashed(&mut self, h: u64, key: &[u8]) -> Option<&mut Node<V>> {
        let h = h as usize;
        let rehash_idx = self.rehash_idx;
        let [t0, t1] = &mut self.ht;
        if t0.size() == 0 {
            return None;
        }
        let idx = h & t0.mask();
        match rehash_idx {
            None => chain_find_mut(t0.buckets[idx].as_mut(), key),
            Some(r) => {
                if idx >= r {
                    if let Some(node) = chain_find_mut(t0.buckets[idx].as_mut(), key) {
                        return Some(node);
                    }
                }
                let mask1 = t1.mask();
                chain_find_mut(t1.buckets[h & mask1].as_mut(), key)
            }
        }
    }

    /// The value stored under `key`. Does no rehash work (takes `&self`).
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|node| node.value())
    }

    /// The stored key and value for `key`.
    #[inline]
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&[u8], &V)> {
        self.find(key).map(|node| (node.key(), node.value()))
    }

    /// True if `key` is present. Does no rehash work.
    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Mutable access to the value under `key`; performs one rehash step.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key);
        self.find_mut_hashed(h, key).map(|node| node.value_mut())
    }

    /// Insert `value` under `key` (copied into the entry). If the key was present, its
    /// value is replaced and the old value returned. Performs one rehash step and may
    /// start a resize.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        self.rehash_step();
        let h = self.hash(key);
        if let Some(node) = self.find_mut_hashed(h, key) {
            return Some(std::mem::replace(node.value_mut(), value));
        }
        self.expand_if_needed();
        let key_len = key.len();
        let t = if self.rehash_idx.is_some() { &mut self.ht[1] } else { &mut self.ht[0] };
        let idx = h as usize & t.mask();
        let next = t.buckets[idx].take();
        t.buckets[idx] = Some(Node::new(key, value, next));
        t.used += 1;
        self.key_bytes += key_len;
        None
    }

    /// Remove `key`, returning its value. Performs one rehash step and may start a
    /// shrink.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = self.hash(key) as usize;
        let rehash_idx = self.rehash_idx;
        let mut found = None;
        for (t, table) in self.ht.iter_mut().enumerate() {
            let idx = h & table.mask();
            let skip = t == 0 && rehash_idx.is_some_and(|r| idx < r);
            if !skip {
                if let Some(node) = chain_unlink(&mut table.buckets[idx], key) {
                    table.used -= 1;
                    found = Some(node);
                    break;
                }
            }
            if rehash_idx.is_none() {
                break;
            }
        }
        let node = found?;
        self.key_bytes -= node.key().len();
        let value = node.into_value();
        self.finish_if_drained();
        self.shrink_if_needed();
        Some(value)
    }

    /// Remove every entry and release the bucket arrays.
    pub fn clear(&mut self) {
        self.ht[0] = Table::empty();
        self.ht[1] = Table::empty();
        self.rehash_idx = None;
        self.key_bytes = 0;
    }

    /// Iterate over all entries, in no particular order.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            buckets: self.ht[0].buckets.iter().chain(self.ht[1].buckets.iter()),
            node: None,
            remaining: self.len(),
        }
    }

    /// Iterate over all entries with mutable access to the values.
    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        let remaining = self.len();
        let [t0, t1] = &mut self.ht;
        IterMut {
            buckets: t0.buckets.iter_mut().chain(t1.buckets.iter_mut()),
            node: None,
            remaining,
        }
    }

    /// Keep only the entries for which `f` returns true. May start a shrink.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], &mut V) -> bool) {
        let mut removed_bytes = 0;
        for table in &mut self.ht {
            let mut removed = 0;
            for bucket in &mut table.buckets {
                let mut link = bucket;
                loop {
                    let keep = match link.as_mut() {
                        None => break,
                        Some(node) => {
                            let (key, value, _) = node.parts_mut();
                            f(key, value)
                        }
                    };
                    if keep {
                        match link {
                            Some(node) => link = node.next_mut(),
                            None => break,
                        }
                    } else if let Some(mut node) = link.take() {
                        *link = node.next_mut().take();
                        removed += 1;
                        removed_bytes += node.key().len();
                    }
                }
            }
            table.used -= removed;
        }
        self.key_bytes -= removed_bytes;
        self.finish_if_drained();
        self.shrink_if_needed();
    }

    /// Perform `n` rehash steps (each moves one non-empty bucket, skipping at
    /// most ten empty ones). No-op when not rehashing.
    pub fn rehash_steps(&mut self, n: usize) {
        self.rehash(n);
    }

    /// Rehash in batches of 100 buckets until done or until `max` has
    /// elapsed. Returns true if rehashing is still in progress.
    pub fn rehash_for(&mut self, max: Duration) -> bool {
        if self.rehash_idx.is_none() {
            return false;
        }
        let start = Instant::now();
        while self.rehash(REHASH_BATCH) {
            if start.elapsed() >= max {
                return true;
            }
        }
        false
    }

    /// Redis-style SCAN step. Calls `f` for every entry of the bucket(s)
    /// designated by `cursor` and returns the next cursor; 0 means the scan is
    /// complete. Start with cursor 0. Every entry present for the whole scan
    /// is reported at least once even if the table is resized between calls;
    /// entries may be reported more than once. If the table is not resized
    /// during the scan, every entry is reported exactly once.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let ht = &self.ht;
        scan_step(cursor, self.scan_masks(), |t, i| chain_visit(ht[t].buckets[i].as_ref(), &mut f))
    }

    /// The tables one SCAN step walks: (table, mask) of the only table, or of the smaller
    /// and then the larger one while a migration is in progress. Only for a non-empty dict.
    fn scan_masks(&self) -> ((usize, u64), Option<(usize, u64)>) {
        let mask = |t: usize| self.ht[t].mask() as u64;
        if self.rehash_idx.is_none() {
            ((0, mask(0)), None)
        } else if self.ht[0].size() <= self.ht[1].size() {
            ((0, mask(0)), Some((1, mask(1))))
        } else {
            ((1, mask(1)), Some((0, mask(0))))
        }
    }

    /// A SCAN step (same cursor as [`Dict::scan`]) for the active defragmenter: offers each
    /// entry's block (link, value and key together) to `r`, which may move it to a new
    /// address (the link pointing at it is updated, so nothing else changes), then calls
    /// `value` so the caller can move the value's own allocations, and returns whether it
    /// moved any. The entries, their buckets and the SCAN order are left as they were.
    pub fn scan_relocate<R: Relocate>(
        &mut self,
        cursor: u64,
        r: &mut R,
        mut value: impl FnMut(&mut R, &mut V) -> bool,
    ) -> RelocateStep {
        let mut step = RelocateStep { cursor: 0, entries: 0, moved: 0 };
        if self.is_empty() {
            return step;
        }
        let masks = self.scan_masks();
        let ht = &mut self.ht;
        step.cursor = scan_step(cursor, masks, |t, i| {
            let mut link = &mut ht[t].buckets[i];
            while let Some(node) = link {
                // Every allocation is offered, even once one has moved: each is judged alone.
                let node_moved = node.relocate(r);
                let value_moved = value(r, node.value_mut());
                step.entries += 1;
                step.moved += usize::from(node_moved || value_moved);
                link = node.next_mut();
            }
        });
        step
    }

    /// Sizes an empty table for `n` entries at once (RDB loading announces each database's
    /// size), so filling it does not rehash at every doubling. No-op when not empty.
    pub fn reserve(&mut self, n: usize) {
        if self.is_empty() && self.rehash_idx.is_none() && n > self.ht[0].size() {
            if let Some(size) = n.checked_next_power_of_two() {
                self.start_resize(size.max(MIN_BUCKETS));
            }
        }
    }

    /// Holds (or releases, starting a shrink that is due) shrinking, for a walk that must
    /// see every entry exactly once while the table changes (snapshots). Growth stays free.
    pub fn hold_shrink(&mut self, on: bool) {
        self.hold_shrink = on;
        if !on {
            self.shrink_if_needed();
        }
    }

    /// True if a [`Dict::scan`] that returned `cursor` (not 0) has already visited the
    /// bucket `key` belongs in, whether or not the key is stored. Valid while shrinking is
    /// held: the visited buckets are those whose reversed index is below the reversed
    /// cursor, and that set is decided by the low bits alone (see the module docs), so
    /// comparing at the widest mask present answers for either table during a migration.
    pub fn scan_visited(&self, cursor: u64, key: &[u8]) -> bool {
        let mask = self.ht[0].size().max(self.ht[1].size()).saturating_sub(1) as u64;
        (self.hash(key) & mask).reverse_bits() < cursor.reverse_bits()
    }

    /// The bucket at position `i` of the concatenation `ht[0] ++ ht[1]`.
    #[inline]
    fn bucket_at(&self, i: usize) -> Option<&Node<V>> {
        let s0 = self.ht[0].size();
        if i < s0 {
            self.ht[0].buckets[i].as_ref()
        } else {
            self.ht[1].buckets[i - s0].as_ref()
        }
    }

    /// A random entry: a random non-empty bucket, then a random element of
    /// its chain. Elements in short chains are slightly favoured, as in Redis.
    pub fn random_entry(&self, rng: &mut impl rand::Rng) -> Option<(&[u8], &V)> {
        if self.is_empty() {
            return None;
        }
        // Candidate positions over both arrays, excluding the migrated (and
        // hence empty) prefix of ht[0].
        let start = self.rehash_idx.unwrap_or(0);
        let span = self.bucket_count() - start;
        let mut head = None;
        for _ in 0..RANDOM_PROBES {
            head = self.bucket_at(start + rng.random_range(0..span));
            if head.is_some() {
                break;
            }
        }
        if head.is_none() {
            // Very sparse table (e.g. mass deletions during a migration):
            // search linearly from a random position so time stays bounded.
            let from = rng.random_range(0..span);
            head = (0..span).find_map(|i| self.bucket_at(start + (from + i) % span));
        }
        let head = head?;
        let mut chain_len = 0;
        let mut cur = Some(head);
        while let Some(node) = cur {
            chain_len += 1;
            cur = node.next();
        }
        let mut node = head;
        for _ in 0..rng.random_range(0..chain_len) {
            node = node.next()?;
        }
        Some((node.key(), node.value()))
    }

    /// Call `f` for up to `count` distinct entries taken from consecutive
    /// buckets starting at a random bucket (in the manner of Redis's
    /// `dictGetSomeKeys`), for eviction and expiry sampling. At most
    /// `10 * count` bucket positions are examined, so fewer than `count`
    /// entries may be produced even when the table holds more. Long runs of
    /// empty buckets are skipped by jumping forward a random distance.
    pub fn sample(&self, count: usize, rng: &mut impl rand::Rng, mut f: impl FnMut(&[u8], &V)) {
        let count = count.min(self.len());
        if count == 0 {
            return;
        }
        let rehash_idx = self.rehash_idx;
        let tables = if rehash_idx.is_some() { 2 } else { 1 };
        let max_size = if rehash_idx.is_some() {
            self.ht[0].size().max(self.ht[1].size())
        } else {
            self.ht[0].size()
        };
        let max_mask = max_size - 1;
        let start = rng.random_range(0..max_size);
        // Positions are visited in strictly increasing offset from `start`
        // and never wrap past it, so no bucket (hence no entry) repeats.
        let mut off = 0;
        let mut steps = count.saturating_mul(10);
        let mut stored = 0;
        let mut empty_run = 0;
        while stored < count && steps > 0 && off < max_size {
            steps -= 1;
            let i = (start + off) & max_mask;
            let mut next_off = off + 1;
            for (j, table) in self.ht[..tables].iter().enumerate() {
                if j == 0 {
                    if let Some(r) = rehash_idx {
                        if i < r {
                            // Already migrated: empty in ht[0]. If the index is
                            // also beyond ht[1], nothing lives here until the
                            // rehash index, so jump there.
                            if i >= self.ht[1].size() {
                                next_off = (off + (r - i)).min(max_size);
                            }
                            continue;
                        }
                    }
                }
                if i >= table.size() {
                    continue;
                }
                match table.buckets[i].as_ref() {
                    None => {
                        empty_run += 1;
                        if empty_run >= 5 && empty_run > count {
                            let left = max_size - next_off;
                            if left > 0 {
                                next_off += rng.random_range(0..left);
                            }
                            empty_run = 0;
                        }
                    }
                    Some(head) => {
                        empty_run = 0;
                        let mut cur = Some(head);
                        while let Some(node) = cur {
                            if stored == count {
                                break;
                            }
                            f(node.key(), node.value());
                            stored += 1;
                            cur = node.next();
                        }
                    }
                }
            }
            off = next_off;
        }
    }
}

/// The buckets of one SCAN step from cursor `v`: the cursor's bucket in the `small`
/// table (or the only one), then, during a migration, every bucket of the `large` table
/// that expands from it (those sharing its low bits), advancing the cursor over the bits
/// the masks do not share until the carry reaches the shared ones. Calls `visit(table,
/// bucket)` for each and returns the next cursor.
fn scan_step(
    mut v: u64,
    (small, large): ((usize, u64), Option<(usize, u64)>),
    mut visit: impl FnMut(usize, usize),
) -> u64 {
    let (t0, m0) = small;
    visit(t0, (v & m0) as usize);
    let Some((t1, m1)) = large else {
        return next_cursor(v, m0);
    };
    loop {
        visit(t1, (v & m1) as usize);
        v = next_cursor(v, m1);
        if v & (m0 ^ m1) == 0 {
            return v;
        }
    }
}

/// Moves heap blocks to new addresses for [`Dict::scan_relocate`] (the active
/// defragmenter): each method decides whether the block is worth moving, and if so moves
/// its contents bit for bit to a new allocation of the same layout, frees the old one and
/// makes its owner point at the copy. Returns whether it moved.
pub trait Relocate {
    /// Offers a boxed value.
    fn relocate<T>(&mut self, b: &mut Box<T>) -> bool;
    /// Offers a boxed byte string.
    fn relocate_bytes(&mut self, b: &mut Box<[u8]>) -> bool;
    /// Offers a raw block (a dict entry, which is not a `Box`): moves it if worthwhile and
    /// returns its new address, the old block then being freed.
    ///
    /// # Safety
    /// `ptr` must be a live block of the global allocator allocated with `layout`, which
    /// nothing reads or writes during the call; after `Some`, only the returned address
    /// may be used.
    #[allow(unsafe_code)]
    unsafe fn relocate_block(
        &mut self,
        ptr: std::ptr::NonNull<u8>,
        layout: std::alloc::Layout,
    ) -> Option<std::ptr::NonNull<u8>>;
}

/// What one [`Dict::scan_relocate`] step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelocateStep {
    /// The next cursor; 0 when the scan is complete.
    pub cursor: u64,
    /// Entries visited.
    pub entries: usize,
    /// Entries of which at least one allocation moved.
    pub moved: usize,
}

/// Advance a reverse-binary SCAN cursor over a table with bucket mask `mask`.
#[inline]
fn next_cursor(v: u64, mask: u64) -> u64 {
    // Setting the unmasked bits makes the carry of the reversed increment
    // pass straight through them into the highest masked bit.
    (v | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

/// Iterator over `(&key, &value)`, returned by [`Dict::iter`].
pub struct Iter<'a, V> {
    buckets: std::iter::Chain<std::slice::Iter<'a, Link<V>>, std::slice::Iter<'a, Link<V>>>,
    node: Option<&'a Node<V>>,
    remaining: usize,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a [u8], &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if let Some(node) = self.node {
                self.node = node.next();
                self.remaining -= 1;
                return Some((node.key(), node.value()));
            }
            self.node = self.buckets.next()?.as_ref();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<V> ExactSizeIterator for Iter<'_, V> {}
impl<V> FusedIterator for Iter<'_, V> {}

/// Iterator over `(&key, &mut value)`, returned by [`Dict::iter_mut`].
pub struct IterMut<'a, V> {
    buckets: std::iter::Chain<std::slice::IterMut<'a, Link<V>>, std::slice::IterMut<'a, Link<V>>>,
    node: Option<&'a mut Node<V>>,
    remaining: usize,
}

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a [u8], &'a mut V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if let Some(node) = self.node.take() {
                let (key, value, next) = node.parts_mut();
                self.node = next.as_mut();
                self.remaining -= 1;
                return Some((key, value));
            }
            self.node = self.buckets.next()?.as_mut();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<V> ExactSizeIterator for IterMut<'_, V> {}
impl<V> FusedIterator for IterMut<'_, V> {}

impl<'a, V> IntoIterator for &'a Dict<V> {
    type Item = (&'a [u8], &'a V);
    type IntoIter = Iter<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, V> IntoIterator for &'a mut Dict<V> {
    type Item = (&'a [u8], &'a mut V);
    type IntoIter = IterMut<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::collections::{HashMap, HashSet};

    fn k(i: usize) -> Box<[u8]> {
        format!("key:{i}").into_bytes().into_boxed_slice()
    }

    fn filled(n: usize) -> Dict<usize> {
        let mut d = Dict::new();
        for i in 0..n {
            assert_eq!(d.insert(&k(i), i), None);
        }
        d
    }

    fn finish(d: &mut Dict<usize>) {
        while d.is_rehashing() {
            d.rehash_steps(1000);
        }
    }

    /// Run a full scan, calling `between` after every call, and return every
    /// key reported (with multiplicity).
    fn full_scan(
        d: &mut Dict<usize>,
        mut between: impl FnMut(&mut Dict<usize>, usize),
    ) -> HashMap<Vec<u8>, usize> {
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            cursor = d.scan(cursor, |key, _| *seen.entry(key.to_vec()).or_default() += 1);
            calls += 1;
            assert!(calls < 1_000_000, "scan does not terminate");
            if cursor == 0 {
                break;
            }
            between(d, calls);
        }
        seen
    }

    fn assert_consistent(d: &Dict<usize>) {
        assert_eq!(d.iter().count(), d.len());
        assert_eq!(d.iter().len(), d.len());
        for t in &d.ht {
            let mut n = 0;
            for b in &t.buckets {
                let mut cur = b.as_ref();
                while let Some(node) = cur {
                    n += 1;
                    cur = node.next();
                }
            }
            assert_eq!(n, t.used);
            assert!(t.size() == 0 || t.size().is_power_of_two());
        }
        if let Some(r) = d.rehash_idx {
            assert!(d.ht[0].buckets[..r].iter().all(Option::is_none));
            assert!(d.ht[1].size() > 0);
        } else {
            assert_eq!(d.ht[1].size(), 0);
        }
        let key_bytes: usize = d.iter().map(|(k, _)| k.len()).sum();
        assert_eq!(key_bytes, d.key_bytes);
    }

    #[test]
    fn empty_dict() {
        let mut d: Dict<u32> = Dict::default();
        assert!(d.is_empty());
        assert_eq!(d.len(), 0);
        assert_eq!(d.bucket_count(), 0);
        assert_eq!(d.overhead_bytes(), 0);
        assert_eq!(d.get(b"x"), None);
        assert_eq!(d.get_mut(b"x"), None);
        assert!(!d.contains_key(b""));
        assert_eq!(d.remove(b"x"), None);
        assert_eq!(d.scan(0, |_, _| panic!("no entries")), 0);
        let mut rng = SmallRng::seed_from_u64(1);
        assert!(d.random_entry(&mut rng).is_none());
        d.sample(5, &mut rng, |_, _| panic!("no entries"));
        assert_eq!(d.iter().next(), None);
        assert!(!d.rehash_for(Duration::from_millis(1)));
        d.retain(|_, _| true);
    }

    #[test]
    fn insert_get_replace_remove() {
        let mut d = Dict::new();
        assert_eq!(d.insert(&b"a"[..], 1), None);
        assert_eq!(d.insert(&b"b"[..], 2), None);
        assert_eq!(d.insert(&b""[..], 0), None);
        assert_eq!(d.insert(&b"\x00\xff"[..], 9), None);
        assert_eq!(d.len(), 4);
        assert_eq!(d.bucket_count(), MIN_BUCKETS);
        assert_eq!(d.get(b"a"), Some(&1));
        assert_eq!(d.get(b"b"), Some(&2));
        assert_eq!(d.get(b""), Some(&0));
        assert_eq!(d.get(b"\x00\xff"), Some(&9));
        assert_eq!(d.get(b"\x00"), None);
        assert_eq!(d.get(b"c"), None);
        assert!(d.contains_key(b"a"));

        // Replacing keeps the entry where it is.
        let stored = d.get_key_value(b"a").map(|(k, _)| k.as_ptr());
        assert_eq!(d.insert(&b"a"[..], 10), Some(1));
        assert_eq!(d.len(), 4);
        let (key, val) = d.get_key_value(b"a").unwrap();
        assert_eq!((key, *val), (&b"a"[..], 10));
        assert_eq!(Some(key.as_ptr()), stored);

        *d.get_mut(b"b").unwrap() += 5;
        assert_eq!(d.get(b"b"), Some(&7));

        assert_eq!(d.remove(b"a"), Some(10));
        assert_eq!(d.remove(b"a"), None);
        assert_eq!(d.get(b"a"), None);
        assert_eq!(d.len(), 3);
        assert_consistent(&d);

        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.bucket_count(), 0);
        assert_eq!(d.get(b"b"), None);
        assert_eq!(d.insert(&b"b"[..], 3), None);
        assert_eq!(d.get(b"b"), Some(&3));
    }

    #[test]
    fn grows_incrementally() {
        let mut d = Dict::new();
        let mut saw_rehash = false;
        for i in 0..5000 {
            d.insert(&k(i), i);
            if d.is_rehashing() {
                saw_rehash = true;
                // Lookups see entries in both tables while migrating.
                for j in (0..=i).step_by(97) {
                    assert_eq!(d.get(&k(j)), Some(&j));
                }
                assert_eq!(d.iter().count(), d.len());
            }
            if i % 500 == 0 {
                assert_consistent(&d);
            }
        }
        assert!(saw_rehash);
        finish(&mut d);
        assert_consistent(&d);
        // Load factor never exceeds 1 once the migration is done.
        assert!(d.bucket_count() >= d.len());
        assert_eq!(d.bucket_count(), 8192);
        for i in 0..5000 {
            assert_eq!(d.get(&k(i)), Some(&i));
        }
    }

    #[test]
    fn growth_is_incremental_not_all_at_once() {
        let mut d = filled(1024);
        finish(&mut d);
        assert_eq!(d.bucket_count(), 1024);
        d.insert(&k(1024), 1024); // used == size -> start growing
        assert!(d.is_rehashing());
        assert_eq!(d.bucket_count(), 1024 + 2048);
        // Each operation moves at most one non-empty bucket.
        let before = d.ht[0].used;
        d.get_mut(&k(0));
        assert!(before - d.ht[0].used <= 1 + 8, "moved a whole chain at most");
        assert!(d.rehash_for(Duration::ZERO) || !d.is_rehashing());
        assert!(!d.rehash_for(Duration::from_secs(10)));
        assert!(!d.is_rehashing());
        assert_eq!(d.bucket_count(), 2048);
        assert_consistent(&d);
    }

    #[test]
    fn hundred_thousand_insert_then_remove_shrinks() {
        const N: usize = 100_000;
        let mut d = filled(N);
        assert_eq!(d.len(), N);
        finish(&mut d);
        let peak = d.bucket_count();
        assert_eq!(peak, 131_072);
        for i in 0..N {
            assert_eq!(d.get(&k(i)), Some(&i));
        }
        for i in 0..N {
            assert_eq!(d.remove(&k(i)), Some(i));
            if i % 10_007 == 0 {
                assert_consistent(&d);
                assert_eq!(d.get(&k(i)), None);
                if i + 1 < N {
                    assert_eq!(d.get(&k(i + 1)), Some(&(i + 1)));
                }
            }
            if i == N / 2 {
                // Half-empty: not yet below 1/8 full.
                assert_eq!(d.bucket_count(), peak);
            }
            if i == N - N / 20 {
                // 5% left: must have started or finished shrinking.
                assert!(d.bucket_count() < peak || d.is_rehashing());
                let mut e = Dict::new();
                std::mem::swap(&mut e, &mut d);
                finish(&mut e);
                assert!(e.bucket_count() <= 16_384, "{}", e.bucket_count());
                std::mem::swap(&mut e, &mut d);
            }
        }
        assert!(d.is_empty());
        assert_eq!(d.remove(&k(0)), None);
        finish(&mut d);
        assert_eq!(d.bucket_count(), MIN_BUCKETS);
        assert!(d.overhead_bytes() < 1024);
        assert_consistent(&d);
    }

    #[test]
    fn shrink_bounds_load_after_many_removes() {
        let mut d = filled(10_000);
        finish(&mut d);
        for i in 0..9_990 {
            d.remove(&k(i));
        }
        finish(&mut d);
        // 10 keys: at most the next power of two above them (or what a
        // shrink decided a bit earlier, still below 1/8 load tolerance).
        assert!(d.bucket_count() <= 16 * SHRINK_RATIO, "{}", d.bucket_count());
        assert!(d.len() * SHRINK_RATIO >= d.bucket_count() || d.bucket_count() == MIN_BUCKETS);
        for i in 9_990..10_000 {
            assert_eq!(d.get(&k(i)), Some(&i));
        }
    }

    #[test]
    fn overhead_tracks_size() {
        let mut d = filled(1000);
        finish(&mut d);
        let o = d.overhead_bytes();
        let key_bytes: usize = (0..1000).map(|i| k(i).len()).sum();
        assert!(o >= 1024 * 8 + 1000 * std::mem::size_of::<Node<usize>>() + key_bytes);
        d.retain(|_, v| *v < 10);
        finish(&mut d);
        assert!(d.overhead_bytes() < o / 10);
    }

    #[test]
    fn scan_without_resize_reports_each_exactly_once() {
        for n in [1, 3, 4, 5, 100, 1000, 4097] {
            let mut d = filled(n);
            finish(&mut d);
            let seen = full_scan(&mut d, |_, _| {});
            assert_eq!(seen.len(), n);
            assert!(seen.values().all(|&c| c == 1));
        }
    }

    #[test]
    fn scan_survives_growth_between_calls() {
        for n in [5, 50, 1000] {
            let mut d = filled(n);
            finish(&mut d);
            let mut next = n;
            let seen = full_scan(&mut d, |d, calls| {
                // Grow a lot early in the scan, then stop so it can finish.
                if calls > 12 {
                    return;
                }
                for _ in 0..n {
                    d.insert(&k(next), next);
                    next += 1;
                }
                // Sometimes complete the migration, sometimes leave it running.
                if next % 3 == 0 {
                    d.rehash_steps(usize::MAX / 16);
                }
            });
            assert!(d.bucket_count() >= 8 * n, "table should have grown a lot");
            for i in 0..n {
                assert!(seen.contains_key(&*k(i)), "missed key {i} (n={n})");
            }
        }
    }

    #[test]
    fn scan_survives_shrink_between_calls() {
        for n in [200, 5000, 40_000] {
            let mut d = filled(n);
            finish(&mut d);
            // Keep every 50th key; delete the rest progressively.
            let keep: Vec<usize> = (0..n).step_by(50).collect();
            let mut doomed: Vec<usize> = (0..n).filter(|i| i % 50 != 0).collect();
            let per_call = doomed.len() / 10 + 1;
            let seen = full_scan(&mut d, |d, calls| {
                for _ in 0..per_call {
                    if let Some(i) = doomed.pop() {
                        assert!(d.remove(&k(i)).is_some());
                    }
                }
                if calls % 2 == 0 {
                    finish(d);
                }
            });
            finish(&mut d);
            assert_eq!(d.len(), keep.len());
            let bound = (keep.len().next_power_of_two() * SHRINK_RATIO).max(MIN_BUCKETS);
            assert!(d.bucket_count() <= bound, "table should have shrunk: {}", d.bucket_count());
            for i in keep {
                assert!(seen.contains_key(&*k(i)), "missed key {i} (n={n})");
            }
        }
    }

    #[test]
    fn scan_during_rehash() {
        // Growing migration in progress for the whole scan.
        let mut d = filled(4096);
        finish(&mut d);
        d.insert(&k(4096), 4096);
        assert!(d.is_rehashing() && d.ht[0].size() < d.ht[1].size());
        let seen = full_scan(&mut d, |_, _| {});
        assert!(d.is_rehashing());
        assert_eq!(seen.len(), 4097);
        assert!(seen.values().all(|&c| c == 1), "static table: exactly once");

        // Growing migration that advances (and completes) during the scan.
        let seen = full_scan(&mut d, |d, _| {
            d.get_mut(&k(0));
        });
        assert!(!d.is_rehashing());
        assert_eq!(seen.len(), 4097);

        // Shrinking migration in progress, with a static table.
        let mut d = filled(4096);
        finish(&mut d);
        for i in 100..4096 {
            d.remove(&k(i));
            if d.is_rehashing() && d.ht[0].size() > d.ht[1].size() && i > 3900 {
                break;
            }
        }
        assert!(d.is_rehashing() && d.ht[0].size() > d.ht[1].size());
        let present: Vec<Vec<u8>> = d.iter().map(|(k, _)| k.to_vec()).collect();
        let seen = full_scan(&mut d, |_, _| {});
        assert!(present.iter().all(|k| seen.contains_key(k)));
        assert_eq!(seen.len(), present.len());
        assert!(seen.values().all(|&c| c == 1), "static table: exactly once");

        // Migration that both progresses and finishes mid-scan, with a new
        // resize starting later (grow then keep growing).
        for n in [64, 1024, 8192] {
            let mut d = filled(n);
            finish(&mut d);
            d.insert(&k(n), n);
            assert!(d.is_rehashing());
            let mut next = n + 1;
            let seen = full_scan(&mut d, |d, calls| {
                d.rehash_steps(3);
                if calls > 40 {
                    return;
                }
                for _ in 0..(n / 64) {
                    d.insert(&k(next), next);
                    next += 1;
                }
            });
            for i in 0..=n {
                assert!(seen.contains_key(&*k(i)), "missed key {i} (n={n})");
            }
        }
    }

    #[test]
    fn scan_mixed_grow_and_shrink() {
        let mut rng = SmallRng::seed_from_u64(7);
        for round in 0..20u64 {
            let base = 300 + (round as usize) * 97;
            let mut d = filled(base);
            finish(&mut d);
            let mut next = base;
            let mut extra: Vec<usize> = Vec::new();
            let mut sizes = HashSet::new();
            let seen = full_scan(&mut d, |d, calls| {
                use rand::Rng;
                sizes.insert(d.bucket_count());
                d.rehash_steps(rng.random_range(0..4));
                if calls > 300 {
                    return;
                }
                if (calls / 8) % 2 == 0 {
                    for _ in 0..rng.random_range(0..400) {
                        d.insert(&k(next), next);
                        extra.push(next);
                        next += 1;
                    }
                } else {
                    for _ in 0..rng.random_range(0..400) {
                        if let Some(i) = extra.pop() {
                            d.remove(&k(i));
                        }
                    }
                }
            });
            for i in 0..base {
                assert!(seen.contains_key(&*k(i)), "missed key {i} (round {round})");
            }
            assert!(sizes.len() >= 3, "table should have been resized during the scan");
            assert_consistent(&d);
        }
    }

    #[test]
    fn cursor_arithmetic() {
        // 8 buckets: reverse-binary order 0,4,2,6,1,5,3,7 then done.
        let mut v = 0;
        let mut order = vec![];
        loop {
            order.push(v);
            v = next_cursor(v, 7);
            if v == 0 {
                break;
            }
        }
        assert_eq!(order, vec![0, 4, 2, 6, 1, 5, 3, 7]);
    }

    #[test]
    fn random_entry_present_and_covering() {
        let mut rng = SmallRng::seed_from_u64(42);
        let d = filled(20);
        let mut hits = HashSet::new();
        for _ in 0..5000 {
            let (key, v) = d.random_entry(&mut rng).unwrap();
            assert_eq!(&*k(*v), key);
            hits.insert(*v);
        }
        assert_eq!(hits.len(), 20);

        // Sparse table in mid-migration.
        let mut d = filled(10_000);
        finish(&mut d);
        for i in 0..9_995 {
            d.remove(&k(i));
        }
        let mut hits = HashSet::new();
        for _ in 0..2000 {
            let (key, v) = d.random_entry(&mut rng).unwrap();
            assert!(*v >= 9_995);
            assert_eq!(&*k(*v), key);
            hits.insert(*v);
        }
        assert_eq!(hits.len(), 5);

        // While a growing migration is in progress.
        let mut d = filled(512);
        finish(&mut d);
        d.insert(&k(512), 512);
        d.rehash_steps(100);
        assert!(d.is_rehashing());
        let mut hits = HashSet::new();
        for _ in 0..50_000 {
            let (key, v) = d.random_entry(&mut rng).unwrap();
            assert_eq!(&*k(*v), key);
            hits.insert(*v);
        }
        assert_eq!(hits.len(), 513);
    }

    #[test]
    fn sample_distinct_present_bounded() {
        let mut rng = SmallRng::seed_from_u64(3);
        let check = |d: &Dict<usize>, count: usize, rng: &mut SmallRng| {
            let mut got = Vec::new();
            d.sample(count, rng, |key, v| {
                assert_eq!(&*k(*v), key);
                assert_eq!(d.get(key), Some(v));
                got.push(*v);
            });
            assert!(got.len() <= count.min(d.len()));
            let distinct: HashSet<_> = got.iter().collect();
            assert_eq!(distinct.len(), got.len(), "duplicates in sample");
            got.len()
        };

        let d = filled(3);
        for _ in 0..100 {
            check(&d, 10, &mut rng);
        }
        let mut d = filled(1000);
        finish(&mut d);
        let mut total = 0;
        for _ in 0..200 {
            total += check(&d, 16, &mut rng);
        }
        // Dense table: practically always a full sample.
        assert!(total >= 200 * 16 - 16, "{total}");
        assert_eq!(check(&d, 0, &mut rng), 0);
        // Count above len.
        for _ in 0..50 {
            check(&d, 5000, &mut rng);
        }

        // During a growing and during a shrinking migration.
        let mut d = filled(2048);
        finish(&mut d);
        d.insert(&k(2048), 2048);
        d.rehash_steps(300);
        assert!(d.is_rehashing());
        let mut total = 0;
        for _ in 0..200 {
            total += check(&d, 8, &mut rng);
        }
        assert!(total > 200 * 4);
        for i in 0..2040 {
            d.remove(&k(i));
        }
        d.rehash_steps(10);
        for _ in 0..500 {
            check(&d, 5, &mut rng);
        }
        let mut union = HashSet::new();
        for _ in 0..2000 {
            d.sample(3, &mut rng, |_, v| {
                union.insert(*v);
            });
        }
        assert_eq!(union.len(), d.len());
    }

    #[test]
    fn retain_keeps_matching() {
        let mut d = filled(10_000);
        d.retain(|key, v| {
            assert_eq!(&*k(*v), key);
            *v += 1;
            *v % 3 == 0
        });
        assert_eq!(d.len(), (1..=10_000).filter(|v| v % 3 == 0).count());
        for i in 0..10_000 {
            if (i + 1) % 3 == 0 {
                assert_eq!(d.get(&k(i)), Some(&(i + 1)));
            } else {
                assert_eq!(d.get(&k(i)), None);
            }
        }
        assert_consistent(&d);
        d.retain(|_, _| false);
        assert!(d.is_empty());
        finish(&mut d);
        assert_eq!(d.bucket_count(), MIN_BUCKETS);
        assert_consistent(&d);
    }

    #[test]
    fn retain_during_rehash() {
        let mut d = filled(4096);
        finish(&mut d);
        d.insert(&k(4096), 4096);
        d.rehash_steps(500);
        assert!(d.is_rehashing());
        d.retain(|_, v| *v % 2 == 0);
        assert_eq!(d.len(), 2049);
        assert_consistent(&d);
        for i in 0..=4096 {
            assert_eq!(d.contains_key(&k(i)), i % 2 == 0);
        }
    }

    #[test]
    fn iter_counts_in_and_out_of_rehash() {
        let mut d = filled(1000);
        finish(&mut d);
        assert!(!d.is_rehashing());
        assert_eq!(d.iter().count(), 1000);
        let keys: HashSet<Vec<u8>> = d.iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(keys.len(), 1000);

        for i in 1000..1100 {
            d.insert(&k(i), i);
        }
        assert!(d.is_rehashing());
        assert_eq!(d.iter().count(), d.len());
        assert_eq!(d.iter().len(), 1100);
        let sum: usize = d.iter().map(|(_, v)| *v).sum();
        assert_eq!(sum, (0..1100).sum());

        for (key, v) in d.iter_mut() {
            assert_eq!(&*k(*v), key);
            *v *= 2;
        }
        assert!(d.is_rehashing());
        assert_eq!(d.iter_mut().count(), 1100);
        for i in 0..1100 {
            assert_eq!(d.get(&k(i)), Some(&(2 * i)));
        }
        let via_into: usize = (&d).into_iter().count();
        assert_eq!(via_into, 1100);
        finish(&mut d);
        assert_eq!(d.iter().count(), 1100);
    }

    #[test]
    fn many_ops_match_std_hashmap() {
        use rand::Rng;
        let mut rng = SmallRng::seed_from_u64(99);
        let mut d: Dict<u64> = Dict::new();
        let mut m: HashMap<Vec<u8>, u64> = HashMap::new();
        for step in 0..200_000u64 {
            let key = format!("{}", rng.random_range(0..5000u32)).into_bytes();
            match rng.random_range(0..10) {
                0..=4 => {
                    assert_eq!(d.insert(&key, step), m.insert(key, step))
                }
                5..=7 => assert_eq!(d.remove(&key), m.remove(&key)),
                8 => assert_eq!(d.get_mut(&key).map(|v| *v), m.get(&key).copied()),
                _ => assert_eq!(d.get(&key), m.get(&key)),
            }
            assert_eq!(d.len(), m.len());
            if step % 20_000 == 0 {
                let mut ours: Vec<(Vec<u8>, u64)> =
                    d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
                let mut theirs: Vec<(Vec<u8>, u64)> =
                    m.iter().map(|(k, v)| (k.clone(), *v)).collect();
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs);
            }
        }
    }

    #[test]
    fn drop_long_chains_without_recursion() {
        // Construct a pathological single chain by hand and drop it.
        let mut d: Dict<u8> = Dict::new();
        d.insert(&k(0), 0);
        let mut chain: Link<u8> = None;
        for i in 0..200_000 {
            chain = Some(Node::new(&k(i + 1), 0, chain));
        }
        d.ht[0].buckets[0] = chain;
        drop(d);
    }

    /// Moves every entry it is offered to a fresh block (with the global allocator) and
    /// counts them; boxes are left in place.
    #[derive(Default)]
    struct CopyKeys {
        nodes: usize,
    }

    impl Relocate for CopyKeys {
        fn relocate<T>(&mut self, _b: &mut Box<T>) -> bool {
            false
        }
        fn relocate_bytes(&mut self, _b: &mut Box<[u8]>) -> bool {
            false
        }
        #[allow(unsafe_code)]
        unsafe fn relocate_block(
            &mut self,
            ptr: std::ptr::NonNull<u8>,
            layout: std::alloc::Layout,
        ) -> Option<std::ptr::NonNull<u8>> {
            self.nodes += 1;
            // SAFETY: a fresh block of the same layout gets the old one's bytes; the old
            // block, which the caller gives up, is freed once with its own layout.
            unsafe {
                let new = std::ptr::NonNull::new(std::alloc::alloc(layout))?;
                std::ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), layout.size());
                std::alloc::dealloc(ptr.as_ptr(), layout);
                Some(new)
            }
        }
    }

    #[test]
    fn scan_relocate_visits_each_entry_once_and_keeps_them() {
        for rehashing in [false, true] {
            let mut d = filled(1000);
            if rehashing {
                // Grow past the load factor and leave the migration half done.
                for i in 1000..1100 {
                    d.insert(&k(i), i);
                }
                assert!(d.is_rehashing());
            } else {
                finish(&mut d);
            }
            let mut r = CopyKeys::default();
            let (mut cursor, mut entries, mut moved, mut values) = (0, 0, 0, 0);
            loop {
                let step = d.scan_relocate(cursor, &mut r, |_, v: &mut usize| {
                    values += 1;
                    v.is_multiple_of(2)
                });
                entries += step.entries;
                moved += step.moved;
                cursor = step.cursor;
                if cursor == 0 {
                    break;
                }
            }
            assert_eq!((entries, values, r.nodes), (d.len(), d.len(), d.len()));
            // Every entry moved, so every entry counts as moved.
            assert_eq!(moved, d.len());
            assert_consistent(&d);
            for i in 0..d.len() {
                assert_eq!(d.get(&k(i)), Some(&i));
            }
        }
        let mut empty: Dict<usize> = Dict::new();
        let step = empty.scan_relocate(0, &mut CopyKeys::default(), |_, _| true);
        assert_eq!(step, RelocateStep { cursor: 0, entries: 0, moved: 0 });
    }
}
