//! A list value (`TYPE` = `list`).
//!
//! The elements live in one `VecDeque<Bytes>`, so pushes and pops at both ends are O(1) and
//! indexing is O(1). Redis stores small lists as one listpack and bigger ones as a quicklist
//! (a chain of listpack nodes); `OBJECT ENCODING` reports which, and the choice depends on
//! the exact byte size of those listpacks. So next to the elements this type keeps a model of
//! Redis's layout: the listpack byte size, or the quicklist's node sizes and counts. The
//! model decides conversions the way Redis 7.2 does (listpack -> quicklist when a write would
//! exceed `list-max-listpack-size`; quicklist -> listpack when a shrinking list is back to a
//! single node holding at most half the limit).

use crate::types::num;
use bytes::Bytes;
use std::collections::VecDeque;

/// Bytes of an empty listpack: 4 for the total size, 2 for the count, 1 terminator.
const LP_EMPTY: usize = 7;
/// The byte limits that negative `list-max-listpack-size` values select (-1 .. -5).
const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// With a count limit, a node still may not grow past this many bytes.
const SAFETY_LIMIT: usize = 8192;
/// Redis over-estimates an entry's encoding overhead by this much when deciding whether a
/// node can take one more element.
const INSERT_OVERHEAD: usize = 8;

/// The limits of one listpack under a `list-max-listpack-size` value: (bytes, count).
/// Exactly one of them is finite (a count limit also implies the safety byte limit).
fn limits(fill: i64) -> (usize, usize) {
    if fill >= 0 {
        (usize::MAX, fill.max(1) as usize)
    } else {
        let level = ((-fill - 1) as usize).min(SIZE_LEVELS.len() - 1);
        (SIZE_LEVELS[level], usize::MAX)
    }
}

/// True if a listpack of `bytes` bytes and `count` elements is over the limits of `fill`.
fn exceeds(fill: i64, bytes: usize, count: usize) -> bool {
    let (size_limit, count_limit) = limits(fill);
    if size_limit != usize::MAX {
        bytes > size_limit
    } else {
        bytes > SAFETY_LIMIT || count > count_limit
    }
}

/// True if an element of `len` bytes gets a quicklist node of its own ("plain" node).
fn is_large(fill: i64, len: usize) -> bool {
    if fill >= 0 {
        len > SAFETY_LIMIT
    } else {
        len > limits(fill).0
    }
}

/// Bytes one element takes inside a listpack: encoding header and data, plus the
/// back-length that lets the listpack be walked backwards. Integers are stored compactly.
pub fn entry_size(v: &[u8]) -> usize {
    let body = match num::parse_i64(v) {
        Some(n) if (0..=127).contains(&n) => 1,
        Some(n) if (-4096..=4095).contains(&n) => 2,
        Some(n) if (-32768..=32767).contains(&n) => 3,
        Some(n) if (-8_388_608..=8_388_607).contains(&n) => 4,
        Some(n) if i32::try_from(n).is_ok() => 5,
        Some(_) => 9,
        None if v.len() < 64 => 1 + v.len(),
        None if v.len() < 4096 => 2 + v.len(),
        None => 5 + v.len(),
    };
    let backlen = match body {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    body + backlen
}

/// One quicklist node of the layout model.
#[derive(Clone, Debug)]
struct Node {
    /// Elements in the node.
    count: usize,
    /// The node's listpack size in bytes (for a plain node: the element's length).
    bytes: usize,
    /// A node holding one large element outside any listpack.
    plain: bool,
}

impl Node {
    /// A node holding just `v`.
    fn single(fill: i64, v: &[u8]) -> Node {
        if is_large(fill, v.len()) {
            Node { count: 1, bytes: v.len(), plain: true }
        } else {
            Node { count: 1, bytes: LP_EMPTY + entry_size(v), plain: false }
        }
    }

    /// Whether Redis would add `v` to this node rather than start a new one.
    fn allows(&self, fill: i64, v: &[u8]) -> bool {
        !self.plain
            && !is_large(fill, v.len())
            && !exceeds(fill, self.bytes + v.len() + INSERT_OVERHEAD, self.count + 1)
    }

    /// Accounts for `v` added to the node.
    fn add(&mut self, v: &[u8]) {
        self.count += 1;
        self.bytes += entry_size(v);
    }

    /// Accounts for `v` removed from the node.
    fn sub(&mut self, v: &[u8]) {
        self.count -= 1;
        self.bytes = if self.plain { 0 } else { self.bytes.saturating_sub(entry_size(v)) };
    }
}

/// Redis's layout for the list.
#[derive(Clone, Debug)]
enum Layout {
    /// One listpack of this many bytes.
    Listpack(usize),
    /// A quicklist with these nodes, head first.
    Quicklist(VecDeque<Node>),
}

/// A list.
#[derive(Clone, Debug)]
pub struct ListValue {
    /// The elements, head first.
    items: VecDeque<Bytes>,
    /// Sum of element lengths (for memory reports).
    payload: usize,
    /// The encoding model.
    layout: Layout,
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue::new()
    }
}

