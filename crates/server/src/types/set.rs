//! A set value (`TYPE` = `set`), with Redis 7.2's three encodings.
//!
//! * **intset**: every member is an integer (by `string2ll`'s strict rules) and there are at
//!   most `set-max-intset-entries` of them; kept sorted, so it iterates in numeric order.
//! * **listpack**: few, short members (`set-max-listpack-entries`/`-value`); kept in
//!   insertion order, which is also the order replies list them in.
//! * **hashtable**: everything else, in a [`Dict`] (unspecified order, SCAN cursors).
//!
//! Conversions only ever go "up" (intset → listpack → hashtable, or intset → hashtable when
//! an intset grows too long), except for the explicit [`SetValue::maybe_to_intset`] the
//! intersection store uses. The thresholds are passed in as [`SetLimits`] at each change,
//! because a `CONFIG SET` applies to existing keys from their next write on.

use crate::memory::defrag::{relocate_dict, RelocateVec, NO_STEP};
use crate::types::dict::{Dict, RelocateStep};
use crate::types::num;
use rand::Rng;
use std::borrow::Cow;
use std::fmt;

/// Conversion thresholds, read from the configuration when a command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetLimits {
    /// `set-max-intset-entries`.
    pub intset_entries: usize,
    /// `set-max-listpack-entries`.
    pub listpack_entries: usize,
    /// `set-max-listpack-value` (bytes of one member).
    pub listpack_value: usize,
}

impl SetLimits {
    /// The most members an intset holds: Redis caps the setting at 2^30 because of the
    /// intset's internal layout.
    fn intset_max(&self) -> usize {
        self.intset_entries.min(1 << 30)
    }
}

/// Which of the three encodings a set uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetEncoding {
    /// Sorted integers.
    Intset,
    /// Short members in insertion order.
    Listpack,
    /// A hash table.
    Hashtable,
}

/// The representation behind a [`SetValue`].
enum Repr {
    /// Sorted, distinct integers.
    Intset(Vec<i64>),
    /// Distinct members in insertion order.
    Listpack(Vec<Box<[u8]>>),
    /// Members as the keys of a hash table.
    Hashtable(Dict<()>),
}

/// A set.
pub struct SetValue {
    repr: Repr,
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::with_encoding(SetEncoding::Intset)
    }
}

impl Clone for SetValue {
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Intset(v) => Repr::Intset(v.clone()),
            Repr::Listpack(v) => Repr::Listpack(v.clone()),
            Repr::Hashtable(d) => {
                let mut copy = Dict::new();
                for (k, _) in d.iter() {
                    copy.insert(k, ());
                }
                Repr::Hashtable(copy)
            }
        };
        SetValue { repr }
    }
}

impl fmt::Debug for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetValue")
            .field("encoding", &self.encoding())
            .field("len", &self.len())
            .finish()
    }
}

/// Number of characters of `n` in decimal, sign included (Redis's `sdigits10`).
fn decimal_len(n: i64) -> usize {
    itoa::Buffer::new().format(n).len()
}

impl SetValue {
    /// An empty set with the given encoding (the starting point of the set operations that
    /// build a result).
    pub fn with_encoding(enc: SetEncoding) -> SetValue {
        let repr = match enc {
            SetEncoding::Intset => Repr::Intset(Vec::new()),
            SetEncoding::Listpack => Repr::Listpack(Vec::new()),
            SetEncoding::Hashtable => Repr::Hashtable(Dict::new()),
        };
        SetValue { repr }
    }

