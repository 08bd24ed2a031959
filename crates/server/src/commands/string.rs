//! String commands (Redis's `string` group): GET SET and variants, the multi-key forms,
//! in-place edits (APPEND, SETRANGE), ranges, counters, and LCS.
//!
//! Handlers follow the order of checks Redis makes (argument parsing, then expire
//! validation, then key lookups and type checks), because the first failing check decides
//! which error a client sees.

use super::introspection::set_keys;
use super::spec::{acl, flags::*, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::config::P;
use crate::error::CmdError;
use crate::notify::class;
use crate::server::Ctx;
use crate::types::num::{self, AddError};
use crate::types::{StrValue, Value};
use bytes::Bytes;
use resp::Frame;

/// Redis's summary for GETRANGE and SUBSTR, which share one implementation.
const RANGE_COMPLEXITY: &str = "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.";

/// The string family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY | FAST, acl::STRING, KeyPos::ONE, get)
        .doc("string", "1.0.0", "Returns the string value of a key.", "O(1)"),
    CommandSpec::new("set", -3, WRITE | DENYOOM, acl::STRING, KeyPos::ONE, set).doc(
        "string",
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "O(1)",
    )
    .key_specs(&[KeySpec::at(1, &["RW", "access", "update", "variable_flags"]).notes("RW and ACCESS due to the optional `GET` argument")])
    .getkeys(set_keys),
    CommandSpec::new("setnx", 3, WRITE | DENYOOM | FAST, acl::STRING, KeyPos::ONE, setnx).doc(
        "string",
        "1.0.0",
        "Set the string value of a key only when the key doesn't exist.",
        "O(1)",
    )
        .key_flags(&["OW", "insert"]),
    CommandSpec::new("setex", 4, WRITE | DENYOOM, acl::STRING, KeyPos::ONE, setex).doc(
        "string",
        "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        "O(1)",
    )
        .key_flags(&["OW", "update"]),
    CommandSpec::new("psetex", 4, WRITE | DENYOOM, acl::STRING, KeyPos::ONE, psetex).doc(
        "string",
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        "O(1)",
    )
        .key_flags(&["OW", "update"]),
    CommandSpec::new("getset", 3, WRITE | DENYOOM | FAST, acl::STRING, KeyPos::ONE, getset).doc(
        "string",
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
        "O(1)",
    )
        .key_flags(&["RW", "access", "update"]),
    CommandSpec::new("getdel", 2, WRITE | FAST, acl::STRING, KeyPos::ONE, getdel).doc(
        "string",
        "6.2.0",
        "Returns the string value of a key after deleting the key.",
        "O(1)",
    )
        .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("getex", -2, WRITE | FAST, acl::STRING, KeyPos::ONE, getex).doc(
        "string",
        "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
        "O(1)",
    )
    .key_specs(&[KeySpec::at(1, &["RW", "access", "update"]).notes("RW and UPDATE because it changes the TTL")]),
    CommandSpec::new("mget", -2, READONLY | FAST, acl::STRING, KeyPos::ALL, mget)
        .doc(
            "string",
            "1.0.0",
            "Atomically returns the string values of one or more keys.",
            "O(N) where N is the number of keys to retrieve.",
        )
        .tips(&["request_policy:multi_shard"]),
    CommandSpec::new("mset", -3, WRITE | DENYOOM, acl::STRING, KeyPos::new(1, -1, 2), mset)
        .doc(
            "string",
            "1.0.1",
            "Atomically creates or modifies the string values of one or more keys.",
            "O(N) where N is the number of keys to set.",
        )
        .tips(&["request_policy:multi_shard", "response_policy:all_succeeded"])
        .key_flags(&["OW", "update"]),
    CommandSpec::new("msetnx", -3, WRITE | DENYOOM, acl::STRING, KeyPos::new(1, -1, 2), msetnx)
        .doc(
            "string",
            "1.0.1",
            "Atomically modifies the string values of one or more keys only when all keys don't exist.",
            "O(N) where N is the number of keys to set.",
        )
        .tips(&["request_policy:multi_shard", "response_policy:agg_min"])
        .key_flags(&["OW", "insert"]),
    CommandSpec::new("append", 3, WRITE | DENYOOM | FAST, acl::STRING, KeyPos::ONE, append).doc(
        "string",
        "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.",
    )
        .key_flags(&["RW", "insert"]),
    CommandSpec::new("strlen", 2, READONLY | FAST, acl::STRING, KeyPos::ONE, strlen)
        .doc("string", "2.2.0", "Returns the length of a string value.", "O(1)")
        .key_flags(&["RO"]),
    CommandSpec::new("getrange", 4, READONLY, acl::STRING, KeyPos::ONE, getrange).doc(
        "string",
        "2.4.0",
        "Returns a substring of the string stored at a key.",
        RANGE_COMPLEXITY,
    ),
    CommandSpec::new("setrange", 4, WRITE | DENYOOM, acl::STRING, KeyPos::ONE, setrange).doc(
        "string",
        "2.2.0",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
    ),
    CommandSpec::new("substr", 4, READONLY, acl::STRING, KeyPos::ONE, getrange).doc(
        "string",
        "1.0.0",
        "Returns a substring from a string value.",
        RANGE_COMPLEXITY,
    ),
    CommandSpec::new("incr", 2, WRITE | DENYOOM | FAST, acl::STRING, KeyPos::ONE, incr).doc(
        "string",
        "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        "O(1)",
    )
        .key_flags(&["RW", "access", "update"]),
    CommandSpec::new("decr", 2, WRITE | DENYOOM | FAST, acl::STRING, KeyPos::ONE, decr).doc(
        "string",
        "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        "O(1)",
    )
        .key_flags(&["RW", "access", "update"]),
    CommandSpec::new("incrby", 3, WRITE | DENYOOM | FAST, acl::STRING, KeyPos::ONE, incrby).doc(
        "string",
        "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        "O(1)",
    )
        .key_flags(&["RW", "access", "update"]),
    CommandSpec::new("decrby", 3, WRITE | DENYOOM | FAST, acl::STRING, KeyPos::ONE, decrby).doc(
        "string",
        "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        "O(1)",
    )
        .key_flags(&["RW", "access", "update"]),
    CommandSpec::new(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        acl::STRING,
        KeyPos::ONE,
        incrbyfloat,
    )
    .doc(
        "string",
        "2.6.0",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        "O(1)",
    )
        .key_flags(&["RW", "access", "update"]),
    CommandSpec::new("lcs", -3, READONLY, acl::STRING, KeyPos::new(1, 2, 1), lcs).doc(
        "string",
        "7.0.0",
        "Finds the longest common substring.",
        "O(N*M) where N and M are the lengths of s1 and s2, respectively",
    ),
];

