//! A list value (`TYPE` = `list`).
//!
//! Without compression the elements live in one `VecDeque<Bytes>`, so pushes and pops at
//! both ends are O(1) and indexing is O(1). Redis stores small lists as one listpack and bigger ones as a quicklist
//! (a chain of listpack nodes); `OBJECT ENCODING` reports which, and the choice depends on
//! the exact byte size of those listpacks. So next to the elements this type keeps a model of
//! Redis's layout: the listpack byte size, or the quicklist's node sizes and counts. The
//! model decides conversions the way Redis 7.2 does (listpack -> quicklist when a write would
//! exceed `list-max-listpack-size`; quicklist -> listpack when a shrinking list is back to a
//! single node holding at most half the limit).
//!
//! `list-compress-depth N` is honoured for memory, as in Redis: once a quicklist has more
//! than `2N` nodes, the elements of every node but the `N` at each end are moved out of the
//! deques into one LZF-compressed blob per node. Pushes and pops only touch the end nodes,
//! so they stay O(1) amortised; a node is packed or unpacked only when it crosses the
//! depth boundary. Reads of interior elements decompress a node into a cache that lives
//! until the next write.

use crate::types::num;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The server's `list-compress-depth`, read when a list is created (Redis also fixes a
/// quicklist's depth at creation).
static COMPRESS_DEPTH: AtomicUsize = AtomicUsize::new(0);
/// Serialised nodes smaller than this are not worth compressing (Redis's threshold).
const MIN_COMPRESS_BYTES: usize = 48;

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

/// Appends to `out` the elements of one segment (`len` elements from position `base`,
/// produced by `seg` only when needed) that fall inside `want`.
fn clip<'a>(
    out: &mut Vec<&'a Bytes>,
    want: &std::ops::Range<usize>,
    base: usize,
    len: usize,
    seg: impl FnOnce() -> &'a [Bytes],
) {
    let lo = want.start.max(base);
    let hi = want.end.min(base + len);
    if lo < hi {
        out.extend(seg().get(lo - base..hi - base).unwrap_or_default());
    }
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

/// How Redis splits `items`, pushed one by one at the tail, into quicklist nodes under
/// `fill`: each node's element count and whether it is a plain node. RDB writers rebuild
/// Redis's nodes from this.
pub fn tail_push_nodes<'a>(fill: i64, items: impl Iterator<Item = &'a [u8]>) -> Vec<(usize, bool)> {
    let mut nodes: Vec<Node> = Vec::new();
    for v in items {
        match nodes.last_mut() {
            Some(n) if n.allows(fill, v) => n.add(v),
            _ => nodes.push(Node::single(fill, v)),
        }
    }
    nodes.iter().map(|n| (n.count, n.plain)).collect()
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

/// The elements of one interior quicklist node, serialised (each element as a 4-byte
/// little-endian length then its bytes) and LZF-compressed when that shrinks them.
#[derive(Clone, Debug)]
struct Packed {
    /// Number of elements.
    count: usize,
    /// Length of the serialised form (what decompression must produce).
    raw_len: usize,
    /// The serialised form, compressed if `compressed`.
    data: Box<[u8]>,
    /// Whether `data` is LZF output.
    compressed: bool,
    /// The elements, decompressed by a read through `&self`; dropped by the next write.
    cache: OnceLock<Vec<Bytes>>,
}

impl Packed {
    /// Packs `items` (one node's elements).
    fn pack(items: impl Iterator<Item = Bytes>) -> Packed {
        let mut raw = Vec::new();
        let mut count = 0;
        for v in items {
            // Elements are bounded far below 4 GiB by proto-max-bulk-len.
            raw.extend_from_slice(&(v.len() as u32).to_le_bytes());
            raw.extend_from_slice(&v);
            count += 1;
        }
        let raw_len = raw.len();
        let packed = if raw_len < MIN_COMPRESS_BYTES { None } else { lzf::compress(&raw).ok() };
        match packed {
            Some(c) if c.len() < raw_len => {
                Packed { count, raw_len, data: c.into(), compressed: true, cache: OnceLock::new() }
            }
            _ => Packed {
                count,
                raw_len,
                data: raw.into(),
                compressed: false,
                cache: OnceLock::new(),
            },
        }
    }

    /// The node's elements, decoded from `data`.
    fn decode(&self) -> Vec<Bytes> {
        let inflated;
        let raw: &[u8] = if self.compressed {
            // Our own LZF output always inflates; an empty result would only mean a bug.
            inflated = lzf::decompress(&self.data, self.raw_len).unwrap_or_default();
            &inflated
        } else {
            &self.data
        };
        let mut out = Vec::with_capacity(self.count);
        let mut rest = raw;
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let len = (u32::from_le_bytes(*len) as usize).min(tail.len());
            out.push(Bytes::copy_from_slice(&tail[..len]));
            rest = &tail[len..];
        }
        out
    }

    /// The elements, decompressed once into the cache.
    fn elements(&self, warm: &AtomicBool) -> &[Bytes] {
        self.cache.get_or_init(|| {
            warm.store(true, Ordering::Relaxed);
            self.decode()
        })
    }

    /// Heap bytes owned (the cache included while it lives).
    fn heap_size(&self) -> usize {
        self.data.len()
            + self.cache.get().map_or(0, |c| {
                c.iter().map(|b| b.len() + std::mem::size_of::<Bytes>()).sum::<usize>()
            })
    }
}

