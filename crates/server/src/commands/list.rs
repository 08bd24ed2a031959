//! List commands (Redis's `list` group): pushes and pops at both ends, indexed access,
//! search (LPOS), edits in the middle (LINSERT, LSET, LREM, LTRIM), moves between lists, the
//! multi-key pops (LMPOP) and the blocking forms (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP).
//!
//! Handlers check in Redis's order (argument parsing first, then lookups and type checks),
//! because the first failing check decides which error a client sees. Every removal path
//! ends in [`finish_removal`], so an emptied list is always deleted and a shrunk one gets
//! its chance to become a listpack again.

use super::introspection::keynum_keys;
use super::spec::{acl, flags::*, keyspecs, CommandSpec, KeyPos};
use crate::args::Args;
use crate::blocking::{self, Deadline};
use crate::config::P;
use crate::error::CmdError;
use crate::keyspace::Entry;
use crate::notify::class;
use crate::server::Ctx;
use crate::types::{ListValue, Value};
use bytes::Bytes;
use resp::Frame;

/// Complexity text shared by the push commands.
const PUSH_COMPLEXITY: &str = "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";
/// Complexity text shared by the multi-key pops.
const MPOP_COMPLEXITY: &str =
    "O(N+M) where N is the number of provided keys and M is the number of elements returned.";

/// The list family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, WRITE | DENYOOM | FAST, acl::LIST, KeyPos::ONE, lpush).doc(
        "list",
        "1.0.0",
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        PUSH_COMPLEXITY,
    )
    .key_flags(&["RW", "insert"]),
    CommandSpec::new("rpush", -3, WRITE | DENYOOM | FAST, acl::LIST, KeyPos::ONE, rpush).doc(
        "list",
        "1.0.0",
        "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        PUSH_COMPLEXITY,
    )
    .key_flags(&["RW", "insert"]),
    CommandSpec::new("lpushx", -3, WRITE | DENYOOM | FAST, acl::LIST, KeyPos::ONE, lpushx).doc(
        "list",
        "2.2.0",
        "Prepends one or more elements to a list only when the list exists.",
        PUSH_COMPLEXITY,
    )
    .key_flags(&["RW", "insert"]),
    CommandSpec::new("rpushx", -3, WRITE | DENYOOM | FAST, acl::LIST, KeyPos::ONE, rpushx).doc(
        "list",
        "2.2.0",
        "Appends an element to a list only when the list exists.",
        PUSH_COMPLEXITY,
    )
    .key_flags(&["RW", "insert"]),
    CommandSpec::new("lpop", -2, WRITE | FAST, acl::LIST, KeyPos::ONE, lpop).doc(
        "list",
        "1.0.0",
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        "O(N) where N is the number of elements returned",
    )
    .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("rpop", -2, WRITE | FAST, acl::LIST, KeyPos::ONE, rpop).doc(
        "list",
        "1.0.0",
        "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
        "O(N) where N is the number of elements returned",
    )
    .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("llen", 2, READONLY | FAST, acl::LIST, KeyPos::ONE, llen)
        .doc("list", "1.0.0", "Returns the length of a list.", "O(1)")
        .key_flags(&["RO"]),
    CommandSpec::new("lrange", 4, READONLY, acl::LIST, KeyPos::ONE, lrange).doc(
        "list",
        "1.0.0",
        "Returns a range of elements from a list.",
        "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
    ),
    CommandSpec::new("lindex", 3, READONLY, acl::LIST, KeyPos::ONE, lindex).doc(
        "list",
        "1.0.0",
        "Returns an element from a list by its index.",
        "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
    ),
    CommandSpec::new("lset", 4, WRITE | DENYOOM, acl::LIST, KeyPos::ONE, lset).doc(
        "list",
        "1.0.0",
        "Sets the value of an element in a list by its index.",
        "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
    ),
    CommandSpec::new("linsert", 5, WRITE | DENYOOM, acl::LIST, KeyPos::ONE, linsert).doc(
        "list",
        "2.2.0",
        "Inserts an element before or after another element in a list.",
        "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
    )
    .key_flags(&["RW", "insert"]),
    CommandSpec::new("lrem", 4, WRITE, acl::LIST, KeyPos::ONE, lrem).doc(
        "list",
        "1.0.0",
        "Removes elements from a list. Deletes the list if the last element was removed.",
        "O(N+M) where N is the length of the list and M is the number of elements removed.",
    )
    .key_flags(&["RW", "delete"]),
    CommandSpec::new("ltrim", 4, WRITE, acl::LIST, KeyPos::ONE, ltrim).doc(
        "list",
        "1.0.0",
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        "O(N) where N is the number of elements to be removed by the operation.",
    )
    .key_flags(&["RW", "delete"]),
    CommandSpec::new("lpos", -3, READONLY, acl::LIST, KeyPos::ONE, lpos).doc(
        "list",
        "6.0.6",
        "Returns the index of matching elements in a list.",
        "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
    ),
    CommandSpec::new("lmove", 5, WRITE | DENYOOM, acl::LIST, KeyPos::new(1, 2, 1), lmove).doc(
        "list",
        "6.2.0",
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        "O(1)",
    )
    .key_specs(keyspecs::MOVE),
    CommandSpec::new("rpoplpush", 3, WRITE | DENYOOM, acl::LIST, KeyPos::new(1, 2, 1), rpoplpush)
        .doc(
            "list",
            "1.2.0",
            "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
            "O(1)",
        )
        .key_specs(keyspecs::MOVE),
    CommandSpec::new("lmpop", -4, WRITE, acl::LIST, KeyPos::NONE, lmpop).doc(
        "list",
        "7.0.0",
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        MPOP_COMPLEXITY,
    )
    .key_specs(keyspecs::POP_KEYNUM)
    .getkeys(keynum_keys),
    CommandSpec::new("blpop", -3, WRITE | NOSCRIPT | BLOCKING, acl::LIST, KeyPos::new(1, -2, 1), blpop)
        .doc(
            "list",
            "2.0.0",
            "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            "O(N) where N is the number of provided keys.",
        )
        .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("brpop", -3, WRITE | NOSCRIPT | BLOCKING, acl::LIST, KeyPos::new(1, -2, 1), brpop)
        .doc(
            "list",
            "2.0.0",
            "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            "O(N) where N is the number of provided keys.",
        )
        .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        acl::LIST,
        KeyPos::new(1, 2, 1),
        brpoplpush,
    )
    .doc(
        "list",
        "2.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        "O(1)",
    )
    .key_specs(keyspecs::MOVE),
    CommandSpec::new(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        acl::LIST,
        KeyPos::new(1, 2, 1),
        blmove,
    )
    .doc(
        "list",
        "6.2.0",
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        "O(1)",
    )
    .key_specs(keyspecs::MOVE),
    CommandSpec::new("blmpop", -5, WRITE | BLOCKING, acl::LIST, KeyPos::NONE, blmpop)
        .doc(
            "list",
            "7.0.0",
            "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            MPOP_COMPLEXITY,
        )
        .key_specs(keyspecs::BLOCKING_POP_KEYNUM)
        .getkeys(keynum_keys),
];