    /// An empty set fit to receive `first` and about `size_hint` members in all: an intset
    /// if `first` is an integer and the hint fits one, else a listpack if the hint fits one,
    /// else a hashtable (Redis's `setTypeCreate`).
    pub fn for_members(first: &[u8], size_hint: usize, lim: &SetLimits) -> SetValue {
        let enc = if num::parse_i64(first).is_some() && size_hint <= lim.intset_entries {
            SetEncoding::Intset
        } else if size_hint <= lim.listpack_entries {
            SetEncoding::Listpack
        } else {
            SetEncoding::Hashtable
        };
        SetValue::with_encoding(enc)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Intset(v) => v.len(),
            Repr::Listpack(v) => v.len(),
            Repr::Hashtable(d) => d.len(),
        }
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current encoding.
    pub fn encoding_kind(&self) -> SetEncoding {
        match &self.repr {
            Repr::Intset(_) => SetEncoding::Intset,
            Repr::Listpack(_) => SetEncoding::Listpack,
            Repr::Hashtable(_) => SetEncoding::Hashtable,
        }
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self.encoding_kind() {
            SetEncoding::Intset => "intset",
            SetEncoding::Listpack => "listpack",
            SetEncoding::Hashtable => "hashtable",
        }
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Intset(v) => v.capacity() * 8,
            Repr::Listpack(v) => v.iter().map(|m| m.len() + 2).sum(),
            Repr::Hashtable(d) => {
                d.overhead_bytes() + d.iter().map(|(k, _)| k.len()).sum::<usize>()
            }
        }
    }

    /// Converts a compact set to a hashtable before a bulk insert of `size_hint` members
    /// that could not fit its encoding anyway (Redis's `setTypeMaybeConvert`).
    pub fn maybe_convert(&mut self, size_hint: usize, lim: &SetLimits) {
        let too_big = match &self.repr {
            Repr::Intset(_) => size_hint > lim.intset_entries,
            Repr::Listpack(_) => size_hint > lim.listpack_entries,
            Repr::Hashtable(_) => false,
        };
        if too_big {
            self.convert_to_hashtable();
        }
    }

    /// Rebuilds the set as a hashtable, keeping every member.
    fn convert_to_hashtable(&mut self) {
        let mut d = Dict::new();
        for m in self.iter() {
            d.insert(&m, ());
        }
        self.repr = Repr::Hashtable(d);
    }

    /// Adds `member`; returns true if it was not there. Converts the encoding when the
    /// member or the new size does not fit the current one.
    pub fn add(&mut self, member: &[u8], lim: &SetLimits) -> bool {
        match &mut self.repr {
            Repr::Hashtable(d) => {
                if d.contains_key(member) {
                    return false;
                }
                d.insert(member, ());
                true
            }
            Repr::Listpack(v) => {
                if v.iter().any(|m| &m[..] == member) {
                    return false;
                }
                if v.len() < lim.listpack_entries && member.len() <= lim.listpack_value {
                    v.push(member.into());
                } else {
                    self.convert_to_hashtable();
                    self.insert_new_into_hashtable(member);
                }
                true
            }
            Repr::Intset(v) => match num::parse_i64(member) {
                Some(n) => {
                    let Err(at) = v.binary_search(&n) else {
                        return false;
                    };
                    v.insert(at, n);
                    if v.len() > lim.intset_max() {
                        self.convert_to_hashtable();
                    }
                    true
                }
                None => {
                    // A listpack only if all the integers, written out, and the new member
                    // fit its limits; the widest integer is the largest or the smallest.
                    let widest = match (v.first(), v.last()) {
                        (Some(&lo), Some(&hi)) => decimal_len(lo).max(decimal_len(hi)),
                        _ => 0,
                    };
                    if v.len() < lim.listpack_entries
                        && member.len() <= lim.listpack_value
                        && widest <= lim.listpack_value
                    {
                        let mut lp: Vec<Box<[u8]>> =
                            v.iter().map(|&n| num::i64_bytes(n).into_boxed_slice()).collect();
                        lp.push(member.into());
                        self.repr = Repr::Listpack(lp);
                    } else {
                        self.convert_to_hashtable();
                        self.insert_new_into_hashtable(member);
                    }
                    true
                }
            },
        }
    }

    /// Inserts a member known to be absent, right after a conversion to hashtable.
    fn insert_new_into_hashtable(&mut self, member: &[u8]) {
        if let Repr::Hashtable(d) = &mut self.repr {
            d.insert(member, ());
        }
    }

    /// Removes `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Hashtable(d) => d.remove(member).is_some(),
            Repr::Listpack(v) => match v.iter().position(|m| &m[..] == member) {
                Some(i) => {
                    // `remove`, not `swap_remove`: the listpack keeps its order.
                    v.remove(i);
                    true
                }
                None => false,
            },
            Repr::Intset(v) => match num::parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(i)) => {
                    v.remove(i);
                    true
                }
                _ => false,
            },
        }
    }

    /// True if `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Hashtable(d) => d.contains_key(member),
            Repr::Listpack(v) => v.iter().any(|m| &m[..] == member),
            Repr::Intset(v) => num::parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
        }
    }

    /// The members in the encoding's order: ascending for an intset, insertion order for a
    /// listpack, table order for a hashtable.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match &self.repr {
            Repr::Intset(v) => Box::new(v.iter().map(|&n| Cow::Owned(num::i64_bytes(n)))),
            Repr::Listpack(v) => Box::new(v.iter().map(|m| Cow::Borrowed(&m[..]))),
            Repr::Hashtable(d) => Box::new(d.iter().map(|(k, _)| Cow::Borrowed(k))),
        }
    }

    /// A random member, or None when empty: uniform for the compact encodings; for a
    /// hashtable, a random bucket then a random member of its chain, as Redis picks.
    pub fn random_member(&self, rng: &mut impl Rng) -> Option<Cow<'_, [u8]>> {
        match &self.repr {
            Repr::Intset(v) if !v.is_empty() => {
                v.get(rng.random_range(0..v.len())).map(|&n| Cow::Owned(num::i64_bytes(n)))
            }
            Repr::Listpack(v) if !v.is_empty() => {
                v.get(rng.random_range(0..v.len())).map(|m| Cow::Borrowed(&m[..]))
            }
            Repr::Hashtable(d) => d.random_entry(rng).map(|(k, _)| Cow::Borrowed(k)),
            _ => None,
        }
    }

    /// Removes and returns a uniformly chosen member, or None when empty.
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Vec<u8>> {
        let m = self.random_member(rng)?.into_owned();
        self.remove(&m);
        Some(m)
    }

    /// `count` distinct members chosen uniformly (all of them if `count >= len`). A listpack
    /// lists its picks in its own order, as Redis does; other encodings in random order.
    pub fn sample_distinct(&self, count: usize, rng: &mut impl Rng) -> Vec<Cow<'_, [u8]>> {
        let mut all: Vec<Cow<'_, [u8]>> = self.iter().collect();
        let count = count.min(all.len());
        // Partial Fisher-Yates: the first `count` slots end up a uniform sample.
        let mut picks: Vec<usize> = (0..all.len()).collect();
        for i in 0..count {
            let j = rng.random_range(i..picks.len());
            picks.swap(i, j);
        }
        picks.truncate(count);
        if matches!(self.repr, Repr::Listpack(_)) {
            picks.sort_unstable();
        }
        let mut taken: Vec<Option<Cow<'_, [u8]>>> = all.drain(..).map(Some).collect();
        picks.iter().filter_map(|&i| taken.get_mut(i).and_then(Option::take)).collect()
    }

    /// One `SSCAN` step from `cursor`: calls `f` for each member visited and returns the next
    /// cursor. Compact encodings are small by construction, so they return everything at once
    /// with cursor 0, whatever the cursor; a hashtable visits buckets until about `count`
    /// members were seen (at most `10 * count` buckets, so sparse tables answer quickly).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        let Repr::Hashtable(d) = &self.repr else {
            for m in self.iter() {
                f(&m);
            }
            return 0;
        };
        let mut seen = 0usize;
        let mut budget = count.saturating_mul(10);
        let mut next = cursor;
        loop {
            next = d.scan(next, |k, _| {
                seen += 1;
                f(k);
            });
            budget = budget.saturating_sub(1);
            if next == 0 || budget == 0 || seen >= count {
                return next;
            }
        }
    }

    /// Turns a listpack or hashtable whose members are all integers into an intset, if it is
    /// small enough (used by SINTERSTORE, whose result may start as a listpack).
    pub fn maybe_to_intset(&mut self, lim: &SetLimits) {
        if matches!(self.repr, Repr::Intset(_)) || self.len() > lim.intset_max() {
            return;
        }
        let mut ints = Vec::with_capacity(self.len());
        for m in self.iter() {
            match num::parse_i64(&m) {
                Some(n) => ints.push(n),
                None => return,
            }
        }
        ints.sort_unstable();
        self.repr = Repr::Intset(ints);
    }
}

