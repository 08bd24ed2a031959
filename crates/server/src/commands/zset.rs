//! Sorted set commands (Redis's `sorted-set` group): ZADD and friends, the range queries
//! (by rank, score and lex, forward and reverse, with LIMIT and STORE forms), pops
//! (including the blocking BZPOPMIN/BZPOPMAX/BZMPOP), set algebra (ZUNION, ZINTER, ZDIFF and
//! their STORE forms, ZINTERCARD), ZRANDMEMBER and ZSCAN.
//!
//! Every range is turned into an interval of ranks first (`ZSetValue::count_before`), so the
//! handlers only slice by rank. Handlers check things in Redis's order (options, then the
//! range arguments, then the key), because the first failing check decides the error.

use super::introspection::keynum_keys;
use super::keys::{scan_cursor, scan_options, scan_reply, ScanOptions};
use super::spec::{acl, flags::*, keyspecs, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::blocking;
use crate::config::P;
use crate::error::CmdError;
use crate::keyspace::Entry;
use crate::notify::class;
use crate::server::Ctx;
use crate::types::zset::{Limits, ZSetValue};
use crate::types::{num, Value};
use bytes::Bytes;
use resp::{Frame, Proto};

const G: &str = "sorted_set";
const SS: u32 = acl::SORTEDSET;
const LOGN: &str = "O(log(N)) where N is the number of elements in the sorted set.";

/// The sorted sets family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, WRITE | DENYOOM | FAST, SS, KeyPos::ONE, zadd).doc(
        G,
        "1.2.0",
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
    ),
    CommandSpec::new("zincrby", 4, WRITE | DENYOOM | FAST, SS, KeyPos::ONE, zincrby).doc(
        G,
        "1.2.0",
        "Increments the score of a member in a sorted set.",
        LOGN,
    )
    .key_flags(&["RW", "access", "update"]),
    CommandSpec::new("zrem", -3, WRITE | FAST, SS, KeyPos::ONE, zrem).doc(
        G,
        "1.2.0",
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
    )
    .key_flags(&["RW", "delete"]),
    CommandSpec::new("zcard", 2, READONLY | FAST, SS, KeyPos::ONE, zcard).doc(
        G,
        "1.2.0",
        "Returns the number of members in a sorted set.",
        "O(1)",
    )
    .key_flags(&["RO"]),
    CommandSpec::new("zscore", 3, READONLY | FAST, SS, KeyPos::ONE, zscore).doc(
        G,
        "1.2.0",
        "Returns the score of a member in a sorted set.",
        "O(1)",
    ),
    CommandSpec::new("zmscore", -3, READONLY | FAST, SS, KeyPos::ONE, zmscore).doc(
        G,
        "6.2.0",
        "Returns the score of one or more members in a sorted set.",
        "O(N) where N is the number of members being requested.",
    ),
    CommandSpec::new("zrank", -3, READONLY | FAST, SS, KeyPos::ONE, zrank).doc(
        G,
        "2.0.0",
        "Returns the index of a member in a sorted set ordered by ascending scores.",
        LOGN,
    ),
    CommandSpec::new("zrevrank", -3, READONLY | FAST, SS, KeyPos::ONE, zrevrank).doc(
        G,
        "2.0.0",
        "Returns the index of a member in a sorted set ordered by descending scores.",
        LOGN,
    ),
    CommandSpec::new("zcount", 4, READONLY | FAST, SS, KeyPos::ONE, zcount).doc(
        G,
        "2.0.0",
        "Returns the count of members in a sorted set that have scores within a range.",
        LOGN,
    ),
    CommandSpec::new("zlexcount", 4, READONLY | FAST, SS, KeyPos::ONE, zlexcount).doc(
        G,
        "2.8.9",
        "Returns the number of members in a sorted set within a lexicographical range.",
        LOGN,
    ),
    CommandSpec::new("zrange", -4, READONLY, SS, KeyPos::ONE, zrange).doc(
        G,
        "1.2.0",
        "Returns members in a sorted set within a range of indexes.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
    ),
    CommandSpec::new("zrangestore", -5, WRITE | DENYOOM, SS, KeyPos::new(1, 2, 1), zrangestore)
        .doc(
            G,
            "6.2.0",
            "Stores a range of members from sorted set in a key.",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
        )
        .key_specs(&[KeySpec::at(1, &["OW", "update"]), KeySpec::at(2, &["RO", "access"])]),
    CommandSpec::new("zrangebyscore", -4, READONLY, SS, KeyPos::ONE, zrangebyscore).doc(
        G,
        "1.0.5",
        "Returns members in a sorted set within a range of scores.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
    ),
    CommandSpec::new("zrevrangebyscore", -4, READONLY, SS, KeyPos::ONE, zrevrangebyscore).doc(
        G,
        "2.2.0",
        "Returns members in a sorted set within a range of scores in reverse order.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
    ),
    CommandSpec::new("zrangebylex", -4, READONLY, SS, KeyPos::ONE, zrangebylex).doc(
        G,
        "2.8.9",
        "Returns members in a sorted set within a lexicographical range.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
    ),
    CommandSpec::new("zrevrangebylex", -4, READONLY, SS, KeyPos::ONE, zrevrangebylex).doc(
        G,
        "2.8.9",
        "Returns members in a sorted set within a lexicographical range in reverse order.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).",
    ),
    CommandSpec::new("zrevrange", -4, READONLY, SS, KeyPos::ONE, zrevrange).doc(
        G,
        "1.2.0",
        "Returns members in a sorted set within a range of indexes in reverse order.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
    ),
    CommandSpec::new("zremrangebyrank", 4, WRITE, SS, KeyPos::ONE, zremrangebyrank).doc(
        G,
        "2.0.0",
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
    )
    .key_flags(&["RW", "delete"]),
    CommandSpec::new("zremrangebyscore", 4, WRITE, SS, KeyPos::ONE, zremrangebyscore).doc(
        G,
        "1.2.0",
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
    )
    .key_flags(&["RW", "delete"]),
    CommandSpec::new("zremrangebylex", 4, WRITE, SS, KeyPos::ONE, zremrangebylex).doc(
        G,
        "2.8.9",
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
    )
    .key_flags(&["RW", "delete"]),
    CommandSpec::new("zpopmin", -2, WRITE | FAST, SS, KeyPos::ONE, zpopmin).doc(
        G,
        "5.0.0",
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
    )
    .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("zpopmax", -2, WRITE | FAST, SS, KeyPos::ONE, zpopmax).doc(
        G,
        "5.0.0",
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
    )
    .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("zmpop", -4, WRITE, SS, KeyPos::NONE, zmpop).doc(
        G,
        "7.0.0",
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
    )
    .key_specs(keyspecs::POP_KEYNUM)
    .getkeys(keynum_keys),
    CommandSpec::new("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, SS, KeyPos::new(1, -2, 1), bzpopmin)
        .doc(
            G,
            "5.0.0",
            "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
            "O(log(N)) with N being the number of elements in the sorted set.",
        )
        .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, SS, KeyPos::new(1, -2, 1), bzpopmax)
        .doc(
            G,
            "5.0.0",
            "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
            "O(log(N)) with N being the number of elements in the sorted set.",
        )
        .key_flags(&["RW", "access", "delete"]),
    CommandSpec::new("bzmpop", -5, WRITE | BLOCKING, SS, KeyPos::NONE, bzmpop).doc(
        G,
        "7.0.0",
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
    )
    .key_specs(keyspecs::BLOCKING_POP_KEYNUM)
    .getkeys(keynum_keys),
    CommandSpec::new("zrandmember", -2, READONLY, SS, KeyPos::ONE, zrandmember)
        .doc(
            G,
            "6.2.0",
            "Returns one or more random members from a sorted set.",
            "O(N) where N is the number of members returned",
        )
        .tips(&["nondeterministic_output"]),
    CommandSpec::new("zunion", -3, READONLY, SS, KeyPos::NONE, zunion).doc(
        G,
        "6.2.0",
        "Returns the union of multiple sorted sets.",
        "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
    )
    .key_specs(keyspecs::READ_KEYNUM)
    .getkeys(keynum_keys),
    CommandSpec::new("zinter", -3, READONLY, SS, KeyPos::NONE, zinter).doc(
        G,
        "6.2.0",
        "Returns the intersect of multiple sorted sets.",
        "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
    )
    .key_specs(keyspecs::READ_KEYNUM)
    .getkeys(keynum_keys),
    CommandSpec::new("zdiff", -3, READONLY, SS, KeyPos::NONE, zdiff).doc(
        G,
        "6.2.0",
        "Returns the difference between multiple sorted sets.",
        "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
    )
    .key_specs(keyspecs::READ_KEYNUM)
    .getkeys(keynum_keys),
    CommandSpec::new("zunionstore", -4, WRITE | DENYOOM, SS, KeyPos::ONE, zunionstore)
        .doc(
            G,
            "2.0.0",
            "Stores the union of multiple sorted sets in a key.",
            "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
        )
        .key_specs(keyspecs::STORE_FROM_KEYNUM)
        .getkeys(keynum_keys),
    CommandSpec::new("zinterstore", -4, WRITE | DENYOOM, SS, KeyPos::ONE, zinterstore)
        .doc(
            G,
            "2.0.0",
            "Stores the intersect of multiple sorted sets in a key.",
            "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
        )
        .key_specs(keyspecs::STORE_FROM_KEYNUM)
        .getkeys(keynum_keys),
    CommandSpec::new("zdiffstore", -4, WRITE | DENYOOM, SS, KeyPos::ONE, zdiffstore)
        .doc(
            G,
            "6.2.0",
            "Stores the difference of multiple sorted sets in a key.",
            "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
        )
        .key_specs(keyspecs::STORE_FROM_KEYNUM)
        .getkeys(keynum_keys),
    CommandSpec::new("zintercard", -3, READONLY, SS, KeyPos::NONE, zintercard).doc(
        G,
        "7.0.0",
        "Returns the number of members of the intersect of multiple sorted sets.",
        "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
    )
    .key_specs(keyspecs::READ_KEYNUM)
    .getkeys(keynum_keys),
    CommandSpec::new("zscan", -3, READONLY, SS, KeyPos::ONE, zscan)
        .doc(
            G,
            "2.8.0",
            "Iterates over members and scores of a sorted set.",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        )
        .tips(&["nondeterministic_output"]),
];