/// A list.
#[derive(Debug)]
pub struct ListValue {
    /// The elements, head first; when nodes are packed, only those of the head nodes.
    items: VecDeque<Bytes>,
    /// The packed interior nodes, head first (empty unless compression is in effect).
    packed: VecDeque<Packed>,
    /// Elements in `packed`.
    packed_len: usize,
    /// The elements of the tail nodes when nodes are packed (empty otherwise).
    tail: VecDeque<Bytes>,
    /// Sum of the lengths of the elements in `items` and `tail` (for memory reports).
    payload: usize,
    /// The encoding model.
    layout: Layout,
    /// How many nodes at each end stay unpacked (0 = no compression).
    depth: usize,
    /// Set when a read filled some packed node's cache, so writes know to drop caches.
    warm: AtomicBool,
}

impl Clone for ListValue {
    fn clone(&self) -> Self {
        ListValue {
            items: self.items.clone(),
            packed: self.packed.clone(),
            packed_len: self.packed_len,
            tail: self.tail.clone(),
            payload: self.payload,
            layout: self.layout.clone(),
            depth: self.depth,
            warm: AtomicBool::new(self.warm.load(Ordering::Relaxed)),
        }
    }
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue::new()
    }
}

impl ListValue {
    /// An empty list (a listpack until it grows), compressed per the current
    /// `list-compress-depth`.
    pub fn new() -> ListValue {
        ListValue::with_depth(COMPRESS_DEPTH.load(Ordering::Relaxed))
    }

    /// An empty list keeping `depth` nodes unpacked at each end.
    fn with_depth(depth: usize) -> ListValue {
        ListValue {
            items: VecDeque::new(),
            packed: VecDeque::new(),
            packed_len: 0,
            tail: VecDeque::new(),
            payload: 0,
            layout: Layout::Listpack(LP_EMPTY),
            depth,
            warm: AtomicBool::new(false),
        }
    }

    /// Records a new `list-compress-depth` for lists created from now on.
    pub fn set_compress_depth(depth: i64) {
        COMPRESS_DEPTH.store(usize::try_from(depth).unwrap_or(0), Ordering::Relaxed);
    }

    /// The model's nodes when the list is a quicklist with packed nodes in effect.
    fn packing(&self) -> Option<&VecDeque<Node>> {
        match &self.layout {
            Layout::Quicklist(nodes) if self.depth > 0 && nodes.len() > 2 * self.depth => {
                Some(nodes)
            }
            _ => None,
        }
    }

    /// Element count of model node `i`.
    fn node_count(&self, i: usize) -> usize {
        match &self.layout {
            Layout::Quicklist(nodes) => nodes.get(i).map_or(0, |n| n.count),
            Layout::Listpack(_) => 0,
        }
    }

    /// Drops the caches reads filled, so packed nodes cost their compressed size again.
    fn cool(&mut self) {
        if *self.warm.get_mut() {
            for p in &mut self.packed {
                p.cache.take();
            }
            *self.warm.get_mut() = false;
        }
    }

    /// Moves every element back into `items` (before writes that work on the whole list).
    fn unpack_all(&mut self) {
        for p in std::mem::take(&mut self.packed) {
            let elems = self.unpack(p);
            self.items.extend(elems);
        }
        self.items.append(&mut self.tail);
        *self.warm.get_mut() = false;
    }

    /// Packs `count` elements taken from `from` at its back (or front) into a node.
    fn pack_from(&mut self, count: usize, back: bool) -> Packed {
        let src = if back { &mut self.items } else { &mut self.tail };
        let taken: Vec<Bytes> = if back {
            src.drain(src.len().saturating_sub(count)..).collect()
        } else {
            src.drain(..count.min(src.len())).collect()
        };
        self.payload -= taken.iter().map(|b| b.len()).sum::<usize>();
        self.packed_len += taken.len();
        Packed::pack(taken.into_iter())
    }