impl Ctx<'_> {
    /// Looks up a string for modification: `Ok(None)` if missing, `WRONGTYPE` if the key
    /// holds another type. No hit/miss counting, as for every write lookup.
    fn write_str(&mut self, key: &[u8]) -> Result<Option<&mut StrValue>, CmdError> {
        match self.lookup_write(key) {
            None => Ok(None),
            Some(e) => e.value.as_str_mut().map(Some).ok_or(CmdError::WrongType),
        }
    }

    /// The value of a string key as bytes, for commands that reply with it.
    fn get_bytes(&mut self, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
        Ok(self.read_str(key)?.map(|s| s.to_bytes()))
    }

    /// The longest string a command may build (`proto-max-bulk-len`).
    fn max_string_len(&self) -> u64 {
        u64::try_from(self.srv.config.int(P::ProtoMaxBulkLen)).unwrap_or(0)
    }
}

/// Fails with the proto-max-bulk-len error if a string of `size + extra` bytes would be
/// longer than `limit`.
fn check_string_length(limit: u64, size: usize, extra: usize) -> Result<(), CmdError> {
    match (size as u64).checked_add(extra as u64) {
        Some(total) if total <= limit => Ok(()),
        _ => Err(CmdError::StringTooLong),
    }
}

/// The value as a bulk reply, or null.
fn bulk_or_null(v: Option<Bytes>) -> Frame {
    v.map_or(Frame::Null, Frame::Bulk)
}