// ---------------------------------------------------------------------------------------
// Shared pieces: typed lookups, limits, replies, range parsing.
// ---------------------------------------------------------------------------------------

/// Typed lookups; missing keys are `Ok(None)`, other types `WRONGTYPE`.
impl Ctx<'_> {
    pub(crate) fn zset_read(&mut self, key: &[u8]) -> Result<Option<&mut ZSetValue>, CmdError> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(Entry { value: Value::ZSet(z), .. }) => Ok(Some(z)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    fn zset_write(&mut self, key: &[u8]) -> Result<Option<&mut ZSetValue>, CmdError> {
        match self.lookup_write(key) {
            None => Ok(None),
            Some(Entry { value: Value::ZSet(z), .. }) => Ok(Some(z)),
            Some(_) => Err(CmdError::WrongType),
        }
    }

    /// The configured listpack limits.
    fn zset_limits(&self) -> Limits {
        Limits {
            max_entries: usize::try_from(self.srv.config.int(P::ZsetMaxListpackEntries))
                .unwrap_or(0),
            max_value: usize::try_from(self.srv.config.int(P::ZsetMaxListpackValue)).unwrap_or(0),
        }
    }

    fn resp3(&self) -> bool {
        self.client_ref().proto == Proto::Resp3
    }

    /// After a command changed the set at `key` `changes` times: counts the writes and
    /// announces `event` (nothing when nothing changed), then deletes the key with a `del`
    /// event if the set just became empty, in the order Redis announces them.
    fn zset_changed(&mut self, key: &[u8], event: &str, changes: usize, now_empty: bool) {
        if changes > 0 {
            self.srv.ks.mark_dirty(changes as u64);
            self.notify(class::ZSET, event, key);
        }
        if now_empty && self.delete(key) {
            self.notify(class::GENERIC, "del", key);
        }
    }
}

/// Builds a member list reply, with scores flat (RESP2) or as [member, score] pairs
/// (RESP3), as Redis's range replies do.
struct Out {
    withscores: bool,
    nested: bool,
    items: Vec<Frame>,
}

impl Out {
    fn new(withscores: bool, resp3: bool) -> Out {
        Out { withscores, nested: withscores && resp3, items: Vec::new() }
    }

    fn push(&mut self, member: &[u8], score: f64) {
        if !self.withscores {
            self.items.push(Frame::bulk(member));
        } else if self.nested {
            self.items.push(Frame::Array(vec![Frame::bulk(member), Frame::Double(score)]));
        } else {
            self.items.push(Frame::bulk(member));
            self.items.push(Frame::Double(score));
        }
    }

