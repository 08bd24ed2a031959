//! The hashes family: HSET HSETNX HMSET HGET HMGET HGETALL HDEL HLEN HSTRLEN HEXISTS HKEYS
//! HVALS HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN.
//!
//! The encoding rules (listpack up to `hash-max-listpack-entries` pairs of at most
//! `hash-max-listpack-value` bytes, then hashtable for good) live in [`HashValue`]; this file
//! reads arguments, applies Redis's checks in Redis's order, and builds the replies.
//! The SCAN-family argument parsing is shared with SCAN, SSCAN and ZSCAN (see `keys.rs`).

use super::keys::{scan_cursor, scan_options, scan_reply, ScanOptions};
use super::spec::{acl, flags::*, CommandSpec, KeyPos};
use crate::args::Args;
use crate::config::P;
use crate::error::CmdError;
use crate::glob;
use crate::keyspace::{Entry, Touch};
use crate::notify::class;
use crate::server::Ctx;
use crate::types::hash::{HashValue, Limits};
use crate::types::num::{self, AddError};
use crate::types::Value;
use bytes::Bytes;
use rand::rngs::SmallRng;
use resp::{Frame, Proto};

/// Tip of commands whose reply order depends on the table layout.
const ANY_ORDER: &[&str] = &["nondeterministic_output_order"];
/// Tip of commands whose reply is random.
const RANDOM: &[&str] = &["nondeterministic_output"];
/// The most entries HRANDFIELD with a negative count builds (Redis has no limit because it
/// streams the reply; see divergences.txt).
const MAX_REPEATED_PICKS: usize = 1 << 24;
/// Key-spec flags of the commands that read only metadata (no value is returned).
const RO: &[&str] = &["RO"];
/// Key-spec flags of the increment commands, which read the old value before writing.
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];

