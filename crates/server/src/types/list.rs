//! A list value (`TYPE` = `list`).
//!
//! Storage: the elements live in a deque of byte chunks. Each chunk is one buffer holding
//! entries back to back; an entry is the element's length as a little-endian base-128
//! varint, the element's bytes, then the same varint bytes in reverse order, so a chunk can
//! be walked from either end (an element of up to 127 bytes costs its length plus 2). A
//! chunk stays under a few KB, so an edit inside one is a small memmove; pops at the front
//! advance a start offset instead of moving bytes, and pushes at the front write into a gap
//! reserved before the entries (grown in proportion to the chunk, so it is amortised O(1)).
//! Index lookups walk chunk counts first, from the nearer end, then entries in one chunk.
//!
//! Redis stores small lists as one listpack and bigger ones as a quicklist (a chain of
//! listpack nodes); `OBJECT ENCODING` reports which, and the choice depends on the exact byte
//! size of those listpacks. So next to the chunks this type keeps a model of Redis's layout:
//! the listpack byte size, or the quicklist's node sizes and counts. The model decides
//! conversions the way Redis 7.2 does (listpack -> quicklist when a write would exceed
//! `list-max-listpack-size`; quicklist -> listpack when a shrinking list is back to a single
//! node holding at most half the limit). Storage chunks and model nodes are independent.
//!
//! `list-compress-depth N` is honoured for memory: every chunk but the `N` at each end holds
//! its buffer LZF-compressed. Pushes and pops only touch the end chunks, so they stay O(1)
//! amortised; a chunk is compressed or inflated only when it crosses the depth boundary or
//! an edit lands in it. Reads of a compressed chunk inflate it into a cache that lives
//! until the next write.

use crate::memory::defrag::{index_piece, RelocateVec};
use crate::types::dict::RelocateStep;
use crate::types::num;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The server's `list-compress-depth`, read when a list is created (Redis also fixes a
/// quicklist's depth at creation).
static COMPRESS_DEPTH: AtomicUsize = AtomicUsize::new(0);
/// Chunks with fewer live bytes than this are not worth compressing (Redis's threshold).
const MIN_COMPRESS_BYTES: usize = 48;
/// A chunk takes no new element that would bring it past this many bytes (a chunk holding a
/// single larger element is allowed). Small enough that an edit inside a chunk is cheap,
/// large enough that the per-chunk bookkeeping is a rounding error per element.
const CHUNK_BYTES: usize = 4096;
/// Buffers at most this big are never shrunk: reallocating them saves nothing.
const TIDY_FLOOR: usize = 64;

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

/// The varint header of a length: its bytes (low 7-bit group first, high bit = more
/// follow) and how many there are.
fn header(len: usize) -> ([u8; 10], usize) {
    let mut out = [0u8; 10];
    let mut n = len;
    let mut i = 0;
    while n >= 0x80 && i < 9 {
        out[i] = (n & 0x7f) as u8 | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    (out, i + 1)
}

/// Bytes one element takes in a chunk: header, data, reversed header.
fn encoded_len(v: &[u8]) -> usize {
    v.len() + 2 * header(v.len()).1
}

/// Writes the entry for `v` into `dst`, which must be exactly [`encoded_len`] long.
fn write_entry(dst: &mut [u8], v: &[u8]) {
    let (h, n) = header(v.len());
    let (head, rest) = dst.split_at_mut(n.min(dst.len()));
    head.copy_from_slice(&h[..head.len()]);
    let (data, back) = rest.split_at_mut(v.len().min(rest.len()));
    data.copy_from_slice(&v[..data.len()]);
    // The back-length is the header reversed: a backward walk meets the low group first.
    for (b, src) in back.iter_mut().zip(h[..n].iter().rev()) {
        *b = *src;
    }
}

/// The entry for `v`, as a fresh buffer.
fn entry_bytes(v: &[u8]) -> Vec<u8> {
    let mut e = vec![0; encoded_len(v)];
    write_entry(&mut e, v);
    e
}

/// Appends the entry for `v` to `buf`.
fn append_entry(buf: &mut Vec<u8>, v: &[u8]) {
    let at = buf.len();
    buf.resize(at + encoded_len(v), 0);
    if let Some(dst) = buf.get_mut(at..) {
        write_entry(dst, v);
    }
}

/// The element whose entry starts at `off` in `d`, and the offset just past that entry.
fn read_fwd(d: &[u8], off: usize) -> Option<(&[u8], usize)> {
    let mut len = 0usize;
    let mut p = off;
    for shift in (0..64).step_by(7) {
        let b = *d.get(p)?;
        p += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let end = p.checked_add(len)?;
            return Some((d.get(p..end)?, end + (p - off)));
        }
    }
    None
}

/// The element whose entry ends at `end` in `d`, and the offset where that entry starts.
fn read_back(d: &[u8], end: usize) -> Option<(&[u8], usize)> {
    let mut len = 0usize;
    let mut p = end;
    for shift in (0..64).step_by(7) {
        p = p.checked_sub(1)?;
        let b = *d.get(p)?;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let data = p.checked_sub(len)?;
            return Some((d.get(data..p)?, data.checked_sub(end - p)?));
        }
    }
    None
}

/// The byte range of entry `rank` among the `count` entries of `d`, walking from the
/// nearer end.
fn find(d: &[u8], count: usize, rank: usize) -> Option<std::ops::Range<usize>> {
    if rank >= count {
        return None;
    }
    if rank < count / 2 {
        let mut off = 0;
        for _ in 0..rank {
            off = read_fwd(d, off)?.1;
        }
        Some(off..read_fwd(d, off)?.1)
    } else {
        let mut end = d.len();
        for _ in rank + 1..count {
            end = read_back(d, end)?.1;
        }
        Some(read_back(d, end)?.1..end)
    }
}

