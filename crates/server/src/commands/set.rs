//! The sets family: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SPOP SRANDMEMBER SMOVE,
//! the set algebra (SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE) and
//! SSCAN, with Redis 7.2's encoding rules (see [`crate::types::set`]).
//!
//! Reply order is part of the behaviour clients see: the set operations build their result
//! the way Redis does (which encoding the result starts in, which set is walked first),
//! because an intset result lists its members sorted and a listpack in insertion order.

use super::introspection::keynum_keys;
use super::keys::{scan_cursor, scan_options, scan_reply, ScanOptions};
use super::spec::{acl, flags::*, keyspecs, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::config::P;
use crate::error::CmdError;
use crate::glob;
use crate::keyspace::{Entry, Touch};
use crate::notify::class;
use crate::server::Ctx;
use crate::types::set::{SetEncoding, SetLimits};
use crate::types::{SetValue, Value};
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::Rng;
use resp::Frame;
use std::borrow::Cow;

/// Tip of commands whose reply is random.
const NONDETERMINISTIC: &[&str] = &["nondeterministic_output"];
/// Tip of commands whose members come in no defined order.
const UNORDERED: &[&str] = &["nondeterministic_output_order"];

/// The sets family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, WRITE | DENYOOM | FAST, acl::SET, KeyPos::ONE, sadd)
        .doc("set", "1.0.0", "Add one or more members to a set", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
        .key_flags(&["RW", "insert"]),
    CommandSpec::new("srem", -3, WRITE | FAST, acl::SET, KeyPos::ONE, srem)
        .doc("set", "1.0.0", "Remove one or more members from a set", "O(N) where N is the number of members to be removed.")
        .key_flags(&["RW", "delete"]),
    CommandSpec::new("scard", 2, READONLY | FAST, acl::SET, KeyPos::ONE, scard)
        .doc("set", "1.0.0", "Get the number of members in a set", "O(1)")
        .key_flags(&["RO"]),
    CommandSpec::new("sismember", 3, READONLY | FAST, acl::SET, KeyPos::ONE, sismember)
        .doc("set", "1.0.0", "Determine if a given value is a member of a set", "O(1)")
        .key_flags(&["RO"]),
    CommandSpec::new("smismember", -3, READONLY | FAST, acl::SET, KeyPos::ONE, smismember)
        .doc("set", "6.2.0", "Returns the membership associated with the given elements for a set", "O(N) where N is the number of elements being checked for membership"),
    CommandSpec::new("smembers", 2, READONLY, acl::SET, KeyPos::ONE, smembers)
        .doc("set", "1.0.0", "Get all the members in a set", "O(N) where N is the set cardinality.")
        .tips(UNORDERED),
    CommandSpec::new("spop", -2, WRITE | FAST, acl::SET, KeyPos::ONE, spop)
        .doc("set", "1.0.0", "Remove and return one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.")
        .tips(NONDETERMINISTIC)
        .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("srandmember", -2, READONLY, acl::SET, KeyPos::ONE, srandmember)
        .doc("set", "1.0.0", "Get one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.")
        .tips(NONDETERMINISTIC),
    CommandSpec::new("smove", 4, WRITE | FAST, acl::SET, KeyPos::new(1, 2, 1), smove)
        .doc("set", "1.0.0", "Move a member from one set to another", "O(1)")
        .key_specs(keyspecs::MOVE),
    CommandSpec::new("sinter", -2, READONLY, acl::SET, KeyPos::ALL, sinter)
        .doc("set", "1.0.0", "Intersect multiple sets", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
        .tips(UNORDERED),
    CommandSpec::new("sintercard", -3, READONLY, acl::SET, KeyPos::NONE, sintercard)
        .doc("set", "7.0.0", "Intersect multiple sets and return the cardinality of the result", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
        .key_specs(keyspecs::READ_KEYNUM)
        .getkeys(keynum_keys),
    CommandSpec::new("sinterstore", -3, WRITE | DENYOOM, acl::SET, KeyPos::ALL, sinterstore)
        .doc("set", "1.0.0", "Intersect multiple sets and store the resulting set in a key", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
        .key_specs(&[KeySpec::at(1, &["RW", "update"]), KeySpec::range(2, -1, 1, &["RO", "access"])]),
    CommandSpec::new("sunion", -2, READONLY, acl::SET, KeyPos::ALL, sunion)
        .doc("set", "1.0.0", "Add multiple sets", "O(N) where N is the total number of elements in all given sets.")
        .tips(UNORDERED),
    CommandSpec::new("sunionstore", -3, WRITE | DENYOOM, acl::SET, KeyPos::ALL, sunionstore)
        .doc("set", "1.0.0", "Add multiple sets and store the resulting set in a key", "O(N) where N is the total number of elements in all given sets.")
        .key_specs(keyspecs::STORE_FROM_REST),
    CommandSpec::new("sdiff", -2, READONLY, acl::SET, KeyPos::ALL, sdiff)
        .doc("set", "1.0.0", "Subtract multiple sets", "O(N) where N is the total number of elements in all given sets.")
        .tips(UNORDERED),
    CommandSpec::new("sdiffstore", -3, WRITE | DENYOOM, acl::SET, KeyPos::ALL, sdiffstore)
        .doc("set", "1.0.0", "Subtract multiple sets and store the resulting set in a key", "O(N) where N is the total number of elements in all given sets.")
        .key_specs(keyspecs::STORE_FROM_REST),
    CommandSpec::new("sscan", -3, READONLY, acl::SET, KeyPos::ONE, sscan)
        .doc("set", "2.8.0", "Incrementally iterate Set elements", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..")
        .tips(NONDETERMINISTIC),
];

impl Ctx<'_> {
    /// The set conversion thresholds in force now.
    fn set_type_limits(&self) -> SetLimits {
        let c = &self.srv.config;
        let size = |p| usize::try_from(c.int(p)).unwrap_or(0);
        SetLimits {
            intset_entries: size(P::SetMaxIntsetEntries),
            listpack_entries: size(P::SetMaxListpackEntries),
            listpack_value: size(P::SetMaxListpackValue),
        }
    }

    /// Looks a set up for reading: `Ok(None)` if missing, `WRONGTYPE` for another type.
    fn lookup_set_read(&mut self, key: &[u8]) -> Result<Option<&mut SetValue>, CmdError> {
        as_set(self.lookup_read(key))
    }

    /// Looks a set up for writing: `Ok(None)` if missing, `WRONGTYPE` for another type.
    fn lookup_set_write(&mut self, key: &[u8]) -> Result<Option<&mut SetValue>, CmdError> {
        as_set(self.lookup_write(key))
    }

    /// Looks a set up for writing (`write`) or reading, and lends the random source along
    /// with it, for the commands that pick members at random.
    fn lookup_set_and_rng(
        &mut self,
        key: &[u8],
        write: bool,
    ) -> Result<(Option<&mut SetValue>, &mut SmallRng), CmdError> {
        let (db, now) = (self.db(), self.now);
        let touch = if self.client_ref().no_touch { Touch::No } else { Touch::Yes };
        let srv = &mut *self.srv;
        let entry = if write {
            srv.ks.lookup_write(db, key, now)
        } else {
            srv.ks.lookup_read(db, key, now, touch)
        };
        Ok((as_set(entry)?, &mut srv.rng))
    }

    /// Looks every key up for reading (lazy expiry, hit/miss counting, type check, stopping
    /// at the first key of another type as Redis does), then returns the sets, `None` for
    /// missing keys, all borrowed at once.
    fn lookup_sets(&mut self, keys: &[Bytes]) -> Result<Vec<Option<&SetValue>>, CmdError> {
        for key in keys {
            self.lookup_set_read(key)?;
        }
        let db = self.db();
        let dict = self.srv.ks.db(db).dict();
        Ok(keys
            .iter()
            .map(|k| match dict.get(k) {
                Some(Entry { value: Value::Set(s), .. }) => Some(&**s),
                _ => None,
            })
            .collect())
    }

    /// Stores a computed set under `dst`, or deletes `dst` when the set is empty (Redis never
    /// keeps an empty collection). Returns the stored cardinality.
    /// The event is the command's name (`sinterstore`, ...); an emptied `dst` is a `del`.
    fn store_set_result(&mut self, dst: &[u8], set: SetValue) -> Frame {
        let n = set.len();
        if n == 0 {
            if self.delete(dst) {
                self.notify(class::GENERIC, "del", dst);
            }
        } else {
            self.set_value(dst, Value::Set(Box::new(set)), false);
            self.notify(class::SET, self.spec.name, dst);
        }
        Frame::Integer(n as i64)
    }
}

/// The set inside an entry: `Ok(None)` if missing, `WRONGTYPE` for another type.
fn as_set(e: Option<&mut Entry>) -> Result<Option<&mut SetValue>, CmdError> {
    match e {
        None => Ok(None),
        Some(Entry { value: Value::Set(s), .. }) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Bulk replies for a run of members.
fn bulks<'a>(members: impl IntoIterator<Item = Cow<'a, [u8]>>) -> Vec<Frame> {
    members.into_iter().map(|m| Frame::bulk(&m)).collect()
}

/// `SADD key member [member ...]`: the number of members that were not there yet.
fn sadd(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let members = args.rest();
    let lim = ctx.set_type_limits();
    let mut added = 0u64;
    if let Some(set) = ctx.lookup_set_write(&key)? {
        // A batch too large for the compact encoding converts once, up front.
        set.maybe_convert(members.len(), &lim);
        for m in members {
            added += u64::from(set.add(m, &lim));
        }
        ctx.srv.ks.mark_dirty(added);
    } else {
        let first = members.first().ok_or(CmdError::Syntax)?;
        let mut set = SetValue::for_members(first, members.len(), &lim);
        for m in members {
            added += u64::from(set.add(m, &lim));
        }
        // Storing the key counts one change; the others are the remaining additions.
        ctx.set_value(&key, Value::Set(Box::new(set)), false);
        ctx.srv.ks.mark_dirty(added.saturating_sub(1));
    }
    if added > 0 {
        ctx.notify(class::SET, "sadd", &key);
    }
    Ok(Frame::Integer(added as i64))
}

/// `SREM key member [member ...]`: the number of members removed; the key goes with the
/// last one.
fn srem(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let Some(set) = ctx.lookup_set_write(&key)? else {
        return Ok(Frame::Integer(0));
    };
    let mut removed = 0u64;
    for m in args.rest() {
        removed += u64::from(set.remove(m));
        if set.is_empty() {
            break;
        }
    }
    let mut changes = removed;
    let emptied = set.is_empty();
    if removed > 0 {
        ctx.notify(class::SET, "srem", &key);
    }
    if emptied {
        // The deletion counts as one of the changes.
        ctx.delete(&key);
        ctx.notify(class::GENERIC, "del", &key);
        changes -= 1;
    }
    ctx.srv.ks.mark_dirty(changes);
    Ok(Frame::Integer(removed as i64))
}

/// `SCARD key`: the number of members (0 for a missing key).
fn scard(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    Ok(Frame::Integer(ctx.lookup_set_read(&key)?.map_or(0, |s| s.len()) as i64))
}

/// `SISMEMBER key member`: 1 if `member` is in the set, else 0.
fn sismember(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let member = args.next_bytes()?;
    let found = ctx.lookup_set_read(&key)?.is_some_and(|s| s.contains(&member));
    Ok(Frame::Integer(i64::from(found)))
}

/// `SMISMEMBER key member [member ...]`: 1 or 0 for each member, in argument order.
fn smismember(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let set = ctx.lookup_set_read(&key)?;
    let flags = args
        .rest()
        .iter()
        .map(|m| Frame::Integer(i64::from(set.as_ref().is_some_and(|s| s.contains(m)))))
        .collect();
    Ok(Frame::Array(flags))
}

/// `SMEMBERS key`: every member (a set reply; empty for a missing key).
fn smembers(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    Ok(Frame::Set(ctx.lookup_set_read(&key)?.map_or_else(Vec::new, |s| bulks(s.iter()))))
}

/// `SPOP key [count]`: removes and returns a random member (null if missing), or with a
/// count, up to `count` distinct random members as a set reply.
fn spop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    match args.remaining() {
        0 => {}
        1 => return spop_count(ctx, &key, args),
        _ => return Err(CmdError::Syntax),
    }
    let (set, rng) = ctx.lookup_set_and_rng(&key, true)?;
    let Some(set) = set else {
        return Ok(Frame::Null);
    };
    let Some(member) = set.pop_random(rng) else {
        return Ok(Frame::Null);
    };
    let emptied = set.is_empty();
    ctx.notify(class::SET, "spop", &key);
    if emptied {
        ctx.delete(&key);
        ctx.notify(class::GENERIC, "del", &key);
    } else {
        ctx.srv.ks.mark_dirty(1);
    }
    let member = Bytes::from(member);
    propagate_srem(ctx, &key, std::slice::from_ref(&member));
    Ok(Frame::Bulk(member))
}

/// Logs a random pop as the SREMs of what was actually taken (in batches, as Redis does),
/// so replaying the AOF removes the same members.
fn propagate_srem(ctx: &mut Ctx<'_>, key: &[u8], members: &[Bytes]) {
    const BATCH: usize = 1024;
    let commands = members
        .chunks(BATCH)
        .map(|chunk| {
            let mut argv = vec![Bytes::from_static(b"SREM"), Bytes::copy_from_slice(key)];
            argv.extend(chunk.iter().cloned());
            argv
        })
        .collect();
    ctx.propagate_as(commands);
}

/// SPOP with a count. The count is checked before the key, and anything but a
/// non-negative integer gets the same "must be positive" error, as in Redis.
fn spop_count(ctx: &mut Ctx<'_>, key: &[u8], args: &mut Args) -> Result<Frame, CmdError> {
    let count = args
        .next_i64()
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(CmdError::MustBePositive)?;
    let (set, rng) = ctx.lookup_set_and_rng(key, true)?;
    let Some(set) = set else {
        return Ok(Frame::Set(Vec::new()));
    };
    if count == 0 {
        return Ok(Frame::Set(Vec::new()));
    }
    if count >= set.len() {
        // Taking everything is a deletion, and is logged as one.
        let all = bulks(set.iter());
        ctx.notify(class::SET, "spop", key);
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
        ctx.propagate_as(vec![vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)]]);
        return Ok(Frame::Set(all));
    }
    let picked: Vec<Bytes> =
        set.sample_distinct(count, rng).into_iter().map(|m| Bytes::copy_from_slice(&m)).collect();
    for m in &picked {
        set.remove(m);
    }
    ctx.srv.ks.mark_dirty(picked.len() as u64);
    ctx.notify(class::SET, "spop", key);
    propagate_srem(ctx, key, &picked);
    Ok(Frame::Set(picked.into_iter().map(Frame::Bulk).collect()))
}

/// `SRANDMEMBER key [count]`: a random member (null if missing), or with a count an array:
/// up to `count` distinct members, or for a negative count exactly `-count` members that
/// may repeat.
fn srandmember(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let count = match args.remaining() {
        0 => None,
        1 => Some(srandmember_count_arg(args)?),
        _ => return Err(CmdError::Syntax),
    };
    let (set, rng) = ctx.lookup_set_and_rng(&key, false)?;
    let Some(count) = count else {
        return Ok(match set.and_then(|s| s.random_member(rng)) {
            Some(m) => Frame::bulk(&m),
            None => Frame::Null,
        });
    };
    let Some(set) = set else {
        return Ok(Frame::Array(Vec::new()));
    };
    let (n, distinct) = (count.unsigned_abs(), count >= 0);
    if n == 0 {
        return Ok(Frame::Array(Vec::new()));
    }
    if !distinct || n == 1 {
        // Repeats allowed: sample the whole set each time. The members are gathered once
        // so each pick is O(1) whatever the encoding.
        let all: Vec<Cow<'_, [u8]>> = set.iter().collect();
        let mut out = Vec::with_capacity(all.len().min(usize::try_from(n).unwrap_or(0)));
        for _ in 0..n {
            if let Some(m) = all.get(rng.random_range(0..all.len())) {
                out.push(Frame::bulk(m));
            }
        }
        return Ok(Frame::Array(out));
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n >= set.len() {
        return Ok(Frame::Array(bulks(set.iter())));
    }
    Ok(Frame::Array(bulks(set.sample_distinct(n, rng))))
}

/// SRANDMEMBER's count: any integer but `i64::MIN`, whose magnitude has no positive twin.
fn srandmember_count_arg(args: &mut Args) -> Result<i64, CmdError> {
    let n = args.next_i64()?;
    if n == i64::MIN {
        return Err(CmdError::Static(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

/// `SMOVE source destination member`: 1 if `member` was moved (or, with source and
/// destination the same key, is there), 0 if it was not in the source.
fn smove(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let member = args.next_bytes()?;
    let lim = ctx.set_type_limits();
    // A missing source answers 0 before the destination's type is looked at.
    let src_kind = ctx.lookup_write(&src).map(|e| matches!(e.value, Value::Set(_)));
    let dst_kind = ctx.lookup_write(&dst).map(|e| matches!(e.value, Value::Set(_)));
    match (src_kind, dst_kind) {
        (None, _) => return Ok(Frame::Integer(0)),
        (Some(false), _) | (_, Some(false)) => return Err(CmdError::WrongType),
        _ => {}
    }
    if src == dst {
        let found = ctx.lookup_set_write(&src)?.is_some_and(|s| s.contains(&member));
        return Ok(Frame::Integer(i64::from(found)));
    }
    let Some(set) = ctx.lookup_set_write(&src)? else {
        return Ok(Frame::Integer(0));
    };
    if !set.remove(&member) {
        return Ok(Frame::Integer(0));
    }
    let emptied = set.is_empty();
    ctx.notify(class::SET, "srem", &src);
    if emptied {
        ctx.delete(&src);
        ctx.notify(class::GENERIC, "del", &src);
    } else {
        ctx.srv.ks.mark_dirty(1);
    }
    let added = if let Some(set) = ctx.lookup_set_write(&dst)? {
        let added = set.add(&member, &lim);
        if added {
            ctx.srv.ks.mark_dirty(1);
        }
        added
    } else {
        let mut set = SetValue::for_members(&member, 1, &lim);
        set.add(&member, &lim);
        ctx.set_value(&dst, Value::Set(Box::new(set)), false);
        true
    };
    if added {
        ctx.notify(class::SET, "sadd", &dst);
    }
    Ok(Frame::Integer(1))
}

/// What an intersection produces.
enum InterOut {
    /// The members, as a set reply (SINTER).
    Reply,
    /// The cardinality, stopping at a limit when non-zero (SINTERCARD).
    Card(usize),
    /// A set stored under this key (SINTERSTORE).
    Store(Bytes),
}

/// `SINTER key [key ...]`: the members common to all the sets.
fn sinter(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let keys = args.rest().to_vec();
    intersect(ctx, &keys, InterOut::Reply)
}

/// `SINTERSTORE destination key [key ...]`: stores the intersection; its cardinality.
fn sinterstore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let dst = args.next_bytes()?;
    let keys = args.rest().to_vec();
    intersect(ctx, &keys, InterOut::Store(dst))
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the intersection's cardinality,
/// counting no further than `limit` (0 = no limit).
fn sintercard(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let numkeys = args
        .next_i64()
        .ok()
        .filter(|&n| n > 0)
        .ok_or(CmdError::Static("ERR numkeys should be greater than 0"))?;
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > args.remaining() {
        return Err(CmdError::Static("ERR Number of keys can't be greater than number of args"));
    }
    let keys = args.rest()[..numkeys].to_vec();
    args.seek(args.pos() + numkeys);
    let mut limit = 0usize;
    while args.remaining() > 0 {
        if args.remaining() >= 2 && args.eat("limit") {
            let n = args
                .next_i64()
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(CmdError::Static("ERR LIMIT can't be negative"))?;
            limit = n;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    intersect(ctx, &keys, InterOut::Card(limit))
}

/// SINTER, SINTERCARD and SINTERSTORE. A missing key makes the result empty (after every
/// key was type-checked). Otherwise the smallest set is walked, in its own order, and each
/// member kept if every other set has it.
fn intersect(ctx: &mut Ctx<'_>, keys: &[Bytes], out: InterOut) -> Result<Frame, CmdError> {
    let lim = ctx.set_type_limits();
    // Any missing key leaves no sets to intersect: the result is empty.
    let mut sets: Vec<&SetValue> =
        ctx.lookup_sets(keys)?.into_iter().collect::<Option<_>>().unwrap_or_default();
    // Stable, like the merge sort glibc's qsort uses: among equal sizes the first named
    // set is walked, which decides the reply order.
    sets.sort_by_key(|s| s.len());
    let Some((&first, others)) = sets.split_first() else {
        return Ok(match out {
            InterOut::Reply => Frame::Set(Vec::new()),
            InterOut::Card(_) => Frame::Integer(0),
            InterOut::Store(dst) => ctx.store_set_result(&dst, SetValue::default()),
        });
    };
    let common =
        first.iter().filter(|m| others.iter().all(|&s| std::ptr::eq(s, first) || s.contains(m)));
    match out {
        InterOut::Reply => Ok(Frame::Set(bulks(common))),
        InterOut::Card(limit) => {
            let n = if limit > 0 { common.take(limit).count() } else { common.count() };
            Ok(Frame::Integer(n as i64))
        }
        InterOut::Store(dst) => {
            // The result starts as an intset if the walked set is one, else as a listpack,
            // and becomes an intset at the end if every member turned out to be an integer.
            let enc = match first.encoding_kind() {
                SetEncoding::Intset => SetEncoding::Intset,
                _ => SetEncoding::Listpack,
            };
            let mut result = SetValue::with_encoding(enc);
            for m in common {
                result.add(&m, &lim);
            }
            result.maybe_to_intset(&lim);
            Ok(ctx.store_set_result(&dst, result))
        }
    }
}

/// Union or difference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// `SUNION key [key ...]`: the members of any of the sets.
fn sunion(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let keys = args.rest().to_vec();
    union_diff(ctx, &keys, None, SetOp::Union)
}

/// `SUNIONSTORE destination key [key ...]`: stores the union; its cardinality.
fn sunionstore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let dst = args.next_bytes()?;
    let keys = args.rest().to_vec();
    union_diff(ctx, &keys, Some(dst), SetOp::Union)
}

/// `SDIFF key [key ...]`: the members of the first set that are in none of the others.
fn sdiff(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let keys = args.rest().to_vec();
    union_diff(ctx, &keys, None, SetOp::Diff)
}

/// `SDIFFSTORE destination key [key ...]`: stores the difference; its cardinality.
fn sdiffstore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let dst = args.next_bytes()?;
    let keys = args.rest().to_vec();
    union_diff(ctx, &keys, Some(dst), SetOp::Diff)
}

/// SUNION(STORE) and SDIFF(STORE), building the result as Redis does, which decides its
/// encoding and so the reply order: a stored result starts as an intset and converts as
/// members arrive; a replied one starts as a hashtable unless every input is an intset.
fn union_diff(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    dst: Option<Bytes>,
    op: SetOp,
) -> Result<Frame, CmdError> {
    let lim = ctx.set_type_limits();
    let sets = ctx.lookup_sets(keys)?;
    let all_intsets = sets.iter().flatten().all(|s| s.encoding_kind() == SetEncoding::Intset);
    let enc =
        if dst.is_some() || all_intsets { SetEncoding::Intset } else { SetEncoding::Hashtable };
    let mut result = SetValue::with_encoding(enc);
    match op {
        SetOp::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    result.add(&m, &lim);
                }
            }
        }
        SetOp::Diff => diff_into(&mut result, &sets, &lim),
    }
    Ok(match dst {
        Some(dst) => ctx.store_set_result(&dst, result),
        None => Frame::Set(bulks(result.iter())),
    })
}

/// Fills `result` with the members of `sets[0]` found in none of the other sets, choosing
/// between Redis's two algorithms by the same estimate: walking the first set and probing
/// the others, or adding the first set whole and removing the others' members. The choice
/// shows in a stored result's encoding (adding everything first can outgrow a listpack).
fn diff_into(result: &mut SetValue, sets: &[Option<&SetValue>], lim: &SetLimits) {
    let Some((Some(first), others)) = sets.split_first() else {
        return;
    };
    // The first key named again: nothing can be left.
    if others.iter().flatten().any(|s| std::ptr::eq(*s, *first)) {
        return;
    }
    let present = sets.iter().flatten().count();
    let walk_work = first.len() * present / 2;
    let bulk_work: usize = sets.iter().flatten().map(|s| s.len()).sum();
    if walk_work <= bulk_work {
        for m in first.iter() {
            if !others.iter().flatten().any(|s| s.contains(&m)) {
                result.add(&m, lim);
            }
        }
    } else {
        for m in first.iter() {
            result.add(&m, lim);
        }
        for s in others.iter().flatten() {
            if result.is_empty() {
                break;
            }
            for m in s.iter() {
                result.remove(&m);
            }
        }
    }
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`: the next cursor and a batch of members.
/// The cursor is checked first; a missing key answers an empty batch without looking at the
/// options.
fn sscan(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let cursor = scan_cursor(args)?;
    let Some(set) = ctx.lookup_set_read(&key)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let ScanOptions { count, pattern, .. } = scan_options(args, false)?;
    let mut batch = Vec::new();
    let next = set.scan(cursor, count, |m| {
        if pattern.as_ref().is_none_or(|p| glob::matches(p, m, false)) {
            batch.push(Frame::bulk(m));
        }
    });
    Ok(scan_reply(next, batch))
}
