//! Stream value (`TYPE` = `stream`): an append-only log of entries keyed by ID, plus
//! consumer groups.
//!
//! Memory layout: entries live in *nodes* of up to `stream-node-max-entries` entries (and
//! about `stream-node-max-bytes`), kept in a `BTreeMap` keyed by the node's *master ID* (the
//! ID of the first entry ever put in it). Inside a node, entries are packed into one byte
//! buffer: each ID is stored as varint deltas from the master ID, and the field names of the
//! node's first entry are stored once, so later entries with the same fields store only
//! their values. This is the same idea as Redis's radix tree of listpacks and keeps a
//! million small entries at roughly 15-20 bytes each.
//!
//! Deleting an entry only flags it in its node (as Redis does); a node whose entries are all
//! deleted is dropped. Node boundaries follow Redis's rules (entry count including deleted
//! ones, and an emulation of the listpack byte size) because approximate trimming (`~`)
//! removes whole nodes only, so the number of entries it removes is visible to clients.

use crate::memory::defrag::{RelocateVec, NO_STEP};
use crate::types::dict::RelocateStep;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;

/// A stream entry ID, `<ms>-<seq>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest possible ID.
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    /// The ID `ms-seq`.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or None after the largest one.
    pub fn incr(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => self.ms.checked_add(1).map(|ms| StreamId::new(ms, 0)),
        }
    }

    /// The previous ID, or None before `0-0`.
    pub fn decr(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => self.ms.checked_sub(1).map(|ms| StreamId::new(ms, u64::MAX)),
        }
    }

    /// True for `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::ZERO
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Entry flag: the entry was deleted (kept in place until its node goes).
const DELETED: u8 = 1;
/// Entry flag: the entry has exactly the node's master fields, so only values are stored.
const SAME_FIELDS: u8 = 2;

/// Appends `v` as a LEB128 varint.
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a varint at `*pos`, advancing it. Buffers are only written by this module, so a
/// truncated varint cannot happen; it would read as the bytes present.
fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        if shift < 64 {
            v |= u64::from(b & 0x7f) << shift;
        }
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

/// Appends a length-prefixed byte string.
fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Reads a length-prefixed byte string at `*pos`, advancing it.
fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let n = get_varint(buf, pos) as usize;
    let start = (*pos).min(buf.len());
    let end = start.saturating_add(n).min(buf.len());
    *pos = end;
    &buf[start..end]
}

/// Size Redis's listpack gives an integer element (encoding plus back-length byte).
fn lp_int_size(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if i16::try_from(v).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    enc + crate::rdb::listpack::backlen_size(enc)
}

/// Size of a string element in a listpack: strings that read as integers are stored as
/// integers there.
fn lp_str_size(b: &[u8]) -> usize {
    if let Some(v) = crate::types::num::parse_i64(b) {
        return lp_int_size(v);
    }
    let enc = b.len()
        + match b.len() {
            0..=63 => 1,
            64..=4095 => 2,
            _ => 5,
        };
    enc + crate::rdb::listpack::backlen_size(enc)
}

/// A node: a packed run of entries sharing one master ID and one set of master fields.
#[derive(Clone, Debug)]
struct Node {
    /// Master field count and names, then the entries.
    buf: Vec<u8>,
    /// Offset of the first entry in `buf`.
    body: u32,
    /// Entries not deleted.
    live: u32,
    /// Entries flagged deleted.
    deleted: u32,
    /// Emulated size of the equivalent Redis listpack, for node-split decisions.
    lp_bytes: u32,
}

/// Where an entry sits in its node.
#[derive(Clone, Copy, Debug)]
struct Slot {
    id: StreamId,
    /// Offset of the flags byte.
    at: usize,
    /// Offset of the field data.
    data: usize,
    flags: u8,
}