impl Ctx<'_> {
    /// `list-max-listpack-size`, which every list write consults.
    fn list_fill(&self) -> i64 {
        self.srv.config.int(P::ListMaxListpackSize)
    }

    /// The list at `key` for reading: `None` if missing, `WRONGTYPE` for another type.
    fn read_list(&mut self, key: &[u8]) -> Result<Option<&mut ListValue>, CmdError> {
        as_list(self.lookup_read(key))
    }

    /// The list at `key` for writing: `None` if missing, `WRONGTYPE` for another type.
    fn write_list(&mut self, key: &[u8]) -> Result<Option<&mut ListValue>, CmdError> {
        as_list(self.lookup_write(key))
    }
}

/// Narrows a looked-up entry to a list.
fn as_list(entry: Option<&mut Entry>) -> Result<Option<&mut ListValue>, CmdError> {
    match entry {
        None => Ok(None),
        Some(Entry { value: Value::List(l), .. }) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Which end of a list a `LEFT`/`RIGHT` argument names: true for the head.
fn parse_end(arg: &[u8]) -> Result<bool, CmdError> {
    if arg.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Redis's "positive" integer argument: a non-negative integer; anything else, even text
/// that is not a number, gets `MustBePositive`.
fn positive(arg: &[u8]) -> Result<usize, CmdError> {
    crate::types::num::parse_i64(arg)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(CmdError::MustBePositive)
}

/// The keyspace event of a push or pop at one end.
fn end_event(push: bool, front: bool) -> &'static str {
    match (push, front) {
        (true, true) => "lpush",
        (true, false) => "rpush",
        (false, true) => "lpop",
        (false, false) => "rpop",
    }
}

/// After elements were removed from the list at `key` by the command whose keyspace event is
/// `event`: notifies it, deletes the list when empty (with a `del` event), otherwise lets it
/// convert back to a listpack; counts `removed` changes.
fn finish_removal(ctx: &mut Ctx<'_>, key: &[u8], removed: usize, event: &str) {
    ctx.notify(class::LIST, event, key);
    let fill = ctx.list_fill();
    let empty = match ctx.write_list(key) {
        Ok(Some(l)) if l.is_empty() => true,
        Ok(Some(l)) => {
            l.shrink_check(fill);
            false
        }
        _ => false,
    };
    if empty {
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
    }
    ctx.srv.ks.mark_dirty(removed as u64);
}

/// Pushes `values` onto the list at `key` at the head or tail, creating the list unless
/// `only_existing`. Returns the new length (0 when nothing was pushed to a missing key).
fn push_values(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    values: &[&[u8]],
    front: bool,
    only_existing: bool,
) -> Result<usize, CmdError> {
    let fill = ctx.list_fill();
    if let Some(l) = ctx.write_list(key)? {
        l.push(fill, values, front);
        let len = l.len();
        ctx.srv.ks.mark_dirty(values.len() as u64);
        ctx.notify(class::LIST, end_event(true, front), key);
        return Ok(len);
    }
    if only_existing {
        return Ok(0);
    }
    let mut l = ListValue::new();
    l.push(fill, values, front);
    let len = l.len();
    // Storing counts one change; the other pushed elements count one each, as in Redis.
    ctx.set_value(key, Value::List(Box::new(l)), false);
    ctx.srv.ks.mark_dirty(values.len().saturating_sub(1) as u64);
    ctx.notify(class::LIST, end_event(true, front), key);
    Ok(len)
}

/// The push commands' shared body: `<cmd> key element [element ...]`.
fn push_cmd(ctx: &mut Ctx<'_>, args: &mut Args, front: bool, xx: bool) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let values: Vec<&[u8]> = args.rest().iter().map(|b| &b[..]).collect();
    let len = push_values(ctx, &key, &values, front, xx)?;
    Ok(Frame::Integer(len as i64))
}

/// `LPUSH key element [element ...]`
fn lpush(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    push_cmd(ctx, args, true, false)
}

/// `RPUSH key element [element ...]`
fn rpush(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    push_cmd(ctx, args, false, false)
}

/// `LPUSHX key element [element ...]`
fn lpushx(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    push_cmd(ctx, args, true, true)
}

/// `RPUSHX key element [element ...]`
fn rpushx(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    push_cmd(ctx, args, false, true)
}

/// Pops up to `max` (at least 1) elements from one end of the list at `key`. `None` if the
/// key is missing; `WRONGTYPE` for another type.
fn pop_values(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    front: bool,
    max: usize,
) -> Result<Option<Vec<Frame>>, CmdError> {
    let Some(l) = ctx.write_list(key)? else { return Ok(None) };
    let n = max.min(l.len());
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if let Some(v) = l.pop(front) {
            out.push(Frame::Bulk(v));
        }
    }
    finish_removal(ctx, key, out.len(), end_event(false, front));
    Ok(Some(out))
}

/// The LPOP/RPOP body: `<cmd> key [count]`.
fn pop_cmd(ctx: &mut Ctx<'_>, args: &mut Args, front: bool) -> Result<Frame, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::WrongArity(ctx.spec.name.to_string()));
    }
    let key = args.next_bytes()?;
    let count = match args.remaining() {
        0 => None,
        _ => Some(positive(args.next_ref()?)?),
    };
    match count {
        None => {
            let popped = pop_values(ctx, &key, front, 1)?;
            Ok(popped.and_then(|mut v| v.pop()).unwrap_or(Frame::Null))
        }
        Some(0) => Ok(match ctx.write_list(&key)? {
            Some(_) => Frame::Array(Vec::new()),
            None => Frame::NullArray,
        }),
        Some(n) => Ok(pop_values(ctx, &key, front, n)?.map_or(Frame::NullArray, Frame::Array)),
    }
}

