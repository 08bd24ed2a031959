//! Keyspace commands (Redis's `generic` group): DEL UNLINK EXISTS TYPE RENAME RENAMENX KEYS
//! SCAN RANDOMKEY, the EXPIRE family, TTL and friends, PERSIST TOUCH COPY MOVE and OBJECT.
//!
//! Which lookup each command uses matters, because clients can see it: reads that Redis does
//! with `LOOKUP_NOTOUCH` (EXISTS, TYPE, TTL, OBJECT) count keyspace hits/misses but leave the
//! access clock alone; write-side lookups (RENAME, EXPIRE, PERSIST, MOVE) refresh the clock
//! but count no hits or misses.

use super::spec::{acl, flags::*, unreachable_container, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::config::P;
use crate::error::{c_prefix, CmdError};
use crate::glob;
use crate::keyspace::{idle_seconds, Entry, Touch};
use crate::notify::class;
use crate::server::Ctx;
use crate::types::{StrValue, Value};
use bytes::Bytes;
use resp::Frame;

/// Tips of commands that fan out to every shard and sum the replies.
const MULTI_SHARD_SUM: &[&str] = &["request_policy:multi_shard", "response_policy:agg_sum"];
/// Tip of commands whose reply depends on time or randomness.
const NONDETERMINISTIC: &[&str] = &["nondeterministic_output"];

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("encoding", 3, READONLY, acl::KEYSPACE, KeyPos::new(2, 2, 1), object_encoding)
        .doc("generic", "2.2.3", "Returns the internal encoding of a Redis object.", "O(1)")
        .tips(NONDETERMINISTIC)
        .key_flags(&["RO"]),
    CommandSpec::new("freq", 3, READONLY, acl::KEYSPACE, KeyPos::new(2, 2, 1), object_freq)
        .doc(
            "generic",
            "4.0.0",
            "Returns the logarithmic access frequency counter of a Redis object.",
            "O(1)",
        )
        .tips(NONDETERMINISTIC)
        .key_flags(&["RO"]),
    CommandSpec::new("help", 2, LOADING | STALE, acl::KEYSPACE, KeyPos::NONE, object_help).doc(
        "generic",
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        "O(1)",
    ),
    CommandSpec::new("idletime", 3, READONLY, acl::KEYSPACE, KeyPos::new(2, 2, 1), object_idletime)
        .doc(
            "generic",
            "2.2.3",
            "Returns the time since the last access to a Redis object.",
            "O(1)",
        )
        .tips(NONDETERMINISTIC)
        .key_flags(&["RO"]),
    CommandSpec::new("refcount", 3, READONLY, acl::KEYSPACE, KeyPos::new(2, 2, 1), object_refcount)
        .doc("generic", "2.2.3", "Returns the reference count of a value of a key.", "O(1)")
        .tips(NONDETERMINISTIC)
        .key_flags(&["RO"]),
];