impl Node {
    /// A node whose master fields are those of `fields` (field/value pairs).
    fn new(fields: &[Bytes]) -> Node {
        let mut buf = Vec::new();
        let n = fields.len() / 2;
        put_varint(&mut buf, n as u64);
        // Listpack header and terminator, master count/deleted/numfields/terminator.
        let mut lp = 7 + lp_int_size(n as i64) + lp_int_size(0);
        for f in fields.iter().step_by(2) {
            put_bytes(&mut buf, f);
            lp += lp_str_size(f);
        }
        Node { body: buf.len() as u32, buf, live: 0, deleted: 0, lp_bytes: lp as u32 }
    }

    /// The master field names.
    fn master_fields(&self) -> Vec<&[u8]> {
        let mut pos = 0;
        let n = get_varint(&self.buf, &mut pos);
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(get_bytes(&self.buf, &mut pos));
        }
        out
    }

    /// Every entry (deleted ones included), in ID order.
    fn slots(&self, master: StreamId) -> Vec<Slot> {
        let nmaster = {
            let mut p = 0;
            get_varint(&self.buf, &mut p)
        };
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        let mut pos = self.body as usize;
        while pos < self.buf.len() {
            let at = pos;
            let flags = self.buf[pos];
            pos += 1;
            let dms = get_varint(&self.buf, &mut pos);
            let seq = get_varint(&self.buf, &mut pos);
            let id = if dms == 0 {
                StreamId::new(master.ms, master.seq.wrapping_add(seq))
            } else {
                StreamId::new(master.ms.wrapping_add(dms), seq)
            };
            let data = pos;
            let items = if flags & SAME_FIELDS != 0 {
                nmaster
            } else {
                get_varint(&self.buf, &mut pos).saturating_mul(2)
            };
            for _ in 0..items {
                get_bytes(&self.buf, &mut pos);
            }
            out.push(Slot { id, at, data, flags });
        }
        out
    }

    /// The field/value pairs of the entry at `slot`, flattened.
    fn fields(&self, slot: &Slot) -> Vec<Bytes> {
        let mut pos = slot.data;
        let mut out = Vec::new();
        if slot.flags & SAME_FIELDS != 0 {
            for f in self.master_fields() {
                out.push(Bytes::copy_from_slice(f));
                out.push(Bytes::copy_from_slice(get_bytes(&self.buf, &mut pos)));
            }
        } else {
            let n = get_varint(&self.buf, &mut pos);
            for _ in 0..n.saturating_mul(2) {
                out.push(Bytes::copy_from_slice(get_bytes(&self.buf, &mut pos)));
            }
        }
        out
    }

    /// Emulated listpack size including the master counters.
    fn lp_size(&self) -> usize {
        self.lp_bytes as usize
            + lp_int_size(i64::from(self.live))
            + lp_int_size(i64::from(self.deleted))
    }

    /// Appends an entry (its ID is greater than every ID in the node).
    fn push(&mut self, master: StreamId, id: StreamId, fields: &[Bytes]) {
        let same = {
            let m = self.master_fields();
            m.len() * 2 == fields.len()
                && m.iter().zip(fields.iter().step_by(2)).all(|(a, b)| *a == &b[..])
        };
        let dms = id.ms - master.ms;
        let seq = if dms == 0 { id.seq - master.seq } else { id.seq };
        let flags = if same { SAME_FIELDS } else { 0 };
        self.buf.push(flags);
        put_varint(&mut self.buf, dms);
        put_varint(&mut self.buf, seq);
        let n = fields.len() / 2;
        // Redis's entry: flags, ms-diff, seq-diff, [numfields, fields,] values, lp-count.
        let mut lp =
            lp_int_size(i64::from(flags)) + lp_int_size(dms as i64) + lp_int_size(seq as i64);
        let lp_count = if same { n + 3 } else { 2 * n + 4 };
        lp += lp_int_size(lp_count as i64);
        if same {
            for v in fields.iter().skip(1).step_by(2) {
                put_bytes(&mut self.buf, v);
                lp += lp_str_size(v);
            }
        } else {
            put_varint(&mut self.buf, n as u64);
            lp += lp_int_size(n as i64);
            for f in fields {
                put_bytes(&mut self.buf, f);
                lp += lp_str_size(f);
            }
        }
        self.lp_bytes = self.lp_bytes.saturating_add(lp as u32);
        self.live += 1;
    }

    /// Flags the entry at `slot` deleted.
    fn mark_deleted(&mut self, slot: &Slot) {
        self.buf[slot.at] |= DELETED;
        self.live = self.live.saturating_sub(1);
        self.deleted += 1;
    }
}

