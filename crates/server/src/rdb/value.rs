//! One value's RDB serialization, shared by RDB files and DUMP/RESTORE payloads: the type
//! byte, then the body in the encoding Redis 7.2 (or 7.0, with `rdb-version 10`) writes
//! for that value, and the reverse for every encoding any Redis version wrote.
//!
//! Keel's in-memory layouts differ from Redis's, so writing rebuilds Redis's containers
//! (listpacks, intsets, stream nodes) from the logical content, and reading builds Keel's
//! values through their ordinary constructors, which pick encodings by the configured
//! limits as Redis does on load.

use super::listpack::{self, Elem, Listpack};
use super::{write_blob, write_len, write_string, ReadError, Reader};
use crate::config::{Config, P};
use crate::types::set::SetLimits;
use crate::types::stream::{Consumer, Group, PendingEntry, RawNode, StreamId};
use crate::types::{
    hash, list, num, zset, HashValue, ListValue, SetValue, StrValue, StreamValue, Value, ZSetValue,
};
use bytes::Bytes;
use std::collections::BTreeMap;

/// RDB value type bytes.
pub mod kind {
    #![allow(missing_docs)]
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// True for a byte that starts a value (as opposed to an opcode).
pub fn is_value_type(t: u8) -> bool {
    t <= kind::STREAM_LISTPACKS_3 && t != 8
}

/// How values are written.
#[derive(Clone, Copy, Debug)]
pub struct WriteOpts {
    /// RDB version of the output: 10 leaves out the types Redis 7.2 added.
    pub version: u16,
    /// `rdbcompression`: LZF for strings over 20 bytes.
    pub compress: bool,
    /// `list-max-listpack-size`, which sizes quicklist nodes.
    pub list_fill: i64,
}

impl WriteOpts {
    /// The options the configuration asks for.
    pub fn from_config(c: &Config) -> WriteOpts {
        WriteOpts {
            version: u16::try_from(c.int(P::RdbVersion)).unwrap_or(super::RDB_VERSION),
            compress: c.bool(P::Rdbcompression),
            list_fill: c.int(P::ListMaxListpackSize),
        }
    }
}

/// The encoding thresholds loaded values are built with.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    hash: hash::Limits,
    set: SetLimits,
    zset: zset::Limits,
    list_fill: i64,
}

impl Limits {
    /// The thresholds in force in `c`.
    pub fn from_config(c: &Config) -> Limits {
        let size = |p| usize::try_from(c.int(p)).unwrap_or(0);
        Limits {
            hash: hash::Limits {
                max_entries: size(P::HashMaxListpackEntries),
                max_value: size(P::HashMaxListpackValue),
            },
            set: SetLimits {
                intset_entries: size(P::SetMaxIntsetEntries),
                listpack_entries: size(P::SetMaxListpackEntries),
                listpack_value: size(P::SetMaxListpackValue),
            },
            zset: zset::Limits {
                max_entries: size(P::ZsetMaxListpackEntries),
                max_value: size(P::ZsetMaxListpackValue),
            },
            list_fill: c.int(P::ListMaxListpackSize),
        }
    }
}