/// How an expire argument is read: its unit, and whether it is relative to now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireKind {
    /// `EX seconds`
    Ex,
    /// `PX milliseconds`
    Px,
    /// `EXAT unix-seconds`
    ExAt,
    /// `PXAT unix-milliseconds`
    PxAt,
}

impl ExpireKind {
    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn relative(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::Px)
    }
}

/// Options of SET (and of GETEX, which accepts only the expire ones and PERSIST).
#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, Bytes)>,
}

/// Which command's option grammar to apply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grammar {
    Set,
    GetEx,
}

/// Parses SET/GETEX options. Redis's rule: an option is accepted only if it does not
/// conflict with one already seen, so `NX XX`, `EX 1 PX 1` or `KEEPTTL EX 1` are syntax
/// errors while a repeated option (`NX NX`, `EX 1 EX 2`) is fine, the last value winning.
fn parse_set_options(args: &mut Args, grammar: Grammar) -> Result<SetOptions, CmdError> {
    let mut o = SetOptions::default();
    let is_set = grammar == Grammar::Set;
    while args.remaining() > 0 {
        let has_value = args.remaining() > 1;
        let expire_kind = |o: &SetOptions| o.expire.as_ref().map(|(k, _)| *k);
        let opt = args.next_bytes()?;
        let kind = match_expire_keyword(&opt);
        if is_set && opt.eq_ignore_ascii_case(b"NX") && !o.xx {
            o.nx = true;
        } else if is_set && opt.eq_ignore_ascii_case(b"XX") && !o.nx {
            o.xx = true;
        } else if is_set && opt.eq_ignore_ascii_case(b"GET") {
            o.get = true;
        } else if is_set && opt.eq_ignore_ascii_case(b"KEEPTTL") && o.expire.is_none() {
            o.keepttl = true;
        } else if !is_set && opt.eq_ignore_ascii_case(b"PERSIST") && o.expire.is_none() {
            o.persist = true;
        } else if let Some(kind) = kind.filter(|&k| {
            has_value && !o.keepttl && !o.persist && expire_kind(&o).is_none_or(|seen| seen == k)
        }) {
            o.expire = Some((kind, args.next_bytes()?));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// The expire option a keyword names, if it names one.
fn match_expire_keyword(word: &[u8]) -> Option<ExpireKind> {
    [
        (&b"EX"[..], ExpireKind::Ex),
        (b"PX", ExpireKind::Px),
        (b"EXAT", ExpireKind::ExAt),
        (b"PXAT", ExpireKind::PxAt),
    ]
    .into_iter()
    .find(|(name, _)| word.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind)
}

/// Turns an expire argument into an absolute Unix time in ms. Not an integer: the integer
/// error; zero, negative, or overflowing once converted: `invalid expire time in '<cmd>'`.
fn expire_at_ms(ctx: &Ctx<'_>, kind: ExpireKind, raw: &[u8]) -> Result<u64, CmdError> {
    let invalid = CmdError::InvalidExpireTime(ctx.spec.name);
    let n = num::parse_i64(raw).ok_or(CmdError::NotInteger)?;
    if n <= 0 {
        return Err(invalid);
    }
    let ms = if kind.in_seconds() { n.checked_mul(1000) } else { Some(n) };
    let base = if kind.relative() { i64::try_from(ctx.now).ok() } else { Some(0) };
    let when = ms.zip(base).and_then(|(ms, base)| ms.checked_add(base));
    when.and_then(|t| u64::try_from(t).ok()).ok_or(invalid)
}

/// The outcome of [`set_generic`].
struct SetOutcome {
    /// False when NX or XX stopped the write.
    written: bool,
    /// The old value when `GET` was asked for (null if there was none).
    old: Frame,
}

/// What SET, SETNX, SETEX and PSETEX share: validate the expire time, read the old value
/// for `GET` (WRONGTYPE stops everything), apply NX/XX, store the value and its expire time.
fn set_generic(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: &[u8],
    o: &SetOptions,
) -> Result<SetOutcome, CmdError> {
    let expire_at = match &o.expire {
        Some((kind, raw)) => Some(expire_at_ms(ctx, *kind, raw)?),
        None => None,
    };
    let old = if o.get { bulk_or_null(ctx.get_bytes(key)?) } else { Frame::Null };
    let found = ctx.lookup_write(key).is_some();
    if (o.nx && found) || (o.xx && !found) {
        return Ok(SetOutcome { written: false, old });
    }
    ctx.set_value(key, Value::Str(StrValue::from_bytes(value)), o.keepttl);
    ctx.notify(class::STRING, "set", key);
    if let Some(when) = expire_at {
        // A time already past is stored as is: the key then reads as missing and is
        // removed by lazy or active expiry, as in Redis.
        ctx.set_expire(key, when);
        ctx.notify(class::GENERIC, "expire", key);
        // The AOF gets an absolute time (Redis 7's form), whatever form the client used.
        if o.expire.as_ref().is_some_and(|(k, _)| *k != ExpireKind::PxAt) {
            ctx.propagate_as(vec![vec![
                Bytes::from_static(b"SET"),
                Bytes::copy_from_slice(key),
                Bytes::copy_from_slice(value),
                Bytes::from_static(b"PXAT"),
                Bytes::from(when.to_string()),
            ]]);
        }
    }
    Ok(SetOutcome { written: true, old })
}

/// `SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL]`: OK, or null if NX/XX prevented the write; with
/// GET, the old value instead.
fn set(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let value = args.next_bytes()?;
    let o = parse_set_options(args, Grammar::Set)?;
    let out = set_generic(ctx, &key, &value, &o)?;
    Ok(if o.get {
        out.old
    } else if out.written {
        Frame::ok()
    } else {
        Frame::Null
    })
}

/// `SETNX key value`: 1 if the key was created, 0 if it existed.
fn setnx(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let value = args.next_bytes()?;
    let o = SetOptions { nx: true, ..SetOptions::default() };
    let out = set_generic(ctx, &key, &value, &o)?;
    Ok(Frame::Integer(i64::from(out.written)))
}

/// `SETEX key seconds value`: OK.
fn setex(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    set_with_expire(ctx, args, ExpireKind::Ex)
}

/// `PSETEX key milliseconds value`: OK.
fn psetex(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    set_with_expire(ctx, args, ExpireKind::Px)
}

/// SETEX and PSETEX: `key time value` with the time read as `kind`.
fn set_with_expire(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    kind: ExpireKind,
) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let time = args.next_bytes()?;
    let value = args.next_bytes()?;
    let o = SetOptions { expire: Some((kind, time)), ..SetOptions::default() };
    set_generic(ctx, &key, &value, &o)?;
    Ok(Frame::ok())
}

/// `GET key`: the value, or null.
fn get(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    Ok(bulk_or_null(ctx.get_bytes(&key)?))
}

/// `GETSET key value`: the old value (or null); the new one replaces it and any TTL.
fn getset(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let value = args.next_bytes()?;
    let old = ctx.get_bytes(&key)?;
    ctx.set_value(&key, Value::Str(StrValue::from_bytes(&value)), false);
    ctx.notify(class::STRING, "set", &key);
    Ok(bulk_or_null(old))
}

/// `GETDEL key`: the value (or null), and the key is deleted.
fn getdel(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let old = ctx.get_bytes(&key)?;
    if old.is_some() {
        ctx.delete(&key);
        ctx.notify(class::GENERIC, "del", &key);
    }
    Ok(bulk_or_null(old))
}

/// `GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]`: the value (or null), after changing its TTL.
fn getex(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let o = parse_set_options(args, Grammar::GetEx)?;
    // A missing key answers null before the expire time is even validated.
    let Some(value) = ctx.get_bytes(&key)? else {
        return Ok(Frame::Null);
    };
    let db = ctx.db();
    match &o.expire {
        Some((kind, raw)) => {
            let when = expire_at_ms(ctx, *kind, raw)?;
            // An absolute time already past deletes the key right away, as Redis does.
            let k = Bytes::copy_from_slice(&key);
            if !kind.relative() && when <= ctx.now {
                ctx.delete(&key);
                ctx.notify(class::GENERIC, "del", &key);
                ctx.propagate_as(vec![vec![Bytes::from_static(b"DEL"), k]]);
            } else {
                ctx.set_expire(&key, when);
                ctx.notify(class::GENERIC, "expire", &key);
                let at = Bytes::from(when.to_string());
                ctx.propagate_as(vec![vec![Bytes::from_static(b"PEXPIREAT"), k, at]]);
            }
        }
        None if o.persist && ctx.srv.ks.persist(db, &key) => {
            ctx.notify(class::GENERIC, "persist", &key);
            ctx.propagate_as(vec![vec![
                Bytes::from_static(b"PERSIST"),
                Bytes::copy_from_slice(&key),
            ]]);
        }
        None => {}
    }
    Ok(Frame::Bulk(value))
}

/// `MGET key [key ...]`: each value, null for missing keys and keys of other types.
fn mget(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let mut out = Vec::with_capacity(args.remaining().min(1024));
    while args.remaining() > 0 {
        let key = args.next_bytes()?;
        let v = ctx.lookup_read(&key).and_then(|e| e.value.as_str_mut().map(|s| s.to_bytes()));
        out.push(bulk_or_null(v));
    }
    Ok(Frame::Array(out))
}

/// Checks that MSET/MSETNX got whole key/value pairs (Redis reports an odd count as an
/// arity error) and returns them.
fn pairs(ctx: &Ctx<'_>, args: &Args) -> Result<Vec<(Bytes, Bytes)>, CmdError> {
    let rest = args.rest();
    if !rest.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(ctx.spec.name.to_string()));
    }
    Ok(rest.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect())
}