    /// The elements of a node taken out of `packed`, accounted back as unpacked.
    fn unpack(&mut self, p: Packed) -> Vec<Bytes> {
        let count = p.count;
        let elems = if p.cache.get().is_some() {
            p.cache.into_inner().unwrap_or_default()
        } else {
            p.decode()
        };
        self.payload += elems.iter().map(|b| b.len()).sum::<usize>();
        self.packed_len -= count;
        elems
    }

    /// Restores the layout invariant after a write: with packing in effect, `items` holds
    /// exactly the first `depth` nodes, `tail` the last `depth`, and `packed` the rest;
    /// otherwise everything is in `items`. Only nodes crossing a boundary move.
    fn rebalance(&mut self) {
        self.cool();
        let Some(nodes) = self.packing() else {
            if !self.packed.is_empty() || !self.tail.is_empty() {
                self.unpack_all();
            }
            return;
        };
        let n_nodes = nodes.len();
        let d = self.depth;
        // How many whole nodes `items` holds now (a flat list holds them all).
        let mut h = 0;
        let mut sum = 0;
        while h < n_nodes && sum < self.items.len() {
            sum += nodes[h].count;
            h += 1;
        }
        let mut t = n_nodes.saturating_sub(self.packed.len() + h);
        while h > d {
            h -= 1;
            let p = self.pack_from(self.node_count(h), true);
            self.packed.push_front(p);
        }
        while t > d {
            let p = self.pack_from(self.node_count(n_nodes - t), false);
            self.packed.push_back(p);
            t -= 1;
        }
        while h < d {
            let Some(p) = self.packed.pop_front() else { break };
            let elems = self.unpack(p);
            self.items.extend(elems);
            h += 1;
        }
        while t < d {
            let Some(p) = self.packed.pop_back() else { break };
            let elems = self.unpack(p);
            for v in elems.into_iter().rev() {
                self.tail.push_front(v);
            }
            t += 1;
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len() + self.packed_len + self.tail.len()
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self.layout {
            Layout::Listpack(_) => "listpack",
            Layout::Quicklist(_) => "quicklist",
        }
    }

    /// The number of quicklist nodes and the sum of their sizes in bytes (`DEBUG OBJECT`),
    /// or None for a listpack.
    pub fn quicklist_shape(&self) -> Option<(usize, usize)> {
        match &self.layout {
            Layout::Listpack(_) => None,
            Layout::Quicklist(nodes) => Some((nodes.len(), nodes.iter().map(|n| n.bytes).sum())),
        }
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        self.payload
            + (self.items.capacity() + self.tail.capacity()) * std::mem::size_of::<Bytes>()
            + self.packed.capacity() * std::mem::size_of::<Packed>()
            + self.packed.iter().map(Packed::heap_size).sum::<usize>()
    }

    /// Element `i` from the head.
    pub fn get(&self, i: usize) -> Option<&Bytes> {
        match self.items.get(i) {
            Some(v) => Some(v),
            None => self.refs(i..i + 1).pop(),
        }
    }

    /// All elements, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.refs(0..self.len()).into_iter()
    }

