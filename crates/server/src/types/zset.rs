//! A sorted set value (`TYPE` = `zset`), with Redis's two encodings.
//!
//! * `listpack`: a small set kept as one vector sorted by (score, member). Every operation
//!   is a binary search plus a shift, which beats pointer chasing at this size.
//! * `skiplist`: a skip list whose links carry spans (so rank lookups and rank ranges cost
//!   O(log N)) plus a [`Dict`] from member to score for O(1) score lookups and SCAN.
//!
//! Every query is expressed in ranks (0-based positions in ascending order): a score or lex
//! range first becomes a rank interval through [`ZSetValue::count_before`], so both
//! encodings only need rank-based primitives. Elements are ordered by score, then by member
//! bytes; scores are never NaN (the command layer refuses NaN before it gets here).

use crate::memory::defrag::{index_piece, relocate_dict, RelocateVec, NO_STEP};
use crate::types::dict::{Dict, RelocateStep};
use std::cmp::Ordering;
use std::fmt;

/// The conversion thresholds (`zset-max-listpack-entries` / `-value`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most elements a listpack may hold.
    pub max_entries: usize,
    /// Longest member a listpack may hold.
    pub max_value: usize,
}

/// Orders two elements: by score, then by member bytes.
fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2).unwrap_or(Ordering::Equal).then_with(|| m1.cmp(m2))
}

/// Marks "no node" in the skip list's links.
const NIL: usize = usize::MAX;
/// Highest level a node can have (plenty for 2^64 elements at p = 1/4).
const MAX_LEVEL: usize = 32;

/// One forward link of a node: where it goes and how many elements it jumps over.
#[derive(Clone, Copy, Debug)]
struct Link {
    next: usize,
    span: usize,
}

/// A skip list node in the arena; index 0 is the header, which holds no element.
#[derive(Debug)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    prev: usize,
    links: Vec<Link>,
}

/// A skip list with spans, stored in an arena of nodes addressed by index (no unsafe, no
/// reference counting); freed slots are reused.
#[derive(Debug)]
struct SkipList {
    nodes: Vec<Node>,
    free: Vec<usize>,
    level: usize,
    len: usize,
    tail: usize,
    /// xorshift state for node levels: any fair source will do, it only shapes the list.
    seed: u64,
}

impl SkipList {
    fn new() -> SkipList {
        let header = Node {
            member: Box::default(),
            score: 0.0,
            prev: NIL,
            links: vec![Link { next: NIL, span: 0 }; MAX_LEVEL],
        };
        SkipList {
            nodes: vec![header],
            free: Vec::new(),
            level: 1,
            len: 0,
            tail: NIL,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// A level with the 1/4 geometric distribution Redis uses.
    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            if self.seed & 3 != 0 || level >= MAX_LEVEL {
                return level;
            }
            level += 1;
        }
    }

    /// For each level, the last node before (score, member) and the rank reached there.
    fn find_path(&self, score: f64, member: &[u8]) -> ([usize; MAX_LEVEL], [usize; MAX_LEVEL]) {
        let mut update = [0usize; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = 0;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let l = self.nodes[x].links[i];
                if l.next == NIL {
                    break;
                }
                let n = &self.nodes[l.next];
                if cmp_elem(n.score, &n.member, score, member) != Ordering::Less {
                    break;
                }
                rank[i] += l.span;
                x = l.next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Inserts an element that is not present.
    fn insert(&mut self, score: f64, member: Box<[u8]>) {
        let (mut update, mut rank) = self.find_path(score, &member);
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = 0;
                self.nodes[0].links[i].span = self.len;
            }
            self.level = level;
        }
        let node =
            Node { member, score, prev: NIL, links: vec![Link { next: NIL, span: 0 }; level] };
        let x = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        for i in 0..level {
            let u = update[i];
            let ul = self.nodes[u].links[i];
            let crossed = rank[0] - rank[i];
            self.nodes[x].links[i] = Link { next: ul.next, span: ul.span - crossed };
            self.nodes[u].links[i] = Link { next: x, span: crossed + 1 };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.nodes[u].links[i].span += 1;
        }
        self.nodes[x].prev = if update[0] == 0 { NIL } else { update[0] };
        let next = self.nodes[x].links[0].next;
        if next == NIL {
            self.tail = x;
        } else {
            self.nodes[next].prev = x;
        }
        self.len += 1;
    }