/// Inflates a compressed chunk. Our own LZF output always inflates; an empty result would
/// only mean a bug, and reads then see no elements rather than crash.
fn inflate(data: &[u8], raw_len: usize) -> Box<[u8]> {
    lzf::decompress(data, raw_len).unwrap_or_default().into_boxed_slice()
}

/// After removals: a deque far bigger than its contents gives the memory back (to twice
/// the contents, so shrinking is geometric and amortised O(1) per removal).
fn tidy_deque<T>(d: &mut VecDeque<T>) {
    if d.capacity() > 8.max(4 * d.len()) {
        d.shrink_to(2 * d.len());
    }
}

/// The compressed form of a chunk's entries.
#[derive(Clone, Debug)]
struct Zipped {
    /// LZF output.
    data: Box<[u8]>,
    /// Length of the entries (what inflating must produce).
    raw_len: usize,
    /// The entries, inflated by a read through `&self`; dropped by the next write.
    cache: OnceLock<Box<[u8]>>,
}

impl Zipped {
    /// The entries, inflated once into the cache (`warm` records that a cache exists).
    fn raw(&self, warm: &AtomicBool) -> &[u8] {
        self.cache.get_or_init(|| {
            warm.store(true, Ordering::Relaxed);
            inflate(&self.data, self.raw_len)
        })
    }
}

/// A run of consecutive elements stored as entries in one buffer.
#[derive(Clone, Debug)]
struct Chunk {
    /// The entries live in `buf[start..]`; bytes before `start` are a gap (left by front
    /// pops, or reserved for front pushes). Empty while `zipped`.
    buf: Vec<u8>,
    /// Offset of the first entry in `buf`.
    start: usize,
    /// Number of entries.
    count: usize,
    /// The entries, compressed (the chunk is interior under `list-compress-depth`).
    zipped: Option<Box<Zipped>>,
}

impl Chunk {
    /// A chunk holding just `v`, with no spare capacity.
    fn single(v: &[u8]) -> Chunk {
        Chunk { buf: entry_bytes(v), start: 0, count: 1, zipped: None }
    }

    /// Bytes of the entries (not counting any gap).
    fn live_len(&self) -> usize {
        match &self.zipped {
            Some(z) => z.raw_len,
            None => self.buf.len() - self.start,
        }
    }

    /// The entries, inflating a compressed chunk into its cache.
    fn bytes<'a>(&'a self, warm: &AtomicBool) -> &'a [u8] {
        match &self.zipped {
            Some(z) => z.raw(warm),
            None => self.buf.get(self.start..).unwrap_or_default(),
        }
    }

    /// Heap bytes owned.
    fn heap_size(&self) -> usize {
        self.buf.capacity()
            + self.zipped.as_ref().map_or(0, |z| {
                std::mem::size_of::<Zipped>() + z.data.len() + z.cache.get().map_or(0, |c| c.len())
            })
    }

    /// Makes the chunk plain (uncompressed) before an edit.
    fn unzip(&mut self) {
        if let Some(z) = self.zipped.take() {
            let Zipped { data, raw_len, cache } = *z;
            self.buf = cache.into_inner().unwrap_or_else(|| inflate(&data, raw_len)).into_vec();
            self.start = 0;
        }
    }

    /// Compresses the entries if that shrinks them (an incompressible chunk stays plain).
    fn zip(&mut self) {
        if self.zipped.is_some() || self.live_len() < MIN_COMPRESS_BYTES {
            return;
        }
        let live = self.buf.get(self.start..).unwrap_or_default();
        if let Ok(data) = lzf::compress(live) {
            if data.len() < live.len() {
                let raw_len = live.len();
                self.zipped = Some(Box::new(Zipped {
                    data: data.into_boxed_slice(),
                    raw_len,
                    cache: OnceLock::new(),
                }));
                self.buf = Vec::new();
                self.start = 0;
            }
        }
    }

    /// Moves the entries to a buffer of exactly `cap` bytes (at least their length),
    /// dropping the gap.
    fn rebuild(&mut self, cap: usize) {
        let live = self.buf.get(self.start..).unwrap_or_default();
        let mut buf = Vec::with_capacity(cap.max(live.len()));
        buf.extend_from_slice(live);
        self.buf = buf;
        self.start = 0;
    }

    /// After removals: a buffer far bigger than its entries gives the memory back (to twice
    /// the entries, so shrinking is geometric and amortised O(1) per removal).
    fn tidy(&mut self) {
        let live = self.live_len();
        if self.zipped.is_none() && self.buf.capacity() > TIDY_FLOOR.max(4 * live) {
            self.rebuild(2 * live);
        }
    }

    /// When the chunk stops being an end chunk (a new one is started past it): drops any
    /// gap and spare capacity beyond an eighth, since it will rarely grow again.
    fn seal(&mut self) {
        let live = self.live_len();
        if self.zipped.is_none() && self.buf.capacity() > live + live / 8 {
            self.rebuild(live);
        }
    }

    /// Adds `v` after the last entry.
    fn push_back(&mut self, v: &[u8]) {
        self.unzip();
        let need = encoded_len(v);
        // Rather than grow a buffer whose front is mostly dead (a queue: pushes at the back,
        // pops at the front), slide the entries down; the pops that made the gap pay for it.
        if self.start > 0
            && self.buf.len() + need > self.buf.capacity()
            && self.start * 2 >= self.buf.len()
        {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        append_entry(&mut self.buf, v);
        self.count += 1;
    }

    /// Adds `v` before the first entry, reserving a gap when there is no room: as big as the
    /// entries (so copies are amortised) but not past `limit` bytes in all.
    fn push_front(&mut self, v: &[u8], limit: usize) {
        self.unzip();
        let need = encoded_len(v);
        if self.start < need {
            let live = self.live_len();
            let gap = need + live.min(limit.saturating_sub(live + need));
            let mut buf = Vec::with_capacity(gap + live);
            buf.resize(gap, 0);
            buf.extend_from_slice(self.buf.get(self.start..).unwrap_or_default());
            self.buf = buf;
            self.start = gap;
        }
        self.start -= need;
        if let Some(dst) = self.buf.get_mut(self.start..self.start + need) {
            write_entry(dst, v);
        }
        self.count += 1;
    }

    /// Removes the first or last entry, handing its element to `take` first.
    fn pop_with<R>(&mut self, front: bool, take: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.unzip();
        let live = self.buf.get(self.start..)?;
        let r = if front {
            let (v, next) = read_fwd(live, 0)?;
            let r = take(v);
            self.start += next;
            r
        } else {
            let (v, at) = read_back(live, live.len())?;
            let r = take(v);
            self.buf.truncate(self.start + at);
            r
        };
        self.count -= 1;
        if self.count == 0 {
            self.buf = Vec::new();
            self.start = 0;
        } else {
            self.tidy();
        }
        Some(r)
    }

    /// Replaces entry `rank` with `v` (`replace`), or inserts `v` before entry `rank`
    /// (`rank` may equal the count). Callers have located `rank`; any other does nothing.
    fn splice(&mut self, rank: usize, v: &[u8], replace: bool) {
        self.unzip();
        let live = self.buf.get(self.start..).unwrap_or_default();
        let range = match find(live, self.count, rank) {
            Some(r) if replace => r,
            Some(r) => r.start..r.start,
            None if !replace && rank == self.count => live.len()..live.len(),
            None => return,
        };
        let at = self.start;
        self.buf.splice(at + range.start..at + range.end, entry_bytes(v));
        if !replace {
            self.count += 1;
        }
    }

    /// Splits off the entries from `rank` on into a new chunk.
    fn split_off(&mut self, rank: usize) -> Option<Chunk> {
        self.unzip();
        let live = self.buf.get(self.start..).unwrap_or_default();
        let at = find(live, self.count, rank)?.start;
        let right = Chunk {
            buf: live.get(at..).unwrap_or_default().to_vec(),
            start: 0,
            count: self.count - rank,
            zipped: None,
        };
        self.buf.truncate(self.start + at);
        self.count = rank;
        self.seal();
        Some(right)
    }

    /// Removes the entries whose ranks are in `doomed` (ascending).
    fn remove_ranks(&mut self, doomed: &[usize]) {
        self.unzip();
        let live = self.buf.get(self.start..).unwrap_or_default();
        let mut kept = Vec::with_capacity(live.len());
        let mut off = 0;
        let mut next = doomed.iter().peekable();
        let mut rank = 0;
        let mut count = 0;
        while let Some((_, end)) = read_fwd(live, off) {
            if next.peek() == Some(&&rank) {
                next.next();
            } else {
                kept.extend_from_slice(live.get(off..end).unwrap_or_default());
                count += 1;
            }
            off = end;
            rank += 1;
        }
        self.count = count;
        self.buf = kept;
        self.start = 0;
        self.seal();
    }

    /// Appends all entries of `other` (merging two small neighbours).
    fn append(&mut self, mut other: Chunk) {
        self.unzip();
        other.unzip();
        self.buf.extend_from_slice(other.buf.get(other.start..).unwrap_or_default());
        self.count += other.count;
    }
}

