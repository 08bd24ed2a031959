//! SORT and SORT_RO: sort the elements of a list, set or sorted set, numerically or as
//! strings, optionally by values found through key patterns (`BY weight_*`,
//! `BY obj_*->field`), returning them or values looked up for them (`GET`), or storing the
//! result as a list (`STORE`, SORT only).
//!
//! The order of checks follows Redis: all options are parsed first (a bad LIMIT number
//! stops with its own error), then the key's type is checked, then scores are computed;
//! a score that is not a number fails the whole command, STORE included.

use super::introspection::{sort_keys, sort_ro_keys};
use super::spec::{acl, flags::*, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::config::P;
use crate::error::{c_prefix, CmdError};
use crate::keyspace::Entry;
use crate::notify::class;
use crate::server::Ctx;
use crate::types::{ListValue, Value};
use bytes::Bytes;
use resp::Frame;
use std::cmp::Ordering;

/// The key spec of the sorted key.
const SORTED: KeySpec = KeySpec::at(1, &["RO", "access"]);
/// The key spec of the keys BY and GET patterns name, which only the sorted data knows.
const PATTERN_KEYS: KeySpec = KeySpec::unknown(&["RO", "access"]).notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort");
/// The key spec of the STORE destination, whose keyword may be anywhere.
const STORE_KEY: KeySpec = KeySpec::unknown(&["OW", "update"]).notes("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array");
/// Complexity text shared by both commands.
const COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).";

/// The SORT family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "sort",
        -2,
        WRITE | DENYOOM,
        acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS,
        KeyPos::ONE,
        sort,
    )
    .doc(
        "generic",
        "1.0.0",
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        COMPLEXITY,
    )
    .key_specs(&[SORTED, PATTERN_KEYS, STORE_KEY])
    .getkeys(sort_keys),
    CommandSpec::new(
        "sort_ro",
        -2,
        READONLY,
        acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS,
        KeyPos::ONE,
        sort,
    )
    .doc(
        "generic",
        "7.0.0",
        "Returns the sorted elements of a list, a set, or a sorted set.",
        COMPLEXITY,
    )
    .key_specs(&[SORTED, PATTERN_KEYS])
    .getkeys(sort_ro_keys),
];

/// The parsed options of one SORT call.
struct Options {
    /// `DESC`.
    desc: bool,
    /// `ALPHA`: compare as strings rather than numbers.
    alpha: bool,
    /// `LIMIT offset count` (count -1 = all).
    limit: (i64, i64),
    /// `BY pattern` when the pattern has a `*`.
    by: Option<Bytes>,
    /// `BY` without `*` (usually `nosort`): keep the native order.
    dont_sort: bool,
    /// `GET` patterns in order.
    gets: Vec<Bytes>,
    /// `STORE destination`.
    store: Option<Bytes>,
}