/// A pending entry: delivered to a consumer and not acknowledged yet.
#[derive(Clone, Debug)]
pub struct PendingEntry {
    /// The consumer that owns it.
    pub consumer: Bytes,
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    /// Times delivered.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default)]
pub struct Consumer {
    /// Unix ms of the last attempted interaction (read, claim, ...).
    pub seen_time: u64,
    /// Unix ms of the last successful interaction (an entry read or claimed), if any.
    pub active_time: Option<u64>,
    /// IDs of the entries pending for this consumer.
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// Last ID delivered to the group.
    pub last_id: StreamId,
    /// Logical count of entries read by the group, or None when unknown.
    pub entries_read: Option<u64>,
    /// The group's pending entries list.
    pub pel: BTreeMap<StreamId, PendingEntry>,
    /// Consumers by name.
    pub consumers: BTreeMap<Bytes, Consumer>,
}

/// How to trim a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries with an ID below this one.
    MinId(StreamId),
}

/// A stream.
#[derive(Clone, Debug, Default)]
pub struct StreamValue {
    /// Nodes by master ID.
    nodes: BTreeMap<StreamId, Node>,
    /// Number of entries (not deleted).
    len: usize,
    /// The last ID generated (or set by XSETID).
    pub last_id: StreamId,
    /// The first entry's ID as recorded (0-0 for an empty stream).
    pub first_id: StreamId,
    /// The largest ID ever deleted by XDEL.
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Bytes, Group>,
}

impl StreamValue {
    /// An empty stream.
    pub fn new() -> StreamValue {
        StreamValue::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the stream has no entries (an empty stream is still stored, unlike
    /// collections).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Heap bytes owned, approximately.
    pub fn heap_size(&self) -> usize {
        let nodes: usize =
            self.nodes.values().map(|n| n.buf.capacity() + std::mem::size_of::<Node>() + 16).sum();
        let groups: usize =
            self.groups.values().map(|g| g.pel.len() * 64 + g.consumers.len() * 64).sum();
        nodes + groups
    }

    /// Number of nodes (`radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Appends an entry with ID `id` (greater than `last_id`, checked by the caller).
    /// `max_bytes`/`max_entries` are the node limits (0 = no limit).
    pub fn append(&mut self, id: StreamId, fields: &[Bytes], max_bytes: usize, max_entries: usize) {
        let max_bytes = if max_bytes == 0 || max_bytes > (1 << 30) { 1 << 30 } else { max_bytes };
        let raw: usize = fields.iter().map(|f| f.len()).sum();
        let fits = match self.nodes.last_key_value() {
            Some((_, n)) => {
                n.lp_size() + raw < max_bytes
                    && (max_entries == 0 || ((n.live + n.deleted) as usize) < max_entries)
            }
            None => false,
        };
        if !fits {
            if let Some(mut last) = self.nodes.last_entry() {
                // A closed node never grows again: give back the spare capacity.
                last.get_mut().buf.shrink_to_fit();
            }
            self.nodes.insert(id, Node::new(fields));
        }
        if let Some(mut last) = self.nodes.last_entry() {
            let master = *last.key();
            last.get_mut().push(master, id, fields);
        }
        if self.len == 0 {
            self.first_id = id;
        }
        self.len += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// Calls `f` with each live entry between `start` and `end` (inclusive), in ID order or
    /// reversed, until it returns false.
    pub fn walk(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, Vec<Bytes>) -> bool,
    ) {
        if start > end {
            return;
        }
        // The node holding `start` may begin before it.
        let from = self.nodes.range(..=start).next_back().map(|(k, _)| *k).unwrap_or(start);
        let range = self.nodes.range((Bound::Included(from), Bound::Included(end)));
        let visit =
            |master: &StreamId, node: &Node, f: &mut dyn FnMut(StreamId, Vec<Bytes>) -> bool| {
                let mut slots = node.slots(*master);
                if rev {
                    slots.reverse();
                }
                for s in slots {
                    if s.flags & DELETED != 0 || s.id < start || s.id > end {
                        continue;
                    }
                    if !f(s.id, node.fields(&s)) {
                        return false;
                    }
                }
                true
            };
        if rev {
            for (k, n) in range.rev() {
                if !visit(k, n, &mut f) {
                    return;
                }
            }
        } else {
            for (k, n) in range {
                if !visit(k, n, &mut f) {
                    return;
                }
            }
        }
    }

    /// Live entries between `start` and `end`, at most `count` (0 = all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<(StreamId, Vec<Bytes>)> {
        let mut out = Vec::new();
        self.walk(start, end, rev, |id, fields| {
            out.push((id, fields));
            count == 0 || out.len() < count
        });
        out
    }

    /// The fields of entry `id`, if it exists.
    pub fn get(&self, id: StreamId) -> Option<Vec<Bytes>> {
        self.range(id, id, false, 1).pop().map(|(_, f)| f)
    }

    /// The first (or last) live entry.
    pub fn edge(&self, last: bool) -> Option<(StreamId, Vec<Bytes>)> {
        self.range(StreamId::ZERO, StreamId::MAX, last, 1).pop()
    }

    /// Deletes entry `id`. Returns true if it existed. Does not touch `first_id` or
    /// `max_deleted_id` (XDEL does that once per call).
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(mut e) = self.nodes.range_mut(..=id).next_back() else { return false };
        let master = *e.0;
        let node = &mut e.1;
        let Some(slot) = node.slots(master).into_iter().find(|s| s.id == id) else {
            return false;
        };
        if slot.flags & DELETED != 0 {
            return false;
        }
        node.mark_deleted(&slot);
        if node.live == 0 {
            self.nodes.remove(&master);
        }
        self.len -= 1;
        true
    }