    fn frame(self) -> Frame {
        Frame::Array(self.items)
    }
}

/// Reads a double the way C's `strtod` does when Redis only checks that it consumed the
/// whole (NUL-terminated) string: leading whitespace is skipped, and the empty string is 0.
fn strtod_whole(b: &[u8]) -> Option<f64> {
    let b = crate::error::c_prefix(b, b.len());
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let s = std::str::from_utf8(&b[start..]).ok()?;
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if lower.len() - body.len() > 1 {
        return None;
    }
    let v = match body {
        "inf" | "infinity" => f64::INFINITY,
        _ if body.starts_with("0x") => crate::types::num::parse_hex_float(&body[2..])?,
        _ if body.starts_with(|c: char| c.is_ascii_digit() || c == '.') => body.parse().ok()?,
        _ => return None,
    };
    Some(if lower.starts_with('-') { -v } else { v })
}

/// A score interval with optional exclusive ends (`(1.5`).
#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

impl ScoreRange {
    /// Parses `min max`; any bad end is `min or max is not a float`.
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        fn bound(b: &[u8]) -> Option<(f64, bool)> {
            match b.strip_prefix(b"(") {
                Some(rest) => Some((strtod_whole(rest)?, true)),
                None => Some((strtod_whole(b)?, false)),
            }
        }
        let err = CmdError::Static("ERR min or max is not a float");
        let (min, minex) = bound(min).ok_or(err.clone())?;
        let (max, maxex) = bound(max).ok_or(err)?;
        Ok(ScoreRange { min, minex, max, maxex })
    }

    /// The ranks `start..end` of the elements inside the range.
    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let r = *self;
        let start = z.count_before(&move |s, _| if r.minex { s <= r.min } else { s < r.min });
        let end = z.count_before(&move |s, _| if r.maxex { s < r.max } else { s <= r.max });
        (start, end.max(start))
    }
}

/// One end of a lex range.
#[derive(Clone)]
enum Lex {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

impl Lex {
    fn parse(b: &Bytes) -> Option<Lex> {
        // Redis looks at the C string: `+` or `-` must be followed by its terminating NUL.
        let alone = b.len() == 1 || b.get(1) == Some(&0);
        match b.first() {
            Some(b'+') if alone => Some(Lex::Max),
            Some(b'-') if alone => Some(Lex::Min),
            Some(b'(') => Some(Lex::Excl(b.slice(1..))),
            Some(b'[') => Some(Lex::Incl(b.slice(1..))),
            _ => None,
        }
    }

    /// True if `m` comes before this bound taken as a lower bound (outside the range).
    fn below_min(&self, m: &[u8]) -> bool {
        match self {
            Lex::Min => false,
            Lex::Max => true,
            Lex::Incl(x) => m < &x[..],
            Lex::Excl(x) => m <= &x[..],
        }
    }

    /// True if `m` is within this bound taken as an upper bound.
    fn within_max(&self, m: &[u8]) -> bool {
        match self {
            Lex::Min => false,
            Lex::Max => true,
            Lex::Incl(x) => m <= &x[..],
            Lex::Excl(x) => m < &x[..],
        }
    }
}

/// A lex interval.
struct LexRange {
    min: Lex,
    max: Lex,
}

impl LexRange {
    fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, CmdError> {
        match (Lex::parse(min), Lex::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(CmdError::Static("ERR min or max not valid string range item")),
        }
    }

    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let start = z.count_before(&|_, m| self.min.below_min(m));
        let end = z.count_before(&|_, m| self.max.within_max(m));
        (start, end.max(start))
    }
}

/// Redis's rank normalisation (negative counts from the end, clamped): the ascending ranks
/// `start..end` selected by `start stop`, empty when nothing is selected.
fn rank_window(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut stop = if stop < 0 { llen + stop } else { stop };
    start = start.max(0);
    if start > stop || start >= llen {
        return (0, 0);
    }
    stop = stop.min(llen - 1);
    (start as usize, stop as usize + 1)
}

/// Applies `LIMIT offset count` to the ranks `start..end`, counting from the end when
/// `rev`. A negative offset selects nothing and a negative count means "all" (as the C
/// loops in Redis behave).
fn apply_limit(start: usize, end: usize, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    let n = end - start;
    let Ok(off) = usize::try_from(offset) else { return (start, start) };
    if off >= n {
        return (start, start);
    }
    let take = usize::try_from(limit).map_or(n - off, |l| l.min(n - off));
    if rev {
        (end - off - take, end - off)
    } else {
        (start + off, start + off + take)
    }
}

/// Where ZADD-style scores go: the options of one ZADD/ZINCRBY call.
#[derive(Clone, Copy, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// What one [`add_one`] did.
#[derive(PartialEq)]
enum Added {
    New(f64),
    Updated(f64),
    /// Nothing done: NX/XX/GT/LT vetoed it (INCR then replies null).
    Nop,
    /// The new score equals the old one (still counts as processed for INCR's reply).
    Same(f64),
}

/// Applies one score/member pair with ZADD's rules. `Err` only for a NaN result.
fn add_one(
    z: &mut ZSetValue,
    member: &[u8],
    score: f64,
    f: AddFlags,
    limits: Limits,
) -> Result<Added, CmdError> {
    let nan = CmdError::Static("ERR resulting score is not a number (NaN)");
    if score.is_nan() {
        return Err(nan);
    }
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok(Added::Nop);
            }
            let new = if f.incr { score + cur } else { score };
            if new.is_nan() {
                return Err(nan);
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok(Added::Nop);
            }
            if new == cur {
                return Ok(Added::Same(new));
            }
            z.insert(member, new, limits);
            Ok(Added::Updated(new))
        }
        None if f.xx => Ok(Added::Nop),
        None => {
            z.insert(member, score, limits);
            Ok(Added::New(score))
        }
    }
}