    /// Elements `start..=end` (indexes already clamped by the caller), head first.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &Bytes> {
        self.refs(start..end + 1).into_iter()
    }

    /// References to the elements at positions `want`, decompressing only the packed
    /// nodes that overlap it.
    fn refs(&self, want: std::ops::Range<usize>) -> Vec<&Bytes> {
        let mut out = Vec::new();
        let mut base = 0;
        let (a, b) = self.items.as_slices();
        for part in [a, b] {
            clip(&mut out, &want, base, part.len(), || part);
            base += part.len();
        }
        for p in &self.packed {
            clip(&mut out, &want, base, p.count, || p.elements(&self.warm));
            base += p.count;
        }
        let (a, b) = self.tail.as_slices();
        for part in [a, b] {
            clip(&mut out, &want, base, part.len(), || part);
            base += part.len();
        }
        out
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
            self.back_mut().push_back(b);
        }
        self.rebalance();
    }

    /// The deque holding the last element: `tail` while nodes are packed.
    fn back_mut(&mut self) -> &mut VecDeque<Bytes> {
        if self.tail.is_empty() {
            &mut self.items
        } else {
            &mut self.tail
        }
    }

    /// Removes and returns the head or tail element. No encoding conversion happens here:
    /// callers call [`ListValue::shrink_check`] once after all their pops, as Redis does.
    pub fn pop(&mut self, front: bool) -> Option<Bytes> {
        let v = if front { self.items.pop_front() } else { self.back_mut().pop_back() }?;
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
        self.rebalance();
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
        if i >= self.len() {
            return false;
        }
        self.unpack_all();
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
        self.rebalance();
        true
    }

    /// Inserts `v` so that it becomes element `i` (LINSERT; `i` may equal the length).
    pub fn insert(&mut self, fill: i64, i: usize, v: &[u8]) {
        if i == 0 || i >= self.len() {
            self.push(fill, &[v], i == 0);
            return;
        }
        self.unpack_all();
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
        self.rebalance();
    }

    /// Removes up to `limit` elements equal to `v` (0 = all), scanning from the head, or from
    /// the tail when `from_tail`. Returns how many were removed.
    pub fn remove(&mut self, fill: i64, v: &[u8], limit: usize, from_tail: bool) -> usize {
        self.unpack_all();
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
            self.rebalance();
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
        self.rebalance();
        found
    }

    /// Keeps only elements `start..=end` (LTRIM; `None` keeps nothing).
    pub fn trim(&mut self, fill: i64, keep: Option<(usize, usize)>) {
        let (front, back) = match keep {
            Some((start, end)) => (start, self.len().saturating_sub(end + 1)),
            None => (self.len(), 0),
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

    /// A compressible element: a long repeated pattern with a varying prefix.
    fn elem(i: usize) -> Vec<u8> {
        format!("item:{:05}:{}", i % 1000, "abcdefgh".repeat(12)).into_bytes()
    }

    fn contents(l: &ListValue) -> Vec<Bytes> {
        l.iter().cloned().collect()
    }

    #[test]
    fn compressed_interior_saves_memory_with_identical_contents() {
        let mut flat = ListValue::with_depth(0);
        let mut packed = ListValue::with_depth(1);
        for i in 0..20_000 {
            let v = elem(i);
            flat.push(-2, &[&v], i % 3 == 0);
            packed.push(-2, &[&v], i % 3 == 0);
        }
        assert_eq!(packed.encoding(), "quicklist");
        assert!(!packed.packed.is_empty());
        let (a, b) = (flat.heap_size(), packed.heap_size());
        println!("heap bytes, 20000 x 110-byte elements: depth 0 = {a}, depth 1 = {b}");
        assert!(b * 4 < a, "depth 1 uses {b} bytes, depth 0 {a}");
        assert_eq!(packed.len(), flat.len());
        assert_eq!(contents(&packed), contents(&flat));
        for i in [0, 1, 77, 5_000, 19_998, 19_999, 20_000] {
            assert_eq!(packed.get(i), flat.get(i));
        }
        let r1: Vec<&Bytes> = packed.range(6_000, 6_100).collect();
        let r0: Vec<&Bytes> = flat.range(6_000, 6_100).collect();
        assert_eq!(r1, r0);
        // The reads above decompressed nodes; the next write packs them again.
        packed.push(-2, &[b"x"], false);
        flat.push(-2, &[b"x"], false);
        assert!(packed.heap_size() * 4 < flat.heap_size());
        while let Some(v) = flat.pop(flat.len().is_multiple_of(2)) {
            assert_eq!(packed.pop(packed.len().is_multiple_of(2)), Some(v));
        }
        assert!(packed.is_empty());
    }

    #[test]
    fn whole_list_writes_match_uncompressed() {
        let mut flat = ListValue::with_depth(0);
        let mut packed = ListValue::with_depth(2);
        for l in [&mut flat, &mut packed] {
            for i in 0..3_000 {
                l.push(16, &[&elem(i % 7)], i % 2 == 0);
            }
            assert!(l.set(16, 1_500, b"set"));
            l.insert(16, 700, b"inserted");
            l.insert(16, 2_900, &[b'y'; 9000]);
            assert_eq!(l.remove(16, &elem(3), 100, true), 100);
            assert_eq!(l.remove(16, b"absent", 0, false), 0);
            l.trim(16, Some((5, 2_800)));
            assert_eq!(l.pop(true).map(|b| b.len()), Some(elem(0).len()));
        }
        assert!(!packed.packed.is_empty());
        assert_eq!(contents(&packed), contents(&flat));
        assert_eq!(packed.encoding(), flat.encoding());
        flat.trim(16, Some((0, 3)));
        packed.trim(16, Some((0, 3)));
        assert!(packed.packed.is_empty() && packed.tail.is_empty());
        assert_eq!(contents(&packed), contents(&flat));
    }
}