/// The keyspace family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, acl::KEYSPACE, KeyPos::ALL, del)
        .doc("generic", "1.0.0", "Deletes one or more keys.", "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).")
        .tips(MULTI_SHARD_SUM).key_flags(&["RM", "delete"]),
    CommandSpec::new("unlink", -2, WRITE | FAST, acl::KEYSPACE, KeyPos::ALL, del)
        .doc("generic", "4.0.0", "Asynchronously deletes one or more keys.", "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.")
        .tips(MULTI_SHARD_SUM).key_flags(&["RM", "delete"]),
    CommandSpec::new("exists", -2, READONLY | FAST, acl::KEYSPACE, KeyPos::ALL, exists)
        .doc("generic", "1.0.0", "Determines whether one or more keys exist.", "O(N) where N is the number of keys to check.")
        .tips(MULTI_SHARD_SUM).key_flags(&["RO"]),
    CommandSpec::new("type", 2, READONLY | FAST, acl::KEYSPACE, KeyPos::ONE, type_cmd)
        .doc("generic", "1.0.0", "Determines the type of value stored at a key.", "O(1)")
        .key_flags(&["RO"]),
    CommandSpec::new("rename", 3, WRITE, acl::KEYSPACE, KeyPos::new(1, 2, 1), rename)
        .doc("generic", "1.0.0", "Renames a key and overwrites the destination.", "O(1)")
        .key_specs(&[KeySpec::at(1, &["RW", "access", "delete"]), KeySpec::at(2, &["OW", "update"])]),
    CommandSpec::new("renamenx", 3, WRITE | FAST, acl::KEYSPACE, KeyPos::new(1, 2, 1), renamenx)
        .doc("generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", "O(1)")
        .key_specs(&[KeySpec::at(1, &["RW", "access", "delete"]), KeySpec::at(2, &["OW", "insert"])]),
    CommandSpec::new("keys", 2, READONLY, acl::KEYSPACE | acl::DANGEROUS, KeyPos::NONE, keys)
        .doc("generic", "1.0.0", "Returns all key names that match a pattern.", "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.")
        .tips(&["request_policy:all_shards", "nondeterministic_output_order"]),
    CommandSpec::new("scan", -2, READONLY, acl::KEYSPACE, KeyPos::NONE, scan)
        .doc("generic", "2.8.0", "Iterates over the key names in the database.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
        .tips(&["nondeterministic_output", "request_policy:special"]),
    CommandSpec::new("randomkey", 1, READONLY, acl::KEYSPACE, KeyPos::NONE, randomkey)
        .doc("generic", "1.0.0", "Returns a random key name from the database.", "O(1)")
        .tips(&["request_policy:all_shards", "nondeterministic_output"]),
    CommandSpec::new("expire", -3, WRITE | FAST, acl::KEYSPACE, KeyPos::ONE, expire)
        .doc("generic", "1.0.0", "Sets the expiration time of a key in seconds.", "O(1)"),
    CommandSpec::new("pexpire", -3, WRITE | FAST, acl::KEYSPACE, KeyPos::ONE, pexpire)
        .doc("generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", "O(1)"),
    CommandSpec::new("expireat", -3, WRITE | FAST, acl::KEYSPACE, KeyPos::ONE, expireat)
        .doc("generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", "O(1)"),
    CommandSpec::new("pexpireat", -3, WRITE | FAST, acl::KEYSPACE, KeyPos::ONE, pexpireat)
        .doc("generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "O(1)"),
    CommandSpec::new("ttl", 2, READONLY | FAST, acl::KEYSPACE, KeyPos::ONE, ttl)
        .doc("generic", "1.0.0", "Returns the expiration time in seconds of a key.", "O(1)")
        .tips(NONDETERMINISTIC),
    CommandSpec::new("pttl", 2, READONLY | FAST, acl::KEYSPACE, KeyPos::ONE, pttl)
        .doc("generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", "O(1)")
        .tips(NONDETERMINISTIC),
    CommandSpec::new("expiretime", 2, READONLY | FAST, acl::KEYSPACE, KeyPos::ONE, expiretime)
        .doc("generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", "O(1)"),
    CommandSpec::new("pexpiretime", 2, READONLY | FAST, acl::KEYSPACE, KeyPos::ONE, pexpiretime)
        .doc("generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "O(1)"),
    CommandSpec::new("persist", 2, WRITE | FAST, acl::KEYSPACE, KeyPos::ONE, persist)
        .doc("generic", "2.2.0", "Removes the expiration time of a key.", "O(1)"),
    CommandSpec::new("touch", -2, READONLY | FAST, acl::KEYSPACE, KeyPos::ALL, touch)
        .doc("generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "O(N) where N is the number of keys that will be touched.")
        .tips(MULTI_SHARD_SUM).key_flags(&["RO"]),
    CommandSpec::new("copy", -3, WRITE | DENYOOM, acl::KEYSPACE, KeyPos::new(1, 2, 1), copy)
        .doc("generic", "6.2.0", "Copies the value of a key to a new key.", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.")
        .key_specs(&[KeySpec::at(1, &["RO", "access"]), KeySpec::at(2, &["OW", "update"])]),
    CommandSpec::new("move", 3, WRITE | FAST, acl::KEYSPACE, KeyPos::ONE, move_cmd)
        .doc("generic", "1.0.0", "Moves a key to another database.", "O(1)")
        .key_flags(&["RW", "access", "update"]),
    CommandSpec::new("object", -2, 0, 0, KeyPos::NONE, unreachable_container)
        .doc("generic", "2.2.3", "A container for object introspection commands.", "Depends on subcommand.")
        .subs(OBJECT_SUBCOMMANDS),
];

impl Ctx<'_> {
    /// Looks `key` up the way Redis's `LOOKUP_NOTOUCH` reads do: lazy expiry and hit/miss
    /// counting, but the access clock is left alone.
    fn peek(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (db, now) = (self.db(), self.now);
        self.srv.ks.lookup_read(db, key, now, Touch::No)
    }

    /// Reads a database index argument the way Redis's MOVE and COPY do: a 32-bit integer,
    /// then a range check against `databases`.
    fn db_index_arg(&self, args: &mut Args) -> Result<usize, CmdError> {
        let n = args.next_i64()?;
        if i32::try_from(n).is_err() {
            return Err(CmdError::Static(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ));
        }
        usize::try_from(n)
            .ok()
            .filter(|&i| i < self.srv.ks.db_count())
            .ok_or(CmdError::DbIndexOutOfRange)
    }
}

/// `DEL key [key ...]` and `UNLINK key [key ...]`: how many of the keys existed. (Keel frees
/// memory in place, so UNLINK's asynchronous freeing is just DEL.)
fn del(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut n = 0;
    while args.remaining() > 0 {
        let key = args.next_bytes()?;
        if ctx.delete(&key) {
            ctx.notify(class::GENERIC, "del", &key);
            n += 1;
        }
    }
    Ok(Frame::Integer(n))
}

/// `EXISTS key [key ...]`: how many of the keys exist; a key named twice counts twice.
fn exists(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut n = 0;
    while args.remaining() > 0 {
        let key = args.next_bytes()?;
        if ctx.peek(&key).is_some() {
            n += 1;
        }
    }
    Ok(Frame::Integer(n))
}

/// `TOUCH key [key ...]`: refreshes the access clock of the keys that exist and counts
/// them. It touches even for a `CLIENT NO-TOUCH` client: touching is its whole point.
fn touch(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db(), ctx.now);
    let mut n = 0;
    while args.remaining() > 0 {
        let key = args.next_bytes()?;
        if ctx.srv.ks.lookup_read(db, &key, now, Touch::Yes).is_some() {
            n += 1;
        }
    }
    Ok(Frame::Integer(n))
}

/// `TYPE key`: the type name, or `none`.
fn type_cmd(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    Ok(Frame::simple(ctx.peek(&key).map_or("none", |e| e.value.type_name())))
}

/// `RENAME key newkey`: OK.
fn rename(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    rename_generic(ctx, args, false)
}

/// `RENAMENX key newkey`: 1 if renamed, 0 if `newkey` exists.
fn renamenx(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    rename_generic(ctx, args, true)
}

/// RENAME and RENAMENX. A missing source is an error even when both names are equal; an
/// existing key renamed to itself changes nothing (RENAMENX then answers 0, since the
/// target exists). The value keeps its expire time and access clock.
fn rename_generic(ctx: &mut Ctx<'_>, args: &mut Args, nx: bool) -> Result<Frame, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let done = if nx { Frame::Integer(1) } else { Frame::ok() };
    if ctx.lookup_write(&src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        return Ok(if nx { Frame::Integer(0) } else { done });
    }
    // Looked up even for RENAME, so an expired destination is expired (and counted) first.
    if ctx.lookup_write(&dst).is_some() && nx {
        return Ok(Frame::Integer(0));
    }
    let (db, now) = (ctx.db(), ctx.now);
    if let Some((entry, expire)) = ctx.srv.ks.take(db, &src, now) {
        ctx.srv.ks.put(db, &dst, entry, expire);
        ctx.notify(class::GENERIC, "rename_from", &src);
        ctx.notify(class::GENERIC, "rename_to", &dst);
    }
    Ok(done)
}

/// `KEYS pattern`: every key matching the glob pattern. Expired keys are skipped but not
/// deleted here (as Redis does), so KEYS never writes.
fn keys(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let pattern = args.next_bytes()?;
    let all = &pattern[..] == b"*";
    let (dbi, now) = (ctx.db(), ctx.now);
    let ks = &ctx.srv.ks;
    let out = ks
        .db(dbi)
        .dict()
        .iter()
        .filter(|(k, _)| (all || glob::matches(&pattern, k, false)) && !ks.is_expired(dbi, k, now))
        .map(|(k, _)| Frame::bulk(k))
        .collect();
    Ok(Frame::Array(out))
}

/// Parses a SCAN cursor the way C's `strtoul` reads it, which Redis relies on: an optional
/// sign (a `-` negates modulo 2^64), decimal digits, nothing after them; the empty string is
/// cursor 0. Leading whitespace, other trailing bytes and overflow are invalid.
pub(crate) fn parse_cursor(b: &[u8]) -> Option<u64> {
    // strtoul stops at a NUL byte and Redis only checks that it stopped at the end of the C
    // string, so anything after a NUL is ignored.
    let b = c_prefix(b, b.len());
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        // No digits at all: strtoul consumed nothing, which only the empty string survives.
        return b.is_empty().then_some(0);
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { n.wrapping_neg() } else { n })
}

/// Reads a SCAN-family cursor (`ERR invalid cursor` if it is not one).
pub(crate) fn scan_cursor(args: &mut Args) -> Result<u64, CmdError> {
    parse_cursor(args.next_ref()?).ok_or(CmdError::Static("ERR invalid cursor"))
}

/// The options of SCAN, HSCAN, SSCAN and ZSCAN.
pub(crate) struct ScanOptions {
    /// `COUNT`: how much work one call does (default 10, at least 1).
    pub count: usize,
    /// `MATCH`: a glob; `*` is dropped since it matches everything.
    pub pattern: Option<Bytes>,
    /// `TYPE` (keyspace SCAN only).
    pub type_name: Option<Bytes>,
}

/// Parses `[MATCH pattern] [COUNT count] [TYPE type]` in any order, the last of each
/// winning, with Redis's errors: an option without its value or COUNT below 1 is a syntax
/// error, and TYPE is one too where `allow_type` is false (the collection scans).
pub(crate) fn scan_options(args: &mut Args, allow_type: bool) -> Result<ScanOptions, CmdError> {
    let mut opts = ScanOptions { count: 10, pattern: None, type_name: None };
    while args.remaining() > 0 {
        if args.remaining() < 2 {
            return Err(CmdError::Syntax);
        }
        if args.eat("count") {
            let n = args.next_i64()?;
            opts.count = usize::try_from(n).ok().filter(|&n| n >= 1).ok_or(CmdError::Syntax)?;
        } else if args.eat("match") {
            let p = args.next_bytes()?;
            opts.pattern = (&p[..] != b"*").then_some(p);
        } else if allow_type && args.eat("type") {
            opts.type_name = Some(args.next_bytes()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(opts)
}

/// A SCAN-family reply: the next cursor as a bulk string, then the batch.
pub(crate) fn scan_reply(cursor: u64, batch: Vec<Frame>) -> Frame {
    Frame::Array(vec![
        Frame::bulk(itoa::Buffer::new().format(cursor).as_bytes()),
        Frame::Array(batch),
    ])
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: one step of a full iteration.
/// The cursor comes from the dict's reverse-binary scan, so a complete iteration returns
/// every key present throughout, even if the table grows or shrinks in between.
fn scan(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let cursor = scan_cursor(args)?;
    let ScanOptions { count, pattern, type_name } = scan_options(args, true)?;
    let count = count as i64;
    let (dbi, now) = (ctx.db(), ctx.now);
    let dict = ctx.srv.ks.db(dbi).dict();
    let mut found: Vec<Box<[u8]>> = Vec::new();
    let mut sampled: i64 = 0;
    // Like Redis, visit at most 10 buckets per requested key so a sparse table cannot make
    // one call take long; COUNT bounds the keys looked at, matching the pattern or not.
    let mut budget = count.saturating_mul(10);
    let mut next = cursor;
    loop {
        next = dict.scan(next, |k, _| {
            sampled += 1;
            if pattern.as_ref().is_none_or(|p| glob::matches(p, k, false)) {
                found.push(k.into());
            }
        });
        budget -= 1;
        if next == 0 || budget <= 0 || sampled >= count {
            break;
        }
    }
    let mut keys = Vec::with_capacity(found.len());
    for key in found {
        // Redis 7.2 checks the type with a real read lookup (counting a keyspace hit or
        // miss, expiring the key if due); without TYPE it only expires.
        let keep = match &type_name {
            Some(t) => ctx
                .peek(&key)
                .is_some_and(|e| t.eq_ignore_ascii_case(e.value.type_name().as_bytes())),
            None => !ctx.srv.ks.expire_if_needed(dbi, &key, now),
        };
        if keep {
            keys.push(Frame::bulk(&key));
        }
    }
    Ok(scan_reply(next, keys))
}

/// `RANDOMKEY`: a random key, or null when the database is empty.
fn randomkey(ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    let (db, now) = (ctx.db(), ctx.now);
    let srv = &mut *ctx.srv;
    Ok(match srv.ks.random_key(db, now, &mut srv.rng) {
        Some(k) => Frame::bulk(&k),
        None => Frame::Null,
    })
}

/// The unit of an EXPIRE-family time argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

/// `EXPIRE key seconds [NX | XX | GT | LT]`: 1 if the timeout was set, 0 if not.
fn expire(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let now = ctx.now;
    expire_generic(ctx, args, "expire", Unit::Seconds, now)
}

/// `PEXPIRE key milliseconds [NX | XX | GT | LT]`: as EXPIRE, in milliseconds.
fn pexpire(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let now = ctx.now;
    expire_generic(ctx, args, "pexpire", Unit::Millis, now)
}

/// `EXPIREAT key unix-time-seconds [NX | XX | GT | LT]`: as EXPIRE, at an absolute time.
fn expireat(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    expire_generic(ctx, args, "expireat", Unit::Seconds, 0)
}

/// `PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]`: as EXPIREAT, in milliseconds.
fn pexpireat(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    expire_generic(ctx, args, "pexpireat", Unit::Millis, 0)
}

/// The EXPIRE family. Order of checks as Redis: options, then the number (overflow in the
/// unit conversion or when adding `base` is an error), then the key, then the NX/XX/GT/LT
/// condition (a key without a TTL counts as an infinite TTL). A time already past deletes
/// the key and still answers 1.
fn expire_generic(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    name: &'static str,
    unit: Unit,
    base: u64,
) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let time_pos = args.pos();
    args.seek(time_pos + 1);
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    while args.remaining() > 0 {
        let opt = args.next_ref()?;
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                let mut text = b"ERR Unsupported option ".to_vec();
                text.extend_from_slice(c_prefix(opt, opt.len()));
                return Err(CmdError::dynamic(text));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::Static(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::Static("ERR GT and LT options at the same time are not compatible"));
    }
    args.seek(time_pos);
    let mut when = args.next_i64()?;
    let invalid = CmdError::InvalidExpireTime(name);
    if unit == Unit::Seconds {
        when = when.checked_mul(1000).ok_or(invalid.clone())?;
    }
    // `base` is a Unix time in ms, far below i64::MAX.
    let when = when.checked_add(base as i64).ok_or(invalid)?;
    if ctx.lookup_write(&key).is_none() {
        return Ok(Frame::Integer(0));
    }
    let current = ctx.get_expire(&key).map(|t| t as i64);
    let refused = match current {
        Some(cur) => nx || (gt && when <= cur) || (lt && when >= cur),
        None => xx || gt,
    };
    if refused {
        return Ok(Frame::Integer(0));
    }
    // While the AOF is replayed a past time is stored as is: the log says when the key went.
    match u64::try_from(when) {
        Ok(at) if at > ctx.now || ctx.srv.ks.loading => {
            ctx.set_expire(&key, at);
            ctx.notify(class::GENERIC, "expire", &key);
            // The AOF gets PEXPIREAT with the absolute time, the options kept (as Redis).
            if name != "pexpireat" {
                let mut argv = args.argv().to_vec();
                argv[0] = Bytes::from_static(b"PEXPIREAT");
                argv[2] = Bytes::from(at.to_string());
                ctx.propagate_as(vec![argv]);
            }
        }
        _ => {
            ctx.delete(&key);
            ctx.notify(class::GENERIC, "del", &key);
            ctx.propagate_as(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
        }
    }
    Ok(Frame::Integer(1))
}

/// What TTL-like commands report.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TtlForm {
    /// Remaining time (TTL, PTTL).
    Relative,
    /// The absolute Unix time (EXPIRETIME, PEXPIRETIME).
    Absolute,
}

/// `TTL key`: seconds to live (rounded), -1 without a timeout, -2 if missing.
fn ttl(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    ttl_generic(ctx, args, TtlForm::Relative, Unit::Seconds)
}

/// `PTTL key`: as TTL, in milliseconds.
fn pttl(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    ttl_generic(ctx, args, TtlForm::Relative, Unit::Millis)
}

/// `EXPIRETIME key`: the expire time as Unix seconds (rounded), -1 or -2 as TTL.
fn expiretime(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    ttl_generic(ctx, args, TtlForm::Absolute, Unit::Seconds)
}

/// `PEXPIRETIME key`: the expire time as Unix milliseconds, -1 or -2 as TTL.
fn pexpiretime(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    ttl_generic(ctx, args, TtlForm::Absolute, Unit::Millis)
}

/// TTL, PTTL, EXPIRETIME and PEXPIRETIME. Seconds are rounded to the nearest, as Redis does.
fn ttl_generic(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    form: TtlForm,
    unit: Unit,
) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    if ctx.peek(&key).is_none() {
        return Ok(Frame::Integer(-2));
    }
    let Some(at) = ctx.get_expire(&key) else {
        return Ok(Frame::Integer(-1));
    };
    let ms = match form {
        TtlForm::Relative => at.saturating_sub(ctx.now),
        TtlForm::Absolute => at,
    };
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    Ok(Frame::Integer(match unit {
        Unit::Millis => ms,
        Unit::Seconds => ms.saturating_add(500) / 1000,
    }))
}

/// `PERSIST key`: 1 if a timeout was removed, 0 if the key is missing or had none.
fn persist(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    if ctx.lookup_write(&key).is_none() {
        return Ok(Frame::Integer(0));
    }
    let db = ctx.db();
    let removed = ctx.srv.ks.persist(db, &key);
    if removed {
        ctx.notify(class::GENERIC, "persist", &key);
    }
    Ok(Frame::Integer(i64::from(removed)))
}

/// `COPY source destination [DB destination-db] [REPLACE]`: 1 if copied, 0 if the source is
/// missing or the destination exists (without REPLACE). The copy keeps the expire time and
/// gets a fresh access clock, as a newly created object does in Redis.
fn copy(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let src = args.next_bytes()?;
    let dst = args.next_bytes()?;
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    while args.remaining() > 0 {
        if args.eat("replace") {
            replace = true;
        } else if args.remaining() >= 2 && args.eat("db") {
            dst_db = ctx.db_index_arg(args)?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if src_db == dst_db && src == dst {
        return Err(CmdError::SameObject);
    }
    let now = ctx.now;
    let Some(entry) = ctx.lookup_read(&src) else {
        return Ok(Frame::Integer(0));
    };
    let mut entry = entry.clone();
    let expire = ctx.get_expire(&src);
    if ctx.srv.ks.lookup_write(dst_db, &dst, now).is_some() && !replace {
        return Ok(Frame::Integer(0));
    }
    entry.lru = ctx.srv.ks.access.fresh(now);
    entry.unshared = true;
    ctx.srv.ks.put(dst_db, &dst, entry, expire);
    ctx.notify_in(dst_db, class::GENERIC, "copy_to", &dst);
    Ok(Frame::Integer(1))
}

/// `MOVE key db`: 1 if moved, 0 if the key is missing here or already exists there.
fn move_cmd(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let dst_db = ctx.db_index_arg(args)?;
    let src_db = ctx.db();
    if src_db == dst_db {
        return Err(CmdError::SameObject);
    }
    let now = ctx.now;
    if ctx.lookup_write(&key).is_none() || ctx.srv.ks.lookup_write(dst_db, &key, now).is_some() {
        return Ok(Frame::Integer(0));
    }
    if let Some((entry, expire)) = ctx.srv.ks.take(src_db, &key, now) {
        ctx.srv.ks.put(dst_db, &key, entry, expire);
        ctx.notify(class::GENERIC, "move_from", &key);
        ctx.notify_in(dst_db, class::GENERIC, "move_to", &key);
    }
    Ok(Frame::Integer(1))
}

/// Integers Redis keeps as shared objects (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;
/// The refcount Redis reports for a shared object (`OBJ_SHARED_REFCOUNT`, INT_MAX).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Runs `f` on the entry at the key argument of an OBJECT subcommand (with whether an LFU
/// policy is set, and the time), or replies null when the key is missing: that is checked
/// before any policy error, as Redis does.
fn object_with(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    f: impl FnOnce(&Entry, bool, u64) -> Result<Frame, CmdError>,
) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    // Under an LFU policy Redis tracks access frequency instead of idle time.
    let lfu = ctx.srv.config.word(P::MaxmemoryPolicy).ends_with("lfu");
    let (db, now) = (ctx.db(), ctx.now);
    // OBJECT looks keys up without touching them or announcing misses.
    match ctx.srv.ks.lookup_read(db, &key, now, Touch::Quiet) {
        Some(entry) => f(entry, lfu, now),
        None => Ok(Frame::Null),
    }
}

/// `OBJECT ENCODING key`: the encoding name, or null.
fn object_encoding(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    object_with(ctx, args, |e, _, _| Ok(Frame::bulk(e.value.encoding().as_bytes())))
}

/// `OBJECT REFCOUNT key`: 1, or INT_MAX for the small integers Redis shares.
fn object_refcount(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    object_with(ctx, args, |e, _, _| Ok(Frame::Integer(refcount(e))))
}

/// The refcount Redis would report for the entry: 1, or INT_MAX for the small integers it
/// shares (also `DEBUG OBJECT`'s).
pub(crate) fn refcount(e: &Entry) -> i64 {
    let shared = !e.unshared
        && matches!(e.value, Value::Str(StrValue::Int(n)) if (0..SHARED_INTEGERS).contains(&n));
    if shared {
        SHARED_REFCOUNT
    } else {
        1
    }
}

/// `OBJECT IDLETIME key`: seconds since the last access; an error under an LFU policy.
fn object_idletime(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    object_with(ctx, args, |e, lfu, now| {
        if lfu {
            return Err(CmdError::Static("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        Ok(Frame::Integer(idle_seconds(e.lru, now) as i64))
    })
}

/// `OBJECT FREQ key`: the LFU access counter (0..=255); an error unless an LFU policy is set.
fn object_freq(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    // The counter is reported after the decay it is owed, without storing it (OBJECT
    // does not count as an access).
    let access = ctx.srv.ks.access.clone();
    object_with(ctx, args, |e, lfu, now| {
        if !lfu {
            return Err(CmdError::Static("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        Ok(Frame::Integer(i64::from(access.decayed(e.lru, now))))
    })
}

/// `OBJECT HELP`: the subcommand summary, one status line each.
fn object_help(_ctx: &mut Ctx<'_>, _args: &mut Args) -> Result<Frame, CmdError> {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Frame::Array(LINES.iter().map(|l| Frame::simple(l)).collect()))
}
