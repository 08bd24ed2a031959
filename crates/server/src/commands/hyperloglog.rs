//! The HyperLogLog family: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST.
//!
//! A HyperLogLog is an ordinary string holding a sketch in Redis's byte layout
//! (`types::hll`), so these commands read and rewrite string values. Any string that is not
//! a well-formed sketch is refused with a HyperLogLog-specific WRONGTYPE error, while keys of
//! other types get the usual one.

use super::spec::{acl, flags::*, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::config::P;
use crate::error::{c_prefix, CmdError};
use crate::keyspace::Entry;
use crate::notify::class;
use crate::server::Ctx;
use crate::types::hll::{self, Corrupt, Encoding};
use crate::types::{StrValue, Value};
use bytes::Bytes;
use resp::Frame;

/// The HyperLogLog family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pfadd", -2, WRITE | DENYOOM | FAST, acl::HYPERLOGLOG, KeyPos::ONE, pfadd)
        .doc(
            "hyperloglog",
            "2.8.9",
            "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
            "O(1) to add every element.",
        )
        .key_flags(&["RW", "insert"]),
    CommandSpec::new("pfcount", -2, READONLY, acl::HYPERLOGLOG, KeyPos::ALL, pfcount)
        .doc(
            "hyperloglog",
            "2.8.9",
            "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
            "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
        )
        .key_specs(&[KeySpec::range(1, -1, 1, &["RW", "access"]).notes("RW because it may change the internal representation of the key, and propagate to replicas")]),
    CommandSpec::new("pfmerge", -2, WRITE | DENYOOM, acl::HYPERLOGLOG, KeyPos::ALL, pfmerge)
        .doc(
            "hyperloglog",
            "2.8.9",
            "Merges one or more HyperLogLog values into a single key.",
            "O(N) to merge N HyperLogLogs, but with high constant times.",
        )
        .key_specs(&[KeySpec::at(1, &["RW", "access", "insert"]), KeySpec::range(2, -1, 1, &["RO", "access"])]),
    CommandSpec::new(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        acl::HYPERLOGLOG,
        KeyPos::new(2, 2, 1),
        pfdebug,
    )
    .doc("hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values.", "N/A")
    .key_flags(&["RW", "access"]),
    CommandSpec::new("pfselftest", 1, ADMIN, acl::HYPERLOGLOG, KeyPos::NONE, pfselftest).doc(
        "hyperloglog",
        "2.8.9",
        "An internal command for testing HyperLogLog values.",
        "N/A",
    ),
];

/// A string that is not a sketch.
const NOT_HLL: CmdError =
    CmdError::Static("WRONGTYPE Key is not a valid HyperLogLog string value.");
/// A sketch whose opcodes do not add up.
const CORRUPT: CmdError = CmdError::Static("INVALIDOBJ Corrupted HLL object detected");

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> CmdError {
        CORRUPT
    }
}

/// The sketch behind a looked-up entry: `Ok(None)` for a missing key, WRONGTYPE for
/// another type, the HyperLogLog WRONGTYPE for a string that is not a sketch.
fn sketch(entry: Option<&mut Entry>) -> Result<Option<&mut StrValue>, CmdError> {
    let Some(e) = entry else { return Ok(None) };
    let s = e.value.as_str_mut().ok_or(CmdError::WrongType)?;
    let valid = s.as_slice().is_some_and(|b| hll::check(b).is_some());
    if valid {
        Ok(Some(s))
    } else {
        Err(NOT_HLL)
    }
}

/// Runs `f` on a copy of the sketch's bytes and stores the result back as a `raw` string,
/// as Redis unshares a string value before touching it. The bytes are stored even when `f`
/// fails, because Redis edits in place and keeps whatever changed before the failure.
fn edit<R>(s: &mut StrValue, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut h = s.to_bytes().to_vec();
    let r = f(&mut h);
    *s = StrValue::raw(Bytes::from(h));
    r
}

/// `hll-sparse-max-bytes`: the size at which a sparse sketch turns dense.
fn sparse_max(ctx: &Ctx<'_>) -> usize {
    usize::try_from(ctx.srv.config.int(P::HllSparseMaxBytes)).unwrap_or(0)
}