/// `LPOP key [count]`
fn lpop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    pop_cmd(ctx, args, true)
}

/// `RPOP key [count]`
fn rpop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    pop_cmd(ctx, args, false)
}

/// `LLEN key`
fn llen(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let len = ctx.read_list(&key)?.map_or(0, |l| l.len());
    Ok(Frame::Integer(len as i64))
}

/// Clamps Redis-style `start`/`stop` indexes (negative from the tail) to a list of `len`
/// elements: the inclusive range they select, or `None` when it is empty.
fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { start.saturating_add(len).max(0) } else { start };
    let stop = if stop < 0 { stop.saturating_add(len) } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// `LRANGE key start stop`
fn lrange(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let start = args.next_i64()?;
    let stop = args.next_i64()?;
    let Some(l) = ctx.read_list(&key)? else { return Ok(Frame::Array(Vec::new())) };
    let items = match clamp_range(start, stop, l.len()) {
        Some((a, b)) => l.range(a, b).map(|v| Frame::Bulk(Bytes::copy_from_slice(v))).collect(),
        None => Vec::new(),
    };
    Ok(Frame::Array(items))
}

/// Resolves a possibly negative index into a list of `len` elements.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { index.checked_add(len as i64)? } else { index };
    usize::try_from(i).ok().filter(|&i| i < len)
}

