//! Stream commands (Redis's `stream` group): XADD, XRANGE/XREVRANGE, XLEN, XDEL, XTRIM,
//! XSETID, XREAD, and consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM, XINFO).
//!
//! Handlers check in Redis's order (argument parsing, then lookups), because the first
//! failing check decides which error a client sees. Blocking reads park through
//! [`Ctx::block`] and are executed again when a stream they wait on gets an entry; before
//! parking, XREAD rewrites `$` into the stream's current last ID so the re-executed command
//! still means "entries after the moment I blocked".

use super::client::help_reply;
use super::spec::{acl, flags::*, keyspecs, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::blocking;
use crate::config::P;
use crate::error::CmdError;
use crate::keyspace::Entry;
use crate::notify::class;
use crate::server::Ctx;
use crate::types::stream::{Consumer, Group, PendingEntry, StreamId, Trim};
use crate::types::{StreamValue, Value};
use bytes::Bytes;
use resp::Frame;

/// The streams family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xadd", -5, WRITE | DENYOOM | FAST, acl::STREAM, KeyPos::ONE, xadd)
        .doc("stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist.", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.")
        .tips(&["nondeterministic_output"]).key_specs(&[KeySpec::at(1, &["RW", "update"]).notes("UPDATE instead of INSERT because of the optional trimming feature")]),
    CommandSpec::new("xrange", -4, READONLY, acl::STREAM, KeyPos::ONE, xrange).doc(
        "stream",
        "5.0.0",
        "Returns the messages from a stream within a range of IDs.",
        "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
    ),
    CommandSpec::new("xrevrange", -4, READONLY, acl::STREAM, KeyPos::ONE, xrevrange).doc(
        "stream",
        "5.0.0",
        "Returns the messages from a stream within a range of IDs in reverse order.",
        "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
    ),
    CommandSpec::new("xlen", 2, READONLY | FAST, acl::STREAM, KeyPos::ONE, xlen).doc(
        "stream",
        "5.0.0",
        "Return the number of messages in a stream.",
        "O(1)",
    )
        .key_flags(&["RO"]),
    CommandSpec::new("xdel", -3, WRITE | FAST, acl::STREAM, KeyPos::ONE, xdel).doc(
        "stream",
        "5.0.0",
        "Returns the number of messages after removing them from a stream.",
        "O(1) for each single item to delete in the stream, regardless of the stream size.",
    )
        .key_flags(&["RW", "delete"]),
    CommandSpec::new("xtrim", -4, WRITE, acl::STREAM, KeyPos::ONE, xtrim)
        .doc("stream", "5.0.0", "Deletes messages from the beginning of a stream.", "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.")
        .tips(&["nondeterministic_output"])
        .key_flags(&["RW", "delete"]),
    CommandSpec::new("xsetid", -3, WRITE | DENYOOM | FAST, acl::STREAM, KeyPos::ONE, xsetid)
        .doc("stream", "5.0.0", "An internal command for replicating stream values.", "O(1)"),
    CommandSpec::new("xread", -4, READONLY | BLOCKING, acl::STREAM, KeyPos::NONE, xread)
        .doc("stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREAD blocks, XADD will pay O(N) time in order to serve the N clients blocked on the stream getting new data.")
        .key_specs(&[keyspecs::streams(1)]),
    CommandSpec::new(
        "xreadgroup",
        -7,
        WRITE | BLOCKING,
        acl::STREAM,
        KeyPos::NONE,
        xreadgroup,
    )
    .doc("stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.")
    .key_specs(&[keyspecs::streams(4)]),
    CommandSpec::new("xack", -4, WRITE | FAST, acl::STREAM, KeyPos::ONE, xack).doc(
        "stream",
        "5.0.0",
        "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
        "O(1) for each message ID processed.",
    ),
    CommandSpec::new("xpending", -3, READONLY, acl::STREAM, KeyPos::ONE, xpending)
        .doc("stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list.", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.")
        .tips(&["nondeterministic_output"]),
    CommandSpec::new("xclaim", -6, WRITE | FAST, acl::STREAM, KeyPos::ONE, xclaim)
        .doc("stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.", "O(log N) with N being the number of messages in the PEL of the consumer group.")
        .tips(&["nondeterministic_output"]),
    CommandSpec::new("xautoclaim", -6, WRITE | FAST, acl::STREAM, KeyPos::ONE, xautoclaim)
        .doc("stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.", "O(1) if COUNT is small.")
        .tips(&["nondeterministic_output"])
        .key_flags(&["RW", "delete"]),
    CommandSpec::new("xgroup", -2, 0, 0, KeyPos::NONE, super::spec::unreachable_container)
        .doc("stream", "5.0.0", "A container for consumer groups commands.", "Depends on subcommand.")
        .subs(XGROUP_SUBS),
    CommandSpec::new("xinfo", -2, 0, 0, KeyPos::NONE, super::spec::unreachable_container)
        .doc("stream", "5.0.0", "A container for stream introspection commands.", "Depends on subcommand.")
        .subs(XINFO_SUBS),
];

/// `XGROUP` subcommands.
const XGROUP_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "create",
        -5,
        WRITE | DENYOOM,
        acl::STREAM,
        KeyPos::new(2, 2, 1),
        xgroup_create,
    )
    .doc("stream", "5.0.0", "Creates a consumer group.", "O(1)")
    .key_flags(&["RW", "insert"]),
    CommandSpec::new(
        "createconsumer",
        5,
        WRITE | DENYOOM,
        acl::STREAM,
        KeyPos::new(2, 2, 1),
        xgroup_createconsumer,
    )
    .doc("stream", "6.2.0", "Creates a consumer in a consumer group.", "O(1)")
    .key_flags(&["RW", "insert"]),
    CommandSpec::new(
        "delconsumer",
        5,
        WRITE,
        acl::STREAM,
        KeyPos::new(2, 2, 1),
        xgroup_delconsumer,
    )
    .doc("stream", "5.0.0", "Deletes a consumer from a consumer group.", "O(1)")
    .key_flags(&["RW", "delete"]),
    CommandSpec::new("destroy", 4, WRITE, acl::STREAM, KeyPos::new(2, 2, 1), xgroup_destroy)
        .doc(
            "stream",
            "5.0.0",
            "Destroys a consumer group.",
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        )
        .key_flags(&["RW", "delete"]),
    CommandSpec::new("help", 2, LOADING | STALE, acl::STREAM, KeyPos::NONE, xgroup_help).doc(
        "stream",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
    CommandSpec::new("setid", -5, WRITE, acl::STREAM, KeyPos::new(2, 2, 1), xgroup_setid).doc(
        "stream",
        "5.0.0",
        "Sets the last-delivered ID of a consumer group.",
        "O(1)",
    ),
];

/// `XINFO` subcommands.
const XINFO_SUBS: &[CommandSpec] = &[
    CommandSpec::new("consumers", 4, READONLY, acl::STREAM, KeyPos::new(2, 2, 1), xinfo_consumers)
        .doc("stream", "5.0.0", "Returns a list of the consumers in a consumer group.", "O(1)")
        .tips(&["nondeterministic_output"]),
    CommandSpec::new("groups", 3, READONLY, acl::STREAM, KeyPos::new(2, 2, 1), xinfo_groups).doc(
        "stream",
        "5.0.0",
        "Returns a list of the consumer groups of a stream.",
        "O(1)",
    ),
    CommandSpec::new("help", 2, LOADING | STALE, acl::STREAM, KeyPos::NONE, xinfo_help).doc(
        "stream",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
    CommandSpec::new("stream", -3, READONLY, acl::STREAM, KeyPos::new(2, 2, 1), xinfo_stream).doc(
        "stream",
        "5.0.0",
        "Returns information about a stream.",
        "O(1)",
    ),
];

/// `ERR Invalid stream ID specified as stream command argument`
const INVALID_ID: CmdError =
    CmdError::Static("ERR Invalid stream ID specified as stream command argument");

impl Ctx<'_> {
    /// The stream at `key` for reading: `Ok(None)` if missing, `WRONGTYPE` if another type.
    fn stream_read(&mut self, key: &[u8]) -> Result<Option<&mut StreamValue>, CmdError> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(Entry { value: Value::Stream(s), .. }) => Ok(Some(s)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// The stream at `key` for writing.
    fn stream_write(&mut self, key: &[u8]) -> Result<Option<&mut StreamValue>, CmdError> {
        match self.lookup_write(key) {
            None => Ok(None),
            Some(Entry { value: Value::Stream(s), .. }) => Ok(Some(s)),
            Some(_) => Err(CmdError::WrongType),
        }
    }
}

/// Parses an unsigned number as Redis's `string2ull` does: a strict integer first, then
/// C's `strtoull` rules (leading blanks, a sign, the whole text consumed; a `-` wraps).
fn parse_u64(b: &[u8]) -> Option<u64> {
    if let Some(v) = crate::types::num::parse_i64(b) {
        return u64::try_from(v).ok();
    }
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let mut rest = &b[start..];
    let mut neg = false;
    if let Some((&sign, tail)) = rest.split_first() {
        if sign == b'+' || sign == b'-' {
            neg = sign == b'-';
            rest = tail;
        }
    }
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in rest {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Parses `ms[-seq]`; a missing seq is `missing_seq`. With `allow_star`, `ms-*` returns
/// `seq_given = false`. With `allow_edges`, `-` and `+` are the smallest and largest IDs.
fn parse_id_full(
    b: &[u8],
    missing_seq: u64,
    allow_edges: bool,
    allow_star: bool,
) -> Result<(StreamId, bool), CmdError> {
    if b.len() > 127 {
        return Err(INVALID_ID);
    }
    if allow_edges && b == b"-" {
        return Ok((StreamId::ZERO, true));
    }
    if allow_edges && b == b"+" {
        return Ok((StreamId::MAX, true));
    }
    match memchr::memchr(b'-', b) {
        None => Ok((StreamId::new(parse_u64(b).ok_or(INVALID_ID)?, missing_seq), true)),
        Some(dash) => {
            let ms = parse_u64(&b[..dash]).ok_or(INVALID_ID)?;
            let seq = &b[dash + 1..];
            if allow_star && seq == b"*" {
                return Ok((StreamId::new(ms, 0), false));
            }
            Ok((StreamId::new(ms, parse_u64(seq).ok_or(INVALID_ID)?), true))
        }
    }
}

/// A strict ID (no `-`/`+`), missing seq = 0.
fn parse_id(b: &[u8]) -> Result<StreamId, CmdError> {
    parse_id_full(b, 0, false, false).map(|(id, _)| id)
}

/// A range bound: `-`, `+`, an ID (a missing seq is 0 for a start, max for an end), or an
/// exclusive `(ID`.
fn parse_bound(b: &[u8], is_end: bool) -> Result<StreamId, CmdError> {
    let missing = if is_end { u64::MAX } else { 0 };
    if let Some(inner) = b.strip_prefix(b"(") {
        let (id, _) = parse_id_full(inner, missing, false, false)?;
        let moved = if is_end { id.decr() } else { id.incr() };
        return moved.ok_or(if is_end {
            CmdError::Static("ERR invalid end ID for the interval")
        } else {
            CmdError::Static("ERR invalid start ID for the interval")
        });
    }
    parse_id_full(b, missing, true, false).map(|(id, _)| id)
}

/// An ID as a bulk string.
fn id_frame(id: StreamId) -> Frame {
    Frame::Bulk(Bytes::from(id.to_string()))
}

/// One entry as `[id, [field, value, ...]]`, or `[id, nil]` for a deleted one.
fn entry_frame(id: StreamId, fields: Option<Vec<Bytes>>) -> Frame {
    let body = match fields {
        Some(f) => Frame::Array(f.into_iter().map(Frame::Bulk).collect()),
        None => Frame::NullArray,
    };
    Frame::Array(vec![id_frame(id), body])
}

/// Entries as an array reply.
fn entries_frame(entries: Vec<(StreamId, Vec<Bytes>)>) -> Frame {
    Frame::Array(entries.into_iter().map(|(id, f)| entry_frame(id, Some(f))).collect())
}

/// The node limits from the configuration.
fn node_limits(ctx: &Ctx<'_>) -> (usize, usize) {
    let bytes = ctx.srv.config.int(P::StreamNodeMaxBytes).max(0) as usize;
    let entries = ctx.srv.config.int(P::StreamNodeMaxEntries).max(0) as usize;
    (bytes, entries)
}

/// Trimming options shared by XADD and XTRIM.
#[derive(Default)]
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    /// Argument index of the `~`, rewritten for the AOF by [`propagate_exact_trim`].
    approx_at: usize,
    limit: usize,
    nomkstream: bool,
}

/// Parses XADD/XTRIM options from the cursor. For XADD it stops at the ID (left unread).
fn parse_trim_args(ctx: &Ctx<'_>, args: &mut Args, xadd: bool) -> Result<TrimArgs, CmdError> {
    let mut t = TrimArgs::default();
    let mut limit: Option<i64> = None;
    while args.remaining() > 0 {
        let more = args.remaining() > 1;
        let opt = args.get(args.pos()).cloned().unwrap_or_default();
        if xadd && &opt[..] == b"*" {
            break;
        }
        let is_max = opt.eq_ignore_ascii_case(b"maxlen");
        if (is_max || opt.eq_ignore_ascii_case(b"minid")) && more {
            if t.how.is_some() {
                return Err(CmdError::Static("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"));
            }
            args.next_ref()?;
            t.approx = false;
            if args.remaining() >= 2 {
                if args.rest().first().is_some_and(|a| &a[..] == b"~") {
                    t.approx = true;
                    t.approx_at = args.pos();
                    args.next_ref()?;
                } else if args.rest().first().is_some_and(|a| &a[..] == b"=") {
                    args.next_ref()?;
                }
            }
            if is_max {
                let n = args.next_i64()?;
                if n < 0 {
                    return Err(CmdError::Static("ERR The MAXLEN argument must be >= 0."));
                }
                t.how = Some(Trim::MaxLen(n as u64));
            } else {
                t.how = Some(Trim::MinId(parse_id(args.next_ref()?)?));
            }
        } else if opt.eq_ignore_ascii_case(b"limit") && more {
            args.next_ref()?;
            let n = args.next_i64()?;
            if n < 0 {
                return Err(CmdError::Static("ERR The LIMIT argument must be >= 0."));
            }
            limit = Some(n);
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            args.next_ref()?;
            t.nomkstream = true;
        } else if xadd {
            break;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if limit.is_some_and(|l| l != 0) && t.how.is_none() {
        return Err(CmdError::Static(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.how.is_none() {
        return Err(CmdError::Static(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    match limit {
        // The AOF holds approximate trims rewritten as exact ones, LIMIT kept (as Redis
        // writes them): replaying one ignores the LIMIT.
        Some(_) if ctx.srv.ks.loading && !t.approx => t.limit = 0,
        Some(_) if !t.approx => {
            return Err(CmdError::Static(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        Some(l) => t.limit = l as usize,
        None if t.approx => {
            let n = 100 * ctx.srv.config.int(P::StreamNodeMaxEntries);
            t.limit = if n <= 0 || n > 10_000 { 10_000 } else { n as usize };
        }
        None => t.limit = 0,
    }
    Ok(t)
}

/// An approximate trim depends on how entries fall into nodes: the AOF gets it as an exact
/// trim to where it stopped (`= <length>` or `= <first id>`), as Redis writes it.
fn propagate_exact_trim(args: &mut Args, s: &StreamValue, t: &TrimArgs) {
    if !t.approx {
        return;
    }
    let threshold = match t.how {
        Some(Trim::MaxLen(_)) => s.len().to_string(),
        Some(Trim::MinId(_)) => s.first_id.to_string(),
        None => return,
    };
    args.set(t.approx_at, Bytes::from_static(b"="));
    args.set(t.approx_at + 1, Bytes::from(threshold));
}

/// Applies trimming options to a stream; returns the number of entries removed.
fn apply_trim(s: &mut StreamValue, t: &TrimArgs) -> usize {
    match t.how {
        Some(how) => s.trim(how, t.approx, t.limit),
        None => 0,
    }
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value
/// [field value ...]`
fn xadd(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let t = parse_trim_args(ctx, args, true)?;
    let id_pos = args.pos();
    let id_arg = args.next_bytes()?;
    // None = `*`; Some((id, seq_given)) otherwise.
    let wanted =
        if &id_arg[..] == b"*" { None } else { Some(parse_id_full(&id_arg, 0, false, true)?) };
    let fields = args.rest().to_vec();
    if fields.is_empty() || !fields.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("xadd".into()));
    }
    if let Some((id, true)) = wanted {
        if id.is_zero() {
            return Err(CmdError::Static("ERR The ID specified in XADD must be greater than 0-0"));
        }
    }
    let exists = ctx.stream_write(&key)?.is_some();
    if !exists {
        if t.nomkstream {
            return Ok(Frame::Null);
        }
        ctx.set_value(&key, Value::Stream(Box::default()), false);
    }
    let (max_bytes, max_entries) = node_limits(ctx);
    let now = ctx.now;
    let s = ctx.stream_write(&key)?.ok_or(CmdError::NoSuchKey)?;
    if s.last_id == StreamId::MAX {
        return Err(CmdError::Static(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let too_small = CmdError::Static(
        "ERR The ID specified in XADD is equal or smaller than the target stream top item",
    );
    let id = match wanted {
        None => {
            if now > s.last_id.ms {
                StreamId::new(now, 0)
            } else {
                s.last_id.incr().ok_or(too_small.clone())?
            }
        }
        Some((id, true)) => {
            if id <= s.last_id {
                return Err(too_small);
            }
            id
        }
        Some((partial, false)) => {
            if partial.ms > s.last_id.ms {
                partial
            } else if partial.ms == s.last_id.ms {
                match s.last_id.seq.checked_add(1) {
                    Some(seq) => StreamId::new(partial.ms, seq),
                    None => return Err(too_small),
                }
            } else {
                return Err(too_small);
            }
        }
    };
    s.append(id, &fields, max_bytes, max_entries);
    let trimmed = apply_trim(s, &t);
    propagate_exact_trim(args, s, &t);
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::STREAM, "xadd", &key);
    if trimmed > 0 {
        ctx.notify(class::STREAM, "xtrim", &key);
    }
    if exists {
        ctx.signal_ready(&key);
    }
    // Propagate the concrete ID, so a replay adds the same entry.
    args.set(id_pos, Bytes::from(id.to_string()));
    Ok(id_frame(id))
}

/// Shared by XRANGE and XREVRANGE: `key start end [COUNT n]` (bounds swapped for XREVRANGE).
fn range_cmd(ctx: &mut Ctx<'_>, args: &mut Args, rev: bool) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let a = args.next_bytes()?;
    let b = args.next_bytes()?;
    let (start, end) = if rev {
        let end = parse_bound(&a, true)?;
        (parse_bound(&b, false)?, end)
    } else {
        let start = parse_bound(&a, false)?;
        (start, parse_bound(&b, true)?)
    };
    let mut count: Option<i64> = None;
    while args.remaining() > 0 {
        if args.remaining() >= 2 && args.eat("COUNT") {
            count = Some(args.next_i64()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(s) = ctx.stream_read(&key)? else { return Ok(Frame::Array(Vec::new())) };
    let count = match count {
        Some(c) if c <= 0 => return Ok(Frame::NullArray),
        Some(c) => c as usize,
        None => 0,
    };
    Ok(entries_frame(s.range(start, end, rev, count)))
}

/// `XRANGE key start end [COUNT count]`
fn xrange(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    range_cmd(ctx, args, false)
}

/// `XREVRANGE key end start [COUNT count]`
fn xrevrange(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    range_cmd(ctx, args, true)
}

/// `XLEN key`
fn xlen(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let n = ctx.stream_read(&key)?.map_or(0, |s| s.len());
    Ok(Frame::Integer(n as i64))
}

/// `XDEL key id [id ...]`
fn xdel(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    if ctx.stream_write(&key)?.is_none() {
        return Ok(Frame::Integer(0));
    }
    let ids = args.rest().iter().map(|a| parse_id(a)).collect::<Result<Vec<_>, _>>()?;
    let Some(s) = ctx.stream_write(&key)? else { return Ok(Frame::Integer(0)) };
    let mut deleted = 0;
    let mut first_gone = false;
    for id in ids {
        if s.delete(id) {
            deleted += 1;
            first_gone |= id == s.first_id;
            if id > s.max_deleted_id {
                s.max_deleted_id = id;
            }
        }
    }
    if deleted > 0 {
        if s.is_empty() {
            s.first_id = StreamId::ZERO;
        } else if first_gone {
            s.refresh_first_id();
        }
        ctx.srv.ks.mark_dirty(deleted);
        ctx.notify(class::STREAM, "xdel", &key);
    }
    Ok(Frame::Integer(deleted as i64))
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
fn xtrim(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let t = parse_trim_args(ctx, args, false)?;
    let Some(s) = ctx.stream_write(&key)? else { return Ok(Frame::Integer(0)) };
    let n = apply_trim(s, &t);
    propagate_exact_trim(args, s, &t);
    if n > 0 {
        ctx.srv.ks.mark_dirty(n as u64);
        ctx.notify(class::STREAM, "xtrim", &key);
    }
    Ok(Frame::Integer(n as i64))
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
fn xsetid(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let id = parse_id(args.next_ref()?)?;
    let mut added: Option<u64> = None;
    let mut max_del = StreamId::ZERO;
    while args.remaining() > 0 {
        if args.remaining() >= 2 && args.eat("ENTRIESADDED") {
            let n = args.next_i64()?;
            if n < 0 {
                return Err(CmdError::Static("ERR entries_added must be positive"));
            }
            added = Some(n as u64);
        } else if args.remaining() >= 2 && args.eat("MAXDELETEDID") {
            max_del = parse_id(args.next_ref()?)?;
            if id < max_del {
                return Err(CmdError::Static("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let s = ctx.stream_write(&key)?.ok_or(CmdError::NoSuchKey)?;
    if let Some((top, _)) = s.edge(true) {
        if id < top {
            return Err(CmdError::Static(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if added.is_some_and(|a| (s.len() as u64) > a) {
            return Err(CmdError::Static("ERR The entries_added specified in XSETID is smaller than the target stream length"));
        }
    }
    s.last_id = id;
    if let Some(a) = added {
        s.entries_added = a;
    }
    if !max_del.is_zero() {
        s.max_deleted_id = max_del;
    }
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::STREAM, "xsetid", &key);
    Ok(Frame::ok())
}

/// What XREAD/XREADGROUP asked for.
struct ReadArgs {
    count: usize,
    block: Option<blocking::Deadline>,
    noack: bool,
    group: Option<(Bytes, Bytes)>,
    /// Argument index of the first key.
    keys_at: usize,
    nkeys: usize,
}

/// Parses the options of XREAD (`group` false) or XREADGROUP.
fn parse_read_args(ctx: &Ctx<'_>, args: &mut Args, group: bool) -> Result<ReadArgs, CmdError> {
    let name = if group { "xreadgroup" } else { "xread" };
    let mut r = ReadArgs { count: 0, block: None, noack: false, group: None, keys_at: 0, nkeys: 0 };
    while args.remaining() > 0 {
        let more = args.remaining() > 1;
        if more && args.eat("BLOCK") {
            r.block = Some(blocking::parse_timeout_ms(args.next_ref()?, ctx.now)?);
        } else if more && args.eat("COUNT") {
            r.count = args.next_i64()?.max(0) as usize;
        } else if more && args.eat("STREAMS") {
            let rest = args.remaining();
            if !rest.is_multiple_of(2) {
                return Err(CmdError::dynamic(format!("ERR Unbalanced {} list of streams: for each stream key an ID or '$' must be specified.", name.to_uppercase())));
            }
            r.keys_at = args.pos();
            r.nkeys = rest / 2;
            break;
        } else if args.remaining() > 2 && args.eat("GROUP") {
            if !group {
                return Err(CmdError::Static("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            let g = args.next_owned()?;
            let c = args.next_owned()?;
            r.group = Some((g, c));
        } else if args.eat("NOACK") {
            if !group {
                return Err(CmdError::Static("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            r.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if r.nkeys == 0 {
        return Err(CmdError::Syntax);
    }
    if group && r.group.is_none() {
        return Err(CmdError::Static("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]`
fn xread(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let r = parse_read_args(ctx, args, false)?;
    let mut after = Vec::with_capacity(r.nkeys);
    for i in 0..r.nkeys {
        let key = args.get(r.keys_at + i).cloned().unwrap_or_default();
        let idarg = args.get(r.keys_at + r.nkeys + i).cloned().unwrap_or_default();
        let last = ctx.stream_read(&key)?.map(|s| s.last_id);
        let id = if &idarg[..] == b"$" {
            let id = last.unwrap_or(StreamId::ZERO);
            // Pin `$` so a re-execution after blocking reads from this point on.
            if r.block.is_some() {
                args.set(r.keys_at + r.nkeys + i, Bytes::from(id.to_string()));
            }
            id
        } else if &idarg[..] == b">" {
            return Err(CmdError::Static("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
        } else {
            parse_id(&idarg)?
        };
        after.push((key, id));
    }
    let mut out = Vec::new();
    for (key, id) in &after {
        let Some(s) = ctx.stream_read(key)? else { continue };
        let Some(start) = id.incr() else { continue };
        let entries = s.range(start, StreamId::MAX, false, r.count);
        if !entries.is_empty() {
            out.push((Frame::Bulk(key.clone()), entries_frame(entries)));
        }
    }
    if !out.is_empty() {
        return Ok(read_reply(ctx, out));
    }
    match r.block {
        Some(deadline)
            if ctx.block(
                after.into_iter().map(|(k, _)| k).collect(),
                deadline,
                Frame::NullArray,
            ) =>
        {
            Ok(Frame::Null)
        }
        _ => Ok(Frame::NullArray),
    }
}

/// The reply of XREAD/XREADGROUP: a map of key to entries in RESP3, but in RESP2 an array
/// of `[key, entries]` pairs (not the flat array a downgraded map would be).
fn read_reply(ctx: &Ctx<'_>, streams: Vec<(Frame, Frame)>) -> Frame {
    if ctx.client_ref().proto == resp::Proto::Resp2 {
        Frame::Array(streams.into_iter().map(|(k, v)| Frame::Array(vec![k, v])).collect())
    } else {
        Frame::Map(streams)
    }
}

/// The NOGROUP error of XREADGROUP.
fn nogroup_read(key: &[u8], group: &[u8]) -> CmdError {
    let mut t = b"NOGROUP No such key '".to_vec();
    t.extend_from_slice(key);
    t.extend_from_slice(b"' or consumer group '");
    t.extend_from_slice(group);
    t.extend_from_slice(b"' in XREADGROUP with GROUP option");
    CmdError::dynamic(t)
}

/// The NOGROUP error of XPENDING/XCLAIM/XAUTOCLAIM.
fn nogroup_key(key: &[u8], group: &[u8]) -> CmdError {
    let mut t = b"NOGROUP No such key '".to_vec();
    t.extend_from_slice(key);
    t.extend_from_slice(b"' or consumer group '");
    t.extend_from_slice(group);
    t.push(b'\'');
    CmdError::dynamic(t)
}

/// The NOGROUP error of XGROUP/XINFO.
fn nogroup_for_key(group: &[u8], key: &[u8]) -> CmdError {
    let mut t = b"NOGROUP No such consumer group '".to_vec();
    t.extend_from_slice(group);
    t.extend_from_slice(b"' for key name '");
    t.extend_from_slice(key);
    t.push(b'\'');
    CmdError::dynamic(t)
}

/// Refreshes the seen time of consumer `name` of `g`, creating it if missing (XREADGROUP,
/// XCLAIM and XAUTOCLAIM create the consumer they name, as in Redis 7.2, even when they
/// then read or claim nothing). True if it was created: the caller announces that.
fn touch_consumer(g: &mut Group, name: &Bytes, now: u64) -> bool {
    let created = !g.consumers.contains_key(name);
    g.consumers.entry(name.clone()).or_default().seen_time = now;
    created
}

/// Serves one stream of an XREADGROUP: new entries (`id` None, i.e. `>`) or the consumer's
/// history after `id`; the reply is None when `>` found nothing new. The consumer exists
/// afterwards even if nothing was read (Redis 7.2; 7.0 created it only when something was
/// served); the flag tells whether it was created. None if the group is missing.
fn read_group_stream(
    s: &mut StreamValue,
    group: &[u8],
    consumer: &Bytes,
    id: Option<StreamId>,
    count: usize,
    noack: bool,
    now: u64,
) -> Option<(Option<Frame>, bool, Vec<Vec<Bytes>>)> {
    let mut g = s.groups.remove(group)?;
    let created = touch_consumer(&mut g, consumer, now);
    // What the AOF gets, as Redis writes it: a new consumer only under NOACK (otherwise the
    // XCLAIMs create it), an XCLAIM per delivered entry, or under NOACK the group's new
    // position; re-reading the history is not written.
    let mut logged = Vec::new();
    let key = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    if created && noack {
        logged.push(vec![
            key("XGROUP"),
            key("CREATECONSUMER"),
            Bytes::new(),
            Bytes::copy_from_slice(group),
            consumer.clone(),
        ]);
    }
    let reply = match id {
        None => {
            let after = g.last_id.incr();
            let entries = match after {
                Some(start) if s.edge(true).is_some_and(|(top, _)| top > g.last_id) => {
                    s.range(start, StreamId::MAX, false, count)
                }
                _ => Vec::new(),
            };
            if entries.is_empty() {
                None
            } else {
                if let Some(c) = g.consumers.get_mut(consumer) {
                    c.active_time = Some(now);
                }
                for (eid, _) in &entries {
                    s.advance_group(&mut g, *eid);
                    if !noack {
                        claim_pending(&mut g, *eid, consumer, now, 1);
                        logged.extend(xclaim_form(&[], group, *eid, &g));
                    }
                }
                if noack {
                    let read = g
                        .entries_read
                        .map_or(Bytes::from_static(b"-1"), |n| Bytes::from(n.to_string()));
                    logged.push(vec![
                        key("XGROUP"),
                        key("SETID"),
                        Bytes::new(),
                        Bytes::copy_from_slice(group),
                        Bytes::from(g.last_id.to_string()),
                        key("ENTRIESREAD"),
                        read,
                    ]);
                }
                Some(entries_frame(entries))
            }
        }
        // Nothing can follow the largest ID: the stream is left out of the reply.
        Some(after) if after == StreamId::MAX => None,
        Some(after) => {
            let start = after.incr().unwrap_or(StreamId::MAX);
            let limit = if count == 0 { usize::MAX } else { count };
            let ids: Vec<StreamId> = g
                .consumers
                .get(consumer)
                .map(|c| c.pending.range(start..).take(limit).copied().collect())
                .unwrap_or_default();
            let mut out = Vec::with_capacity(ids.len());
            for eid in ids {
                if let Some(p) = g.pel.get_mut(&eid) {
                    p.delivery_time = now;
                    p.delivery_count += 1;
                }
                out.push(entry_frame(eid, s.get(eid)));
            }
            Some(Frame::Array(out))
        }
    };
    s.groups.insert(Bytes::copy_from_slice(group), g);
    Some((reply, created, logged))
}

/// How Redis writes a delivery or claim to the AOF: an XCLAIM that recreates pending entry
/// `id` exactly (owner, delivery time and count) and the group's last delivered ID.
fn xclaim_form(key: &[u8], group: &[u8], id: StreamId, g: &Group) -> Option<Vec<Bytes>> {
    let p = g.pel.get(&id)?;
    let text = |s: String| Bytes::from(s);
    Some(vec![
        Bytes::from_static(b"XCLAIM"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        p.consumer.clone(),
        Bytes::from_static(b"0"),
        text(id.to_string()),
        Bytes::from_static(b"TIME"),
        text(p.delivery_time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        text(p.delivery_count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        text(g.last_id.to_string()),
    ])
}

/// Makes `consumer` own pending entry `id` with the given delivery time and count.
fn claim_pending(g: &mut Group, id: StreamId, consumer: &Bytes, time: u64, count: u64) {
    if let Some(old) = g.pel.get(&id) {
        let old_owner = old.consumer.clone();
        if let Some(c) = g.consumers.get_mut(&old_owner) {
            c.pending.remove(&id);
        }
    }
    g.pel.insert(
        id,
        PendingEntry { consumer: consumer.clone(), delivery_time: time, delivery_count: count },
    );
    g.consumers.entry(consumer.clone()).or_default().pending.insert(id);
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key
/// [key ...] id [id ...]`
fn xreadgroup(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let r = parse_read_args(ctx, args, true)?;
    let (group, consumer) = r.group.clone().unwrap_or_default();
    let mut wanted = Vec::with_capacity(r.nkeys);
    for i in 0..r.nkeys {
        let key = args.get(r.keys_at + i).cloned().unwrap_or_default();
        let idarg = args.get(r.keys_at + r.nkeys + i).cloned().unwrap_or_default();
        let has_group = match ctx.stream_read(&key)? {
            Some(s) => s.groups.contains_key(&group),
            None => false,
        };
        if !has_group {
            return Err(nogroup_read(&key, &group));
        }
        let id = if &idarg[..] == b">" {
            None
        } else if &idarg[..] == b"$" {
            return Err(CmdError::Static("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
        } else {
            Some(parse_id(&idarg)?)
        };
        wanted.push((key, id));
    }
    let now = ctx.now;
    let mut out = Vec::new();
    let mut logged = Vec::new();
    for (key, id) in &wanted {
        let Some(s) = ctx.stream_write(key)? else { continue };
        let served = read_group_stream(s, &group, &consumer, *id, r.count, r.noack, now);
        let Some((reply, created, mut forms)) = served else { continue };
        // The key slot (left empty by the reader, which does not know it) is filled here.
        for argv in &mut forms {
            let at = if &argv[0][..] == b"XCLAIM" { 1 } else { 2 };
            argv[at] = key.clone();
        }
        logged.extend(forms);
        if let Some(f) = reply {
            out.push((Frame::Bulk(key.clone()), f));
        }
        if created {
            // A new consumer is a change of its own (it is saved and replicated).
            ctx.srv.ks.mark_dirty(1);
            ctx.notify(class::STREAM, "xgroup-createconsumer", key);
        }
    }
    ctx.propagate_as(logged);
    if !out.is_empty() {
        ctx.srv.ks.mark_dirty(1);
        return Ok(read_reply(ctx, out));
    }
    match r.block {
        Some(deadline)
            if ctx.block(
                wanted.into_iter().map(|(k, _)| k).collect(),
                deadline,
                Frame::NullArray,
            ) =>
        {
            Ok(Frame::Null)
        }
        _ => Ok(Frame::NullArray),
    }
}

/// `XACK key group id [id ...]`
fn xack(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_bytes()?;
    let has_group = ctx.stream_write(&key)?.is_some_and(|s| s.groups.contains_key(&group));
    if !has_group {
        return Ok(Frame::Integer(0));
    }
    let ids = args.rest().iter().map(|a| parse_id(a)).collect::<Result<Vec<_>, _>>()?;
    let Some(g) = ctx.stream_write(&key)?.and_then(|s| s.groups.get_mut(&group)) else {
        return Ok(Frame::Integer(0));
    };
    let mut acked = 0;
    for id in ids {
        if let Some(p) = g.pel.remove(&id) {
            if let Some(c) = g.consumers.get_mut(&p.consumer) {
                c.pending.remove(&id);
            }
            acked += 1;
        }
    }
    ctx.srv.ks.mark_dirty(acked);
    Ok(Frame::Integer(acked as i64))
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
fn xpending(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_bytes()?;
    // Redis accepts 3 arguments or 6 to 9, and ignores what follows the consumer.
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let mut min_idle: Option<i64> = None;
    let mut range = None;
    if argc >= 6 {
        if args.eat("IDLE") {
            min_idle = Some(args.next_i64()?);
            if argc < 8 {
                return Err(CmdError::Syntax);
            }
        }
        let at = args.pos();
        args.seek(at + 2);
        let count = args.next_i64()?.max(0) as usize;
        args.seek(at);
        let start = parse_bound(&args.next_bytes()?, false)?;
        let end = parse_bound(&args.next_bytes()?, true)?;
        args.next_ref()?;
        let consumer = if args.remaining() > 0 { Some(args.next_bytes()?) } else { None };
        range = Some((start, end, count, consumer));
    }
    let now = ctx.now;
    let Some(g) = ctx.stream_read(&key)?.and_then(|s| s.groups.get(&group)) else {
        return Err(nogroup_key(&key, &group));
    };
    let Some((start, end, count, consumer)) = range else {
        if g.pel.is_empty() {
            return Ok(Frame::Array(vec![
                Frame::Integer(0),
                Frame::Null,
                Frame::Null,
                Frame::NullArray,
            ]));
        }
        let first = g.pel.keys().next().copied().unwrap_or_default();
        let last = g.pel.keys().next_back().copied().unwrap_or_default();
        let per: Vec<Frame> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pending.is_empty())
            .map(|(n, c)| {
                Frame::Array(vec![Frame::Bulk(n.clone()), Frame::bulk_int(c.pending.len() as i64)])
            })
            .collect();
        return Ok(Frame::Array(vec![
            Frame::Integer(g.pel.len() as i64),
            id_frame(first),
            id_frame(last),
            Frame::Array(per),
        ]));
    };
    let mut out = Vec::new();
    if start > end || count == 0 {
        return Ok(Frame::Array(out));
    }
    let row = |id: StreamId, p: &PendingEntry| {
        Frame::Array(vec![
            id_frame(id),
            Frame::Bulk(p.consumer.clone()),
            Frame::Integer(now.saturating_sub(p.delivery_time) as i64),
            Frame::Integer(p.delivery_count as i64),
        ])
    };
    let idle_ok =
        |p: &PendingEntry| min_idle.is_none_or(|m| now.saturating_sub(p.delivery_time) as i64 >= m);
    match consumer {
        Some(name) => {
            if let Some(c) = g.consumers.get(&name) {
                for id in c.pending.range(start..=end) {
                    if out.len() >= count {
                        break;
                    }
                    if let Some(p) = g.pel.get(id).filter(|p| idle_ok(p)) {
                        out.push(row(*id, p));
                    }
                }
            }
        }
        None => {
            for (id, p) in g.pel.range(start..=end) {
                if out.len() >= count {
                    break;
                }
                if idle_ok(p) {
                    out.push(row(*id, p));
                }
            }
        }
    }
    Ok(Frame::Array(out))
}

/// Reads an integer option of XCLAIM with its own error text.
fn claim_int(args: &mut Args, what: &str) -> Result<i64, CmdError> {
    let b = args.next_ref()?;
    crate::types::num::parse_i64(b)
        .ok_or_else(|| CmdError::dynamic(format!("ERR Invalid {what} argument for XCLAIM")))
}

/// Checks that `key` holds a stream with `group`, for XCLAIM/XAUTOCLAIM (a read lookup, as
/// in Redis: a missing key announces `keymiss`).
fn require_group(ctx: &mut Ctx<'_>, key: &[u8], group: &[u8]) -> Result<(), CmdError> {
    match ctx.stream_read(key)? {
        Some(s) if s.groups.contains_key(group) => Ok(()),
        _ => Err(nogroup_key(key, group)),
    }
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]`
fn xclaim(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_owned()?;
    let consumer = args.next_owned()?;
    require_group(ctx, &key, &group)?;
    let min_idle = crate::types::num::parse_i64(args.next_ref()?)
        .ok_or(CmdError::Static("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0) as u64;
    let mut ids = Vec::new();
    while let Some(a) = args.rest().first() {
        match parse_id(a) {
            Ok(id) => {
                ids.push(id);
                args.next_ref()?;
            }
            Err(_) => break,
        }
    }
    let now = ctx.now;
    let (mut force, mut justid) = (false, false);
    let mut delivery: Option<i64> = None;
    let mut retry: Option<i64> = None;
    let mut last_id = StreamId::ZERO;
    while args.remaining() > 0 {
        let more = args.remaining() > 1;
        if args.eat("FORCE") {
            force = true;
        } else if args.eat("JUSTID") {
            justid = true;
        } else if more && args.eat("IDLE") {
            delivery = Some((now as i64).saturating_sub(claim_int(args, "IDLE option")?));
        } else if more && args.eat("TIME") {
            delivery = Some(claim_int(args, "TIME option")?);
        } else if more && args.eat("RETRYCOUNT") {
            retry = Some(claim_int(args, "RETRYCOUNT option")?);
        } else if more && args.eat("LASTID") {
            last_id = parse_id(args.next_ref()?)?;
        } else {
            let mut t = b"ERR Unrecognized XCLAIM option '".to_vec();
            t.extend_from_slice(args.next_ref()?);
            t.push(b'\'');
            return Err(CmdError::dynamic(t));
        }
    }
    let delivery = match delivery {
        Some(d) if d >= 0 && d <= now as i64 => d as u64,
        _ => now,
    };
    let s = ctx.stream_write(&key)?.ok_or(CmdError::NoSuchKey)?;
    let Some(mut g) = s.groups.remove(&group) else { return Err(nogroup_key(&key, &group)) };
    let created = touch_consumer(&mut g, &consumer, now);
    if last_id > g.last_id {
        g.last_id = last_id;
    }
    let mut out = Vec::new();
    let mut claimed = Vec::new();
    for id in ids {
        let fields = s.get(id);
        if fields.is_none() {
            if let Some(p) = g.pel.remove(&id) {
                if let Some(c) = g.consumers.get_mut(&p.consumer) {
                    c.pending.remove(&id);
                }
            }
            continue;
        }
        let (owner, old_time, old_count) = match g.pel.get(&id) {
            Some(p) => (Some(p.consumer.clone()), p.delivery_time, p.delivery_count),
            None if force => (None, 0, 0),
            None => continue,
        };
        if owner.is_some() && min_idle > 0 && now.saturating_sub(old_time) < min_idle {
            continue;
        }
        let count = match retry {
            Some(r) if r >= 0 => r as u64,
            _ if justid => old_count,
            _ => old_count + 1,
        };
        claim_pending(&mut g, id, &consumer, delivery, count);
        if let Some(c) = g.consumers.get_mut(&consumer) {
            c.active_time = Some(now);
        }
        claimed.push(id);
        out.push(if justid { id_frame(id) } else { entry_frame(id, fields) });
    }
    let logged = claimed.iter().filter_map(|&id| xclaim_form(&key, &group, id, &g)).collect();
    s.groups.insert(group, g);
    ctx.propagate_as(logged);
    ctx.srv.ks.mark_dirty(1);
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", &key);
    }
    Ok(Frame::Array(out))
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
fn xautoclaim(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_owned()?;
    let consumer = args.next_owned()?;
    require_group(ctx, &key, &group)?;
    let min_idle = crate::types::num::parse_i64(args.next_ref()?)
        .ok_or(CmdError::Static("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0) as u64;
    let start = parse_bound(&args.next_bytes()?, false)?;
    let mut count: i64 = 100;
    let mut justid = false;
    const FACTOR: i64 = 10;
    while args.remaining() > 0 {
        if args.remaining() >= 2 && args.eat("COUNT") {
            count = match crate::types::num::parse_i64(args.next_ref()?) {
                Some(n) if (1..=i64::MAX / FACTOR).contains(&n) => n,
                _ => return Err(CmdError::Static("ERR COUNT must be > 0")),
            };
        } else if args.eat("JUSTID") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = ctx.now;
    let s = ctx.stream_write(&key)?.ok_or(CmdError::NoSuchKey)?;
    let Some(mut g) = s.groups.remove(&group) else { return Err(nogroup_key(&key, &group)) };
    let created = touch_consumer(&mut g, &consumer, now);
    let mut attempts = count * FACTOR;
    let mut remaining = count;
    let mut claimed = Vec::new();
    let mut claimed_ids = Vec::new();
    let mut deleted = Vec::new();
    let mut cursor = Some(start);
    while attempts > 0 && remaining > 0 {
        let Some(from) = cursor else { break };
        let Some((&id, p)) = g.pel.range(from..).next() else {
            cursor = None;
            break;
        };
        attempts -= 1;
        cursor = id.incr();
        match s.get(id) {
            None => {
                let owner = p.consumer.clone();
                g.pel.remove(&id);
                if let Some(c) = g.consumers.get_mut(&owner) {
                    c.pending.remove(&id);
                }
                deleted.push(id_frame(id));
                remaining -= 1;
            }
            Some(fields) => {
                if min_idle > 0 && now.saturating_sub(p.delivery_time) < min_idle {
                    continue;
                }
                let n = if justid { p.delivery_count } else { p.delivery_count + 1 };
                if let Some(c) = g.consumers.get_mut(&consumer) {
                    c.active_time = Some(now);
                }
                claim_pending(&mut g, id, &consumer, now, n);
                claimed_ids.push(id);
                claimed.push(if justid { id_frame(id) } else { entry_frame(id, Some(fields)) });
                remaining -= 1;
            }
        }
    }
    let next = cursor.and_then(|c| g.pel.range(c..).next().map(|(k, _)| *k)).unwrap_or_default();
    let logged = claimed_ids.iter().filter_map(|&id| xclaim_form(&key, &group, id, &g)).collect();
    s.groups.insert(group, g);
    ctx.propagate_as(logged);
    ctx.srv.ks.mark_dirty(1);
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", &key);
    }
    Ok(Frame::Array(vec![id_frame(next), Frame::Array(claimed), Frame::Array(deleted)]))
}

/// `XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]`
fn xgroup_create(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_owned()?;
    let idarg = args.next_bytes()?;
    let mut mkstream = false;
    let mut entries_read = None;
    while args.remaining() > 0 {
        if args.eat("MKSTREAM") {
            mkstream = true;
        } else if args.remaining() >= 2 && args.eat("ENTRIESREAD") {
            entries_read = parse_entries_read(args)?;
        } else {
            return Err(subcommand_syntax(args, "XGROUP"));
        }
    }
    let exists = ctx.stream_write(&key)?.is_some();
    if !exists && !mkstream {
        return Err(CmdError::Static("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
    }
    if args.len() > 8 {
        return Err(subcommand_syntax(args, "XGROUP"));
    }
    let id = group_id(ctx, &key, &idarg)?;
    if !exists {
        ctx.set_value(&key, Value::Stream(Box::default()), false);
    }
    let s = ctx.stream_write(&key)?.ok_or(CmdError::NoSuchKey)?;
    if s.groups.contains_key(&group) {
        return Err(CmdError::Static("BUSYGROUP Consumer Group name already exists"));
    }
    s.groups.insert(group, Group { last_id: id, entries_read, ..Group::default() });
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::STREAM, "xgroup-create", &key);
    Ok(Frame::ok())
}

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP.`
fn subcommand_syntax(args: &Args, cmd: &str) -> CmdError {
    let mut t = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    t.extend_from_slice(crate::error::c_prefix(args.get(1).map_or(&b""[..], |b| &b[..]), 128));
    t.extend_from_slice(format!("'. Try {cmd} HELP.").as_bytes());
    CmdError::dynamic(t)
}

/// Reads the value of ENTRIESREAD: a count, or -1 for "unknown".
fn parse_entries_read(args: &mut Args) -> Result<Option<u64>, CmdError> {
    let n = args.next_i64()?;
    if n < -1 {
        return Err(CmdError::Static("ERR value for ENTRIESREAD must be positive or -1"));
    }
    Ok(u64::try_from(n).ok())
}

/// The ID argument of XGROUP CREATE/SETID: `$` is the stream's last ID.
fn group_id(ctx: &mut Ctx<'_>, key: &[u8], arg: &[u8]) -> Result<StreamId, CmdError> {
    if arg == b"$" {
        Ok(ctx.stream_write(key)?.map_or(StreamId::ZERO, |s| s.last_id))
    } else {
        parse_id(arg)
    }
}

/// Looks up the stream and group for the XGROUP subcommands that need an existing group.
fn group_mut<'a>(
    ctx: &'a mut Ctx<'_>,
    key: &[u8],
    group: &[u8],
) -> Result<&'a mut Group, CmdError> {
    let missing = CmdError::Static("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
    let s = ctx.stream_write(key)?.ok_or(missing)?;
    s.groups.get_mut(group).ok_or_else(|| nogroup_for_key(group, key))
}

/// `XGROUP SETID key group id|$ [ENTRIESREAD entries-read]`
fn xgroup_setid(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_owned()?;
    let idarg = args.next_bytes()?;
    let mut entries_read = None;
    while args.remaining() > 0 {
        if args.remaining() >= 2 && args.eat("ENTRIESREAD") {
            entries_read = parse_entries_read(args)?;
        } else {
            return Err(subcommand_syntax(args, "XGROUP"));
        }
    }
    if args.len() != 5 && args.len() != 7 {
        return Err(subcommand_syntax(args, "XGROUP"));
    }
    group_mut(ctx, &key, &group)?;
    let id = group_id(ctx, &key, &idarg)?;
    let g = group_mut(ctx, &key, &group)?;
    g.last_id = id;
    g.entries_read = entries_read;
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::STREAM, "xgroup-setid", &key);
    Ok(Frame::ok())
}

/// `XGROUP DESTROY key group`
fn xgroup_destroy(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_bytes()?;
    let missing = CmdError::Static("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
    let s = ctx.stream_write(&key)?.ok_or(missing)?;
    if s.groups.remove(&group).is_none() {
        return Ok(Frame::Integer(0));
    }
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::STREAM, "xgroup-destroy", &key);
    // Clients blocked in XREADGROUP on this group must find out it is gone.
    ctx.signal_ready(&key);
    Ok(Frame::Integer(1))
}

/// `XGROUP CREATECONSUMER key group consumer`
fn xgroup_createconsumer(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_owned()?;
    let name = args.next_owned()?;
    let now = ctx.now;
    let g = group_mut(ctx, &key, &group)?;
    if g.consumers.contains_key(&name) {
        return Ok(Frame::Integer(0));
    }
    g.consumers.insert(name, Consumer { seen_time: now, ..Consumer::default() });
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::STREAM, "xgroup-createconsumer", &key);
    Ok(Frame::Integer(1))
}

/// `XGROUP DELCONSUMER key group consumer`
fn xgroup_delconsumer(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_owned()?;
    let name = args.next_owned()?;
    let g = group_mut(ctx, &key, &group)?;
    let Some(c) = g.consumers.remove(&name) else { return Ok(Frame::Integer(0)) };
    for id in &c.pending {
        g.pel.remove(id);
    }
    ctx.srv.ks.mark_dirty(1);
    ctx.notify(class::STREAM, "xgroup-delconsumer", &key);
    Ok(Frame::Integer(c.pending.len() as i64))
}

/// `XGROUP HELP`
fn xgroup_help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(&[
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Prints this help.",
    ]))
}

/// `XINFO HELP`
fn xinfo_help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    Ok(help_reply(&[
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Prints this help.",
    ]))
}

/// A map field name.
fn name(s: &'static str) -> Frame {
    Frame::Bulk(Bytes::from_static(s.as_bytes()))
}

/// An optional counter: an integer or a null.
fn opt_int(v: Option<u64>) -> Frame {
    opt_signed(v.map(|n| n as i64))
}

/// An optional signed number: an integer or a null.
fn opt_signed(v: Option<i64>) -> Frame {
    v.map_or(Frame::Null, Frame::Integer)
}

/// The stream at `key` for XINFO, or `ERR no such key`.
fn info_stream<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<&'a mut StreamValue, CmdError> {
    ctx.stream_read(key)?.ok_or(CmdError::NoSuchKey)
}

/// `XINFO CONSUMERS key group`
fn xinfo_consumers(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let group = args.next_bytes()?;
    let now = ctx.now;
    let s = info_stream(ctx, &key)?;
    let g = s.groups.get(&group).ok_or_else(|| nogroup_for_key(&group, &key))?;
    let rows = g
        .consumers
        .iter()
        .map(|(n, c)| {
            let inactive = c.active_time.map_or(-1, |t| now.saturating_sub(t) as i64);
            Frame::Map(vec![
                (name("name"), Frame::Bulk(n.clone())),
                (name("pending"), Frame::Integer(c.pending.len() as i64)),
                (name("idle"), Frame::Integer(now.saturating_sub(c.seen_time) as i64)),
                (name("inactive"), Frame::Integer(inactive)),
            ])
        })
        .collect();
    Ok(Frame::Array(rows))
}

/// `XINFO GROUPS key`
fn xinfo_groups(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let s = info_stream(ctx, &key)?;
    let rows = s
        .groups
        .iter()
        .map(|(n, g)| {
            Frame::Map(vec![
                (name("name"), Frame::Bulk(n.clone())),
                (name("consumers"), Frame::Integer(g.consumers.len() as i64)),
                (name("pending"), Frame::Integer(g.pel.len() as i64)),
                (name("last-delivered-id"), id_frame(g.last_id)),
                (name("entries-read"), opt_int(g.entries_read)),
                (name("lag"), opt_signed(s.lag(g))),
            ])
        })
        .collect();
    Ok(Frame::Array(rows))
}

/// An approximation of Redis's `radix-tree-nodes` for a stream with `keys` nodes: the
/// radix tree over 16-byte keys has about one inner node per key plus the root.
fn radix_nodes(keys: usize) -> i64 {
    if keys == 0 {
        1
    } else {
        (keys * 2) as i64
    }
}

/// `XINFO STREAM key [FULL [COUNT count]]`
fn xinfo_stream(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let mut full = false;
    let mut count: usize = 10;
    if args.remaining() > 0 {
        // Only `FULL` or `FULL COUNT n` may follow the key.
        if !args.eat("FULL") || (args.remaining() != 0 && args.remaining() != 2) {
            return Err(subcommand_syntax(args, "XINFO"));
        }
        full = true;
        if args.remaining() > 0 {
            if !args.eat("COUNT") {
                return Err(CmdError::Syntax);
            }
            count = args.next_i64()?.max(0) as usize;
        }
    }
    let s = info_stream(ctx, &key)?;
    let mut m = vec![
        (name("length"), Frame::Integer(s.len() as i64)),
        (name("radix-tree-keys"), Frame::Integer(s.node_count() as i64)),
        (name("radix-tree-nodes"), Frame::Integer(radix_nodes(s.node_count()))),
        (name("last-generated-id"), id_frame(s.last_id)),
        (name("max-deleted-entry-id"), id_frame(s.max_deleted_id)),
        (name("entries-added"), Frame::Integer(s.entries_added as i64)),
        (name("recorded-first-entry-id"), id_frame(s.first_id)),
    ];
    if !full {
        m.push((name("groups"), Frame::Integer(s.groups.len() as i64)));
        let edge = |last: bool| match s.edge(last) {
            Some((id, f)) => entry_frame(id, Some(f)),
            None => Frame::Null,
        };
        m.push((name("first-entry"), edge(false)));
        m.push((name("last-entry"), edge(true)));
        return Ok(Frame::Map(m));
    }
    m.push((name("entries"), entries_frame(s.range(StreamId::ZERO, StreamId::MAX, false, count))));
    let take = if count == 0 { usize::MAX } else { count };
    let groups = s
        .groups
        .iter()
        .map(|(n, g)| {
            let pel = g
                .pel
                .iter()
                .take(take)
                .map(|(id, p)| {
                    Frame::Array(vec![
                        id_frame(*id),
                        Frame::Bulk(p.consumer.clone()),
                        Frame::Integer(p.delivery_time as i64),
                        Frame::Integer(p.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cn, c)| {
                    let pending = c
                        .pending
                        .iter()
                        .take(take)
                        .filter_map(|id| g.pel.get(id).map(|p| (id, p)))
                        .map(|(id, p)| {
                            Frame::Array(vec![
                                id_frame(*id),
                                Frame::Integer(p.delivery_time as i64),
                                Frame::Integer(p.delivery_count as i64),
                            ])
                        })
                        .collect();
                    Frame::Map(vec![
                        (name("name"), Frame::Bulk(cn.clone())),
                        (name("seen-time"), Frame::Integer(c.seen_time as i64)),
                        (
                            name("active-time"),
                            Frame::Integer(c.active_time.map_or(-1, |t| t as i64)),
                        ),
                        (name("pel-count"), Frame::Integer(c.pending.len() as i64)),
                        (name("pending"), Frame::Array(pending)),
                    ])
                })
                .collect();
            Frame::Map(vec![
                (name("name"), Frame::Bulk(n.clone())),
                (name("last-delivered-id"), id_frame(g.last_id)),
                (name("entries-read"), opt_int(g.entries_read)),
                (name("lag"), opt_signed(s.lag(g))),
                (name("pel-count"), Frame::Integer(g.pel.len() as i64)),
                (name("pending"), Frame::Array(pel)),
                (name("consumers"), Frame::Array(consumers)),
            ])
        })
        .collect();
    m.push((name("groups"), Frame::Array(groups)));
    Ok(Frame::Map(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(parse_id(b"5").ok(), Some(StreamId::new(5, 0)));
        assert_eq!(parse_id(b"+5-1").ok(), Some(StreamId::new(5, 1)));
        assert_eq!(parse_id(b" 7").ok(), Some(StreamId::new(7, 0)));
        assert!(parse_id(b"-1").is_err());
        assert!(parse_id(b"1-2-3").is_err());
        assert!(parse_id(b"18446744073709551616").is_err());
        assert_eq!(parse_bound(b"5", true).ok(), Some(StreamId::new(5, u64::MAX)));
        assert_eq!(parse_bound(b"(5-1", false).ok(), Some(StreamId::new(5, 2)));
        assert!(parse_bound(b"(0-0", true).is_err());
        assert!(parse_bound(b"(-", false).is_err());
    }
}