/// Adds every element; the number of elements that changed a register.
fn add_all(h: &mut Vec<u8>, elements: &[Bytes], max: usize) -> Result<u64, Corrupt> {
    let mut changed = 0;
    for e in elements {
        if hll::add(h, e, max)? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// `PFADD key [element ...]`: 1 if the sketch was created or a register changed, else 0.
fn pfadd(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let elements = args.rest().to_vec();
    let max = sparse_max(ctx);
    let changed = match sketch(ctx.lookup_write(&key))? {
        Some(s) => {
            let changed = edit(s, |h| {
                let n = add_all(h, &elements, max)?;
                if n > 0 {
                    hll::invalidate_cache(h);
                }
                Ok::<u64, Corrupt>(n)
            })?;
            ctx.srv.ks.mark_dirty(changed);
            changed
        }
        None => {
            // A new sketch counts as a change even with no elements, so its cache is
            // marked stale like any updated one.
            let mut h = hll::new_sparse();
            add_all(&mut h, &elements, max)?;
            hll::invalidate_cache(&mut h);
            ctx.set_value(&key, Value::Str(StrValue::raw(Bytes::from(h))), false);
            1
        }
    };
    if changed > 0 {
        ctx.notify(class::STRING, "pfadd", &key);
    }
    Ok(Frame::Integer(i64::from(changed > 0)))
}

/// `PFCOUNT key [key ...]`: the estimated cardinality. One key answers from (and
/// refreshes) the cached value in the sketch; several keys are merged on the fly.
fn pfcount(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    if args.remaining() > 1 {
        let regs = merged_registers(ctx, args.rest())?.0;
        return Ok(Frame::Integer(hll::count_registers(&regs) as i64));
    }
    let key = args.next_bytes()?;
    let Some(s) = sketch(ctx.lookup_read(&key))? else {
        return Ok(Frame::Integer(0));
    };
    let (card, refreshed) = edit(s, |h| match hll::cached_card(h) {
        Some(card) => Ok((card, false)),
        None => {
            let card = hll::count(h)?;
            hll::set_cached_card(h, card);
            Ok::<_, Corrupt>((card, true))
        }
    })?;
    if refreshed {
        // The cache lives in the value, so refreshing it is a change to propagate.
        ctx.srv.ks.mark_dirty(1);
    }
    Ok(Frame::Integer(card as i64))
}

/// The register-wise maximum over the sketches at `keys` (missing keys count as empty),
/// and whether any of them is dense.
fn merged_registers(ctx: &mut Ctx<'_>, keys: &[Bytes]) -> Result<(Vec<u8>, bool), CmdError> {
    let mut regs = vec![0u8; hll::REGISTERS];
    let mut any_dense = false;
    for key in keys {
        let Some(s) = sketch(ctx.lookup_read(key))? else { continue };
        let bytes = s.to_bytes();
        any_dense |= hll::check(&bytes) == Some(Encoding::Dense);
        hll::merge_into(&mut regs, &bytes)?;
    }
    Ok((regs, any_dense))
}

/// Raises every nonzero register of `regs` into the sketch `h` (made dense first if
/// `dense`), then marks its cache stale.
fn store_merge(h: &mut Vec<u8>, regs: &[u8], dense: bool, max: usize) -> Result<(), Corrupt> {
    if dense {
        hll::to_dense(h)?;
    }
    for (i, &v) in regs.iter().enumerate() {
        if v != 0 {
            hll::raise(h, i, v, max)?;
        }
    }
    hll::invalidate_cache(h);
    Ok(())
}

/// `PFMERGE destkey [sourcekey ...]`: stores the union of the sources and the destination
/// itself in the destination. The result is dense if any input was.
fn pfmerge(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let (regs, dense) = merged_registers(ctx, args.rest())?;
    let dest = args.next_bytes()?;
    let max = sparse_max(ctx);
    match sketch(ctx.lookup_write(&dest))? {
        Some(s) => {
            edit(s, |h| store_merge(h, &regs, dense, max))?;
            ctx.srv.ks.mark_dirty(1);
        }
        None => {
            let mut h = hll::new_sparse();
            store_merge(&mut h, &regs, dense, max)?;
            ctx.set_value(&dest, Value::Str(StrValue::raw(Bytes::from(h))), false);
        }
    }
    // PFMERGE announces itself as a `pfadd` on the destination, as Redis does.
    ctx.notify(class::STRING, "pfadd", &dest);
    Ok(Frame::ok())
}

/// `PFDEBUG <GETREG|DECODE|ENCODING|TODENSE> key`: internals of a sketch. The key is
/// checked before the subcommand, as in Redis.
fn pfdebug(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let sub = args.next_bytes()?;
    let key = args.next_bytes()?;
    let Some(s) = sketch(ctx.lookup_write(&key))? else {
        return Err(CmdError::Static("ERR The specified key does not exist"));
    };
    let lower = sub.to_ascii_lowercase();
    let (reply, converted) = edit(s, |h| -> Result<(Frame, bool), CmdError> {
        Ok(match lower.as_slice() {
            b"getreg" => {
                let converted = hll::to_dense(h)?;
                let regs = &h[hll::HDR..];
                let list = (0..hll::REGISTERS)
                    .map(|i| Frame::Integer(i64::from(hll::dense_get(regs, i))))
                    .collect();
                (Frame::Array(list), converted)
            }
            b"decode" => {
                if hll::check(h) != Some(Encoding::Sparse) {
                    return Err(CmdError::Static("ERR HLL encoding is not sparse"));
                }
                (Frame::Bulk(Bytes::from(hll::decode_sparse(h))), false)
            }
            b"encoding" => {
                let name = match hll::check(h) {
                    Some(Encoding::Dense) => "dense",
                    _ => "sparse",
                };
                (Frame::simple(name), false)
            }
            b"todense" => {
                let converted = hll::to_dense(h)?;
                (Frame::Integer(i64::from(converted)), converted)
            }
            _ => {
                let mut text = b"ERR Unknown PFDEBUG subcommand '".to_vec();
                text.extend_from_slice(c_prefix(&sub, usize::MAX));
                text.push(b'\'');
                return Err(CmdError::dynamic(text));
            }
        })
    })?;
    if converted {
        // An encoding change rewrites the value, so it is propagated.
        ctx.srv.ks.mark_dirty(1);
    }
    Ok(reply)
}

/// `PFSELFTEST`: runs the sketch's internal consistency checks.
fn pfselftest(_: &mut Ctx<'_>, _: &mut Args) -> Result<Frame, CmdError> {
    hll::selftest().map_err(CmdError::dynamic)?;
    Ok(Frame::ok())
}