/// Appends `v`'s type byte and body.
pub fn write_value(out: &mut Vec<u8>, v: &Value, o: &WriteOpts) {
    match v {
        Value::Str(s) => {
            out.push(kind::STRING);
            match s {
                StrValue::Int(n) => write_string(out, &num::i64_bytes(*n)),
                // Borrowed, not `to_bytes()`: sharing a raw string's buffer would allocate its
                // reference count for good, 32 bytes a key the first time a snapshot sees it.
                _ => write_blob(out, s.as_slice().unwrap_or_default(), o.compress),
            }
        }
        Value::List(l) => {
            out.push(kind::LIST_QUICKLIST_2);
            write_list(out, l, o);
        }
        Value::Hash(h) if h.encoding() == "listpack" => {
            out.push(kind::HASH_LISTPACK);
            let mut lp = Listpack::new();
            for (f, v) in h.iter() {
                lp.push(f);
                lp.push(v);
            }
            write_blob(out, &lp.finish(), o.compress);
        }
        Value::Hash(h) => {
            out.push(kind::HASH);
            write_len(out, h.len() as u64);
            for (f, v) in h.iter() {
                write_blob(out, f, o.compress);
                write_blob(out, v, o.compress);
            }
        }
        Value::Set(s) => write_set(out, s, o),
        Value::ZSet(z) if z.encoding() == "listpack" => {
            out.push(kind::ZSET_LISTPACK);
            let mut lp = Listpack::new();
            for (m, score) in z.iter() {
                lp.push(m);
                lp.push(resp::encode::format_double(score).as_bytes());
            }
            write_blob(out, &lp.finish(), o.compress);
        }
        Value::ZSet(z) => {
            out.push(kind::ZSET_2);
            write_len(out, z.len() as u64);
            // Highest score first, as Redis writes it, so a loader inserts at the head.
            let all: Vec<(&[u8], f64)> = z.iter().collect();
            for (m, score) in all.into_iter().rev() {
                write_blob(out, m, o.compress);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Stream(s) => write_stream(out, s, o),
    }
}

/// A list as a quicklist: the nodes Redis would have built pushing the elements at the
/// tail, each a listpack, or (RDB 11, Redis 7.2) a plain node holding one large element.
fn write_list(out: &mut Vec<u8>, l: &ListValue, o: &WriteOpts) {
    let nodes = list::tail_push_nodes(o.list_fill, l.iter());
    write_len(out, nodes.len() as u64);
    let mut items = l.iter();
    for (count, plain) in nodes {
        if plain && o.version >= 11 {
            write_len(out, 1); // container: plain
            write_blob(out, items.next().unwrap_or_default(), o.compress);
            continue;
        }
        write_len(out, 2); // container: packed
        let mut lp = Listpack::new();
        for item in items.by_ref().take(count) {
            lp.push(item);
        }
        write_blob(out, &lp.finish(), o.compress);
    }
}

fn write_set(out: &mut Vec<u8>, s: &SetValue, o: &WriteOpts) {
    match s.encoding() {
        "intset" => {
            out.push(kind::SET_INTSET);
            let vals: Vec<i64> = s.iter().filter_map(|m| num::parse_i64(&m)).collect();
            write_blob(out, &listpack::write_intset(&vals), o.compress);
        }
        "listpack" if o.version >= 11 => {
            out.push(kind::SET_LISTPACK);
            let mut lp = Listpack::new();
            for m in s.iter() {
                lp.push(&m);
            }
            write_blob(out, &lp.finish(), o.compress);
        }
        _ => {
            out.push(kind::SET);
            write_len(out, s.len() as u64);
            for m in s.iter() {
                write_blob(out, &m, o.compress);
            }
        }
    }
}

/// A stream ID as 16 big-endian bytes (a node's key, PEL entries).
fn id_bytes(id: StreamId) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&id.ms.to_be_bytes());
    b[8..].copy_from_slice(&id.seq.to_be_bytes());
    b
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

/// One stream node as Redis's listpack: the master entry (live count, deleted count, the
/// master fields, a 0 terminator), then each entry as flags, ID deltas from the master ID,
/// the fields (values only when they are the master's), and the entry's element count.
fn node_listpack(node: &RawNode) -> Vec<u8> {
    let mut lp = Listpack::new();
    let deleted = node.entries.iter().filter(|e| e.1).count();
    lp.push_int((node.entries.len() - deleted) as i64);
    lp.push_int(deleted as i64);
    lp.push_int(node.master_fields.len() as i64);
    for f in &node.master_fields {
        lp.push(f);
    }
    lp.push_int(0);
    for (id, del, fields) in &node.entries {
        let same = fields.len() == node.master_fields.len() * 2
            && fields.iter().step_by(2).zip(&node.master_fields).all(|(a, b)| a == b);
        lp.push_int(i64::from(*del) | if same { 2 } else { 0 });
        lp.push_int(id.ms.wrapping_sub(node.master.ms) as i64);
        lp.push_int(id.seq.wrapping_sub(node.master.seq) as i64);
        let n = fields.len() / 2;
        if same {
            for v in fields.iter().skip(1).step_by(2) {
                lp.push(v);
            }
            lp.push_int(n as i64 + 3);
        } else {
            lp.push_int(n as i64);
            for f in fields {
                lp.push(f);
            }
            lp.push_int(2 * n as i64 + 4);
        }
    }
    lp.finish()
}

fn write_stream(out: &mut Vec<u8>, s: &StreamValue, o: &WriteOpts) {
    let v3 = o.version >= 11;
    out.push(if v3 { kind::STREAM_LISTPACKS_3 } else { kind::STREAM_LISTPACKS_2 });
    let nodes: Vec<RawNode> = s.raw_nodes().collect();
    write_len(out, nodes.len() as u64);
    for node in &nodes {
        write_blob(out, &id_bytes(node.master), false);
        write_blob(out, &node_listpack(node), o.compress);
    }
    write_len(out, s.len() as u64);
    write_id(out, s.last_id);
    write_id(out, s.first_id);
    write_id(out, s.max_deleted_id);
    write_len(out, s.entries_added);
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_blob(out, name, o.compress);
        write_id(out, g.last_id);
        write_len(out, g.entries_read.unwrap_or(u64::MAX));
        write_len(out, g.pel.len() as u64);
        for (id, pe) in &g.pel {
            out.extend_from_slice(&id_bytes(*id));
            out.extend_from_slice(&pe.delivery_time.to_le_bytes());
            write_len(out, pe.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_blob(out, cname, o.compress);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            if v3 {
                out.extend_from_slice(&c.active_time.unwrap_or(u64::MAX).to_le_bytes());
            }
            write_len(out, c.pending.len() as u64);
            for id in &c.pending {
                out.extend_from_slice(&id_bytes(*id));
            }
        }
    }
}

const DUPLICATE: ReadError = ReadError::Invalid("duplicate element");

/// Reads the body of a value of type `t`. `Ok(None)` is an empty collection, which Redis
/// never writes: a file loader skips it, RESTORE refuses it.
pub fn read_value(t: u8, r: &mut Reader<'_>, lim: &Limits) -> Result<Option<Value>, ReadError> {
    let v = match t {
        kind::STRING => Value::Str(StrValue::from_bytes(&r.string()?)),
        kind::LIST => {
            let n = r.count()?;
            let items = (0..n).map(|_| r.string()).collect::<Result<Vec<_>, _>>()?;
            return Ok(build_list(&items, lim));
        }
        kind::LIST_ZIPLIST => {
            let blob = r.string()?;
            let items: Vec<Vec<u8>> =
                listpack::read_ziplist(&blob)?.iter().map(Elem::to_vec).collect();
            return Ok(build_list(&items, lim));
        }
        kind::LIST_QUICKLIST | kind::LIST_QUICKLIST_2 => {
            let nodes = r.count()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let packed = if t == kind::LIST_QUICKLIST { 2 } else { r.length()? };
                let blob = r.string()?;
                match packed {
                    1 => items.push(blob),
                    2 if t == kind::LIST_QUICKLIST => {
                        items.extend(listpack::read_ziplist(&blob)?.iter().map(Elem::to_vec));
                    }
                    2 => items.extend(listpack::read_listpack(&blob)?.iter().map(Elem::to_vec)),
                    _ => return Err(ReadError::Invalid("unknown quicklist container")),
                }
            }
            return Ok(build_list(&items, lim));
        }
        kind::SET => {
            let n = r.count()?;
            let items = (0..n).map(|_| r.string()).collect::<Result<Vec<_>, _>>()?;
            return build_set(&items, lim);
        }
        kind::SET_INTSET => {
            let vals = listpack::read_intset(&r.string()?)?;
            let items: Vec<Vec<u8>> = vals.iter().map(|v| num::i64_bytes(*v)).collect();
            return build_set(&items, lim);
        }
        kind::SET_LISTPACK => {
            let blob = r.string()?;
            let items: Vec<Vec<u8>> =
                listpack::read_listpack(&blob)?.iter().map(Elem::to_vec).collect();
            return build_set(&items, lim);
        }
        kind::ZSET | kind::ZSET_2 => {
            let n = r.count()?;
            let mut items = Vec::new();
            for _ in 0..n {
                let m = r.string()?;
                let score =
                    if t == kind::ZSET_2 { f64::from_bits(r.u64_le()?) } else { text_score(r)? };
                items.push((m, score));
            }
            return build_zset(items, lim);
        }
        kind::ZSET_ZIPLIST | kind::ZSET_LISTPACK => {
            let blob = r.string()?;
            let elems = if t == kind::ZSET_ZIPLIST {
                listpack::read_ziplist(&blob)?
            } else {
                listpack::read_listpack(&blob)?
            };
            return build_zset(pairs(&elems, score_of)?, lim);
        }
        kind::HASH => {
            let n = r.count()?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push((r.string()?, r.string()?));
            }
            return build_hash(items, lim);
        }
        kind::HASH_ZIPMAP => {
            let blob = r.string()?;
            let items =
                listpack::read_zipmap(&blob)?.into_iter().map(|(f, v)| (f.to_vec(), v.to_vec()));
            return build_hash(items.collect(), lim);
        }
        kind::HASH_ZIPLIST | kind::HASH_LISTPACK => {
            let blob = r.string()?;
            let elems = if t == kind::HASH_ZIPLIST {
                listpack::read_ziplist(&blob)?
            } else {
                listpack::read_listpack(&blob)?
            };
            return build_hash(pairs(&elems, |e| Ok(e.to_vec()))?, lim);
        }
        kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 | kind::STREAM_LISTPACKS_3 => {
            Value::Stream(Box::new(read_stream(t, r)?))
        }
        kind::MODULE_PRE_GA | kind::MODULE_2 => {
            return Err(ReadError::Invalid("module values are not supported"))
        }
        _ => return Err(ReadError::Invalid("unknown value type")),
    };
    Ok(Some(v))
}