/// Active defragmentation hooks (see `memory/defrag.rs`).
impl SetValue {
    /// Offers the fixed blocks: an intset's or listpack's vector and a listpack's members
    /// (a listpack is small, so it is moved whole).
    pub fn defrag_fixed(&mut self, mv: &mut impl RelocateVec) -> bool {
        match &mut self.repr {
            Repr::Intset(v) => mv.relocate_vec(v),
            Repr::Listpack(v) => {
                let members = v.iter_mut().fold(false, |m, b| m | mv.relocate_bytes(b));
                members | mv.relocate_vec(v)
            }
            Repr::Hashtable(_) => false,
        }
    }

    /// Members the element walk covers (those of a hashtable).
    pub fn defrag_elements(&self) -> usize {
        match &self.repr {
            Repr::Hashtable(d) => d.len(),
            Repr::Intset(_) | Repr::Listpack(_) => 0,
        }
    }

    /// Offers up to `max` members from `cursor` (the table's SCAN cursor).
    pub fn defrag_elements_from(
        &mut self,
        mv: &mut impl RelocateVec,
        cursor: u64,
        max: usize,
    ) -> RelocateStep {
        match &mut self.repr {
            Repr::Hashtable(d) => relocate_dict(d, mv, cursor, max, |_, _| false),
            Repr::Intset(_) | Repr::Listpack(_) => NO_STEP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const LIM: SetLimits = SetLimits { intset_entries: 4, listpack_entries: 3, listpack_value: 5 };

    fn members(s: &SetValue) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.into_owned()).collect()
    }