/// Reads the options after the key. `STORE` is only an option of SORT, so SORT_RO treats
/// it as the syntax error it is for an unknown word.
fn parse_options(args: &mut Args, readonly: bool) -> Result<Options, CmdError> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit: (0, -1),
        by: None,
        dont_sort: false,
        gets: Vec::new(),
        store: None,
    };
    while args.remaining() > 0 {
        let left = args.remaining() - 1;
        if args.eat("asc") {
            o.desc = false;
        } else if args.eat("desc") {
            o.desc = true;
        } else if args.eat("alpha") {
            o.alpha = true;
        } else if left >= 2 && args.eat("limit") {
            o.limit = (args.next_i64()?, args.next_i64()?);
        } else if !readonly && left >= 1 && args.eat("store") {
            o.store = Some(args.next_bytes()?);
        } else if left >= 1 && args.eat("by") {
            let p = args.next_bytes()?;
            // Only a pattern with a `*` names per-element keys; anything else means "do
            // not sort" (SORT key BY nosort). Redis looks for it in the C string.
            o.dont_sort = !c_prefix(&p, p.len()).contains(&b'*');
            o.by = Some(p);
        } else if left >= 1 && args.eat("get") {
            o.gets.push(args.next_bytes()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// What a pattern names for one element.
enum Target {
    /// `#`: the element itself.
    Element,
    /// No `*`: nothing (such a GET always yields null).
    Nothing,
    /// A string key.
    Key(Vec<u8>),
    /// A field of a hash key (`pattern->field`).
    Field(Vec<u8>, Vec<u8>),
}

/// Substitutes `elem` for the first `*` of `pattern`; a `->field` suffix after the `*`
/// (with a non-empty field) turns the lookup into a hash-field lookup.
fn resolve(pattern: &[u8], elem: &[u8]) -> Target {
    // Redis tests these on the C string, so a NUL ends the searchable part.
    let searchable = c_prefix(pattern, pattern.len());
    if searchable == b"#" {
        return Target::Element;
    }
    let Some(star) = searchable.iter().position(|&b| b == b'*') else {
        return Target::Nothing;
    };
    let after = &searchable[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&i| i + 2 < searchable.len());
    let (key_end, field) = match arrow {
        Some(i) => (i, Some(&pattern[i + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(key_end + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    match field {
        Some(f) => Target::Field(key, f.to_vec()),
        None => Target::Key(key),
    }
}

impl Ctx<'_> {
    /// The value a pattern names for `elem`: the element, a string key's value or a hash
    /// field; None when the key is missing or of another type, or the field is missing.
    fn sort_lookup(&mut self, pattern: &[u8], elem: &Bytes) -> Option<Bytes> {
        match resolve(pattern, elem) {
            Target::Element => Some(elem.clone()),
            Target::Nothing => None,
            Target::Key(k) => match self.lookup_read(&k) {
                Some(Entry { value: Value::Str(s), .. }) => Some(s.to_bytes()),
                _ => None,
            },
            Target::Field(k, f) => match self.lookup_read(&k) {
                Some(Entry { value: Value::Hash(h), .. }) => h.get(&f).map(Bytes::copy_from_slice),
                _ => None,
            },
        }
    }

    /// The elements of the value at `key` in their native order (None if missing), or
    /// `WRONGTYPE` for strings and hashes. A sorted set is converted to its skiplist
    /// encoding first, as Redis does for SORT.
    fn sort_elements(&mut self, key: &[u8]) -> Result<Option<(Vec<Bytes>, Kind)>, CmdError> {
        Ok(match self.lookup_read(key) {
            None => None,
            Some(Entry { value: Value::List(l), .. }) => {
                Some((l.iter().map(Bytes::copy_from_slice).collect(), Kind::Ordered))
            }
            Some(Entry { value: Value::ZSet(z), .. }) => {
                z.to_skiplist();
                Some((z.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect(), Kind::Ordered))
            }
            Some(Entry { value: Value::Set(s), .. }) => {
                Some((s.iter().map(|m| Bytes::copy_from_slice(&m)).collect(), Kind::Set))
            }
            Some(_) => return Err(CmdError::WrongType),
        })
    }
}

/// Whether the sorted value has an order of its own (lists and sorted sets) or not (sets).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ordered,
    Set,
}

/// Parses a sort weight the way Redis's `strtod` check does: leading whitespace allowed,
/// the text ends at a NUL byte, an empty text is 0, and trailing junk, NaN, overflow and
/// underflow are errors. Infinity is a valid weight.
fn parse_weight(b: &[u8]) -> Option<f64> {
    let text = c_prefix(b, b.len());
    if text.is_empty() {
        return Some(0.0);
    }
    let start =
        text.iter().position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let s = std::str::from_utf8(&text[start..]).ok()?;
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    // Compared as bytes: slicing the str at 2 could split a multi-byte character.
    let magnitude = if body.len() > 2 && body.as_bytes()[..2].eq_ignore_ascii_case(b"0x") {
        parse_hex(&body[2..])?
    } else {
        // Rust's parser takes the same decimal, "inf" and "infinity" spellings as strtod;
        // it only lacks strtod's range errors, checked below.
        let v: f64 = body.parse().ok()?;
        let finite_text = !body.to_ascii_lowercase().starts_with("inf");
        let has_nonzero_digit =
            body.split(['e', 'E']).next()?.bytes().any(|d| (b'1'..=b'9').contains(&d));
        if v.is_nan()
            || (v.is_infinite() && finite_text)
            || ((v == 0.0 || v.is_subnormal()) && has_nonzero_digit)
        {
            return None;
        }
        v
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// A hexadecimal floating number after `0x`: digits, an optional fraction and an optional
/// binary exponent (`p`), as strtod reads it.
fn parse_hex(s: &str) -> Option<f64> {
    let (mantissa, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    v.is_finite().then_some(v)
}

/// Compares two strings the way `strcoll` does in the C locale: up to the first NUL.
fn cmp_c_strings(a: &[u8], b: &[u8]) -> Ordering {
    c_prefix(a, a.len()).cmp(c_prefix(b, b.len()))
}

/// One element being sorted, with what it is compared by.
struct Item {
    elem: Bytes,
    score: f64,
    by: Option<Bytes>,
}

/// The output range `start..=end` (possibly empty) of `len` sorted elements for
/// `LIMIT offset count`, clamped exactly as Redis clamps it.
fn limit_range(len: usize, (offset, count): (i64, i64)) -> (i64, i64) {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = offset.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination]` and `SORT_RO` (the same without STORE): the sorted elements, or
/// the looked-up values for each, or with STORE how many values were stored as a list.
fn sort(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let mut o = parse_options(args, ctx.spec.name == "sort_ro")?;
    let (mut elems, kind) = ctx.sort_elements(&key)?.unwrap_or((Vec::new(), Kind::Ordered));
    // A set has no order to keep, so an unsorted set being stored is sorted as strings to
    // keep the stored list deterministic (Redis does the same for replication's sake).
    if o.dont_sort && kind == Kind::Set && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let (start, end) = limit_range(elems.len(), o.limit);
    if o.dont_sort {
        // Native order, backwards for DESC (a set's order is arbitrary either way).
        if o.desc && kind == Kind::Ordered {
            elems.reverse();
        }
    } else {
        let mut items = Vec::with_capacity(elems.len());
        let mut bad_score = false;
        for elem in elems {
            let by = match &o.by {
                Some(p) => ctx.sort_lookup(p, &elem),
                None => None,
            };
            let mut score = 0.0;
            if !o.alpha {
                let weight = if o.by.is_some() { by.as_deref() } else { Some(&elem[..]) };
                if let Some(w) = weight {
                    match parse_weight(w) {
                        Some(s) => score = s,
                        None => bad_score = true,
                    }
                }
            }
            items.push(Item { elem, score, by });
        }
        if bad_score {
            return Err(CmdError::Static("ERR One or more scores can't be converted into double"));
        }
        let storing = o.store.is_some();
        let by_pattern = o.by.is_some();
        items.sort_by(|a, b| {
            let c = if !o.alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by_pattern {
                // Elements whose BY lookup found nothing come first.
                match (&a.by, &b.by) {
                    (Some(x), Some(y)) if storing => x.cmp(y),
                    (Some(x), Some(y)) => cmp_c_strings(x, y),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                }
            } else if storing {
                a.elem.cmp(&b.elem)
            } else {
                cmp_c_strings(&a.elem, &b.elem)
            };
            if o.desc {
                c.reverse()
            } else {
                c
            }
        });
        elems = items.into_iter().map(|i| i.elem).collect();
    }
    let picked: &[Bytes] = match (usize::try_from(start), usize::try_from(end)) {
        (Ok(s), Ok(e)) if e >= s => &elems[s..=e],
        _ => &[],
    };
    let mut out: Vec<Option<Bytes>> = Vec::new();
    for elem in picked {
        if o.gets.is_empty() {
            out.push(Some(elem.clone()));
        }
        for g in &o.gets {
            out.push(ctx.sort_lookup(g, elem));
        }
    }
    match o.store {
        None => {
            Ok(Frame::Array(out.into_iter().map(|v| v.map_or(Frame::Null, Frame::Bulk)).collect()))
        }
        Some(dest) => {
            let n = out.len() as i64;
            if out.is_empty() {
                if ctx.delete(&dest) {
                    ctx.notify(class::GENERIC, "del", &dest);
                }
            } else {
                // A missing GET value is stored as an empty string.
                let values: Vec<&[u8]> = out.iter().map(|v| v.as_deref().unwrap_or(b"")).collect();
                let mut list = ListValue::new();
                list.push(ctx.srv.config.int(P::ListMaxListpackSize), &values, false);
                ctx.set_value(&dest, Value::List(Box::new(list)), false);
                ctx.notify(class::LIST, "sortstore", &dest);
                ctx.srv.ks.mark_dirty((n as u64).saturating_sub(1));
            }
            Ok(Frame::Integer(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_strtod() {
        assert_eq!(parse_weight(b"1.5"), Some(1.5));
        assert_eq!(parse_weight(b""), Some(0.0));
        assert_eq!(parse_weight(b"  7"), Some(7.0));
        assert_eq!(parse_weight(b"7 "), None);
        assert_eq!(parse_weight(b"   "), None);
        assert_eq!(parse_weight(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_weight(b"nan"), None);
        assert_eq!(parse_weight(b"1e400"), None);
        assert_eq!(parse_weight(b"1e-400"), None);
        assert_eq!(parse_weight(b"0e-400"), Some(0.0));
        assert_eq!(parse_weight(b"0x10"), Some(16.0));
        assert_eq!(parse_weight(b"-0x1p3"), Some(-8.0));
        assert_eq!(parse_weight(b"3\x00junk"), Some(3.0));
        assert_eq!(parse_weight(b"abc"), None);
    }

    #[test]
    fn patterns_resolve_like_redis() {
        assert!(matches!(resolve(b"#", b"x"), Target::Element));
        assert!(matches!(resolve(b"nosort", b"x"), Target::Nothing));
        assert!(matches!(resolve(b"w_*", b"x"), Target::Key(k) if k == b"w_x"));
        assert!(matches!(resolve(b"w_*_z", b"x"), Target::Key(k) if k == b"w_x_z"));
        assert!(
            matches!(resolve(b"o_*->f", b"x"), Target::Field(k, f) if k == b"o_x" && f == b"f")
        );
        // An arrow with no field after it is part of the key name.
        assert!(matches!(resolve(b"o_*->", b"x"), Target::Key(k) if k == b"o_x->"));
        // Only the first `*` is substituted.
        assert!(matches!(resolve(b"*-*", b"x"), Target::Key(k) if k == b"x-*"));
    }

    #[test]
    fn limits_clamp_like_redis() {
        assert_eq!(limit_range(5, (0, -1)), (0, 4));
        assert_eq!(limit_range(5, (1, 2)), (1, 2));
        assert_eq!(limit_range(5, (-3, 2)), (0, 1));
        assert_eq!(limit_range(5, (10, 2)), (4, 3));
        assert_eq!(limit_range(5, (2, 100)), (2, 4));
        assert_eq!(limit_range(0, (0, 10)), (-1, -2));
        assert_eq!(limit_range(5, (i64::MAX, i64::MAX)), (4, 3));
    }
}