/// Shared body of ZADD (options from `args`' position) and ZINCRBY (`incr_only`).
fn zadd_generic(ctx: &mut Ctx<'_>, args: &mut Args, incr_only: bool) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let mut f = AddFlags { incr: incr_only, ..AddFlags::default() };
    let mut ch = false;
    if !incr_only {
        loop {
            if args.eat("nx") {
                f.nx = true;
            } else if args.eat("xx") {
                f.xx = true;
            } else if args.eat("gt") {
                f.gt = true;
            } else if args.eat("lt") {
                f.lt = true;
            } else if args.eat("ch") {
                ch = true;
            } else if args.eat("incr") {
                f.incr = true;
            } else {
                break;
            }
        }
    }
    let rest = args.rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::Static("ERR XX and NX options at the same time are not compatible"));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::Static(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::Static("ERR INCR option supports a single increment-element pair"));
    }
    // Every score is parsed before anything changes: the command applies fully or not at all.
    let mut pairs: Vec<(f64, Bytes)> = Vec::new();
    let mut longest = 0;
    for pair in rest.chunks(2) {
        let score = num::parse_f64(&pair[0]).ok_or(CmdError::NotFloat)?;
        longest = longest.max(pair[1].len());
        pairs.push((score, pair[1].clone()));
    }
    let limits = ctx.zset_limits();
    // ZINCRBY and ZADD INCR announce `zincr`, whatever their name.
    let event = if f.incr { "zincr" } else { "zadd" };
    let (mut added, mut updated, mut processed, mut last) = (0usize, 0usize, 0usize, 0.0);
    let exists = ctx.zset_write(&key)?.is_some();
    if !exists && !f.xx {
        // Redis 7.2 picks the encoding from the whole command up front.
        let z = ZSetValue::with_hint(pairs.len(), longest, limits);
        ctx.set_value(&key, Value::ZSet(z), false);
    }
    if let Some(z) = ctx.zset_write(&key)? {
        if pairs.len() > limits.max_entries {
            z.to_skiplist();
        }
        for (score, member) in &pairs {
            let outcome = add_one(z, member, *score, f, limits);
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    let empty = z.is_empty();
                    ctx.zset_changed(&key, event, added + updated, empty);
                    return Err(e);
                }
            };
            match outcome {
                Added::New(s) => {
                    added += 1;
                    processed += 1;
                    last = s;
                }
                Added::Updated(s) => {
                    updated += 1;
                    processed += 1;
                    last = s;
                }
                Added::Same(s) => {
                    processed += 1;
                    last = s;
                }
                Added::Nop => {}
            }
        }
        // A key created above stays empty only if nothing could be added; never keep it.
        let empty = z.is_empty();
        ctx.zset_changed(&key, event, added + updated, empty);
    }
    if f.incr {
        return Ok(if processed > 0 { Frame::Double(last) } else { Frame::Null });
    }
    Ok(Frame::Integer(if ch { added + updated } else { added } as i64))
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`: adds members or
/// updates their scores.
pub(crate) fn zadd(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zadd_generic(ctx, args, false)
}

/// `ZINCRBY key increment member`: adds `increment` to a member's score.
fn zincrby(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zadd_generic(ctx, args, true)
}

/// `ZREM key member [member ...]`: removes members; replies how many were there.
fn zrem(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let members = args.rest().to_vec();
    let Some(z) = ctx.zset_write(&key)? else { return Ok(Frame::Integer(0)) };
    let mut removed = 0;
    for m in &members {
        if z.remove(m).is_some() {
            removed += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    let empty = z.is_empty();
    ctx.zset_changed(&key, "zrem", removed, empty);
    Ok(Frame::Integer(removed as i64))
}

/// `ZCARD key`: the number of members.
fn zcard(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    Ok(Frame::Integer(ctx.zset_read(&key)?.map_or(0, |z| z.len()) as i64))
}

/// `ZSCORE key member`: a member's score, or null.
fn zscore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let member = args.next_bytes()?;
    let score = ctx.zset_read(&key)?.and_then(|z| z.score(&member));
    Ok(score.map_or(Frame::Null, Frame::Double))
}

/// `ZMSCORE key member [member ...]`: the scores of several members (null for missing ones).
fn zmscore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let members = args.rest().to_vec();
    let z = ctx.zset_read(&key)?;
    let z = z.as_deref();
    Ok(Frame::Array(
        members
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Frame::Null, Frame::Double))
            .collect(),
    ))
}

/// Shared body of ZRANK and ZREVRANK (with Redis 7.2's WITHSCORE).
fn zrank_generic(ctx: &mut Ctx<'_>, args: &mut Args, rev: bool) -> Result<Frame, CmdError> {
    if args.len() > 4 {
        let name = if rev { "zrevrank" } else { "zrank" };
        return Err(CmdError::WrongArity(name.into()));
    }
    let key = args.next_bytes()?;
    let member = args.next_bytes()?;
    let withscore = match args.remaining() {
        0 => false,
        _ if args.eat("withscore") => true,
        _ => return Err(CmdError::Syntax),
    };
    let missing = if withscore { Frame::NullArray } else { Frame::Null };
    let Some(z) = ctx.zset_read(&key)? else { return Ok(missing) };
    let len = z.len();
    Ok(match z.rank(&member) {
        None => missing,
        Some((rank, score)) => {
            let rank = if rev { len - 1 - rank } else { rank } as i64;
            if withscore {
                Frame::Array(vec![Frame::Integer(rank), Frame::Double(score)])
            } else {
                Frame::Integer(rank)
            }
        }
    })
}

/// `ZRANK key member [WITHSCORE]`: a member's 0-based ascending rank.
fn zrank(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zrank_generic(ctx, args, false)
}

/// `ZREVRANK key member [WITHSCORE]`: a member's 0-based descending rank.
fn zrevrank(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zrank_generic(ctx, args, true)
}

/// `ZCOUNT key min max`: members with scores in a range.
fn zcount(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let range = ScoreRange::parse(&args.next_bytes()?, &args.next_bytes()?)?;
    let n = ctx.zset_read(&key)?.map_or(0, |z| {
        let (s, e) = range.ranks(z);
        e - s
    });
    Ok(Frame::Integer(n as i64))
}

/// `ZLEXCOUNT key min max`: members in a lex range.
fn zlexcount(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let range = LexRange::parse(&args.next_bytes()?, &args.next_bytes()?)?;
    let n = ctx.zset_read(&key)?.map_or(0, |z| {
        let (s, e) = range.ranks(z);
        e - s
    });
    Ok(Frame::Integer(n as i64))
}

// ---------------------------------------------------------------------------------------
// ZRANGE and its older forms.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum RangeBy {
    Rank,
    Score,
    Lex,
}

/// The parsed range of a ZRANGE-style command.
enum RangeSpec {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// Shared body of every ZRANGE form. `src_at` is the argv index of the source key; the
/// legacy commands fix the range type (`by`) or direction (`rev`), which then cannot be
/// given as options. `dst` is the destination of ZRANGESTORE.
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    dst: Option<Bytes>,
    by: Option<RangeBy>,
    rev: Option<bool>,
) -> Result<Frame, CmdError> {
    let src = args.next_bytes()?;
    let a1 = args.next_bytes()?;
    let a2 = args.next_bytes()?;
    let (mut by_opt, mut rev_opt) = (by, rev);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    while args.remaining() > 0 {
        if dst.is_none() && args.eat("withscores") {
            withscores = true;
        } else if args.remaining() >= 3 && args.eat("limit") {
            offset = args.next_i64()?;
            limit = args.next_i64()?;
        } else if rev_opt.is_none() && args.eat("rev") {
            rev_opt = Some(true);
        } else if by_opt.is_none() && args.eat("bylex") {
            by_opt = Some(RangeBy::Lex);
        } else if by_opt.is_none() && args.eat("byscore") {
            by_opt = Some(RangeBy::Score);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let rev = rev_opt.unwrap_or(false);
    let by = by_opt.unwrap_or(RangeBy::Rank);
    if limit != -1 && by == RangeBy::Rank {
        return Err(CmdError::Static(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == RangeBy::Lex {
        return Err(CmdError::Static(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reverse score and lex ranges are written max first.
    let (lo, hi) = if rev && by != RangeBy::Rank { (a2, a1) } else { (a1, a2) };
    let spec = match by {
        RangeBy::Rank => {
            let start = num::parse_i64(&lo).ok_or(CmdError::NotInteger)?;
            let stop = num::parse_i64(&hi).ok_or(CmdError::NotInteger)?;
            RangeSpec::Rank(start, stop)
        }
        RangeBy::Score => RangeSpec::Score(ScoreRange::parse(&lo, &hi)?),
        RangeBy::Lex => RangeSpec::Lex(LexRange::parse(&lo, &hi)?),
    };
    let resp3 = ctx.resp3();
    let mut out = Out::new(withscores || dst.is_some(), resp3 && dst.is_none());
    if let Some(z) = ctx.zset_read(&src)? {
        let (start, end) = match &spec {
            RangeSpec::Rank(a, b) => {
                let (s, e) = rank_window(*a, *b, z.len());
                if rev {
                    // Rank i counted from the top is ascending rank len-1-i.
                    (z.len() - e, z.len() - s)
                } else {
                    (s, e)
                }
            }
            RangeSpec::Score(r) => {
                let (s, e) = r.ranks(z);
                apply_limit(s, e, rev, offset, limit)
            }
            RangeSpec::Lex(r) => {
                let (s, e) = r.ranks(z);
                apply_limit(s, e, rev, offset, limit)
            }
        };
        z.for_range(start, end, rev, |m, s| out.push(m, s));
    }
    let Some(dst) = dst else { return Ok(out.frame()) };
    store_pairs(ctx, &dst, out.items, "zrangestore")
}

/// Stores flat [member, score, ...] frames as a sorted set at `dst` (deleting `dst` when
/// empty) and replies with the new size; `event` as for [`store_result`].
fn store_pairs(
    ctx: &mut Ctx<'_>,
    dst: &[u8],
    items: Vec<Frame>,
    event: &str,
) -> Result<Frame, CmdError> {
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(Frame::Bulk(m)), Some(Frame::Double(s))) = (it.next(), it.next()) {
        pairs.push((m, s));
    }
    store_result(ctx, dst, pairs, event)
}

/// Stores `pairs` (member, score) at `dst`, in the encoding Redis gives a freshly built
/// set, announcing `event` (the storing command's name); an empty result deletes `dst`
/// instead, announced as `del` when there was something to delete. Replies with the
/// stored size.
pub(crate) fn store_result(
    ctx: &mut Ctx<'_>,
    dst: &[u8],
    pairs: Vec<(Bytes, f64)>,
    event: &str,
) -> Result<Frame, CmdError> {
    if pairs.is_empty() {
        if ctx.delete(dst) {
            ctx.notify(class::GENERIC, "del", dst);
        }
        return Ok(Frame::Integer(0));
    }
    let limits = ctx.zset_limits();
    let longest = pairs.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSetValue::with_hint(pairs.len(), longest, limits);
    for (m, s) in &pairs {
        z.insert(m, *s, limits);
    }
    let n = z.len();
    ctx.set_value(dst, Value::ZSet(z), false);
    ctx.notify(class::ZSET, event, dst);
    Ok(Frame::Integer(n as i64))
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`.
fn zrange(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zrange_generic(ctx, args, None, None, None)
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`.
fn zrangestore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let dst = args.next_bytes()?;
    zrange_generic(ctx, args, Some(dst), None, None)
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`.
fn zrangebyscore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zrange_generic(ctx, args, None, Some(RangeBy::Score), Some(false))
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`.
fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zrange_generic(ctx, args, None, Some(RangeBy::Score), Some(true))
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`.
fn zrangebylex(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zrange_generic(ctx, args, None, Some(RangeBy::Lex), Some(false))
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`.
fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zrange_generic(ctx, args, None, Some(RangeBy::Lex), Some(true))
}

/// `ZREVRANGE key start stop [WITHSCORES]`.
fn zrevrange(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zrange_generic(ctx, args, None, Some(RangeBy::Rank), Some(true))
}

/// Shared body of the ZREMRANGEBY* commands: the range becomes ranks, which are removed.
fn zremrange_generic(ctx: &mut Ctx<'_>, args: &mut Args, by: RangeBy) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let (a1, a2) = (args.next_bytes()?, args.next_bytes()?);
    let spec = match by {
        RangeBy::Rank => RangeSpec::Rank(
            num::parse_i64(&a1).ok_or(CmdError::NotInteger)?,
            num::parse_i64(&a2).ok_or(CmdError::NotInteger)?,
        ),
        RangeBy::Score => RangeSpec::Score(ScoreRange::parse(&a1, &a2)?),
        RangeBy::Lex => RangeSpec::Lex(LexRange::parse(&a1, &a2)?),
    };
    let Some(z) = ctx.zset_write(&key)? else { return Ok(Frame::Integer(0)) };
    let (start, end) = match &spec {
        RangeSpec::Rank(a, b) => rank_window(*a, *b, z.len()),
        RangeSpec::Score(r) => r.ranks(z),
        RangeSpec::Lex(r) => r.ranks(z),
    };
    let removed = z.remove_range(start, end);
    let empty = z.is_empty();
    let event = match by {
        RangeBy::Rank => "zremrangebyrank",
        RangeBy::Score => "zremrangebyscore",
        RangeBy::Lex => "zremrangebylex",
    };
    ctx.zset_changed(&key, event, removed, empty);
    Ok(Frame::Integer(removed as i64))
}

/// `ZREMRANGEBYRANK key start stop`.
fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zremrange_generic(ctx, args, RangeBy::Rank)
}

/// `ZREMRANGEBYSCORE key min max`.
fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zremrange_generic(ctx, args, RangeBy::Score)
}

/// `ZREMRANGEBYLEX key min max`.
fn zremrangebylex(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zremrange_generic(ctx, args, RangeBy::Lex)
}

// ---------------------------------------------------------------------------------------
// Pops, blocking and not.
// ---------------------------------------------------------------------------------------

/// Removes up to `count` lowest (or highest, `max`) members of the set at `key`, deleting
/// the key when it empties. The caller has checked the key holds a sorted set.
fn pop(ctx: &mut Ctx<'_>, key: &[u8], max: bool, count: usize) -> Vec<(Bytes, f64)> {
    let mut popped = Vec::new();
    let Ok(Some(z)) = ctx.zset_write(key) else { return popped };
    let len = z.len();
    let n = count.min(len);
    let (start, end) = if max { (len - n, len) } else { (0, n) };
    z.for_range(start, end, max, |m, s| popped.push((Bytes::copy_from_slice(m), s)));
    z.remove_range(start, end);
    let empty = z.is_empty();
    ctx.zset_changed(key, if max { "zpopmax" } else { "zpopmin" }, n, empty);
    popped
}

/// The first key of `keys` holding a non-empty sorted set; `WRONGTYPE` if a key before it
/// (or it) holds another type.
fn first_nonempty(ctx: &mut Ctx<'_>, keys: &[Bytes]) -> Result<Option<Bytes>, CmdError> {
    for k in keys {
        if ctx.zset_write(k)?.is_some_and(|z| !z.is_empty()) {
            return Ok(Some(k.clone()));
        }
    }
    Ok(None)
}

/// Shared body of ZPOPMIN and ZPOPMAX.
fn zpop_generic(ctx: &mut Ctx<'_>, args: &mut Args, max: bool) -> Result<Frame, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let key = args.next_bytes()?;
    let count = match args.remaining() {
        0 => None,
        _ => {
            let c = num::parse_i64(args.next_ref()?).and_then(|c| usize::try_from(c).ok());
            Some(c.ok_or(CmdError::MustBePositive)?)
        }
    };
    if ctx.zset_write(&key)?.is_none() || count == Some(0) {
        return Ok(Frame::Array(Vec::new()));
    }
    let mut out = Out::new(true, ctx.resp3() && count.is_some());
    for (m, s) in pop(ctx, &key, max, count.unwrap_or(1)) {
        out.push(&m, s);
    }
    Ok(out.frame())
}

/// `ZPOPMIN key [count]`: removes and returns the lowest-scoring members.
fn zpopmin(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zpop_generic(ctx, args, false)
}

/// `ZPOPMAX key [count]`: removes and returns the highest-scoring members.
fn zpopmax(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    zpop_generic(ctx, args, true)
}

/// Shared body of BZPOPMIN and BZPOPMAX: `[key, member, score]` from the first non-empty
/// set, else block.
fn bzpop_generic(ctx: &mut Ctx<'_>, args: &mut Args, max: bool) -> Result<Frame, CmdError> {
    let all = args.rest().to_vec();
    let (timeout, keys) = all.split_last().ok_or(CmdError::Syntax)?;
    let deadline = blocking::parse_timeout(timeout, ctx.now)?;
    if let Some(key) = first_nonempty(ctx, keys)? {
        let mut items = vec![Frame::bulk(&key)];
        for (m, s) in pop(ctx, &key, max, 1) {
            items.push(Frame::bulk(&m));
            items.push(Frame::Double(s));
        }
        ctx.propagate_pop(if max { "ZPOPMAX" } else { "ZPOPMIN" }, &key, None);
        return Ok(Frame::Array(items));
    }
    if ctx.block(keys.to_vec(), deadline, Frame::NullArray) {
        return Ok(Frame::Null);
    }
    Ok(Frame::NullArray)
}

/// `BZPOPMIN key [key ...] timeout`: ZPOPMIN of the first non-empty set, blocking.
fn bzpopmin(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    bzpop_generic(ctx, args, false)
}

/// `BZPOPMAX key [key ...] timeout`: ZPOPMAX of the first non-empty set, blocking.
fn bzpopmax(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    bzpop_generic(ctx, args, true)
}

/// Reads `numkeys` with the error ZMPOP/ZINTERCARD give for anything but a positive integer.
fn parse_numkeys(b: &[u8]) -> Result<usize, CmdError> {
    num::parse_i64(b)
        .filter(|&n| n > 0)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(CmdError::Static("ERR numkeys should be greater than 0"))
}

/// Parsed `numkeys key [key ...] MIN|MAX [COUNT count]` of ZMPOP and BZMPOP.
struct MpopArgs {
    keys: Vec<Bytes>,
    max: bool,
    count: usize,
}

fn parse_mpop(args: &mut Args) -> Result<MpopArgs, CmdError> {
    let numkeys = parse_numkeys(args.next_ref()?)?;
    if numkeys >= args.remaining() {
        return Err(CmdError::Syntax);
    }
    let keys = args.rest()[..numkeys].to_vec();
    args.seek(args.pos() + numkeys);
    let max = if args.eat("min") {
        false
    } else if args.eat("max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    while args.remaining() > 0 {
        if count.is_none() && args.remaining() >= 2 && args.eat("count") {
            let c = num::parse_i64(args.next_ref()?)
                .filter(|&c| c > 0)
                .and_then(|c| usize::try_from(c).ok())
                .ok_or(CmdError::Static("ERR count should be greater than 0"))?;
            count = Some(c);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MpopArgs { keys, max, count: count.unwrap_or(1) })
}

/// Pops for ZMPOP/BZMPOP: `[key, [[member, score], ...]]`, or None when every set is empty.
fn mpop(ctx: &mut Ctx<'_>, a: &MpopArgs) -> Result<Option<Frame>, CmdError> {
    let Some(key) = first_nonempty(ctx, &a.keys)? else { return Ok(None) };
    let mut out = Out::new(true, true);
    let popped = pop(ctx, &key, a.max, a.count);
    ctx.propagate_pop(if a.max { "ZPOPMAX" } else { "ZPOPMIN" }, &key, Some(popped.len()));
    for (m, s) in popped {
        out.push(&m, s);
    }
    Ok(Some(Frame::Array(vec![Frame::bulk(&key), out.frame()])))
}

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`: pops from the first non-empty set.
fn zmpop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let a = parse_mpop(args)?;
    Ok(mpop(ctx, &a)?.unwrap_or(Frame::NullArray))
}

/// `BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]`: ZMPOP, blocking.
fn bzmpop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let timeout = args.next_bytes()?;
    let a = parse_mpop(args)?;
    let deadline = blocking::parse_timeout(&timeout, ctx.now)?;
    if let Some(reply) = mpop(ctx, &a)? {
        return Ok(reply);
    }
    if ctx.block(a.keys, deadline, Frame::NullArray) {
        return Ok(Frame::Null);
    }
    Ok(Frame::NullArray)
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER, set algebra, ZSCAN.
// ---------------------------------------------------------------------------------------

/// `ZRANDMEMBER key [count [WITHSCORES]]`: random members; a negative count allows repeats.
fn zrandmember(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    use rand::Rng;
    let key = args.next_bytes()?;
    let (mut count, mut withscores) = (None, false);
    if args.remaining() > 0 {
        let c = args.next_i64()?;
        if c == i64::MIN {
            return Err(CmdError::Static(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        withscores = match args.remaining() {
            0 => false,
            1 if args.eat("withscores") => true,
            _ => return Err(CmdError::Syntax),
        };
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&c) {
            return Err(CmdError::Static("ERR value is out of range"));
        }
        count = Some(c);
    }
    let resp3 = ctx.resp3();
    let (db, now) = (ctx.db(), ctx.now);
    let touch = if ctx.client_ref().no_touch {
        crate::keyspace::Touch::No
    } else {
        crate::keyspace::Touch::Yes
    };
    // Borrow the keyspace and the random source separately.
    let srv = &mut *ctx.srv;
    let z = match srv.ks.lookup_read(db, &key, now, touch) {
        None if count.is_none() => return Ok(Frame::Null),
        None => return Ok(Frame::Array(Vec::new())),
        Some(Entry { value: Value::ZSet(z), .. }) => z,
        Some(_) => return Err(CmdError::WrongType),
    };
    let Some(count) = count else {
        let i = srv.rng.random_range(0..z.len());
        return Ok(z.get(i).map_or(Frame::Null, |(m, _)| Frame::bulk(m)));
    };
    let mut out = Out::new(withscores, resp3);
    let len = z.len();
    if count < 0 {
        // Repeats allowed: each pick is independent.
        for _ in 0..count.unsigned_abs() {
            if let Some((m, s)) = z.get(srv.rng.random_range(0..len)) {
                out.push(m, s);
            }
        }
    } else if count as u64 >= len as u64 {
        z.for_range(0, len, false, |m, s| out.push(m, s));
    } else {
        let picks = rand::seq::index::sample(&mut srv.rng, len, count as usize);
        for i in picks.iter() {
            if let Some((m, s)) = z.get(i) {
                out.push(m, s);
            }
        }
    }
    Ok(out.frame())
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
    /// ZINTERCARD: an intersection that is only counted.
    Card,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, v: f64) -> f64 {
        match self {
            // inf + -inf is NaN; Redis settles such a sum at 0.
            Aggregate::Sum => {
                let s = acc + v;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => acc.min(v),
            Aggregate::Max => acc.max(v),
        }
    }
}

/// One input of ZUNION/ZINTER/ZDIFF, read out of the keyspace: its members with scores
/// (plain sets count score 1) and a lookup for membership tests.
struct Input {
    members: Vec<(Bytes, f64)>,
    index: std::collections::HashMap<Bytes, f64>,
    weight: f64,
}

/// Reads one input key: a sorted set, a set (score 1), or nothing.
fn read_input(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Vec<(Bytes, f64)>, CmdError> {
    Ok(match ctx.lookup_read(key) {
        None => Vec::new(),
        Some(Entry { value: Value::ZSet(z), .. }) => {
            z.iter().map(|(m, s)| (Bytes::copy_from_slice(m), s)).collect()
        }
        Some(Entry { value: Value::Set(s), .. }) => {
            s.iter().map(|m| (Bytes::copy_from_slice(&m), 1.0)).collect()
        }
        Some(_) => return Err(CmdError::WrongType),
    })
}

/// Shared body of ZUNION/ZINTER/ZDIFF (`dst` None, WITHSCORES allowed), their STORE forms,
/// and ZINTERCARD (only LIMIT allowed).
fn setop_generic(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    op: SetOp,
    dst: Option<Bytes>,
) -> Result<Frame, CmdError> {
    let numkeys = args.next_i64()?;
    if numkeys < 1 {
        let name = ctx.spec.name;
        return Err(CmdError::dynamic(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > args.remaining() {
        return Err(CmdError::Syntax);
    }
    let keys = args.rest()[..numkeys].to_vec();
    args.seek(args.pos() + numkeys);
    let mut inputs = Vec::with_capacity(numkeys);
    for k in &keys {
        let members = read_input(ctx, k)?;
        inputs.push(Input { members, index: Default::default(), weight: 1.0 });
    }
    let (mut aggregate, mut withscores, mut card_limit) = (Aggregate::Sum, false, 0usize);
    while args.remaining() > 0 {
        if op == SetOp::Card {
            if args.remaining() >= 2 && args.eat("limit") {
                card_limit = num::parse_i64(args.next_ref()?)
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or(CmdError::Static("ERR LIMIT can't be negative"))?;
                continue;
            }
            return Err(CmdError::Syntax);
        }
        if op != SetOp::Diff && args.remaining() > numkeys && args.eat("weights") {
            for input in inputs.iter_mut() {
                input.weight = num::parse_f64(args.next_ref()?)
                    .ok_or(CmdError::Static("ERR weight value is not a float"))?;
            }
        } else if op != SetOp::Diff && args.remaining() >= 2 && args.eat("aggregate") {
            aggregate = if args.eat("sum") {
                Aggregate::Sum
            } else if args.eat("min") {
                Aggregate::Min
            } else if args.eat("max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
        } else if dst.is_none() && args.eat("withscores") {
            withscores = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let result = combine(inputs, op, aggregate);
    if op == SetOp::Card {
        let n = result.len();
        return Ok(Frame::Integer(if card_limit > 0 { n.min(card_limit) } else { n } as i64));
    }
    if let Some(dst) = dst {
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            _ => "zdiffstore",
        };
        return store_result(ctx, &dst, result, event);
    }
    let mut out = Out::new(withscores, ctx.resp3());
    for (m, s) in &result {
        out.push(m, *s);
    }
    Ok(out.frame())
}

/// Computes the union, intersection or difference, sorted by (score, member).
fn combine(mut inputs: Vec<Input>, op: SetOp, agg: Aggregate) -> Vec<(Bytes, f64)> {
    let weighted = |w: f64, s: f64| {
        let v = w * s;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut result: Vec<(Bytes, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: std::collections::HashMap<Bytes, f64> = Default::default();
            let mut order: Vec<Bytes> = Vec::new();
            inputs.sort_by_key(|i| i.members.len());
            for input in &inputs {
                for (m, s) in &input.members {
                    let v = weighted(input.weight, *s);
                    match acc.get_mut(m) {
                        Some(a) => *a = agg.apply(*a, v),
                        None => {
                            acc.insert(m.clone(), v);
                            order.push(m.clone());
                        }
                    }
                }
            }
            result = order
                .into_iter()
                .map(|m| {
                    let s = acc.get(&m).copied().unwrap_or(0.0);
                    (m, s)
                })
                .collect();
        }
        SetOp::Inter | SetOp::Card => {
            inputs.sort_by_key(|i| i.members.len());
            for input in inputs.iter_mut().skip(1) {
                input.index = input.members.iter().cloned().collect();
            }
            if let Some((first, others)) = inputs.split_first() {
                'outer: for (m, s) in &first.members {
                    let mut score = weighted(first.weight, *s);
                    for o in others {
                        match o.index.get(m) {
                            Some(v) => score = agg.apply(score, weighted(o.weight, *v)),
                            None => continue 'outer,
                        }
                    }
                    result.push((m.clone(), score));
                }
            }
        }
        SetOp::Diff => {
            for input in inputs.iter_mut().skip(1) {
                input.index = input.members.iter().cloned().collect();
            }
            if let Some((first, others)) = inputs.split_first() {
                for (m, s) in &first.members {
                    if !others.iter().any(|o| o.index.contains_key(m)) {
                        result.push((m.clone(), *s));
                    }
                }
            }
        }
    }
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0))
    });
    result
}

/// `ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`.
fn zunion(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    setop_generic(ctx, args, SetOp::Union, None)
}

/// `ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`.
fn zinter(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    setop_generic(ctx, args, SetOp::Inter, None)
}

/// `ZDIFF numkeys key [key ...] [WITHSCORES]`.
fn zdiff(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    setop_generic(ctx, args, SetOp::Diff, None)
}

/// `ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]`.
fn zunionstore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let dst = args.next_bytes()?;
    setop_generic(ctx, args, SetOp::Union, Some(dst))
}

/// `ZINTERSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]`.
fn zinterstore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let dst = args.next_bytes()?;
    setop_generic(ctx, args, SetOp::Inter, Some(dst))
}

/// `ZDIFFSTORE dst numkeys key [key ...]`.
fn zdiffstore(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let dst = args.next_bytes()?;
    setop_generic(ctx, args, SetOp::Diff, Some(dst))
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`: the size of the intersection, counting
/// stops at `limit` (0 = no limit).
fn zintercard(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    setop_generic(ctx, args, SetOp::Card, None)
}

/// Formats a score the way C's `%.17g` does (ZSCAN of a skiplist prints scores so in 7.2).
fn format_g17(d: f64) -> String {
    if !d.is_finite() || d == 0.0 {
        return resp::encode::format_double(d);
    }
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => return sci,
    };
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), exp.abs());
    }
    let decimals = usize::try_from(16 - exp).unwrap_or(0);
    trim(&format!("{d:.decimals$}"))
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: iterates members and scores.
fn zscan(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let cursor = scan_cursor(args)?;
    let Some(z) = ctx.zset_read(&key)? else { return Ok(scan_reply(0, Vec::new())) };
    let ScanOptions { count, pattern, .. } = scan_options(args, false)?;
    let count = count as i64;
    let skiplist = z.is_skiplist();
    let mut items = Vec::new();
    let mut sampled = 0i64;
    let mut budget = count.saturating_mul(10);
    let mut next = cursor;
    loop {
        next = z.scan(next, |m, s| {
            sampled += 1;
            if pattern.as_ref().is_none_or(|p| crate::glob::matches(p, m, false)) {
                items.push(Frame::bulk(m));
                let text = if skiplist { format_g17(s) } else { resp::encode::format_double(s) };
                items.push(Frame::bulk(text.as_bytes()));
            }
        });
        budget -= 1;
        if next == 0 || budget <= 0 || sampled >= count {
            break;
        }
    }
    Ok(scan_reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1.0), "1");
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_g17(9007199254740993.0), "9007199254740992");
        assert_eq!(format_g17(-2.5), "-2.5");
        assert_eq!(format_g17(f64::INFINITY), "inf");
    }

    #[test]
    fn strtod_rules() {
        assert_eq!(strtod_whole(b""), Some(0.0));
        assert_eq!(strtod_whole(b" 5"), Some(5.0));
        assert_eq!(strtod_whole(b"5 "), None);
        assert_eq!(strtod_whole(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod_whole(b"nan"), None);
        assert_eq!(strtod_whole(b"1e400"), Some(f64::INFINITY));
        assert_eq!(strtod_whole(b"--1"), None);
        assert_eq!(strtod_whole(b"5\x00x"), Some(5.0));
    }

    #[test]
    fn limits_and_windows() {
        assert_eq!(rank_window(0, -1, 5), (0, 5));
        assert_eq!(rank_window(-100, 100, 5), (0, 5));
        assert_eq!(rank_window(3, 1, 5), (0, 0));
        assert_eq!(rank_window(5, 10, 5), (0, 0));
        assert_eq!(apply_limit(2, 8, false, 1, 2), (3, 5));
        assert_eq!(apply_limit(2, 8, true, 1, 2), (5, 7));
        assert_eq!(apply_limit(2, 8, false, -1, 2), (2, 2));
        assert_eq!(apply_limit(2, 8, false, 0, -1), (2, 8));
        assert_eq!(apply_limit(2, 8, false, 6, 1), (2, 2));
    }
}