/// Stores every pair, replacing old values and their TTLs.
fn store_pairs(ctx: &mut Ctx<'_>, pairs: &[(Bytes, Bytes)]) {
    for (k, v) in pairs {
        ctx.set_value(k, Value::Str(StrValue::from_bytes(v)), false);
        ctx.notify(class::STRING, "set", k);
    }
}

/// `MSET key value [key value ...]`: OK.
fn mset(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let pairs = pairs(ctx, args)?;
    store_pairs(ctx, &pairs);
    Ok(Frame::ok())
}

/// `MSETNX key value [key value ...]`: 1 if all keys were set, 0 (and nothing set) if any
/// of them existed.
fn msetnx(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let pairs = pairs(ctx, args)?;
    for (k, _) in &pairs {
        if ctx.lookup_write(k).is_some() {
            return Ok(Frame::Integer(0));
        }
    }
    store_pairs(ctx, &pairs);
    Ok(Frame::Integer(1))
}

/// `APPEND key value`: the length after appending. A new key is stored as SET would
/// store it; an existing one is extended in place and keeps its TTL.
fn append(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let extra = args.next_bytes()?;
    let limit = ctx.max_string_len();
    let len = match ctx.write_str(&key)? {
        None => {
            let v = StrValue::from_bytes(&extra);
            let len = v.len();
            ctx.set_value(&key, Value::Str(v), false);
            len
        }
        Some(s) => {
            check_string_length(limit, s.len(), extra.len())?;
            let len = s.append(&extra);
            ctx.srv.ks.mark_dirty(1);
            len
        }
    };
    ctx.notify(class::STRING, "append", &key);
    Ok(Frame::Integer(len as i64))
}