/// Pairs up a flat element list (field/value or member/score), converting the second of
/// each pair with `second`.
fn pairs<T>(
    elems: &[Elem<'_>],
    second: impl Fn(&Elem<'_>) -> Result<T, ReadError>,
) -> Result<Vec<(Vec<u8>, T)>, ReadError> {
    if !elems.len().is_multiple_of(2) {
        return Err(ReadError::Invalid("odd number of elements"));
    }
    elems.chunks_exact(2).map(|p| Ok((p[0].to_vec(), second(&p[1])?))).collect()
}

fn score_of(e: &Elem<'_>) -> Result<f64, ReadError> {
    match e {
        Elem::Int(v) => Ok(*v as f64),
        Elem::Str(s) => num::parse_f64(s).ok_or(ReadError::Invalid("bad score")),
    }
}

/// A score in the old text form: a length byte (253 = NaN, 254 = +inf, 255 = -inf) and
/// that many characters.
fn text_score(r: &mut Reader<'_>) -> Result<f64, ReadError> {
    match r.byte()? {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        n => {
            let text = r.take(usize::from(n))?;
            num::parse_f64(text).ok_or(ReadError::Invalid("bad score"))
        }
    }
}

fn build_list(items: &[Vec<u8>], lim: &Limits) -> Option<Value> {
    if items.is_empty() {
        return None;
    }
    let mut l = ListValue::new();
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    l.push(lim.list_fill, &refs, false);
    Some(Value::List(Box::new(l)))
}

fn build_set(items: &[Vec<u8>], lim: &Limits) -> Result<Option<Value>, ReadError> {
    let Some(first) = items.first() else { return Ok(None) };
    let mut s = SetValue::for_members(first, items.len(), &lim.set);
    for m in items {
        if !s.add(m, &lim.set) {
            return Err(DUPLICATE);
        }
    }
    Ok(Some(Value::Set(Box::new(s))))
}

fn build_hash(items: Vec<(Vec<u8>, Vec<u8>)>, lim: &Limits) -> Result<Option<Value>, ReadError> {
    if items.is_empty() {
        return Ok(None);
    }
    let mut h = HashValue::new();
    if items.len() > lim.hash.max_entries {
        let flat: [&[u8]; 0] = [];
        h.prepare_for(&flat, lim.hash);
    }
    for (f, v) in &items {
        if !h.set(f, v, lim.hash) {
            return Err(DUPLICATE);
        }
    }
    Ok(Some(Value::Hash(h)))
}

fn build_zset(items: Vec<(Vec<u8>, f64)>, lim: &Limits) -> Result<Option<Value>, ReadError> {
    if items.is_empty() {
        return Ok(None);
    }
    let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSetValue::with_hint(items.len(), longest, lim.zset);
    for (m, score) in &items {
        if score.is_nan() {
            return Err(ReadError::Invalid("NaN score"));
        }
        if z.insert(m, *score, lim.zset).is_some() {
            return Err(DUPLICATE);
        }
    }
    Ok(Some(Value::ZSet(z)))
}

fn read_id(r: &mut Reader<'_>) -> Result<StreamId, ReadError> {
    Ok(StreamId::new(r.length()?, r.length()?))
}

fn raw_id(b: &[u8]) -> Result<StreamId, ReadError> {
    if b.len() != 16 {
        return Err(ReadError::Invalid("bad stream ID"));
    }
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..]);
    Ok(StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq)))
}