    #[test]
    fn intset_stays_sorted_and_turns_hashtable_when_long() {
        let mut s = SetValue::for_members(b"3", 3, &LIM);
        for m in [&b"3"[..], b"-1", b"2"] {
            assert!(s.add(m, &LIM));
        }
        assert!(!s.add(b"2", &LIM));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(members(&s), vec![b"-1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
        s.add(b"10", &LIM);
        assert_eq!(s.encoding(), "intset");
        // Past the intset limit it skips the listpack, as Redis does.
        s.add(b"11", &LIM);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn intset_to_listpack_keeps_order_then_hashtable() {
        let mut s = SetValue::for_members(b"5", 1, &LIM);
        s.add(b"5", &LIM);
        s.add(b"1", &LIM);
        s.add(b"x", &LIM);
        assert_eq!(s.encoding(), "listpack");
        assert_eq!(members(&s), vec![b"1".to_vec(), b"5".to_vec(), b"x".to_vec()]);
        s.add(b"y", &LIM);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"5") && s.contains(b"y"));
    }

    #[test]
    fn long_member_or_wide_integer_skips_listpack() {
        let mut s = SetValue::for_members(b"a", 1, &LIM);
        s.add(b"abcdef", &LIM);
        assert_eq!(s.encoding(), "hashtable");
        let mut t = SetValue::for_members(b"123456", 1, &LIM);
        t.add(b"123456", &LIM);
        t.add(b"a", &LIM);
        assert_eq!(t.encoding(), "hashtable");
    }

    #[test]
    fn listpack_remove_keeps_order_and_non_canonical_ints_are_strings() {
        let mut s = SetValue::for_members(b"b", 3, &LIM);
        for m in [&b"b"[..], b"01", b"c"] {
            s.add(m, &LIM);
        }
        assert!(s.remove(b"01"));
        assert!(!s.remove(b"1"));
        assert_eq!(members(&s), vec![b"b".to_vec(), b"c".to_vec()]);
        let mut i = SetValue::for_members(b"1", 1, &LIM);
        i.add(b"1", &LIM);
        assert!(!i.contains(b"01") && !i.remove(b"+1"));
    }

    #[test]
    fn sampling_is_distinct_and_pop_empties() {
        let mut rng = SmallRng::seed_from_u64(7);
        let big = SetLimits { intset_entries: 512, listpack_entries: 128, listpack_value: 64 };
        let mut s = SetValue::with_encoding(SetEncoding::Listpack);
        for i in 0..50 {
            s.add(format!("m{i}").as_bytes(), &big);
        }
        let mut pick: Vec<Vec<u8>> =
            s.sample_distinct(20, &mut rng).into_iter().map(|m| m.into_owned()).collect();
        assert_eq!(pick.len(), 20);
        pick.sort();
        pick.dedup();
        assert_eq!(pick.len(), 20);
        assert_eq!(s.sample_distinct(99, &mut rng).len(), 50);
        while s.pop_random(&mut rng).is_some() {}
        assert!(s.is_empty());
    }

    #[test]
    fn hashtable_scan_visits_every_member_once_and_random_picks_members() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut s = SetValue::with_encoding(SetEncoding::Hashtable);
        for i in 0..300 {
            s.add(format!("k{i}").as_bytes(), &LIM);
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 1, |m| seen.push(m.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 300);
        for _ in 0..50 {
            let m = s.random_member(&mut rng).map(Cow::into_owned);
            assert!(m.is_some_and(|m| s.contains(&m)));
        }
        assert_eq!(s.clone().len(), 300);
    }

    #[test]
    fn maybe_to_intset_only_for_all_integers() {
        let mut s = SetValue::with_encoding(SetEncoding::Listpack);
        s.add(b"9", &LIM);
        s.add(b"-2", &LIM);
        s.maybe_to_intset(&LIM);
        assert_eq!(s.encoding(), "intset");
        assert_eq!(members(&s), vec![b"-2".to_vec(), b"9".to_vec()]);
        let mut t = SetValue::with_encoding(SetEncoding::Listpack);
        t.add(b"9", &LIM);
        t.add(b"z", &LIM);
        t.maybe_to_intset(&LIM);
        assert_eq!(t.encoding(), "listpack");
    }
}