    /// Re-reads the first live ID into `first_id` (0-0 when empty).
    pub fn refresh_first_id(&mut self) {
        self.first_id = self.edge(false).map(|(id, _)| id).unwrap_or(StreamId::ZERO);
    }

    /// Trims the stream; `approx` removes whole nodes only, and `limit` (0 = none) caps the
    /// entries removed. Returns the number removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: usize) -> usize {
        let mut removed = 0usize;
        while let Some(mut first) = self.nodes.first_entry() {
            if let Trim::MaxLen(max) = how {
                if self.len as u64 <= max {
                    break;
                }
            }
            let master = *first.key();
            let node = first.get_mut();
            let live = node.live as usize;
            if limit != 0 && removed + live > limit {
                break;
            }
            // Decoding the node's entries costs an allocation; an approximate MAXLEN trim
            // (every BullMQ event) decides on counts alone.
            let whole = match how {
                Trim::MaxLen(max) => (self.len - live) as u64 >= max,
                Trim::MinId(min) => node.slots(master).last().is_some_and(|s| s.id < min),
            };
            if whole {
                first.remove();
                self.len -= live;
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            let slots = node.slots(master);
            for s in &slots {
                let done = match how {
                    Trim::MaxLen(max) => self.len as u64 <= max,
                    Trim::MinId(min) => s.id >= min,
                };
                if done {
                    break;
                }
                if s.flags & DELETED == 0 {
                    node.mark_deleted(s);
                    self.len -= 1;
                    removed += 1;
                }
            }
            break;
        }
        if removed > 0 {
            self.refresh_first_id();
        }
        removed
    }