const BAD_STREAM: ReadError = ReadError::Invalid("malformed stream node");

/// The next element of a stream node as an integer.
fn next_int(it: &mut std::slice::Iter<'_, Elem<'_>>) -> Result<i64, ReadError> {
    it.next().and_then(Elem::as_i64).ok_or(BAD_STREAM)
}

/// The next element of a stream node as bytes.
fn next_bytes(it: &mut std::slice::Iter<'_, Elem<'_>>) -> Result<Bytes, ReadError> {
    it.next().map(|e| Bytes::from(e.to_vec())).ok_or(BAD_STREAM)
}

/// Parses one node's listpack (see [`node_listpack`]), checking every count and that IDs
/// ascend from the master ID.
fn parse_node(master: StreamId, lp: &[u8]) -> Result<RawNode, ReadError> {
    let elems = listpack::read_listpack(lp)?;
    let mut it = elems.iter();
    let live = next_int(&mut it)?;
    let deleted = next_int(&mut it)?;
    let nfields = usize::try_from(next_int(&mut it)?).map_err(|_| BAD_STREAM)?;
    if nfields > it.len() {
        return Err(BAD_STREAM);
    }
    let mut node = RawNode { master, ..RawNode::default() };
    for _ in 0..nfields {
        node.master_fields.push(next_bytes(&mut it)?);
    }
    if next_int(&mut it)? != 0 {
        return Err(BAD_STREAM);
    }
    let mut counted = (0i64, 0i64);
    while it.len() > 0 {
        let flags = next_int(&mut it)?;
        let id = StreamId::new(
            master.ms.wrapping_add(next_int(&mut it)? as u64),
            master.seq.wrapping_add(next_int(&mut it)? as u64),
        );
        if id < master || node.entries.last().is_some_and(|e| e.0 >= id) {
            return Err(BAD_STREAM);
        }
        let mut fields = Vec::new();
        if flags & 2 != 0 {
            for f in &node.master_fields {
                fields.push(f.clone());
                fields.push(next_bytes(&mut it)?);
            }
        } else {
            let n = usize::try_from(next_int(&mut it)?).map_err(|_| BAD_STREAM)?;
            if n > it.len() {
                return Err(BAD_STREAM);
            }
            for _ in 0..n * 2 {
                fields.push(next_bytes(&mut it)?);
            }
        }
        next_int(&mut it)?; // the entry's element count, for backward walks
        let del = flags & 1 != 0;
        if del {
            counted.1 += 1;
        } else {
            counted.0 += 1;
        }
        node.entries.push((id, del, fields));
    }
    if counted != (live, deleted) || node.entries.is_empty() {
        return Err(BAD_STREAM);
    }
    Ok(node)
}