/// The hashes family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hdel", -3, WRITE | FAST, acl::HASH, KeyPos::ONE, hdel)
        .doc("hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "O(N) where N is the number of fields to be removed.")
        .key_flags(&["RW", "delete"]),
    CommandSpec::new("hexists", 3, READONLY | FAST, acl::HASH, KeyPos::ONE, hexists)
        .doc("hash", "2.0.0", "Determines whether a field exists in a hash.", "O(1)")
        .key_flags(RO),
    CommandSpec::new("hget", 3, READONLY | FAST, acl::HASH, KeyPos::ONE, hget)
        .doc("hash", "2.0.0", "Returns the value of a field in a hash.", "O(1)"),
    CommandSpec::new("hgetall", 2, READONLY, acl::HASH, KeyPos::ONE, hgetall)
        .doc("hash", "2.0.0", "Returns all fields and values in a hash.", "O(N) where N is the size of the hash.")
        .tips(ANY_ORDER),
    CommandSpec::new("hincrby", 4, WRITE | DENYOOM | FAST, acl::HASH, KeyPos::ONE, hincrby)
        .doc("hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "O(1)")
        .key_flags(RW_ACCESS_UPDATE),
    CommandSpec::new("hincrbyfloat", 4, WRITE | DENYOOM | FAST, acl::HASH, KeyPos::ONE, hincrbyfloat)
        .doc("hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "O(1)")
        .key_flags(RW_ACCESS_UPDATE),
    CommandSpec::new("hkeys", 2, READONLY, acl::HASH, KeyPos::ONE, hkeys)
        .doc("hash", "2.0.0", "Returns all fields in a hash.", "O(N) where N is the size of the hash.")
        .tips(ANY_ORDER),
    CommandSpec::new("hlen", 2, READONLY | FAST, acl::HASH, KeyPos::ONE, hlen)
        .doc("hash", "2.0.0", "Returns the number of fields in a hash.", "O(1)")
        .key_flags(RO),
    CommandSpec::new("hmget", -3, READONLY | FAST, acl::HASH, KeyPos::ONE, hmget)
        .doc("hash", "2.0.0", "Returns the values of all fields in a hash.", "O(N) where N is the number of fields being requested."),
    CommandSpec::new("hmset", -4, WRITE | DENYOOM | FAST, acl::HASH, KeyPos::ONE, hset)
        .doc("hash", "2.0.0", "Sets the values of multiple fields.", "O(N) where N is the number of fields being set."),
    CommandSpec::new("hrandfield", -2, READONLY, acl::HASH, KeyPos::ONE, hrandfield)
        .doc("hash", "6.2.0", "Returns one or more random fields from a hash.", "O(N) where N is the number of fields returned")
        .tips(RANDOM),
    CommandSpec::new("hscan", -3, READONLY, acl::HASH, KeyPos::ONE, hscan)
        .doc("hash", "2.8.0", "Iterates over fields and values of a hash.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
        .tips(RANDOM),
    CommandSpec::new("hset", -4, WRITE | DENYOOM | FAST, acl::HASH, KeyPos::ONE, hset)
        .doc("hash", "2.0.0", "Creates or modifies the value of a field in a hash.", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs."),
    CommandSpec::new("hsetnx", 4, WRITE | DENYOOM | FAST, acl::HASH, KeyPos::ONE, hsetnx)
        .doc("hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", "O(1)")
        .key_flags(&["RW", "insert"]),
    CommandSpec::new("hstrlen", 3, READONLY | FAST, acl::HASH, KeyPos::ONE, hstrlen)
        .doc("hash", "3.2.0", "Returns the length of the value of a field.", "O(1)")
        .key_flags(RO),
    CommandSpec::new("hvals", 2, READONLY, acl::HASH, KeyPos::ONE, hvals)
        .doc("hash", "2.0.0", "Returns all values in a hash.", "O(N) where N is the size of the hash.")
        .tips(ANY_ORDER),
];

impl Ctx<'_> {
    /// Reads a hash: `Ok(None)` if missing, `WRONGTYPE` if another type.
    fn read_hash(&mut self, key: &[u8]) -> Result<Option<&mut HashValue>, CmdError> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(Entry { value: Value::Hash(h), .. }) => Ok(Some(h)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// Like [`Ctx::read_hash`], also lending the server's random source (HRANDFIELD needs
    /// both at once).
    fn read_hash_with_rng(
        &mut self,
        key: &[u8],
    ) -> Result<Option<(&mut HashValue, &mut SmallRng)>, CmdError> {
        let (db, now) = (self.db(), self.now);
        let touch = if self.client_ref().no_touch { Touch::No } else { Touch::Yes };
        let srv = &mut *self.srv;
        match srv.ks.lookup_read(db, key, now, touch) {
            None => Ok(None),
            Some(Entry { value: Value::Hash(h), .. }) => Ok(Some((h, &mut srv.rng))),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// The hash conversion thresholds in force.
    fn hash_limits(&self) -> Limits {
        let c = &self.srv.config;
        Limits {
            max_entries: usize::try_from(c.int(P::HashMaxListpackEntries)).unwrap_or(0),
            max_value: usize::try_from(c.int(P::HashMaxListpackValue)).unwrap_or(0),
        }
    }

    /// Runs `f` on the hash at `key`, creating it if missing (`WRONGTYPE` for another
    /// type). A new hash is stored only if `f` succeeds and leaves it non-empty, so a failed
    /// write never leaves an empty key behind. `f` returns its result and how many changes
    /// it made (for the dirty counter).
    fn upsert_hash<R>(
        &mut self,
        key: &[u8],
        f: impl FnOnce(&mut HashValue, Limits) -> Result<(R, u64), CmdError>,
    ) -> Result<R, CmdError> {
        let limits = self.hash_limits();
        match self.lookup_write(key) {
            Some(Entry { value: Value::Hash(h), .. }) => {
                let (r, changes) = f(h, limits)?;
                self.srv.ks.mark_dirty(changes);
                Ok(r)
            }
            Some(_) => Err(CmdError::WrongType),
            None => {
                let mut h = HashValue::new();
                let (r, changes) = f(&mut h, limits)?;
                if !h.is_empty() {
                    // Storing the key counts one change itself.
                    self.set_value(key, Value::Hash(h), false);
                    self.srv.ks.mark_dirty(changes.saturating_sub(1));
                }
                Ok(r)
            }
        }
    }
}

/// `HSET key field value [field value ...]` (and `HMSET`, same arguments): sets the fields;
/// HSET replies how many were new, HMSET `OK`.
fn hset(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if args.len() % 2 == 1 {
        return Err(CmdError::WrongArity(ctx.spec.name.to_string()));
    }
    let key = args.next_bytes()?;
    let items = args.rest();
    let created = ctx.upsert_hash(&key, |h, limits| {
        h.prepare_for(items, limits);
        let created = items.chunks_exact(2).filter(|p| h.set(&p[0], &p[1], limits)).count();
        Ok((created, (items.len() / 2) as u64))
    })?;
    // Announced even when every field already had its value, as Redis does.
    ctx.notify(class::HASH, "hset", &key);
    Ok(if ctx.spec.name == "hmset" { Frame::ok() } else { Frame::Integer(created as i64) })
}

/// `HSETNX key field value`: sets the field only if it does not exist; 1 if set, else 0.
fn hsetnx(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let items = args.rest();
    let set = ctx.upsert_hash(&key, |h, limits| {
        // An existing field leaves the hash alone, encoding included.
        if h.contains(&items[0]) {
            return Ok((false, 0));
        }
        h.prepare_for(items, limits);
        h.set(&items[0], &items[1], limits);
        Ok((true, 1))
    })?;
    if set {
        ctx.notify(class::HASH, "hset", &key);
    }
    Ok(Frame::Integer(i64::from(set)))
}

/// `HGET key field`: the value, or null.
fn hget(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_ref()?;
    Ok(match ctx.read_hash(&key)?.and_then(|h| h.get(field)) {
        Some(v) => Frame::bulk(v),
        None => Frame::Null,
    })
}

/// `HMGET key field [field ...]`: each value, null for missing fields (all null when the key
/// is missing).
fn hmget(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let h = ctx.read_hash(&key)?;
    let values = args
        .rest()
        .iter()
        .map(|f| match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => Frame::bulk(v),
            None => Frame::Null,
        })
        .collect();
    Ok(Frame::Array(values))
}

/// Which parts of each pair a whole-hash reply lists.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Fields,
    Values,
}

/// The fields or the values of the hash at `key` (empty array if missing).
fn list_part(ctx: &mut Ctx<'_>, args: &mut Args, part: Part) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let items = match ctx.read_hash(&key)? {
        Some(h) => {
            h.iter().map(|(k, v)| Frame::bulk(if part == Part::Fields { k } else { v })).collect()
        }
        None => Vec::new(),
    };
    Ok(Frame::Array(items))
}

/// `HKEYS key`: every field.
fn hkeys(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    list_part(ctx, args, Part::Fields)
}

/// `HVALS key`: every value.
fn hvals(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    list_part(ctx, args, Part::Values)
}

/// `HGETALL key`: every field and value (a map in RESP3, a flat array in RESP2).
fn hgetall(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let pairs = match ctx.read_hash(&key)? {
        Some(h) => h.iter().map(|(k, v)| (Frame::bulk(k), Frame::bulk(v))).collect(),
        None => Vec::new(),
    };
    Ok(Frame::Map(pairs))
}

/// `HDEL key field [field ...]`: how many fields were removed; the key goes with the last.
fn hdel(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let (removed, now_empty) = match ctx.lookup_write(&key) {
        None => return Ok(Frame::Integer(0)),
        Some(Entry { value: Value::Hash(h), .. }) => {
            let mut removed = 0i64;
            for f in args.rest() {
                if h.remove(f) {
                    removed += 1;
                    if h.is_empty() {
                        break;
                    }
                }
            }
            (removed, h.is_empty())
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    if removed > 0 {
        ctx.notify(class::HASH, "hdel", &key);
    }
    if now_empty {
        ctx.delete(&key);
        ctx.notify(class::GENERIC, "del", &key);
    }
    ctx.srv.ks.mark_dirty(removed as u64);
    Ok(Frame::Integer(removed))
}

/// `HLEN key`: the number of fields (0 if missing).
fn hlen(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let n = ctx.read_hash(&key)?.map_or(0, |h| h.len());
    Ok(Frame::Integer(n as i64))
}

/// `HSTRLEN key field`: the length of the value (0 if missing).
fn hstrlen(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_ref()?;
    let n = ctx.read_hash(&key)?.and_then(|h| h.get(field)).map_or(0, <[u8]>::len);
    Ok(Frame::Integer(n as i64))
}

/// `HEXISTS key field`: 1 if the field exists, else 0.
fn hexists(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_ref()?;
    let found = ctx.read_hash(&key)?.is_some_and(|h| h.contains(field));
    Ok(Frame::Integer(i64::from(found)))
}

/// `HINCRBY key field increment`: adds an integer to the field (missing = 0) and replies
/// the new value.
fn hincrby(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    // The increment is checked before the key is looked at, as in Redis.
    let incr = args.next_i64()?;
    let sum = ctx.upsert_hash(&key, |h, limits| {
        let old = match h.get(&field) {
            Some(v) => {
                num::parse_i64(v).ok_or(CmdError::Static("ERR hash value is not an integer"))?
            }
            None => 0,
        };
        let sum = old.checked_add(incr).ok_or(CmdError::Overflow)?;
        h.set(&field, &num::i64_bytes(sum), limits);
        Ok((sum, 1))
    })?;
    ctx.notify(class::HASH, "hincrby", &key);
    Ok(Frame::Integer(sum))
}

/// `HINCRBYFLOAT key field increment`: adds a number in long-double precision (like
/// INCRBYFLOAT) and replies the new value as text.
fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let field = args.next_bytes()?;
    let incr = args.next_bytes()?;
    // Redis rejects a bad or infinite increment before looking at the key; adding it to 0
    // performs exactly those checks.
    num::add_long_double(b"0", &incr).map_err(|e| match e {
        AddError::NotFloat => CmdError::NotFloat,
        AddError::NanOrInfinity => CmdError::Static("ERR value is NaN or Infinity"),
    })?;
    let sum = ctx.upsert_hash(&key, |h, limits| {
        let old = h.get(&field).unwrap_or(b"0");
        // The increment is known to be valid, so a parse failure is the stored value's.
        let sum = num::add_long_double(old, &incr).map_err(|e| match e {
            AddError::NotFloat => CmdError::Static("ERR hash value is not a float"),
            AddError::NanOrInfinity => CmdError::NanOrInfinity,
        })?;
        h.set(&field, &sum, limits);
        Ok((sum, 1))
    })?;
    ctx.notify(class::HASH, "hincrbyfloat", &key);
    let sum = Bytes::from(sum);
    // Replayed as the result, so float rounding cannot differ on reload.
    ctx.propagate_as(vec![vec![Bytes::from_static(b"HSET"), key, field, sum.clone()]]);
    Ok(Frame::Bulk(sum))
}

/// `HRANDFIELD key [count [WITHVALUES]]`: without count, one random field (or null); with
/// count, up to `count` distinct fields, or exactly `-count` fields with repeats when
/// negative. WITHVALUES pairs each with its value: nested pairs in RESP3, flat in RESP2.
fn hrandfield(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    if args.remaining() == 0 {
        let Some((h, rng)) = ctx.read_hash_with_rng(&key)? else {
            return Ok(Frame::Null);
        };
        return Ok(match h.random_pairs(1, rng).first() {
            Some((k, _)) => Frame::bulk(k),
            None => Frame::Null,
        });
    }
    let count = args.next_i64()?;
    if count == i64::MIN {
        return Err(CmdError::Static(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match args.remaining() {
        0 => false,
        1 if args.eat("withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withvalues && count.unsigned_abs() > (i64::MAX / 2) as u64 {
        return Err(CmdError::Static("ERR value is out of range"));
    }
    let resp3 = ctx.client_ref().proto == Proto::Resp3;
    let Some((h, rng)) = ctx.read_hash_with_rng(&key)? else {
        return Ok(Frame::Array(Vec::new()));
    };
    let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let pairs = if count < 0 || n == 1 {
        // Repeats allowed: the reply really has `n` entries. Redis streams them; Keel builds
        // the reply in memory, so an absurd count is refused rather than exhausting it.
        if n > MAX_REPEATED_PICKS {
            return Err(CmdError::Static("ERR value is out of range"));
        }
        h.random_pairs(n, rng)
    } else if n >= h.len() {
        h.iter().collect()
    } else {
        h.random_distinct_pairs(n, rng)
    };
    let mut out = Vec::new();
    for (k, v) in pairs {
        match (withvalues, resp3) {
            (false, _) => out.push(Frame::bulk(k)),
            (true, true) => out.push(Frame::Array(vec![Frame::bulk(k), Frame::bulk(v)])),
            (true, false) => out.extend([Frame::bulk(k), Frame::bulk(v)]),
        }
    }
    Ok(Frame::Array(out))
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: one step of an iteration over the
/// fields and values. A listpack hash comes whole in one step with cursor 0.
fn hscan(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    // As in Redis: the cursor is checked first, then the key, then the options (which a
    // missing key never gets to).
    let cursor = scan_cursor(args)?;
    let Some(h) = ctx.read_hash(&key)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let ScanOptions { count, pattern, .. } = scan_options(args, false)?;
    let mut items = Vec::new();
    let next = h.scan(cursor, count, |k, v| {
        if pattern.as_ref().is_none_or(|p| glob::matches(p, k, false)) {
            items.push(Frame::bulk(k));
            items.push(Frame::bulk(v));
        }
    });
    Ok(scan_reply(next, items))
}