    /// Redis's estimate of how many entries precede `id` plus one (the logical read
    /// counter of a group whose last ID is `id`), or None when fragmentation makes it
    /// unknowable.
    pub fn estimate_read_counter(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.len == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.len as u64);
            }
            if id == self.first_id {
                return Some(self.entries_added - self.len as u64 + 1);
            }
        }
        None
    }

    /// True if a deleted entry may lie between `start` and the end of the stream.
    pub fn has_tombstones_after(&self, start: StreamId) -> bool {
        if self.len == 0 || self.max_deleted_id.is_zero() || self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// A group's lag (entries not yet delivered to it), or None when unknown. It is
    /// negative when ENTRIESREAD claimed more reads than entries were added, as in Redis.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let added = self.entries_added as i64;
        if let Some(read) = g.entries_read {
            if !self.has_tombstones_after(g.last_id) {
                return Some(added.wrapping_sub(read as i64));
            }
        }
        self.estimate_read_counter(g.last_id).map(|r| added.wrapping_sub(r as i64))
    }

    /// Records that group `g` delivered entry `id` (a new entry, after its last ID).
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if g.entries_read.is_some() && !self.has_tombstones_after(id) {
            g.entries_read = g.entries_read.map(|r| r + 1);
        } else if self.entries_added > 0 {
            g.entries_read = self.estimate_read_counter(id);
        }
        g.last_id = id;
    }
}

/// One node of a stream in the form RDB files hold it (see `rdb/value.rs`): its master ID
/// and master field names, and every entry, deleted ones included, with its flag.
#[derive(Clone, Debug, Default)]
pub struct RawNode {
    /// The node's master ID.
    pub master: StreamId,
    /// The master field names.
    pub master_fields: Vec<Bytes>,
    /// Entries in ID order: ID, deleted, field/value pairs flattened.
    pub entries: Vec<(StreamId, bool, Vec<Bytes>)>,
}

impl StreamValue {
    /// The nodes as RDB writes them, in master ID order.
    pub fn raw_nodes(&self) -> impl Iterator<Item = RawNode> + '_ {
        self.nodes.iter().map(|(master, node)| RawNode {
            master: *master,
            master_fields: node.master_fields().into_iter().map(Bytes::copy_from_slice).collect(),
            entries: node
                .slots(*master)
                .iter()
                .map(|s| (s.id, s.flags & DELETED != 0, node.fields(s)))
                .collect(),
        })
    }

    /// Appends a node read from an RDB file (IDs above every stored one, checked by the
    /// caller). Counters (`last_id`, `entries_added`, ...) are the caller's to set; the
    /// live-entry count follows the node.
    pub fn push_raw_node(&mut self, raw: RawNode) {
        let pairs: Vec<Bytes> =
            raw.master_fields.iter().flat_map(|f| [f.clone(), Bytes::new()]).collect();
        let mut node = Node::new(&pairs);
        for (id, deleted, fields) in &raw.entries {
            node.push(raw.master, *id, fields);
            if *deleted {
                if let Some(slot) = node.slots(raw.master).pop() {
                    node.mark_deleted(&slot);
                }
            }
        }
        self.len += node.live as usize;
        if node.live > 0 {
            self.nodes.insert(raw.master, node);
        }
    }
}

/// Active defragmentation hooks (see `memory/defrag.rs`). The tree nodes of the stream
/// and of its groups are not offered: a `BTreeMap` cannot have its nodes moved from
/// outside. What is offered is each node's entry buffer, the bulk of a stream's memory.
impl StreamValue {
    /// Nodes the element walk covers.
    pub fn defrag_elements(&self) -> usize {
        self.nodes.len()
    }