    /// Removes (score, member); returns the member's storage if it was there.
    fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        let (update, _) = self.find_path(score, member);
        let x = self.nodes[update[0]].links[0].next;
        if x == NIL || self.nodes[x].score != score || &self.nodes[x].member[..] != member {
            return false;
        }
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.nodes[u].links[i].next == x {
                let xl = self.nodes[x].links[i];
                let ul = &mut self.nodes[u].links[i];
                ul.span = ul.span + xl.span - 1;
                ul.next = xl.next;
            } else {
                self.nodes[u].links[i].span -= 1;
            }
        }
        let (prev, next) = (self.nodes[x].prev, self.nodes[x].links[0].next);
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        while self.level > 1 && self.nodes[0].links[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        self.nodes[x].member = Box::default();
        self.nodes[x].links = Vec::new();
        self.free.push(x);
        true
    }

    /// Number of leading elements for which `before` holds (`before` must be monotone).
    fn count_before(&self, before: &dyn Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = 0;
        let mut rank = 0;
        for i in (0..self.level).rev() {
            loop {
                let l = self.nodes[x].links[i];
                if l.next == NIL || !before(self.nodes[l.next].score, &self.nodes[l.next].member) {
                    break;
                }
                rank += l.span;
                x = l.next;
            }
        }
        rank
    }

    /// The node at 0-based `rank`, or NIL.
    fn node_at(&self, rank: usize) -> usize {
        if rank >= self.len {
            return NIL;
        }
        let target = rank + 1;
        let mut x = 0;
        let mut traversed = 0;
        for i in (0..self.level).rev() {
            loop {
                let l = self.nodes[x].links[i];
                if l.next == NIL || traversed + l.span > target {
                    break;
                }
                traversed += l.span;
                x = l.next;
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }
}

/// The skiplist encoding: ordered view plus member → score index.
struct Big {
    list: SkipList,
    dict: Dict<f64>,
}

impl Big {
    fn from_sorted(items: impl Iterator<Item = (Box<[u8]>, f64)>) -> Big {
        let mut big = Big { list: SkipList::new(), dict: Dict::new() };
        for (m, s) in items {
            big.dict.insert(&m, s);
            big.list.insert(s, m);
        }
        big
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut x = self.list.nodes[0].links[0].next;
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let n = &self.list.nodes[x];
            x = n.links[0].next;
            Some((&n.member[..], n.score))
        })
    }
}

#[derive(Clone, Debug)]
enum Repr {
    Listpack(Vec<(Box<[u8]>, f64)>),
    Skiplist(Box<Big>),
}

impl Clone for Big {
    fn clone(&self) -> Big {
        Big::from_sorted(self.iter().map(|(m, s)| (Box::from(m), s)))
    }
}

impl fmt::Debug for Big {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Skiplist({} elements)", self.list.len)
    }
}

/// A sorted set.
#[derive(Clone, Debug)]
pub struct ZSetValue {
    repr: Repr,
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue { repr: Repr::Listpack(Vec::new()) }
    }
}