/// `LINDEX key index`
fn lindex(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    // Redis looks the key up before it parses the index.
    let Some(l) = ctx.read_list(&key)? else { return Ok(Frame::Null) };
    let index = args.next_i64()?;
    Ok(resolve_index(index, l.len())
        .and_then(|i| l.get(i))
        .map_or(Frame::Null, |v| Frame::Bulk(Bytes::copy_from_slice(v))))
}

/// `LSET key index element`
fn lset(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let fill = ctx.list_fill();
    let Some(l) = ctx.write_list(&key)? else { return Err(CmdError::NoSuchKey) };
    let index = args.next_i64()?;
    let value = args.next_ref()?;
    let i = resolve_index(index, l.len()).ok_or(CmdError::IndexOutOfRange)?;
    l.set(fill, i, value);
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::LIST, "lset", &key);
    Ok(Frame::ok())
}

/// `LINSERT key <BEFORE | AFTER> pivot element`
fn linsert(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let after = if args.eat("after") {
        true
    } else if args.eat("before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let pivot = args.next_bytes()?;
    let value = args.next_ref()?;
    let fill = ctx.list_fill();
    let Some(l) = ctx.write_list(&key)? else { return Ok(Frame::Integer(0)) };
    let Some(pos) = l.iter().position(|v| v == &pivot[..]) else { return Ok(Frame::Integer(-1)) };
    l.insert(fill, pos + usize::from(after), value);
    let len = l.len();
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::LIST, "linsert", &key);
    Ok(Frame::Integer(len as i64))
}

/// `LREM key count element`
fn lrem(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let count = args.next_i64()?;
    let value = args.next_ref()?;
    let fill = ctx.list_fill();
    let Some(l) = ctx.write_list(&key)? else { return Ok(Frame::Integer(0)) };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = l.remove(fill, value, limit, count < 0);
    if removed > 0 {
        finish_removal(ctx, &key, removed, "lrem");
    }
    Ok(Frame::Integer(removed as i64))
}