/// `STRLEN key`: the value's length, 0 for a missing key.
fn strlen(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let len = ctx.read_str(&key)?.map_or(0, |s| s.len());
    Ok(Frame::Integer(len as i64))
}

/// `GETRANGE key start end` (and `SUBSTR`): the bytes from `start` to `end` inclusive;
/// negative indexes count from the end. Empty when the range selects nothing or the key is
/// missing.
fn getrange(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let start = args.next_i64()?;
    let end = args.next_i64()?;
    let Some(value) = ctx.get_bytes(&key)? else {
        return Ok(Frame::Bulk(Bytes::new()));
    };
    Ok(Frame::Bulk(match byte_range(value.len(), start, end) {
        Some((from, to)) => value.slice(from..=to),
        None => Bytes::new(),
    }))
}

/// Resolves GETRANGE's `start`/`end` against a string of `len` bytes into an inclusive
/// byte range, or `None` if nothing is selected. Two negative indexes with `start > end`
/// select nothing even before clamping (so `-1 -5` is empty rather than clamped).
fn byte_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len_i = i64::try_from(len).ok()?;
    let resolve = |i: i64| if i < 0 { len_i.saturating_add(i).max(0) } else { i };
    let start = resolve(start);
    let end = resolve(end).min(len_i - 1);
    if len == 0 || start > end {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// `SETRANGE key offset value`: writes `value` at `offset` (zero-padding as needed) and
/// returns the new length. An empty `value` changes nothing and returns the current length.
fn setrange(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let offset = args.next_i64()?;
    let data = args.next_bytes()?;
    let offset = usize::try_from(offset).map_err(|_| CmdError::OffsetOutOfRange)?;
    let limit = ctx.max_string_len();
    let len = match ctx.write_str(&key)? {
        None if data.is_empty() => 0,
        Some(s) if data.is_empty() => s.len(),
        None => {
            check_string_length(limit, offset, data.len())?;
            let mut v = StrValue::raw(Bytes::new());
            let len = v.write_at(offset, &data);
            ctx.set_value(&key, Value::Str(v), false);
            len
        }
        Some(s) => {
            check_string_length(limit, offset, data.len())?;
            let len = s.write_at(offset, &data);
            ctx.srv.ks.mark_dirty(1);
            len
        }
    };
    if !data.is_empty() {
        ctx.notify(class::STRING, "setrange", &key);
    }
    Ok(Frame::Integer(len as i64))
}

/// Adds `delta` to the integer at `key` (0 if missing), keeping its TTL; the counters'
/// shared core. Errors if the value is not an integer or the sum overflows.
fn add_to_integer(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> Result<Frame, CmdError> {
    let current = match ctx.write_str(key)? {
        Some(s) => s.as_i64().ok_or(CmdError::NotInteger)?,
        None => 0,
    };
    let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
    ctx.set_value(key, Value::Str(StrValue::Int(next)), true);
    ctx.notify(class::STRING, "incrby", key);
    Ok(Frame::Integer(next))
}

/// `INCR key`: the value plus one.
fn incr(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    add_to_integer(ctx, &key, 1)
}

/// `DECR key`: the value minus one.
fn decr(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    add_to_integer(ctx, &key, -1)
}

/// `INCRBY key increment`: the value plus `increment`.
fn incrby(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let delta = args.next_i64()?;
    add_to_integer(ctx, &key, delta)
}

/// `DECRBY key decrement`: the value minus `decrement`. The most negative integer cannot
/// be negated, which Redis reports with its own error.
fn decrby(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let delta = args.next_i64()?;
    let negated = delta.checked_neg().ok_or(CmdError::Static("ERR decrement would overflow"))?;
    add_to_integer(ctx, &key, negated)
}

/// `INCRBYFLOAT key increment`: the new value, computed in extended precision and printed
/// the way Redis prints it. Stored as a plain string (never the `int` encoding), TTL kept.
fn incrbyfloat(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let incr = args.next_bytes()?;
    let current = ctx.write_str(&key)?.map(|s| s.to_bytes());
    let sum =
        num::add_long_double(current.as_deref().unwrap_or(b"0"), &incr).map_err(|e| match e {
            AddError::NotFloat => CmdError::NotFloat,
            AddError::NanOrInfinity => CmdError::NanOrInfinity,
        })?;
    ctx.set_value(&key, Value::Str(StrValue::from_bytes_no_int(&sum)), true);
    ctx.notify(class::STRING, "incrbyfloat", &key);
    let sum = Bytes::from(sum);
    // Replayed as the result, not the addition: float rounding must not differ on reload.
    ctx.propagate_as(vec![vec![
        Bytes::from_static(b"SET"),
        Bytes::copy_from_slice(&key),
        sum.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ]]);
    Ok(Frame::Bulk(sum))
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]`: the longest
/// common subsequence of two strings (missing keys read as empty); with LEN its length;
/// with IDX the matching ranges, longest-index first, and the length.
fn lcs(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let ka = args.next_bytes()?;
    let kb = args.next_bytes()?;
    // Both keys are looked up (and type-checked) before any option is parsed.
    let (a, b) = (ctx.get_bytes(&ka), ctx.get_bytes(&kb));
    let not_strings = |_| CmdError::Static("ERR The specified keys must contain string values");
    let (a, b) = (a.map_err(not_strings)?, b.map_err(not_strings)?);
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let (mut want_len, mut want_idx, mut with_len) = (false, false, false);
    let mut min_len = 0i64;
    while args.remaining() > 0 {
        if args.eat("IDX") {
            want_idx = true;
        } else if args.eat("LEN") {
            want_len = true;
        } else if args.eat("WITHMATCHLEN") {
            with_len = true;
        } else if args.remaining() > 1 && args.eat("MINMATCHLEN") {
            min_len = args.next_i64()?.max(0);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if want_idx && want_len {
        return Err(CmdError::Static(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(CmdError::Static("ERR String too long for LCS"));
    }
    let table = LcsTable::build(&a, &b, ctx.max_string_len())?;
    if want_len {
        return Ok(Frame::Integer(i64::from(table.at(a.len(), b.len()))));
    }
    let (common, ranges) = table.walk(&a, &b);
    if !want_idx {
        return Ok(Frame::Bulk(Bytes::from(common)));
    }
    let pair = |s: usize, e: usize| Frame::Array(vec![int(s), int(e)]);
    let matches = ranges
        .into_iter()
        .filter(|r| r.len() as i64 >= min_len)
        .map(|r| {
            let mut item = vec![pair(r.a_start, r.a_end), pair(r.b_start, r.b_end)];
            if with_len {
                item.push(int(r.len()));
            }
            Frame::Array(item)
        })
        .collect();
    Ok(Frame::Map(vec![
        (Frame::Bulk(Bytes::from_static(b"matches")), Frame::Array(matches)),
        (
            Frame::Bulk(Bytes::from_static(b"len")),
            Frame::Integer(i64::from(table.at(a.len(), b.len()))),
        ),
    ]))
}

/// An index or length as an integer reply.
fn int(n: usize) -> Frame {
    Frame::Integer(n as i64)
}

/// One run of matching bytes found by LCS: `a[a_start..=a_end]` equals
/// `b[b_start..=b_end]`.
struct LcsRange {
    a_start: usize,
    a_end: usize,
    b_start: usize,
    b_end: usize,
}

impl LcsRange {
    fn len(&self) -> usize {
        self.a_end - self.a_start + 1
    }
}

/// The dynamic-programming table of LCS: cell (i, j) holds the length of the longest
/// common subsequence of the first i bytes of `a` and the first j bytes of `b`.
struct LcsTable {
    cells: Vec<u32>,
    width: usize,
}

impl LcsTable {
    /// Fills the table. Its size is bounded like Redis bounds it: more than `limit` bytes
    /// (proto-max-bulk-len) is refused, and a failed allocation is reported, not fatal.
    fn build(a: &[u8], b: &[u8], limit: u64) -> Result<LcsTable, CmdError> {
        let width = b.len() + 1;
        let cells = (a.len() as u64 + 1).saturating_mul(width as u64);
        if cells.saturating_mul(4) > limit {
            return Err(CmdError::Static(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            ));
        }
        let fail = || {
            CmdError::Static("ERR Insufficient memory, failed allocating transient memory for LCS")
        };
        let n = usize::try_from(cells).map_err(|_| fail())?;
        let mut v: Vec<u32> = Vec::new();
        v.try_reserve_exact(n).map_err(|_| fail())?;
        v.resize(n, 0);
        let mut t = LcsTable { cells: v, width };
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let val = if a[i - 1] == b[j - 1] {
                    t.at(i - 1, j - 1) + 1
                } else {
                    t.at(i - 1, j).max(t.at(i, j - 1))
                };
                t.cells[i * width + j] = val;
            }
        }
        Ok(t)
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// Walks back from the bottom-right corner, collecting the common subsequence and the
    /// contiguous runs it is made of (from the ends of the strings towards their starts,
    /// which is the order Redis reports them in). On a tie the walk moves left in `b`.
    fn walk(&self, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<LcsRange>) {
        let mut common = Vec::with_capacity(self.at(a.len(), b.len()) as usize);
        let mut ranges = Vec::new();
        let mut current: Option<LcsRange> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                common.push(a[i - 1]);
                match current.as_mut() {
                    // Consecutive matches on the diagonal extend the run backwards.
                    Some(r) if r.a_start == i && r.b_start == j => {
                        r.a_start -= 1;
                        r.b_start -= 1;
                    }
                    _ => {
                        if let Some(r) = current.take() {
                            ranges.push(r);
                        }
                        current = Some(LcsRange {
                            a_start: i - 1,
                            a_end: i - 1,
                            b_start: j - 1,
                            b_end: j - 1,
                        });
                    }
                }
                i -= 1;
                j -= 1;
            } else {
                if let Some(r) = current.take() {
                    ranges.push(r);
                }
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
            }
        }
        if let Some(r) = current.take() {
            ranges.push(r);
        }
        common.reverse();
        (common, ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_redis() {
        assert_eq!(byte_range(5, 0, -1), Some((0, 4)));
        assert_eq!(byte_range(5, -3, -1), Some((2, 4)));
        assert_eq!(byte_range(5, -1, -5), None);
        assert_eq!(byte_range(5, 3, 100), Some((3, 4)));
        assert_eq!(byte_range(5, 4, 2), None);
        assert_eq!(byte_range(0, 0, -1), None);
        assert_eq!(byte_range(5, i64::MIN, i64::MAX), Some((0, 4)));
        assert_eq!(byte_range(5, 10, 20), None);
        assert_eq!(byte_range(5, -100, -100), Some((0, 0)));
    }

    #[test]
    fn expire_keywords() {
        assert_eq!(match_expire_keyword(b"ex"), Some(ExpireKind::Ex));
        assert_eq!(match_expire_keyword(b"pXaT"), Some(ExpireKind::PxAt));
        assert_eq!(match_expire_keyword(b"EXA"), None);
    }

    #[test]
    fn lcs_walk() {
        let (a, b) = (b"ohmytext", b"mynewtext");
        let t = LcsTable::build(a, b, u64::MAX).ok();
        let (common, ranges) = t.map(|t| t.walk(a, b)).unwrap_or_default();
        assert_eq!(common, b"mytext");
        let spans: Vec<_> =
            ranges.iter().map(|r| (r.a_start, r.a_end, r.b_start, r.b_end)).collect();
        assert_eq!(spans, vec![(4, 7, 5, 8), (2, 3, 0, 1)]);
    }
}