fn read_stream(t: u8, r: &mut Reader<'_>) -> Result<StreamValue, ReadError> {
    let mut s = StreamValue::new();
    let nodes = r.count()?;
    let mut last_seen: Option<StreamId> = None;
    for _ in 0..nodes {
        let master = raw_id(&r.string()?)?;
        // Nodes follow each other: a master ID is above every earlier entry.
        if last_seen.is_some_and(|l| master <= l) {
            return Err(BAD_STREAM);
        }
        let node = parse_node(master, &r.string()?)?;
        last_seen = node.entries.last().map(|e| e.0);
        s.push_raw_node(node);
    }
    let last_seen = last_seen.unwrap_or(StreamId::ZERO);
    let length = r.length()?;
    if length != s.len() as u64 {
        return Err(ReadError::Invalid("stream length mismatch"));
    }
    s.last_id = read_id(r)?;
    if last_seen > s.last_id {
        return Err(ReadError::Invalid("stream entry after the last ID"));
    }
    if t >= kind::STREAM_LISTPACKS_2 {
        s.first_id = read_id(r)?;
        s.max_deleted_id = read_id(r)?;
        s.entries_added = r.length()?;
    } else {
        s.refresh_first_id();
        s.entries_added = length;
    }
    let groups = r.count()?;
    for _ in 0..groups {
        let name = Bytes::from(r.string()?);
        let mut g = Group { last_id: read_id(r)?, ..Group::default() };
        g.entries_read = if t >= kind::STREAM_LISTPACKS_2 {
            Some(r.length()?).filter(|&n| n != u64::MAX)
        } else {
            s.estimate_read_counter(g.last_id)
        };
        let mut pel: BTreeMap<StreamId, (u64, u64)> = BTreeMap::new();
        for _ in 0..r.count()? {
            let id = raw_id(r.take(16)?)?;
            let delivery_time = r.u64_le()?;
            let delivery_count = r.length()?;
            if pel.insert(id, (delivery_time, delivery_count)).is_some() {
                return Err(DUPLICATE);
            }
        }
        for _ in 0..r.count()? {
            let cname = Bytes::from(r.string()?);
            let seen_time = r.u64_le()?;
            let active_time = if t >= kind::STREAM_LISTPACKS_3 {
                Some(r.u64_le()?).filter(|&t| t != u64::MAX)
            } else {
                Some(seen_time)
            };
            let mut c = Consumer { seen_time, active_time, ..Consumer::default() };
            for _ in 0..r.count()? {
                let id = raw_id(r.take(16)?)?;
                let (delivery_time, delivery_count) =
                    pel.remove(&id).ok_or(ReadError::Invalid("consumer PEL entry not in group"))?;
                c.pending.insert(id);
                let pe = PendingEntry { consumer: cname.clone(), delivery_time, delivery_count };
                g.pel.insert(id, pe);
            }
            if g.consumers.insert(cname, c).is_some() {
                return Err(DUPLICATE);
            }
        }
        if !pel.is_empty() {
            return Err(ReadError::Invalid("group PEL entry without a consumer"));
        }
        if s.groups.insert(name, g).is_some() {
            return Err(DUPLICATE);
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(version: u16) -> WriteOpts {
        WriteOpts { version, compress: true, list_fill: -2 }
    }

    fn lim() -> Limits {
        Limits::from_config(&Config::default())
    }

    fn round_trip(v: &Value, version: u16) -> Value {
        let mut out = Vec::new();
        write_value(&mut out, v, &opts(version));
        let mut r = Reader::new(&out[1..]);
        let back = read_value(out[0], &mut r, &lim()).unwrap().unwrap();
        assert!(r.remaining().is_empty());
        back
    }

    #[test]
    fn strings_keep_bytes_and_encoding() {
        for s in [&b"12345"[..], b"", b"\x00\xff", &[b'a'; 100], b"-9223372036854775808"] {
            match round_trip(&Value::Str(StrValue::from_bytes(s)), 11) {
                Value::Str(back) => assert_eq!(&back.to_bytes()[..], s),
                _ => panic!("type changed"),
            }
        }
    }

    #[test]
    fn collections_round_trip() {
        let l = lim();
        let mut list = ListValue::new();
        let items: Vec<Vec<u8>> = (0..3000).map(|i| format!("item{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        list.push(-2, &refs, false);
        match round_trip(&Value::List(Box::new(list)), 11) {
            Value::List(back) => assert!(back.iter().eq(refs.iter().copied())),
            _ => panic!("type changed"),
        }
        for n in [3usize, 200, 1000] {
            let mut z = ZSetValue::default();
            let mut set = SetValue::for_members(b"x", n, &l.set);
            for i in 0..n {
                z.insert(format!("m{i}").as_bytes(), i as f64 / 3.0, l.zset);
                set.add(format!("{}", i * 7).as_bytes(), &l.set);
            }
            for version in [10, 11] {
                match round_trip(&Value::ZSet(z.clone()), version) {
                    Value::ZSet(back) => assert!(back.iter().eq(z.iter())),
                    _ => panic!("type changed"),
                }
                match round_trip(&Value::Set(Box::new(set.clone())), version) {
                    Value::Set(back) => assert_eq!(back.len(), n),
                    _ => panic!("type changed"),
                }
            }
        }
    }

    #[test]
    fn streams_round_trip_with_groups() {
        let mut s = StreamValue::new();
        for i in 1..=250u64 {
            let f = vec![Bytes::from_static(b"f"), Bytes::from(i.to_string())];
            s.append(StreamId::new(i, 0), &f, 4096, 100);
        }
        s.delete(StreamId::new(5, 0));
        s.max_deleted_id = StreamId::new(5, 0);
        let mut g =
            Group { last_id: StreamId::new(3, 0), entries_read: Some(3), ..Group::default() };
        let pe = PendingEntry {
            consumer: Bytes::from_static(b"c"),
            delivery_time: 7,
            delivery_count: 2,
        };
        g.pel.insert(StreamId::new(2, 0), pe);
        let mut c = Consumer { seen_time: 9, active_time: None, ..Consumer::default() };
        c.pending.insert(StreamId::new(2, 0));
        g.consumers.insert(Bytes::from_static(b"c"), c);
        s.groups.insert(Bytes::from_static(b"g"), g);
        for version in [10, 11] {
            let Value::Stream(back) = round_trip(&Value::Stream(Box::new(s.clone())), version)
            else {
                panic!("type changed")
            };
            assert_eq!(back.len(), 249);
            assert_eq!(back.node_count(), s.node_count());
            assert_eq!(
                back.range(StreamId::ZERO, StreamId::MAX, false, 0),
                s.range(StreamId::ZERO, StreamId::MAX, false, 0)
            );
            assert_eq!(back.groups[&b"g"[..]].pel.len(), 1);
            let active = back.groups[&b"g"[..]].consumers[&b"c"[..]].active_time;
            assert_eq!(active, if version == 11 { None } else { Some(9) });
        }
    }

    /// A ziplist of short strings and small integers, as Redis before 7.0 wrote them.
    fn ziplist(items: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        for it in items {
            let start = body.len();
            body.push(prev as u8);
            match num::parse_i64(it).and_then(|v| i8::try_from(v).ok()) {
                Some(v) => body.extend_from_slice(&[0xFE, v as u8]),
                None => {
                    body.push(it.len() as u8);
                    body.extend_from_slice(it);
                }
            }
            prev = body.len() - start;
        }
        let total = 10 + body.len() + 1;
        let mut zl = Vec::new();
        zl.extend_from_slice(&(total as u32).to_le_bytes());
        zl.extend_from_slice(&0u32.to_le_bytes());
        zl.extend_from_slice(&(items.len() as u16).to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(0xFF);
        zl
    }

    fn read(t: u8, body: &[u8]) -> Value {
        let mut r = Reader::new(body);
        let v = read_value(t, &mut r, &lim()).unwrap().unwrap();
        assert!(r.remaining().is_empty());
        v
    }

    fn blob(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_blob(&mut out, b, false);
        out
    }

    #[test]
    fn pre_7_encodings_load() {
        let zl = ziplist(&[b"a", b"-5", b"bb"]);
        let Value::List(l) = read(kind::LIST_ZIPLIST, &blob(&zl)) else { panic!("list") };
        assert!(l.iter().eq([&b"a"[..], b"-5", b"bb"]));
        let mut ql = vec![2u8];
        ql.extend(blob(&zl));
        ql.extend(blob(&ziplist(&[b"c"])));
        let Value::List(l) = read(kind::LIST_QUICKLIST, &ql) else { panic!("list") };
        assert_eq!(l.len(), 4);
        let Value::Hash(h) = read(kind::HASH_ZIPLIST, &blob(&ziplist(&[b"f", b"1", b"g", b"v"])))
        else {
            panic!("hash")
        };
        assert_eq!(h.get(b"f"), Some(&b"1"[..]));
        let zm = b"\x02\x01k\x02\x00vv\x01j\x01\x03w\x00\x00\x00\xff";
        let Value::Hash(h) = read(kind::HASH_ZIPMAP, &blob(zm)) else { panic!("hash") };
        assert_eq!(h.get(b"j"), Some(&b"w"[..]));
        let Value::ZSet(z) = read(kind::ZSET_ZIPLIST, &blob(&ziplist(&[b"m", b"2", b"n", b"1.5"])))
        else {
            panic!("zset")
        };
        assert_eq!(z.score(b"n"), Some(1.5));
        // Old sorted sets with scores as text, including the infinity markers.
        let body = b"\x02\x01a\x031.5\x01b\xfe";
        let Value::ZSet(z) = read(kind::ZSET, body) else { panic!("zset") };
        assert_eq!(z.score(b"b"), Some(f64::INFINITY));
        let Value::List(l) = read(kind::LIST, b"\x02\x01x\xc0\x07") else { panic!("list") };
        assert!(l.iter().eq([&b"x"[..], b"7"]));
        // A duplicate in an old hash ziplist is refused.
        let dup = blob(&ziplist(&[b"f", b"1", b"f", b"2"]));
        assert!(read_value(kind::HASH_ZIPLIST, &mut Reader::new(&dup), &lim()).is_err());
    }

    #[test]
    fn version_1_streams_derive_their_counters() {
        let mut s = StreamValue::new();
        for i in 1..=3u64 {
            s.append(
                StreamId::new(i, 0),
                &[Bytes::from_static(b"f"), Bytes::from_static(b"v")],
                0,
                0,
            );
        }
        let mut body = Vec::new();
        write_value(&mut body, &Value::Stream(Box::new(s)), &opts(10));
        // Cut the v2 fields (first ID, max deleted ID, entries added) to make a v1 body:
        // nodes, length, last ID, then the group count.
        let mut r = Reader::new(&body[1..]);
        let nodes = r.count().unwrap();
        for _ in 0..nodes * 2 {
            r.string().unwrap();
        }
        for _ in 0..3 {
            r.length().unwrap();
        }
        let head = 1 + r.pos();
        let mut v1 = body[1..head].to_vec();
        v1.push(0); // no groups
        let Value::Stream(back) = read(kind::STREAM_LISTPACKS, &v1) else { panic!("stream") };
        assert_eq!(back.first_id, StreamId::new(1, 0));
        assert_eq!(back.entries_added, 3);
    }

    /// One value of every type, in small and large encodings.
    fn samples() -> Vec<Value> {
        let l = lim();
        let mut out = vec![Value::Str(StrValue::from_bytes(&b"xyz".repeat(30)))];
        let mut list = ListValue::new();
        let items: Vec<Vec<u8>> = (0..300).map(|i| format!("{}", i * 1000).into_bytes()).collect();
        list.push(-2, &items.iter().map(Vec::as_slice).collect::<Vec<_>>(), false);
        out.push(Value::List(Box::new(list)));
        for n in [3usize, 600] {
            let mut h = HashValue::new();
            let mut z = ZSetValue::default();
            let mut ints = SetValue::for_members(b"1", n, &l.set);
            let mut strs = SetValue::for_members(b"a", n, &l.set);
            for i in 0..n {
                let m = format!("m{i}");
                h.set(m.as_bytes(), b"v", l.hash);
                z.insert(m.as_bytes(), i as f64 * 1.5, l.zset);
                ints.add(i.to_string().as_bytes(), &l.set);
                strs.add(m.as_bytes(), &l.set);
            }
            out.extend([
                Value::Hash(h),
                Value::ZSet(z),
                Value::Set(Box::new(ints)),
                Value::Set(Box::new(strs)),
            ]);
        }
        let mut s = StreamValue::new();
        for i in 1..=120u64 {
            s.append(
                StreamId::new(i, 1),
                &[Bytes::from_static(b"a"), Bytes::from(i.to_string())],
                0,
                50,
            );
        }
        let mut g = Group::default();
        let pe = PendingEntry {
            consumer: Bytes::from_static(b"c"),
            delivery_time: 1,
            delivery_count: 1,
        };
        g.pel.insert(StreamId::new(3, 1), pe);
        let mut c = Consumer::default();
        c.pending.insert(StreamId::new(3, 1));
        g.consumers.insert(Bytes::from_static(b"c"), c);
        s.groups.insert(Bytes::from_static(b"g"), g);
        out.push(Value::Stream(Box::new(s)));
        out
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for v in samples() {
            for version in [10, 11] {
                let mut out = Vec::new();
                write_value(
                    &mut out,
                    &v,
                    &WriteOpts { version, compress: version == 11, list_fill: -2 },
                );
                for cut in (1..out.len()).step_by(out.len() / 50 + 1) {
                    let _ = read_value(out[0], &mut Reader::new(&out[1..cut]), &lim());
                }
                for _ in 0..200 {
                    let mut bad = out.clone();
                    for _ in 0..rng.random_range(1..4) {
                        let i = rng.random_range(1..bad.len());
                        bad[i] = rng.random();
                    }
                    let _ = read_value(bad[0], &mut Reader::new(&bad[1..]), &lim());
                }
            }
        }
        let huge = b"\x81\xff\xff\xff\xff\xff\xff\xff\xff";
        assert!(read_value(kind::SET, &mut Reader::new(huge), &lim()).is_err());
    }
}