    /// Offers the entry buffers of about `max` nodes, starting at the first node whose
    /// master ID's milliseconds part is at least `cursor`. A piece always ends with all the
    /// nodes of one millisecond (so the next piece can start at the following one), and the
    /// returned cursor is that millisecond plus one, or 0 once the last node is covered.
    pub fn defrag_elements_from(
        &mut self,
        mv: &mut impl RelocateVec,
        cursor: u64,
        max: usize,
    ) -> RelocateStep {
        let mut step = NO_STEP;
        let from = StreamId { ms: cursor, seq: 0 };
        let mut last_ms = None;
        for (id, node) in self.nodes.range_mut(from..) {
            if step.entries >= max.max(1) && last_ms != Some(id.ms) {
                // `last_ms` is below this node's, so adding one cannot overflow.
                step.cursor = last_ms.map_or(0, |ms| ms + 1);
                return step;
            }
            last_ms = Some(id.ms);
            step.entries += 1;
            step.moved += usize::from(mv.relocate_vec(&mut node.buf));
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fv(v: &str) -> Vec<Bytes> {
        vec![Bytes::from_static(b"f"), Bytes::copy_from_slice(v.as_bytes())]
    }

    #[test]
    fn defrag_pieces_keep_each_millisecond_together() {
        let mut s = StreamValue::new();
        // 25 nodes of two entries in millisecond 5, then one node per millisecond 6..=15.
        for seq in 0..50 {
            s.append(StreamId { ms: 5, seq }, &fv(&format!("a{seq}")), 4096, 2);
        }
        for ms in 6..=15 {
            s.append(StreamId { ms, seq: 0 }, &fv(&format!("b{ms}")), 4096, 1);
        }
        assert_eq!(s.defrag_elements(), 35);
        let before: Vec<RawNode> = s.raw_nodes().collect();
        let mut mv = crate::memory::defrag::Mover::always();
        let mut pieces = Vec::new();
        let mut cursor = 0;
        loop {
            let step = s.defrag_elements_from(&mut mv, cursor, 3);
            assert_eq!(step.moved, step.entries);
            pieces.push((step.entries, step.cursor));
            cursor = step.cursor;
            if cursor == 0 {
                break;
            }
        }
        // The first piece goes past `max` to finish millisecond 5; then three at a time.
        assert_eq!(pieces, [(25, 6), (3, 9), (3, 12), (3, 15), (1, 0)]);
        assert_eq!(mv.hits, 35);
        let after: Vec<RawNode> = s.raw_nodes().collect();
        assert_eq!(format!("{before:?}"), format!("{after:?}"));
    }

    #[test]
    fn append_range_delete() {
        let mut s = StreamValue::new();
        for i in 1..=250u64 {
            s.append(StreamId::new(i, 0), &fv(&i.to_string()), 4096, 100);
        }
        assert_eq!(s.len(), 250);
        assert_eq!(s.node_count(), 3);
        let r = s.range(StreamId::new(99, 0), StreamId::new(102, 0), false, 0);
        assert_eq!(r.iter().map(|e| e.0.ms).collect::<Vec<_>>(), vec![99, 100, 101, 102]);
        let r = s.range(StreamId::ZERO, StreamId::MAX, true, 2);
        assert_eq!(r.iter().map(|e| e.0.ms).collect::<Vec<_>>(), vec![250, 249]);
        assert!(s.delete(StreamId::new(100, 0)));
        assert!(!s.delete(StreamId::new(100, 0)));
        assert_eq!(s.get(StreamId::new(101, 0)), Some(fv("101")));
        assert_eq!(s.get(StreamId::new(100, 0)), None);
        assert_eq!(s.len(), 249);
    }

    #[test]
    fn approx_trim_removes_whole_nodes() {
        let mut s = StreamValue::new();
        for i in 1..=250u64 {
            s.append(StreamId::new(i, 0), &fv("x"), 4096, 100);
        }
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 100);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.first_id, StreamId::new(131, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(200, 0)), false, 0), 69);
    }

    #[test]
    fn mixed_fields_round_trip() {
        let mut s = StreamValue::new();
        let a = vec![Bytes::from_static(b"a"), Bytes::from_static(b"\x00\xff")];
        let b =
            vec![Bytes::from_static(b"b"), Bytes::new(), Bytes::from_static(b"c"), Bytes::new()];
        s.append(StreamId::new(1, u64::MAX), &a, 0, 0);
        s.append(StreamId::new(u64::MAX, 3), &b, 0, 0);
        assert_eq!(s.get(StreamId::new(1, u64::MAX)), Some(a));
        assert_eq!(s.get(StreamId::new(u64::MAX, 3)), Some(b));
    }
}