impl ZSetValue {
    /// An empty set in the encoding Redis picks for an expected size and longest member:
    /// listpack when both are within the limits.
    pub fn with_hint(size: usize, longest: usize, limits: Limits) -> ZSetValue {
        let mut z = ZSetValue::default();
        if size > limits.max_entries || longest > limits.max_value {
            z.to_skiplist();
        }
        z
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.len(),
            Repr::Skiplist(b) => b.list.len,
        }
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    /// True for the skiplist encoding.
    pub fn is_skiplist(&self) -> bool {
        matches!(self.repr, Repr::Skiplist(_))
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.iter().map(|(m, _)| m.len() + 11).sum(),
            Repr::Skiplist(b) => {
                b.list.nodes.iter().map(|n| 2 * n.member.len() + 48 + n.links.len() * 16 + 40).sum()
            }
        }
    }

    /// Converts to the skiplist encoding (no-op if already there).
    pub fn to_skiplist(&mut self) {
        if let Repr::Listpack(v) = &mut self.repr {
            let items = std::mem::take(v);
            self.repr = Repr::Skiplist(Box::new(Big::from_sorted(items.into_iter())));
        }
    }

    /// Converts a skiplist back to a listpack when it fits the limits (Redis does this only
    /// for freshly built results, e.g. of ZUNIONSTORE).
    pub fn shrink_if_fits(&mut self, limits: Limits) {
        if let Repr::Skiplist(b) = &self.repr {
            if b.list.len <= limits.max_entries
                && b.iter().all(|(m, _)| m.len() <= limits.max_value)
            {
                let items = b.iter().map(|(m, s)| (Box::from(m), s)).collect();
                self.repr = Repr::Listpack(items);
            }
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(v) => v.iter().find(|(m, _)| &m[..] == member).map(|(_, s)| *s),
            Repr::Skiplist(b) => b.dict.get(member).copied(),
        }
    }

    /// Sets `member`'s score, adding it if new, converting to skiplist when a listpack would
    /// outgrow `limits`. Returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: Limits) -> Option<f64> {
        let old = self.remove(member);
        if let Repr::Listpack(v) = &self.repr {
            if v.len() + 1 > limits.max_entries || member.len() > limits.max_value {
                self.to_skiplist();
            }
        }
        match &mut self.repr {
            Repr::Listpack(v) => {
                let at = v.partition_point(|(m, s)| cmp_elem(*s, m, score, member).is_lt());
                v.insert(at, (member.into(), score));
            }
            Repr::Skiplist(b) => {
                b.dict.insert(member, score);
                b.list.insert(score, member.into());
            }
        }
        old
    }

    /// Removes `member`; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Listpack(v) => {
                let i = v.iter().position(|(m, _)| &m[..] == member)?;
                Some(v.remove(i).1)
            }
            Repr::Skiplist(b) => {
                let s = b.dict.remove(member)?;
                b.list.delete(s, member);
                Some(s)
            }
        }
    }

    /// The 0-based ascending rank of `member` and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let score = self.score(member)?;
        Some((self.count_before(&|s, m| cmp_elem(s, m, score, member).is_lt()), score))
    }

    /// Number of leading elements (in ascending order) for which `before(score, member)`
    /// holds; `before` must be true for a prefix and false afterwards. This turns score and
    /// lex bounds into ranks in O(log N).
    pub fn count_before(&self, before: &dyn Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.partition_point(|(m, s)| before(*s, m)),
            Repr::Skiplist(b) => b.list.count_before(before),
        }
    }

    /// The element at 0-based ascending `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Listpack(v) => v.get(rank).map(|(m, s)| (&m[..], *s)),
            Repr::Skiplist(b) => {
                let x = b.list.node_at(rank);
                (x != NIL).then(|| (&b.list.nodes[x].member[..], b.list.nodes[x].score))
            }
        }
    }

    /// Calls `f` on the elements with ranks in `start..end`, in ascending order, or in
    /// descending order when `rev`.
    pub fn for_range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match &self.repr {
            Repr::Listpack(v) => {
                let slice = &v[start..end];
                if rev {
                    slice.iter().rev().for_each(|(m, s)| f(m, *s));
                } else {
                    slice.iter().for_each(|(m, s)| f(m, *s));
                }
            }
            Repr::Skiplist(b) => {
                let l = &b.list;
                let mut x = l.node_at(if rev { end - 1 } else { start });
                for _ in start..end {
                    if x == NIL {
                        break;
                    }
                    let n = &l.nodes[x];
                    f(&n.member, n.score);
                    x = if rev { n.prev } else { n.links[0].next };
                }
            }
        }
    }

    /// Removes the elements with ranks in `start..end`; returns how many went.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        if let Repr::Listpack(v) = &mut self.repr {
            return v.drain(start..end).count();
        }
        let mut doomed: Vec<Box<[u8]>> = Vec::with_capacity(end - start);
        self.for_range(start, end, false, |m, _| doomed.push(m.into()));
        doomed.iter().filter(|m| self.remove(m).is_some()).count()
    }

    /// Every element in ascending order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match &self.repr {
            Repr::Listpack(v) => Box::new(v.iter().map(|(m, s)| (&m[..], *s))),
            Repr::Skiplist(b) => Box::new(b.iter()),
        }
    }

    /// One SCAN step: a listpack returns everything at once with cursor 0; a skiplist walks
    /// its dict from `cursor` and returns the next cursor.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Listpack(v) => {
                v.iter().for_each(|(m, s)| f(m, *s));
                0
            }
            Repr::Skiplist(b) => b.dict.scan(cursor, |m, s| f(m, *s)),
        }
    }
}

/// Marks a zset element-walk cursor as being in the table phase (the skiplist's nodes come
/// first, by index; a table's SCAN cursor never uses the top bit).
const TABLE_PHASE: u64 = 1 << 63;