/// A list.
#[derive(Debug)]
pub struct ListValue {
    /// The elements, head first, in chunks that are never empty.
    chunks: VecDeque<Chunk>,
    /// Number of elements.
    len: usize,
    /// The encoding model.
    layout: Layout,
    /// How many chunks at each end stay uncompressed (0 = no compression).
    depth: usize,
    /// The byte size a chunk stops taking new elements at ([`CHUNK_BYTES`]; tests use less).
    chunk_bytes: usize,
    /// Set when a read filled some chunk's inflate cache, so writes know to drop caches.
    warm: AtomicBool,
}

impl Clone for ListValue {
    fn clone(&self) -> Self {
        ListValue {
            chunks: self.chunks.clone(),
            len: self.len,
            layout: self.layout.clone(),
            depth: self.depth,
            chunk_bytes: self.chunk_bytes,
            warm: AtomicBool::new(self.warm.load(Ordering::Relaxed)),
        }
    }
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue::new()
    }
}

/// An iterator over a list's elements (or a range of them), head first; also walks
/// backwards.
pub struct Iter<'a> {
    list: &'a ListValue,
    /// The next element from the front: chunk index and byte offset in its entries.
    front: (usize, usize),
    /// Just past the next element from the back: chunk index and byte offset.
    back: (usize, usize),
    /// Elements not yet yielded from either end.
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while self.left > 0 {
            let d = self.list.chunks.get(self.front.0)?.bytes(&self.list.warm);
            if let Some((v, next)) = read_fwd(d, self.front.1) {
                self.front.1 = next;
                self.left -= 1;
                return Some(v);
            }
            self.front = (self.front.0 + 1, 0);
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        while self.left > 0 {
            let d = self.list.chunks.get(self.back.0)?.bytes(&self.list.warm);
            if let Some((v, at)) = read_back(d, self.back.1) {
                self.back.1 = at;
                self.left -= 1;
                return Some(v);
            }
            self.back.0 = self.back.0.checked_sub(1)?;
            self.back.1 = self.list.chunks.get(self.back.0)?.live_len();
        }
        None
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl ListValue {
    /// An empty list (a listpack until it grows), compressed per the current
    /// `list-compress-depth`.
    pub fn new() -> ListValue {
        ListValue::with_params(COMPRESS_DEPTH.load(Ordering::Relaxed), CHUNK_BYTES)
    }

    /// An empty list keeping `depth` chunks uncompressed at each end, with chunks of about
    /// `chunk_bytes`.
    fn with_params(depth: usize, chunk_bytes: usize) -> ListValue {
        ListValue {
            chunks: VecDeque::new(),
            len: 0,
            layout: Layout::Listpack(LP_EMPTY),
            depth,
            chunk_bytes,
            warm: AtomicBool::new(false),
        }
    }

    /// Records a new `list-compress-depth` for lists created from now on.
    pub fn set_compress_depth(depth: i64) {
        COMPRESS_DEPTH.store(usize::try_from(depth).unwrap_or(0), Ordering::Relaxed);
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty (an empty collection is never stored: the key is deleted).
    pub fn is_empty(&self) -> bool {
        self.len == 0
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
        let nodes = match &self.layout {
            Layout::Listpack(_) => 0,
            Layout::Quicklist(nodes) => nodes.capacity() * std::mem::size_of::<Node>(),
        };
        nodes
            + self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.iter().map(Chunk::heap_size).sum::<usize>()
    }

    /// Element `i` from the head.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (ci, rank) = self.locate(i)?;
        let c = self.chunks.get(ci)?;
        let d = c.bytes(&self.warm);
        d.get(find(d, c.count, rank)?).and_then(|e| read_fwd(e, 0)).map(|(v, _)| v)
    }

    /// All elements, head first.
    pub fn iter(&self) -> Iter<'_> {
        let last = self.chunks.len().saturating_sub(1);
        let end = self.chunks.back().map_or(0, Chunk::live_len);
        Iter { list: self, front: (0, 0), back: (last, end), left: self.len }
    }

    /// Elements `start..=end` (indexes already clamped by the caller), head first.
    pub fn range(&self, start: usize, end: usize) -> Iter<'_> {
        let cursor = |i: usize| {
            let (ci, rank) = self.locate(i)?;
            let c = self.chunks.get(ci)?;
            Some((ci, find(c.bytes(&self.warm), c.count, rank)?))
        };
        match (cursor(start), cursor(end)) {
            (Some((a, first)), Some((b, last))) if start <= end => Iter {
                list: self,
                front: (a, first.start),
                back: (b, last.end),
                left: end - start + 1,
            },
            _ => Iter { list: self, front: (0, 0), back: (0, 0), left: 0 },
        }
    }

    /// The chunk holding element `i` and `i`'s rank inside it, walking chunk counts from
    /// the nearer end.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        if i < self.len / 2 {
            let mut rest = i;
            for (ci, c) in self.chunks.iter().enumerate() {
                if rest < c.count {
                    return Some((ci, rest));
                }
                rest -= c.count;
            }
        } else {
            // Elements from `i` to the tail, `i` included.
            let mut rest = self.len - i;
            for (ci, c) in self.chunks.iter().enumerate().rev() {
                if rest <= c.count {
                    return Some((ci, c.count - rest));
                }
                rest -= c.count;
            }
        }
        None
    }

    /// Drops the inflate caches reads filled, so chunks cost their compressed size again.
    fn cool(&mut self) {
        if *self.warm.get_mut() {
            for c in &mut self.chunks {
                if let Some(z) = &mut c.zipped {
                    z.cache.take();
                }
            }
            *self.warm.get_mut() = false;
        }
    }

    /// Gives chunk `i` the state its position calls for: compressed when it is not among
    /// the `depth` chunks at either end.
    fn settle(&mut self, i: usize) {
        let d = self.depth;
        let n = self.chunks.len();
        let interior = d > 0 && i >= d && i + d < n;
        if let Some(c) = self.chunks.get_mut(i) {
            if interior {
                c.zip();
            } else {
                c.unzip();
            }
        }
    }

    /// After a chunk was added or removed at an end: only the chunks at the depth
    /// boundaries can have changed sides.
    fn settle_ends(&mut self) {
        let d = self.depth;
        if d == 0 {
            return;
        }
        let n = self.chunks.len();
        for i in [d - 1, d, n.saturating_sub(d + 1), n.saturating_sub(d)] {
            self.settle(i);
        }
    }

    /// After an edit inside chunk `i` that may have left it too big: splits it in halves
    /// and settles both.
    fn split_if_big(&mut self, i: usize) {
        let right = match self.chunks.get_mut(i) {
            Some(c) if c.count > 1 && c.live_len() > self.chunk_bytes => c.split_off(c.count / 2),
            _ => None,
        };
        if let Some(right) = right {
            self.chunks.insert(i + 1, right);
            self.settle(i + 1);
        }
        self.settle(i);
    }

    /// Before a write adds `values`: converts a listpack that would grow past the limits
    /// into a quicklist whose single node is the old listpack. Redis sums the raw lengths
    /// of the new values here, not their encoded sizes.
    fn grow_check(&mut self, fill: i64, values: &[&[u8]]) {
        if let Layout::Listpack(bytes) = self.layout {
            let add: usize = values.iter().map(|v| v.len()).sum();
            if exceeds(fill, bytes + add, self.len + values.len()) {
                let mut nodes = VecDeque::new();
                if self.len > 0 {
                    nodes.push_back(Node { count: self.len, bytes, plain: false });
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
        self.cool();
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
        let limit = self.chunk_bytes;
        let need = encoded_len(v);
        let end = if front { self.chunks.front_mut() } else { self.chunks.back_mut() };
        match end {
            Some(c) if c.live_len() + need <= limit => {
                if front {
                    c.push_front(v, limit);
                } else {
                    c.push_back(v);
                }
            }
            end => {
                if let Some(c) = end {
                    c.seal();
                }
                // Most lists (a job's logs, small queues) never need a second chunk: the
                // first gets a deque of exactly one slot instead of the default four.
                if self.chunks.is_empty() {
                    self.chunks.reserve_exact(1);
                }
                if front {
                    self.chunks.push_front(Chunk::single(v));
                } else {
                    self.chunks.push_back(Chunk::single(v));
                }
                self.settle_ends();
            }
        }
        self.len += 1;
    }

    /// Removes and returns the head or tail element. No encoding conversion happens here:
    /// callers call [`ListValue::shrink_check`] once after all their pops, as Redis does.
    pub fn pop(&mut self, front: bool) -> Option<Bytes> {
        self.pop_with(front, Bytes::copy_from_slice)
    }

    /// Removes the head or tail element, handing it to `take` first, with the layout
    /// bookkeeping.
    fn pop_with<R>(&mut self, front: bool, take: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.cool();
        let layout = &mut self.layout;
        let c = if front { self.chunks.front_mut() } else { self.chunks.back_mut() }?;
        let r = c.pop_with(front, |v| {
            match layout {
                Layout::Listpack(bytes) => *bytes -= entry_size(v),
                Layout::Quicklist(nodes) => {
                    let node = if front { nodes.front_mut() } else { nodes.back_mut() };
                    if let Some(node) = node {
                        node.sub(v);
                        if node.count == 0 {
                            if front {
                                nodes.pop_front();
                            } else {
                                nodes.pop_back();
                            }
                            tidy_deque(nodes);
                        }
                    }
                }
            }
            take(v)
        })?;
        if c.count == 0 {
            if front {
                self.chunks.pop_front();
            } else {
                self.chunks.pop_back();
            }
            tidy_deque(&mut self.chunks);
            self.settle_ends();
        }
        self.len -= 1;
        Some(r)
    }

    /// The quicklist node holding element `i`, and `i`'s offset inside it.
    fn node_of(nodes: &VecDeque<Node>, mut i: usize) -> Option<(usize, usize)> {
        for (n, node) in nodes.iter().enumerate() {
            if i < node.count {
                return Some((n, i));
            }
            i -= node.count;
        }
        None
    }

    /// A packed model node for the `count` elements from position `from` (None if none).
    fn part(&self, from: usize, count: usize) -> Option<Node> {
        (count > 0).then(|| Node {
            count,
            bytes: LP_EMPTY + self.range(from, from + count - 1).map(entry_size).sum::<usize>(),
            plain: false,
        })
    }

    /// When `cut(node, offset)` says the model node holding element `i` must be cut there:
    /// that node's index, its elements before `i`, and those after the `skip` elements at
    /// `i` (1 when `i` is replaced, 0 when a new element goes before it).
    fn cut_at(
        &self,
        i: usize,
        skip: usize,
        cut: impl Fn(&Node, usize) -> bool,
    ) -> Option<(usize, Option<Node>, Option<Node>)> {
        let Layout::Quicklist(nodes) = &self.layout else { return None };
        let (n, off) = Self::node_of(nodes, i)?;
        let node = &nodes[n];
        if !cut(node, off) {
            return None;
        }
        let after = node.count - off - skip;
        Some((n, self.part(i - off, off), self.part(i + skip, after)))
    }

    /// Replaces model node `n` with `parts`, head first (the missing ones left out).
    fn replace_node(nodes: &mut VecDeque<Node>, n: usize, parts: [Option<Node>; 3]) {
        nodes.remove(n);
        for (k, p) in parts.into_iter().flatten().enumerate() {
            nodes.insert(n + k, p);
        }
    }

    /// Replaces element `i` with `v` (LSET). Returns false if `i` is out of range.
    pub fn set(&mut self, fill: i64, i: usize, v: &[u8]) -> bool {
        let Some(old) = self.get(i).map(entry_size) else { return false };
        let Some((ci, rank)) = self.locate(i) else { return false };
        self.grow_check(fill, &[v]);
        // A large element replacing one of several in a packed node splits the node around
        // it, the element getting a plain node of its own.
        let split =
            self.cut_at(i, 1, |node, _| !node.plain && node.count > 1 && is_large(fill, v.len()));
        self.cool();
        match (&mut self.layout, split) {
            (Layout::Quicklist(nodes), Some((n, left, right))) => {
                Self::replace_node(nodes, n, [left, Some(Node::single(fill, v)), right]);
            }
            (Layout::Listpack(bytes), _) => *bytes = bytes.saturating_sub(old) + entry_size(v),
            (Layout::Quicklist(nodes), None) => {
                if let Some((n, _)) = Self::node_of(nodes, i) {
                    let node = &mut nodes[n];
                    if node.plain || is_large(fill, v.len()) {
                        // A single element keeps a node of its own, plain if large.
                        *node = Node::single(fill, v);
                    } else {
                        node.bytes = node.bytes.saturating_sub(old) + entry_size(v);
                    }
                }
            }
        }
        if let Some(c) = self.chunks.get_mut(ci) {
            c.splice(rank, v, true);
        }
        self.split_if_big(ci);
        self.shrink_check(fill);
        true
    }

    /// Inserts `v` so that it becomes element `i` (LINSERT; `i` may equal the length).
    pub fn insert(&mut self, fill: i64, i: usize, v: &[u8]) {
        if i == 0 || i >= self.len {
            self.push(fill, &[v], i == 0);
            return;
        }
        self.grow_check(fill, &[v]);
        // Inside a full node, the node splits around the new element, which gets its own
        // node.
        let split = self.cut_at(i, 0, |node, off| off > 0 && !node.allows(fill, v));
        self.cool();
        match (&mut self.layout, split) {
            (Layout::Quicklist(nodes), Some((n, left, right))) => {
                Self::replace_node(nodes, n, [left, Some(Node::single(fill, v)), right]);
            }
            (Layout::Listpack(bytes), _) => *bytes += entry_size(v),
            (Layout::Quicklist(nodes), None) => match Self::node_of(nodes, i) {
                Some((n, _)) if nodes[n].allows(fill, v) => nodes[n].add(v),
                Some((n, _)) => nodes.insert(n, Node::single(fill, v)),
                None => nodes.push_back(Node::single(fill, v)),
            },
        }
        if let Some((ci, rank)) = self.locate(i) {
            if let Some(c) = self.chunks.get_mut(ci) {
                c.splice(rank, v, false);
            }
            self.split_if_big(ci);
        }
        self.len += 1;
    }

    /// Removes up to `limit` elements equal to `v` (0 = all), scanning from the head, or from
    /// the tail when `from_tail`. Returns how many were removed.
    pub fn remove(&mut self, fill: i64, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let matches = |(_, e): &(usize, &[u8])| *e == v;
        let mut doomed: Vec<usize> = if from_tail {
            self.iter().enumerate().rev().filter(matches).take(limit).map(|(i, _)| i).collect()
        } else {
            self.iter().enumerate().filter(matches).take(limit).map(|(i, _)| i).collect()
        };
        if doomed.is_empty() {
            return 0;
        }
        if from_tail {
            doomed.reverse();
        }
        self.cool();
        // Every removed element equals `v`, so each costs its node the same bytes.
        match &mut self.layout {
            Layout::Listpack(bytes) => *bytes -= entry_size(v) * doomed.len(),
            Layout::Quicklist(nodes) => {
                let mut doomed_iter = doomed.iter().peekable();
                let mut base = 0;
                for node in nodes.iter_mut() {
                    let end = base + node.count;
                    while doomed_iter.next_if(|&&i| i < end).is_some() {
                        node.sub(v);
                    }
                    base = end;
                }
                nodes.retain(|node| node.count > 0);
                tidy_deque(nodes);
            }
        }
        // Storage: each chunk drops its doomed ranks.
        let mut base = 0;
        let mut at = 0;
        let mut ranks = Vec::new();
        for c in self.chunks.iter_mut() {
            let end = base + c.count;
            ranks.clear();
            while let Some(&i) = doomed.get(at).filter(|&&i| i < end) {
                ranks.push(i - base);
                at += 1;
            }
            if !ranks.is_empty() {
                c.remove_ranks(&ranks);
            }
            base = end;
        }
        self.chunks.retain(|c| c.count > 0);
        self.len -= doomed.len();
        self.merge_small();
        self.shrink_check(fill);
        doomed.len()
    }

    /// After removals in the middle: merges neighbouring chunks that fit in one, then
    /// settles every chunk's compression.
    fn merge_small(&mut self) {
        let mut merged: VecDeque<Chunk> = VecDeque::with_capacity(self.chunks.len());
        for c in std::mem::take(&mut self.chunks) {
            match merged.back_mut() {
                Some(last) if last.live_len() + c.live_len() <= self.chunk_bytes => last.append(c),
                _ => merged.push_back(c),
            }
        }
        self.chunks = merged;
        for i in 0..self.chunks.len() {
            self.settle(i);
        }
    }

    /// Keeps only elements `start..=end` (LTRIM; `None` keeps nothing).
    pub fn trim(&mut self, fill: i64, keep: Option<(usize, usize)>) {
        let (front, back) = match keep {
            Some((start, end)) => (start, self.len.saturating_sub(end + 1)),
            None => (self.len, 0),
        };
        for _ in 0..front {
            self.pop_with(true, |_| ());
        }
        for _ in 0..back {
            self.pop_with(false, |_| ());
        }
        self.shrink_check(fill);
    }
}

/// Active defragmentation hooks (see `memory/defrag.rs`).
impl ListValue {
    /// Offers the fixed blocks: the chunk deque's buffer and the layout model's.
    pub fn defrag_fixed(&mut self, mv: &mut impl RelocateVec) -> bool {
        let layout = match &mut self.layout {
            Layout::Quicklist(nodes) => mv.relocate_deque(nodes),
            Layout::Listpack(_) => false,
        };
        layout | mv.relocate_deque(&mut self.chunks)
    }

    /// Chunks the element walk covers (the counterpart of Redis's quicklist nodes).
    pub fn defrag_elements(&self) -> usize {
        self.chunks.len()
    }

    /// Offers up to `max` chunks from chunk index `cursor`: each one's buffer, or its
    /// compressed form (box, data and any inflated cache).
    pub fn defrag_elements_from(
        &mut self,
        mv: &mut impl RelocateVec,
        cursor: u64,
        max: usize,
    ) -> RelocateStep {
        let (piece, next) = index_piece(self.chunks.len(), cursor, max);
        let mut step = RelocateStep { cursor: next, entries: 0, moved: 0 };
        for c in self.chunks.range_mut(piece) {
            let mut moved = mv.relocate_vec(&mut c.buf);
            if let Some(z) = &mut c.zipped {
                moved |= mv.relocate(z) | mv.relocate_bytes(&mut z.data);
                if let Some(cache) = z.cache.get_mut() {
                    moved |= mv.relocate_bytes(cache);
                }
            }
            step.entries += 1;
            step.moved += usize::from(moved);
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn push_n(l: &mut ListValue, fill: i64, n: usize, v: &[u8]) {
        for _ in 0..n {
            l.push(fill, &[v], false);
        }
    }

    fn contents(l: &ListValue) -> Vec<Vec<u8>> {
        l.iter().map(<[u8]>::to_vec).collect()
    }

    fn zipped_chunks(l: &ListValue) -> usize {
        l.chunks.iter().filter(|c| c.zipped.is_some()).count()
    }

    #[test]
    fn entries_walk_both_ways() {
        for len in [0usize, 1, 127, 128, 16_383, 16_384, 70_000] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut buf = vec![0xaa];
            append_entry(&mut buf, &v);
            append_entry(&mut buf, b"z");
            assert_eq!(buf.len(), 1 + encoded_len(&v) + encoded_len(b"z"));
            let (got, next) = read_fwd(&buf, 1).unwrap();
            assert_eq!(got, &v[..]);
            assert_eq!(read_fwd(&buf, next).unwrap(), (&b"z"[..], buf.len()));
            let (z, at) = read_back(&buf, buf.len()).unwrap();
            assert_eq!((z, at), (&b"z"[..], next));
            assert_eq!(read_back(&buf, at).unwrap(), (&v[..], 1));
        }
        assert_eq!(encoded_len(b"123456"), 8);
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
        assert_eq!(l.get(1), Some(&big[..]));
        l.pop(false);
        l.shrink_check(-2);
        assert_eq!(l.encoding(), "listpack");
    }

    #[test]
    fn remove_insert_set_trim_keep_order() {
        let mut l = ListValue::new();
        l.push(3, &[b"a", b"b", b"a", b"c", b"a"], false);
        assert_eq!(l.remove(3, b"a", 2, true), 2);
        assert_eq!(contents(&l), [&b"a"[..], b"b", b"c"]);
        l.insert(3, 1, b"z");
        assert!(l.set(3, 0, b"y"));
        assert!(!l.set(3, 9, b"y"));
        assert_eq!(contents(&l), [&b"y"[..], b"z", b"b", b"c"]);
        l.trim(3, Some((1, 2)));
        assert_eq!(contents(&l), [&b"z"[..], b"b"]);
        // One node of 2 elements is over half of the limit 3: still a quicklist.
        assert_eq!(l.encoding(), "quicklist");
        l.trim(3, Some((0, 0)));
        assert_eq!(l.encoding(), "listpack");
        l.trim(3, None);
        assert!(l.is_empty());
    }

    /// An element for the model test: sizes 0, 1, 20, 100 and 5000, integers, and a few
    /// repeated values so that removals find several matches.
    fn random_elem(rng: &mut SmallRng) -> Vec<u8> {
        match rng.random_range(0..8) {
            0 => Vec::new(),
            1 => vec![rng.random_range(b'a'..=b'c')],
            2 => format!("{:020}", rng.random_range(0..3u32)).into_bytes(),
            3 => vec![rng.random_range(0..=255u8); 100],
            4 => vec![b'L'; 5000],
            5 => rng.random_range(-70_000i64..70_000).to_string().into_bytes(),
            6 => b"\x00\xff".to_vec(),
            _ => rng.random_range(0..5u8).to_string().into_bytes(),
        }
    }

    /// Runs random operations on a list with tiny chunks (so chunk boundaries are crossed
    /// all the time) and on a plain deque, comparing them after every step.
    fn model_run(seed: u64, depth: usize, chunk_bytes: usize) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut l = ListValue::with_params(depth, chunk_bytes);
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        let fill = [-2, -1, 3, 16][rng.random_range(0..4)];
        for step in 0..2_000 {
            let len = m.len();
            match rng.random_range(0..20) {
                0..=4 => {
                    let front = rng.random_bool(0.5);
                    let vs: Vec<Vec<u8>> =
                        (0..rng.random_range(1..4)).map(|_| random_elem(&mut rng)).collect();
                    let refs: Vec<&[u8]> = vs.iter().map(Vec::as_slice).collect();
                    l.push(fill, &refs, front);
                    for v in vs {
                        if front {
                            m.push_front(v);
                        } else {
                            m.push_back(v);
                        }
                    }
                }
                5..=8 => {
                    let front = rng.random_bool(0.5);
                    let want = if front { m.pop_front() } else { m.pop_back() };
                    assert_eq!(l.pop(front).map(|b| b.to_vec()), want, "pop at step {step}");
                    l.shrink_check(fill);
                }
                9 | 10 => {
                    let i = rng.random_range(0..=len);
                    let v = random_elem(&mut rng);
                    l.insert(fill, i, &v);
                    m.insert(i, v);
                }
                11 | 12 => {
                    let i = rng.random_range(0..len + 2);
                    let v = random_elem(&mut rng);
                    assert_eq!(l.set(fill, i, &v), i < len);
                    if let Some(slot) = m.get_mut(i) {
                        *slot = v;
                    }
                }
                13 => {
                    let v = random_elem(&mut rng);
                    let limit = rng.random_range(0..4);
                    let from_tail = rng.random_bool(0.5);
                    let mut hits: Vec<usize> = (0..len).filter(|&i| m[i] == v).collect();
                    if from_tail {
                        hits.reverse();
                    }
                    if limit > 0 {
                        hits.truncate(limit);
                    }
                    hits.sort_unstable();
                    for i in hits.iter().rev() {
                        m.remove(*i);
                    }
                    assert_eq!(l.remove(fill, &v, limit, from_tail), hits.len());
                }
                14 if rng.random_range(0..10) == 0 => {
                    let a = rng.random_range(0..len + 1);
                    let b = rng.random_range(0..len + 1);
                    let keep = (a <= b && a < len).then(|| (a, b.min(len.saturating_sub(1))));
                    l.trim(fill, keep);
                    m = match keep {
                        Some((a, b)) => m.range(a..=b).cloned().collect(),
                        None => VecDeque::new(),
                    };
                }
                15..=17 if len > 0 => {
                    let a = rng.random_range(0..len);
                    let b = rng.random_range(a..len);
                    let got: Vec<&[u8]> = l.range(a, b).collect();
                    let want: Vec<&[u8]> = m.range(a..=b).map(Vec::as_slice).collect();
                    assert_eq!(got, want, "range {a}..={b} at step {step}");
                    let back: Vec<&[u8]> = l.range(a, b).rev().collect();
                    assert!(back.iter().rev().eq(want.iter()));
                    assert_eq!(l.range(a, b).len(), b - a + 1);
                }
                _ => {
                    let i = rng.random_range(0..len + 2);
                    assert_eq!(l.get(i), m.get(i).map(Vec::as_slice), "index {i}");
                }
            }
            assert_eq!(l.len(), m.len());
            assert!(l.chunks.iter().all(|c| c.count > 0));
            assert_eq!(l.chunks.iter().map(|c| c.count).sum::<usize>(), m.len());
            if step % 50 == 0 {
                assert!(l.iter().eq(m.iter().map(Vec::as_slice)));
                assert!(l.iter().rev().eq(m.iter().rev().map(Vec::as_slice)));
                // The layout model saw the same elements as the storage.
                if let Some((_, bytes)) = l.quicklist_shape() {
                    assert!(bytes > 0 || m.is_empty());
                }
            }
        }
        assert!(l.iter().eq(m.iter().map(Vec::as_slice)));
    }

    #[test]
    fn random_operations_match_a_deque() {
        for seed in 0..6 {
            model_run(seed, 0, 64);
            model_run(seed, 1, 96);
            model_run(seed, 2, 300);
        }
    }

    #[test]
    fn short_elements_cost_little() {
        let mut l = ListValue::new();
        for _ in 0..100_000 {
            l.push(-2, &[b"123456"], false);
        }
        let per = l.heap_size() as f64 / 100_000.0;
        println!("heap bytes per 6-byte element, 100000 pushed at the tail: {per:.2}");
        assert!(per < 12.0, "{per} bytes per element");
        let mut f = ListValue::new();
        for _ in 0..100_000 {
            f.push(-2, &[b"123456"], true);
        }
        let per = f.heap_size() as f64 / 100_000.0;
        println!("heap bytes per 6-byte element, 100000 pushed at the head: {per:.2}");
        assert!(per < 12.0, "{per} bytes per element");
        // A queue that pushes at the tail and pops at the head stays small.
        for i in 0..200_000 {
            l.push(-2, &[b"abcdef"], false);
            l.pop(true);
            if i % 3 == 0 {
                l.pop(true);
            }
        }
        let mut one = ListValue::new();
        one.push(-2, &[b"x"], false);
        println!("heap bytes of a 1-element list: {}", one.heap_size());
        assert!(one.heap_size() < 512);
        // A big list popped down to one element gives its memory back.
        while l.len() > 1 {
            l.pop(false);
        }
        assert!(l.heap_size() < 512, "{} bytes left", l.heap_size());
    }

    /// A compressible element: a long repeated pattern with a varying prefix.
    fn elem(i: usize) -> Vec<u8> {
        format!("item:{:05}:{}", i % 1000, "abcdefgh".repeat(12)).into_bytes()
    }

    #[test]
    fn defrag_moves_plain_and_compressed_chunks_and_keeps_contents() {
        let mut l = ListValue::with_params(1, 256);
        for i in 0..3_000 {
            l.push(-2, &[&elem(i)], i % 4 == 0);
        }
        let zipped = zipped_chunks(&l);
        assert!(zipped > 10);
        // A read inflates an interior chunk's cache, which is offered too.
        let middle = l.get(1_500).map(<[u8]>::to_vec);
        let before = contents(&l);
        let mut mv = crate::memory::defrag::Mover::always();
        assert!(l.defrag_fixed(&mut mv));
        let mut cursor = 0;
        loop {
            let step = l.defrag_elements_from(&mut mv, cursor, 5);
            assert!(step.entries <= 5 && step.moved == step.entries);
            cursor = step.cursor;
            if cursor == 0 {
                break;
            }
        }
        // The two deques, then each chunk's buffer, or its box, data and inflated cache
        // (reading the contents filled every cache).
        let per_chunk = |c: &Chunk| match &c.zipped {
            None => 1,
            Some(z) => 2 + usize::from(z.cache.get().is_some()),
        };
        let blocks: usize = l.chunks.iter().map(per_chunk).sum();
        assert!(blocks > 3 * zipped);
        assert_eq!(mv.hits as usize, 2 + blocks);
        assert_eq!(contents(&l), before);
        assert_eq!(zipped_chunks(&l), zipped);
        assert_eq!(l.get(1_500).map(<[u8]>::to_vec), middle);
        // Still a working list: edits in moved chunks.
        l.insert(-2, 1_000, b"new");
        assert_eq!(l.get(1_000), Some(&b"new"[..]));
        assert_eq!(l.pop(true), Some(Bytes::from(elem(2_996))));
    }

    #[test]
    fn compressed_interior_saves_memory_with_identical_contents() {
        let mut flat = ListValue::with_params(0, CHUNK_BYTES);
        let mut packed = ListValue::with_params(1, CHUNK_BYTES);
        for i in 0..20_000 {
            let v = elem(i);
            flat.push(-2, &[&v], i % 3 == 0);
            packed.push(-2, &[&v], i % 3 == 0);
        }
        assert_eq!(packed.encoding(), "quicklist");
        assert!(zipped_chunks(&packed) > 0);
        let (a, b) = (flat.heap_size(), packed.heap_size());
        println!("heap bytes, 20000 x 110-byte elements: depth 0 = {a}, depth 1 = {b}");
        assert!(b * 4 < a, "depth 1 uses {b} bytes, depth 0 {a}");
        assert_eq!(packed.len(), flat.len());
        assert_eq!(contents(&packed), contents(&flat));
        for i in [0, 1, 77, 5_000, 19_998, 19_999, 20_000] {
            assert_eq!(packed.get(i), flat.get(i));
        }
        let r1: Vec<&[u8]> = packed.range(6_000, 6_100).collect();
        let r0: Vec<&[u8]> = flat.range(6_000, 6_100).collect();
        assert_eq!(r1, r0);
        // The reads above inflated chunks; the next write drops those caches.
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
        let mut flat = ListValue::with_params(0, CHUNK_BYTES);
        let mut packed = ListValue::with_params(2, CHUNK_BYTES);
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
        assert!(zipped_chunks(&packed) > 0);
        assert_eq!(contents(&packed), contents(&flat));
        assert_eq!(packed.encoding(), flat.encoding());
        assert_eq!(packed.quicklist_shape(), flat.quicklist_shape());
        flat.trim(16, Some((0, 3)));
        packed.trim(16, Some((0, 3)));
        assert_eq!(zipped_chunks(&packed), 0);
        assert_eq!(contents(&packed), contents(&flat));
    }
}