impl ListValue {
    /// An empty list (a listpack until it grows).
    pub fn new() -> ListValue {
        ListValue { items: VecDeque::new(), payload: 0, layout: Layout::Listpack(LP_EMPTY) }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self.layout {
            Layout::Listpack(_) => "listpack",
            Layout::Quicklist(_) => "quicklist",
        }
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        self.payload + self.items.capacity() * std::mem::size_of::<Bytes>()
    }

    /// Element `i` from the head.
    pub fn get(&self, i: usize) -> Option<&Bytes> {
        self.items.get(i)
    }

    /// All elements, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// Elements `start..=end` (indexes already clamped by the caller), head first.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &Bytes> {
        self.items.range(start..=end)
    }

    /// Before a write adds `values`: converts a listpack that would grow past the limits
    /// into a quicklist whose single node is the old listpack. Redis sums the raw lengths
    /// of the new values here, not their encoded sizes.
    fn grow_check(&mut self, fill: i64, values: &[&[u8]]) {
        if let Layout::Listpack(bytes) = self.layout {
            let add: usize = values.iter().map(|v| v.len()).sum();
            if exceeds(fill, bytes + add, self.items.len() + values.len()) {
                let mut nodes = VecDeque::new();
                if !self.items.is_empty() {
                    nodes.push_back(Node { count: self.items.len(), bytes, plain: false });
                }
                self.layout = Layout::Quicklist(nodes);
            }
        }
    }

    /// After a write removed elements: a quicklist back to one packed node of at most half
    /// the limits becomes a listpack again (Redis 7.2; the half leaves room so a list at the
    /// boundary does not flip encodings on every push and pop).
    pub fn shrink_check(&mut self, fill: i64) {
        if let Layout::Quicklist(nodes) = &self.layout {
            if nodes.len() != 1 || nodes[0].plain {
                return;
            }
            let (size_limit, count_limit) = limits(fill);
            if nodes[0].bytes <= size_limit / 2 && nodes[0].count <= count_limit / 2 {
                self.layout = Layout::Listpack(nodes[0].bytes);
            }
        }
    }

    /// Appends `values` at the head (each one becomes the new head, so they end up
    /// reversed) or at the tail, in order.
    pub fn push(&mut self, fill: i64, values: &[&[u8]], front: bool) {
        self.grow_check(fill, values);
        for v in values {
            self.push_one(fill, v, front);
        }
    }

    /// Adds one element at an end, with the layout bookkeeping.
    fn push_one(&mut self, fill: i64, v: &[u8], front: bool) {
        match &mut self.layout {
            Layout::Listpack(bytes) => *bytes += entry_size(v),
            Layout::Quicklist(nodes) => {
                let end = if front { nodes.front_mut() } else { nodes.back_mut() };
                match end {
                    Some(node) if node.allows(fill, v) => node.add(v),
                    _ if front => nodes.push_front(Node::single(fill, v)),
                    _ => nodes.push_back(Node::single(fill, v)),
                }
            }
        }
        self.payload += v.len();
        let b = Bytes::copy_from_slice(v);
        if front {
            self.items.push_front(b);
        } else {
            self.items.push_back(b);
        }
    }

    /// Removes and returns the head or tail element. No encoding conversion happens here:
    /// callers call [`ListValue::shrink_check`] once after all their pops, as Redis does.
    pub fn pop(&mut self, front: bool) -> Option<Bytes> {
        let v = if front { self.items.pop_front() } else { self.items.pop_back() }?;
        self.payload -= v.len();
        match &mut self.layout {
            Layout::Listpack(bytes) => *bytes -= entry_size(&v),
            Layout::Quicklist(nodes) => {
                let node = if front { nodes.front_mut() } else { nodes.back_mut() };
                if let Some(node) = node {
                    node.sub(&v);
                    if node.count == 0 {
                        if front {
                            nodes.pop_front();
                        } else {
                            nodes.pop_back();
                        }
                    }
                }
            }
        }
        Some(v)
    }

    /// The quicklist node holding element `i`, and `i`'s offset inside it.
    fn node_of(nodes: &mut VecDeque<Node>, mut i: usize) -> Option<(usize, usize)> {
        for (n, node) in nodes.iter().enumerate() {
            if i < node.count {
                return Some((n, i));
            }
            i -= node.count;
        }
        None
    }

    /// Replaces element `i` with `v` (LSET). Returns false if `i` is out of range.
    pub fn set(&mut self, fill: i64, i: usize, v: &[u8]) -> bool {
        if i >= self.items.len() {
            return false;
        }
        self.grow_check(fill, &[v]);
        let old = std::mem::replace(&mut self.items[i], Bytes::copy_from_slice(v));
        self.payload = self.payload - old.len() + v.len();
        match &mut self.layout {
            Layout::Listpack(bytes) => *bytes = *bytes - entry_size(&old) + entry_size(v),
            Layout::Quicklist(nodes) => {
                if let Some((n, _)) = Self::node_of(nodes, i) {
                    let node = &mut nodes[n];
                    if node.plain || is_large(fill, v.len()) {
                        // A large element keeps (or gets) a node of its own.
                        *node = Node::single(fill, v);
                    } else {
                        node.bytes = node.bytes - entry_size(&old) + entry_size(v);
                    }
                }
            }
        }
        self.shrink_check(fill);
        true
    }

    /// Inserts `v` so that it becomes element `i` (LINSERT; `i` may equal the length).
    pub fn insert(&mut self, fill: i64, i: usize, v: &[u8]) {
        if i == 0 || i >= self.items.len() {
            self.push(fill, &[v], i == 0);
            return;
        }
        self.grow_check(fill, &[v]);
        match &mut self.layout {
            Layout::Listpack(bytes) => *bytes += entry_size(v),
            Layout::Quicklist(nodes) => match Self::node_of(nodes, i) {
                Some((n, _)) if nodes[n].allows(fill, v) => nodes[n].add(v),
                Some((n, 0)) => nodes.insert(n, Node::single(fill, v)),
                Some((n, off)) => {
                    // A full node splits around the new element, which gets its own node.
                    let node = &nodes[n];
                    let right_count = node.count - off;
                    let right_bytes = LP_EMPTY
                        + self
                            .items
                            .range(i..i + right_count)
                            .map(|e| entry_size(e))
                            .sum::<usize>();
                    let left = Node {
                        count: off,
                        bytes: node.bytes + LP_EMPTY - right_bytes,
                        plain: false,
                    };
                    nodes[n] = left;
                    nodes.insert(n + 1, Node::single(fill, v));
                    nodes.insert(
                        n + 2,
                        Node { count: right_count, bytes: right_bytes, plain: false },
                    );
                }
                None => nodes.push_back(Node::single(fill, v)),
            },
        }
        self.payload += v.len();
        self.items.insert(i, Bytes::copy_from_slice(v));
    }

    /// Removes up to `limit` elements equal to `v` (0 = all), scanning from the head, or from
    /// the tail when `from_tail`. Returns how many were removed.
    pub fn remove(&mut self, fill: i64, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let n = self.items.len();
        let mut doomed = vec![false; n];
        let mut found = 0;
        let order: Box<dyn Iterator<Item = usize>> =
            if from_tail { Box::new((0..n).rev()) } else { Box::new(0..n) };
        for i in order {
            if limit != 0 && found == limit {
                break;
            }
            if self.items[i] == v {
                doomed[i] = true;
                found += 1;
            }
        }
        if found == 0 {
            return 0;
        }
        let mut node_idx = 0;
        let mut left_in_node = 0;
        let mut kept = VecDeque::with_capacity(n - found);
        for (idx, item) in self.items.drain(..).enumerate() {
            if let Layout::Quicklist(nodes) = &self.layout {
                while left_in_node == 0 && node_idx < nodes.len() {
                    left_in_node = nodes[node_idx].count;
                    node_idx += 1;
                }
            }
            left_in_node = left_in_node.saturating_sub(1);
            if doomed[idx] {
                self.payload -= item.len();
                match &mut self.layout {
                    Layout::Listpack(bytes) => *bytes -= entry_size(&item),
                    Layout::Quicklist(nodes) => {
                        if let Some(node) = nodes.get_mut(node_idx.wrapping_sub(1)) {
                            node.sub(&item);
                        }
                    }
                }
            } else {
                kept.push_back(item);
            }
        }
        self.items = kept;
        if let Layout::Quicklist(nodes) = &mut self.layout {
            nodes.retain(|node| node.count > 0);
        }
        self.shrink_check(fill);
        found
    }

    /// Keeps only elements `start..=end` (LTRIM; `None` keeps nothing).
    pub fn trim(&mut self, fill: i64, keep: Option<(usize, usize)>) {
        let (front, back) = match keep {
            Some((start, end)) => (start, self.items.len().saturating_sub(end + 1)),
            None => (self.items.len(), 0),
        };
        for _ in 0..front {
            self.pop(true);
        }
        for _ in 0..back {
            self.pop(false);
        }
        self.shrink_check(fill);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_n(l: &mut ListValue, fill: i64, n: usize, v: &[u8]) {
        for _ in 0..n {
            l.push(fill, &[v], false);
        }
    }

    #[test]
    fn entry_sizes_follow_listpack_encodings() {
        assert_eq!(entry_size(b"1"), 2);
        assert_eq!(entry_size(b"-1"), 3);
        assert_eq!(entry_size(b"100000"), 5);
        assert_eq!(entry_size(b"9223372036854775807"), 10);
        assert_eq!(entry_size(b"a"), 3);
        assert_eq!(entry_size(b"01"), 4);
        assert_eq!(entry_size(&[b'x'; 64]), 64 + 2 + 1);
        assert_eq!(entry_size(&[b'x'; 200]), 200 + 2 + 2);
    }

    #[test]
    fn count_limit_converts_and_shrinks_back() {
        let mut l = ListValue::new();
        push_n(&mut l, 4, 4, b"a");
        assert_eq!(l.encoding(), "listpack");
        push_n(&mut l, 4, 1, b"a");
        assert_eq!(l.encoding(), "quicklist");
        // 5 elements in nodes [4, 1]: popping the tail leaves one node of 4 > 4/2.
        l.pop(false);
        l.shrink_check(4);
        assert_eq!(l.encoding(), "quicklist");
        l.pop(false);
        l.pop(false);
        l.shrink_check(4);
        assert_eq!(l.encoding(), "listpack");
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn byte_limit_and_large_elements() {
        let mut l = ListValue::new();
        let big = vec![b'x'; 9000];
        l.push(-2, &[b"a"], true);
        l.push(-2, &[&big], false);
        assert_eq!(l.encoding(), "quicklist");
        l.pop(false);
        l.shrink_check(-2);
        assert_eq!(l.encoding(), "listpack");
    }

    #[test]
    fn remove_insert_set_trim_keep_order() {
        let mut l = ListValue::new();
        l.push(3, &[b"a", b"b", b"a", b"c", b"a"], false);
        assert_eq!(l.remove(3, b"a", 2, true), 2);
        let got: Vec<&[u8]> = l.iter().map(|b| &b[..]).collect();
        assert_eq!(got, vec![&b"a"[..], b"b", b"c"]);
        l.insert(3, 1, b"z");
        assert!(l.set(3, 0, b"y"));
        assert!(!l.set(3, 9, b"y"));
        let got: Vec<&[u8]> = l.iter().map(|b| &b[..]).collect();
        assert_eq!(got, vec![&b"y"[..], b"z", b"b", b"c"]);
        l.trim(3, Some((1, 2)));
        let got: Vec<&[u8]> = l.iter().map(|b| &b[..]).collect();
        assert_eq!(got, vec![&b"z"[..], b"b"]);
        // One node of 2 elements is over half of the limit 3: still a quicklist.
        assert_eq!(l.encoding(), "quicklist");
        l.trim(3, Some((0, 0)));
        assert_eq!(l.encoding(), "listpack");
        l.trim(3, None);
        assert!(l.is_empty());
    }
}