/// Active defragmentation hooks (see `memory/defrag.rs`). The skiplist links its nodes by
/// index into one vector, so any block of it can move without fixing up pointers.
impl ZSetValue {
    /// Offers the fixed blocks: a listpack's vector and members (a listpack is small, so
    /// it is moved whole), or the skiplist's box and its vectors of nodes and free slots.
    pub fn defrag_fixed(&mut self, mv: &mut impl RelocateVec) -> bool {
        match &mut self.repr {
            Repr::Listpack(v) => {
                let members = v.iter_mut().fold(false, |m, (b, _)| m | mv.relocate_bytes(b));
                members | mv.relocate_vec(v)
            }
            Repr::Skiplist(big) => {
                mv.relocate(big)
                    | mv.relocate_vec(&mut big.list.nodes)
                    | mv.relocate_vec(&mut big.list.free)
            }
        }
    }

    /// Elements the element walk covers (a skiplist's).
    pub fn defrag_elements(&self) -> usize {
        match &self.repr {
            Repr::Listpack(_) => 0,
            Repr::Skiplist(big) => big.list.len,
        }
    }

    /// Offers up to `max` elements from `cursor`: first each skiplist node's member and
    /// links (`cursor` = node index), then the member table (`TABLE_PHASE` | its cursor).
    pub fn defrag_elements_from(
        &mut self,
        mv: &mut impl RelocateVec,
        cursor: u64,
        max: usize,
    ) -> RelocateStep {
        let Repr::Skiplist(big) = &mut self.repr else {
            return NO_STEP;
        };
        if cursor & TABLE_PHASE != 0 {
            let mut step =
                relocate_dict(&mut big.dict, mv, cursor & !TABLE_PHASE, max, |_, _| false);
            if step.cursor != 0 {
                step.cursor |= TABLE_PHASE;
            }
            return step;
        }
        let (piece, next) = index_piece(big.list.nodes.len(), cursor, max);
        let cursor = if next == 0 { TABLE_PHASE } else { next };
        let mut step = RelocateStep { cursor, entries: 0, moved: 0 };
        for n in &mut big.list.nodes[piece] {
            step.entries += 1;
            step.moved +=
                usize::from(mv.relocate_bytes(&mut n.member) | mv.relocate_vec(&mut n.links));
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits { max_entries: 4, max_value: 8 };

    fn members(z: &ZSetValue) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn converts_past_limits_and_keeps_order() {
        let mut z = ZSetValue::default();
        for (i, m) in ["d", "b", "a", "c"].iter().enumerate() {
            z.insert(m.as_bytes(), (i % 2) as f64, SMALL);
        }
        assert_eq!(z.encoding(), "listpack");
        let before = members(&z);
        z.insert(b"e", 0.0, SMALL);
        assert_eq!(z.encoding(), "skiplist");
        let mut want = before;
        want.push((b"e".to_vec(), 0.0));
        want.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
        assert_eq!(members(&z), want);
        let mut long = ZSetValue::default();
        long.insert(b"123456789", 1.0, SMALL);
        assert_eq!(long.encoding(), "skiplist");
    }

    #[test]
    fn skiplist_ranks_match_a_sorted_vector() {
        let limits = Limits { max_entries: 0, max_value: 0 };
        let mut z = ZSetValue::default();
        let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
        let mut seed = 12345u64;
        for step in 0..3000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let m = format!("m{}", (seed >> 33) % 500).into_bytes();
            let s = ((seed >> 20) % 50) as f64;
            if step % 3 == 0 {
                assert_eq!(z.remove(&m).is_some(), model.iter().any(|(x, _)| *x == m));
                model.retain(|(x, _)| *x != m);
            } else {
                z.insert(&m, s, limits);
                model.retain(|(x, _)| *x != m);
                model.push((m, s));
            }
        }
        model.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
        assert_eq!(members(&z), model);
        for (i, (m, s)) in model.iter().enumerate() {
            assert_eq!(z.rank(m), Some((i, *s)));
            assert_eq!(z.get(i).map(|(m, _)| m.to_vec()), Some(m.clone()));
        }
        let mut rev = Vec::new();
        z.for_range(10, 20, true, |m, _| rev.push(m.to_vec()));
        let want: Vec<Vec<u8>> = model[10..20].iter().rev().map(|(m, _)| m.clone()).collect();
        assert_eq!(rev, want);
        assert_eq!(z.count_before(&|s, _| s < 10.0), model.iter().filter(|e| e.1 < 10.0).count());
        let n = z.remove_range(5, 15);
        assert_eq!(n, 10);
        model.drain(5..15);
        assert_eq!(members(&z), model);
    }

    #[test]
    fn shrinks_only_when_it_fits() {
        let mut z = ZSetValue::with_hint(10, 1, SMALL);
        assert!(z.is_skiplist());
        z.insert(b"a", 1.0, SMALL);
        z.shrink_if_fits(SMALL);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.score(b"a"), Some(1.0));
    }
}