/// `LTRIM key start stop`
fn ltrim(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let start = args.next_i64()?;
    let stop = args.next_i64()?;
    let fill = ctx.list_fill();
    let Some(l) = ctx.write_list(&key)? else { return Ok(Frame::ok()) };
    let before = l.len();
    l.trim(fill, clamp_range(start, stop, before));
    let removed = before - l.len();
    finish_removal(ctx, &key, removed, "ltrim");
    Ok(Frame::ok())
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
fn lpos(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let value = args.next_bytes()?;
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    while args.remaining() > 0 {
        let opt = args.next_bytes()?;
        let has_value = args.remaining() > 0;
        if opt.eq_ignore_ascii_case(b"rank") && has_value {
            rank = args.next_i64()?;
            if rank == i64::MIN {
                return Err(CmdError::Static("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
            }
            if rank == 0 {
                return Err(CmdError::Static("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
        } else if opt.eq_ignore_ascii_case(b"count") && has_value {
            count = Some(
                positive(args.next_ref()?)
                    .map_err(|_| CmdError::Static("ERR COUNT can't be negative"))?,
            );
        } else if opt.eq_ignore_ascii_case(b"maxlen") && has_value {
            maxlen = positive(args.next_ref()?)
                .map_err(|_| CmdError::Static("ERR MAXLEN can't be negative"))?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(l) = ctx.read_list(&key)? else {
        return Ok(if count.is_some() { Frame::Array(Vec::new()) } else { Frame::Null });
    };
    let len = l.len();
    let scan = if maxlen == 0 { len } else { maxlen.min(len) };
    // Matches to skip before the first reported one.
    let mut skip = rank.unsigned_abs() - 1;
    let wanted = match count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => n,
    };
    let mut found = Vec::new();
    // One walk over the elements (indexing each one would re-walk the list every time).
    let scanned: Box<dyn Iterator<Item = (usize, &[u8])>> = if rank > 0 {
        Box::new(l.iter().enumerate().take(scan))
    } else {
        Box::new(l.iter().enumerate().rev().take(scan))
    };
    for (i, v) in scanned {
        if found.len() >= wanted {
            break;
        }
        if v == &value[..] {
            if skip > 0 {
                skip -= 1;
            } else {
                found.push(Frame::Integer(i as i64));
            }
        }
    }
    Ok(match count {
        Some(_) => Frame::Array(found),
        None => found.pop().unwrap_or(Frame::Null),
    })
}

/// Moves one element from an end of `src` to an end of `dst` (LMOVE and friends). `None`
/// if `src` does not exist. The destination's type is checked before anything changes.
fn move_value(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from_front: bool,
    to_front: bool,
) -> Result<Option<Bytes>, CmdError> {
    if ctx.write_list(src)?.is_none() {
        return Ok(None);
    }
    ctx.write_list(dst)?;
    let fill = ctx.list_fill();
    let Some(l) = ctx.write_list(src)? else { return Ok(None) };
    let Some(v) = l.pop(from_front) else { return Ok(None) };
    if src == dst {
        // A rotation: the list never becomes empty, since the element goes straight back.
        l.push(fill, &[&v], to_front);
        ctx.srv.ks.mark_dirty(1);
        ctx.notify(class::LIST, end_event(true, to_front), dst);
        ctx.notify(class::LIST, end_event(false, from_front), src);
        return Ok(Some(v));
    }
    push_values(ctx, dst, &[&v], to_front, false)?;
    ctx.notify(class::LIST, end_event(false, from_front), src);
    let empty = ctx.write_list(src)?.is_some_and(|l| l.is_empty());
    if empty {
        ctx.delete(src);
        ctx.notify(class::GENERIC, "del", src);
    }
    Ok(Some(v))
}

/// `LMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT>`
fn lmove(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let from = parse_end(args.next_ref()?)?;
    let to = parse_end(args.next_ref()?)?;
    Ok(move_value(ctx, &src, &dst, from, to)?.map_or(Frame::Null, Frame::Bulk))
}

/// `RPOPLPUSH source destination`
fn rpoplpush(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    Ok(move_value(ctx, &src, &dst, false, true)?.map_or(Frame::Null, Frame::Bulk))
}

/// The parsed tail of LMPOP/BLMPOP: `numkeys key [key ...] <LEFT | RIGHT> [COUNT count]`.
struct MpopArgs {
    keys: Vec<Bytes>,
    front: bool,
    count: usize,
}

/// Parses `numkeys key [key ...] <LEFT | RIGHT> [COUNT count]` from the cursor on.
fn parse_mpop(args: &mut Args) -> Result<MpopArgs, CmdError> {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys =
        crate::types::num::parse_i64(args.next_ref()?).ok_or(CmdError::Static(NUMKEYS))?;
    if numkeys < 1 {
        return Err(CmdError::Static(NUMKEYS));
    }
    // More keys than arguments left (plus the LEFT/RIGHT word) is a syntax error.
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys >= args.remaining() {
        return Err(CmdError::Syntax);
    }
    let keys = args.rest()[..numkeys].to_vec();
    args.seek(args.pos() + numkeys);
    let front = parse_end(args.next_ref()?)?;
    let mut count = None;
    while args.remaining() > 0 {
        if count.is_none() && args.remaining() > 1 && args.eat("count") {
            const COUNT: &str = "ERR count should be greater than 0";
            let n =
                crate::types::num::parse_i64(args.next_ref()?).ok_or(CmdError::Static(COUNT))?;
            if n < 1 {
                return Err(CmdError::Static(COUNT));
            }
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MpopArgs { keys, front, count: count.unwrap_or(1) })
}

/// Pops from the first non-empty list of `m.keys`: `[key, [elements...]]`, or `None` when
/// every list is missing. A key of another type stops the search with `WRONGTYPE`.
fn mpop(ctx: &mut Ctx<'_>, m: &MpopArgs) -> Result<Option<Frame>, CmdError> {
    for key in &m.keys {
        if let Some(items) = pop_values(ctx, key, m.front, m.count)? {
            ctx.propagate_pop(if m.front { "LPOP" } else { "RPOP" }, key, Some(items.len()));
            return Ok(Some(Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Array(items)])));
        }
    }
    Ok(None)
}

/// `LMPOP numkeys key [key ...] <LEFT | RIGHT> [COUNT count]`
fn lmpop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let m = parse_mpop(args)?;
    Ok(mpop(ctx, &m)?.unwrap_or(Frame::NullArray))
}

/// Parks the client on `keys` until `deadline`; where it cannot block, replies at once with
/// `fallback` (what a timeout would give).
fn block_or(ctx: &mut Ctx<'_>, keys: Vec<Bytes>, deadline: Deadline, fallback: Frame) -> Frame {
    if ctx.block(keys, deadline, Frame::NullArray) {
        Frame::Null
    } else {
        fallback
    }
}

/// The BLPOP/BRPOP body: `<cmd> key [key ...] timeout`.
fn bpop_cmd(ctx: &mut Ctx<'_>, args: &mut Args, front: bool) -> Result<Frame, CmdError> {
    let argv = args.argv();
    let last = argv.len() - 1;
    let deadline = blocking::parse_timeout(&argv[last], ctx.now)?;
    let keys = argv[1..last].to_vec();
    for key in &keys {
        if let Some(mut items) = pop_values(ctx, key, front, 1)? {
            if let Some(v) = items.pop() {
                ctx.propagate_pop(if front { "LPOP" } else { "RPOP" }, key, None);
                return Ok(Frame::Array(vec![Frame::Bulk(key.clone()), v]));
            }
        }
    }
    Ok(block_or(ctx, keys, deadline, Frame::NullArray))
}

/// `BLPOP key [key ...] timeout`
fn blpop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    bpop_cmd(ctx, args, true)
}

/// `BRPOP key [key ...] timeout`
fn brpop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    bpop_cmd(ctx, args, false)
}

/// The blocking move (`argv` = `<cmd> source destination ... timeout`): moves like LMOVE,
/// or waits on the source. A client that cannot block gets a null bulk, but a timeout
/// replies with a null array, as in Redis. A move is logged as `logged_as` with the same
/// arguments but the timeout (RPOPLPUSH, LMOVE).
fn blocking_move(
    ctx: &mut Ctx<'_>,
    logged_as: &'static [u8],
    argv: &[Bytes],
    (from, to): (bool, bool),
    deadline: Deadline,
) -> Result<Frame, CmdError> {
    let src = argv[1].clone();
    match move_value(ctx, &src, &argv[2], from, to)? {
        Some(v) => {
            let mut logged = argv[..argv.len() - 1].to_vec();
            logged[0] = Bytes::from_static(logged_as);
            ctx.propagate_as(vec![logged]);
            Ok(Frame::Bulk(v))
        }
        None => Ok(block_or(ctx, vec![src], deadline, Frame::Null)),
    }
}

/// `BRPOPLPUSH source destination timeout`
fn brpoplpush(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    args.seek(3);
    let deadline = blocking::parse_timeout(args.next_ref()?, ctx.now)?;
    blocking_move(ctx, b"RPOPLPUSH", args.argv(), (false, true), deadline)
}

/// `BLMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout`
fn blmove(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    args.seek(3);
    let from = parse_end(args.next_ref()?)?;
    let to = parse_end(args.next_ref()?)?;
    let deadline = blocking::parse_timeout(args.next_ref()?, ctx.now)?;
    blocking_move(ctx, b"LMOVE", args.argv(), (from, to), deadline)
}

/// `BLMPOP timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]`
fn blmpop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let timeout = args.next_bytes()?;
    let m = parse_mpop(args)?;
    let deadline = blocking::parse_timeout(&timeout, ctx.now)?;
    match mpop(ctx, &m)? {
        Some(reply) => Ok(reply),
        None => Ok(block_or(ctx, m.keys, deadline, Frame::NullArray)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_range_follows_redis_rules() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(0, i64::MIN, 3), None);
    }

    #[test]
    fn resolve_index_handles_extremes() {
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(3, 3), None);
    }
}
