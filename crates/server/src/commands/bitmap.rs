//! The bitmaps family: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//!
//! A bitmap is a string read as a bit array, bit 0 being the most significant bit of the
//! first byte. Writes grow the string with zero bytes as needed and leave it `raw` (an
//! in-place edit, as in Redis); reads treat bytes past the end as zero.

use super::introspection::bitfield_keys;
use super::spec::{acl, flags::*, CommandSpec, KeyPos, KeySpec};
use crate::args::Args;
use crate::config::P;
use crate::error::CmdError;
use crate::notify::class;
use crate::server::Ctx;
use crate::types::num;
use crate::types::{StrValue, Value};
use bytes::Bytes;
use resp::Frame;

/// The bitmaps family's table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, WRITE | DENYOOM, acl::BITMAP, KeyPos::ONE, setbit)
        .doc(
            "bitmap",
            "2.2.0",
            "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
            "O(1)",
        )
        .key_flags(&["RW", "access", "update"]),
    CommandSpec::new("getbit", 3, READONLY | FAST, acl::BITMAP, KeyPos::ONE, getbit).doc(
        "bitmap",
        "2.2.0",
        "Returns a bit value by offset.",
        "O(1)",
    ),
    CommandSpec::new("bitcount", -2, READONLY, acl::BITMAP, KeyPos::ONE, bitcount).doc(
        "bitmap",
        "2.6.0",
        "Counts the number of set bits (population counting) in a string.",
        "O(N)",
    ),
    CommandSpec::new("bitpos", -3, READONLY, acl::BITMAP, KeyPos::ONE, bitpos).doc(
        "bitmap",
        "2.8.7",
        "Finds the first set (1) or clear (0) bit in a string.",
        "O(N)",
    ),
    CommandSpec::new("bitop", -4, WRITE | DENYOOM, acl::BITMAP, KeyPos::new(2, -1, 1), bitop)
        .doc(
            "bitmap",
            "2.6.0",
            "Performs bitwise operations on multiple strings, and stores the result.",
            "O(N)",
        )
        .key_specs(&[KeySpec::at(2, &["OW", "update"]), KeySpec::range(3, -1, 1, &["RO", "access"])]),
    CommandSpec::new("bitfield", -2, WRITE | DENYOOM, acl::BITMAP, KeyPos::ONE, bitfield)
        .doc(
            "bitmap",
            "3.2.0",
            "Performs arbitrary bitfield integer operations on strings.",
            "O(1) for each subcommand specified",
        )
        .key_specs(&[KeySpec::at(1, &["RW", "access", "update", "variable_flags"]).notes("This command allows both access and modification of the key")])
        .getkeys(bitfield_keys),
    CommandSpec::new("bitfield_ro", -2, READONLY | FAST, acl::BITMAP, KeyPos::ONE, bitfield_ro)
        .doc(
            "bitmap",
            "6.0.0",
            "Performs arbitrary read-only bitfield integer operations on strings.",
            "O(1) for each subcommand specified",
        ),
];

/// The offset error of SETBIT, GETBIT and BITFIELD.
const BAD_OFFSET: CmdError = CmdError::Static("ERR bit offset is not an integer or out of range");

impl Ctx<'_> {
    /// A string key for a bit write: `Ok(None)` if missing, WRONGTYPE for other types.
    fn bitmap_for_write(&mut self, key: &[u8]) -> Result<Option<&mut StrValue>, CmdError> {
        match self.lookup_write(key) {
            None => Ok(None),
            Some(e) => e.value.as_str_mut().map(Some).ok_or(CmdError::WrongType),
        }
    }

    /// The bytes of a string key for a bit read: `Ok(None)` if missing.
    fn bitmap_bytes(&mut self, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
        Ok(self.read_str(key)?.map(|s| s.to_bytes()))
    }

    /// Parses a bit offset: a non-negative integer whose byte lies below
    /// `proto-max-bulk-len`. With `width` (BITFIELD), `#n` means `n * width`.
    fn bit_offset(&self, arg: &[u8], width: Option<u32>) -> Result<u64, CmdError> {
        let (digits, mul) = match (arg.first(), width) {
            (Some(b'#'), Some(w)) => (&arg[1..], i64::from(w)),
            _ => (arg, 1),
        };
        let n = num::parse_i64(digits).ok_or(BAD_OFFSET)?.wrapping_mul(mul);
        let limit = self.srv.config.int(P::ProtoMaxBulkLen);
        if n < 0 || (n >> 3) >= limit {
            return Err(BAD_OFFSET);
        }
        Ok(n as u64)
    }
}

/// Bit `pos` of `buf` (0 past the end).
fn bit_at(buf: &[u8], pos: u64) -> u8 {
    usize::try_from(pos >> 3)
        .ok()
        .and_then(|i| buf.get(i))
        .map_or(0, |b| (b >> (7 - (pos & 7))) & 1)
}

/// Makes `s` at least `len` bytes long (zero filled) and `raw`, as a bit write does.
fn grow(s: &mut StrValue, len: usize) {
    let cur = s.len();
    if cur < len {
        s.write_at(cur, &vec![0u8; len - cur]);
    } else {
        s.append(b"");
    }
}

/// `SETBIT key offset value`: sets or clears one bit, growing the string as needed, and
/// returns the bit's previous value.
fn setbit(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let offset = ctx.bit_offset(args.next_ref()?, None)?;
    let on = match num::parse_i64(args.next_ref()?) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return Err(CmdError::Static("ERR bit is not an integer or out of range")),
    };
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let (old, changed) = match ctx.bitmap_for_write(&key)? {
        Some(s) => {
            let bytes = s.to_bytes();
            let cur = bytes.get(byte).copied().unwrap_or(0);
            // Only a grown string or a flipped bit is a change (and an event), as in Redis.
            let changed = byte >= bytes.len() || ((cur & mask) != 0) != (on == 1);
            if changed {
                s.write_at(byte, &[if on == 1 { cur | mask } else { cur & !mask }]);
                ctx.srv.ks.mark_dirty(1);
            }
            (cur & mask, changed)
        }
        None => {
            let mut v = StrValue::raw(Bytes::new());
            v.write_at(byte, &[if on == 1 { mask } else { 0 }]);
            ctx.set_value(&key, Value::Str(v), false);
            (0, true)
        }
    };
    if changed {
        ctx.notify(class::STRING, "setbit", &key);
    }
    Ok(Frame::Integer(i64::from(old != 0)))
}

/// `GETBIT key offset`: the bit's value, 0 past the end or for a missing key.
fn getbit(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let offset = ctx.bit_offset(args.next_ref()?, None)?;
    let bit = ctx.bitmap_bytes(&key)?.map_or(0, |b| bit_at(&b, offset));
    Ok(Frame::Integer(i64::from(bit)))
}

/// Reads an optional `BYTE|BIT` unit keyword; true for BIT.
fn unit_is_bit(arg: &[u8]) -> Result<bool, CmdError> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Resolves `start`/`end` (negative = from the end) against `total` units and clamps them
/// into range, in Redis's order; the result may be empty (`start > end`).
fn clamp_range(total: i64, start: i64, end: i64) -> (i64, i64) {
    let start = if start < 0 { total.saturating_add(start) } else { start }.max(0);
    let end = if end < 0 { total.saturating_add(end) } else { end }.max(0);
    (start, end.min(total - 1))
}

/// The inclusive bit range `[from, to]` selected by a clamped range in bytes or bits.
fn bit_span(start: i64, end: i64, is_bit: bool) -> (u64, u64) {
    if is_bit {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    }
}

/// Number of set bits in `buf` between bits `from` and `to` inclusive (both in range).
fn count_bits(buf: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let whole: u64 = buf[first..=last].iter().map(|b| u64::from(b.count_ones())).sum();
    // Take away the bits of the edge bytes that lie outside the range.
    let head = match from & 7 {
        0 => 0,
        k => u64::from((buf[first] >> (8 - k)).count_ones()),
    };
    let tail = u64::from((buf[last] & ((1u16 << (7 - (to & 7))) - 1) as u8).count_ones());
    whole - head - tail
}

/// `BITCOUNT key [start end [BYTE|BIT]]`: set bits in the whole string or a range. A
/// missing key answers 0 before the arguments are checked, as Redis 7.2 does.
fn bitcount(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let Some(buf) = ctx.bitmap_bytes(&key)? else {
        return Ok(Frame::Integer(0));
    };
    let (start, end, is_bit) = match args.remaining() {
        0 => (0, -1, false),
        2 | 3 => {
            let start = args.next_i64()?;
            let end = args.next_i64()?;
            let is_bit = match args.remaining() {
                0 => false,
                _ => unit_is_bit(args.next_ref()?)?,
            };
            (start, end, is_bit)
        }
        _ => return Err(CmdError::Syntax),
    };
    let total = buf.len() as i64 * if is_bit { 8 } else { 1 };
    if start < 0 && end < 0 && start > end {
        return Ok(Frame::Integer(0));
    }
    let (start, end) = clamp_range(total, start, end);
    if start > end {
        return Ok(Frame::Integer(0));
    }
    let (from, to) = bit_span(start, end, is_bit);
    Ok(Frame::Integer(count_bits(&buf, from, to) as i64))
}

/// The first bit equal to `want` between bits `from` and `to` inclusive (in range).
fn find_bit(buf: &[u8], from: u64, to: u64, want: u8) -> Option<u64> {
    let skip = if want == 1 { 0x00 } else { 0xff };
    let mut pos = from;
    while pos <= to {
        let byte = buf[(pos >> 3) as usize];
        // Whole bytes that cannot hold the bit are skipped at once.
        if pos & 7 == 0 && pos + 7 <= to && byte == skip {
            pos += 8;
            continue;
        }
        if bit_at(buf, pos) == want {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`: the first bit set to `bit`, or -1. Looking
/// for a clear bit without an explicit end treats the string as followed by zeros, so
/// the answer is then the first bit past the end.
fn bitpos(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let want = match args.next_i64()? {
        b @ (0 | 1) => b as u8,
        _ => return Err(CmdError::Static("ERR The bit argument must be 1 or 0.")),
    };
    let Some(buf) = ctx.bitmap_bytes(&key)? else {
        return Ok(Frame::Integer(if want == 1 { -1 } else { 0 }));
    };
    if args.remaining() > 3 {
        return Err(CmdError::Syntax);
    }
    let start = match args.remaining() {
        0 => 0,
        _ => args.next_i64()?,
    };
    // The unit is read before the end, so a bad unit wins over a bad end.
    let is_bit = match args.get(args.pos() + 1) {
        Some(unit) => unit_is_bit(unit)?,
        None => false,
    };
    let end_arg = match args.remaining() {
        0 => None,
        _ => Some(args.next_i64()?),
    };
    let total = buf.len() as i64 * if is_bit { 8 } else { 1 };
    let (start, end) = clamp_range(total, start, end_arg.unwrap_or(total - 1));
    if start > end {
        return Ok(Frame::Integer(-1));
    }
    let (from, to) = bit_span(start, end, is_bit);
    let pos = match find_bit(&buf, from, to, want) {
        Some(p) => p as i64,
        None if want == 0 && end_arg.is_none() => (to + 1) as i64,
        None => -1,
    };
    Ok(Frame::Integer(pos))
}

/// A BITOP operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: combines the sources byte by byte
/// (shorter ones padded with zeros), stores the result, and returns its length. An empty
/// result deletes the destination.
fn bitop(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    let op = match args.next_ref()?.to_ascii_lowercase().as_slice() {
        b"and" => BitOp::And,
        b"or" => BitOp::Or,
        b"xor" => BitOp::Xor,
        b"not" => BitOp::Not,
        _ => return Err(CmdError::Syntax),
    };
    let dest = args.next_bytes()?;
    if op == BitOp::Not && args.remaining() != 1 {
        return Err(CmdError::Static("ERR BITOP NOT must be called with a single source key."));
    }
    let mut sources = Vec::new();
    for key in args.rest() {
        sources.push(ctx.bitmap_bytes(key)?.unwrap_or_default());
    }
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let byte = |src: &Bytes, i: usize| src.get(i).copied().unwrap_or(0);
    let result: Vec<u8> = (0..len)
        .map(|i| {
            let mut it = sources.iter().map(|s| byte(s, i));
            let first = it.next().unwrap_or(0);
            match op {
                BitOp::And => it.fold(first, |a, b| a & b),
                BitOp::Or => it.fold(first, |a, b| a | b),
                BitOp::Xor => it.fold(first, |a, b| a ^ b),
                BitOp::Not => !first,
            }
        })
        .collect();
    if result.is_empty() {
        if ctx.delete(&dest) {
            ctx.notify(class::GENERIC, "del", &dest);
        }
    } else {
        ctx.set_value(&dest, Value::Str(StrValue::raw(Bytes::from(result))), false);
        ctx.notify(class::STRING, "set", &dest);
    }
    Ok(Frame::Integer(len as i64))
}

/// What BITFIELD does when a SET or INCRBY leaves the type's range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One BITFIELD operation.
#[derive(Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// A parsed BITFIELD operation on one field.
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// Parses a BITFIELD type: `i1`..`i64` or `u1`..`u63`, lowercase prefix only (read up to
/// a NUL byte, as Redis reads it as a C string).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    const BAD: CmdError = CmdError::Static(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    );
    let arg = crate::error::c_prefix(arg, arg.len());
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BAD),
    };
    let max = if signed { 64 } else { 63 };
    match num::parse_i64(&arg[1..]) {
        Some(b) if (1..=max).contains(&b) => Ok((signed, b as u32)),
        _ => Err(BAD),
    }
}

/// Parses BITFIELD's operation list; `OVERFLOW` applies to the operations after it.
fn parse_fields(ctx: &Ctx<'_>, args: &mut Args) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    while args.remaining() > 0 {
        let word = args.next_ref()?.to_ascii_lowercase();
        let left = args.remaining();
        let op = match word.as_slice() {
            b"get" if left >= 2 => FieldOp::Get,
            b"set" if left >= 3 => FieldOp::Set(0),
            b"incrby" if left >= 3 => FieldOp::IncrBy(0),
            b"overflow" if left >= 1 => {
                overflow = match args.next_ref()?.to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(CmdError::Static("ERR Invalid OVERFLOW type specified")),
                };
                continue;
            }
            _ => return Err(CmdError::Syntax),
        };
        let (signed, bits) = field_type(args.next_ref()?)?;
        let offset = ctx.bit_offset(args.next_ref()?, Some(bits))?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(args.next_i64()?),
            FieldOp::IncrBy(_) => FieldOp::IncrBy(args.next_i64()?),
        };
        fields.push(Field { op, signed, bits, offset, overflow });
    }
    Ok(fields)
}

/// Reads a field of `bits` bits at `offset` (bytes past the end read as zero), sign
/// extended when `signed`.
fn read_field(buf: &[u8], offset: u64, bits: u32, signed: bool) -> i64 {
    let mut v: u64 = 0;
    for i in 0..u64::from(bits) {
        v = (v << 1) | u64::from(bit_at(buf, offset + i));
    }
    if signed && bits < 64 && v >> (bits - 1) & 1 == 1 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// The bytes `[first, first + n)` of `buf` after writing `value`'s low `bits` bits at
/// `offset` (which lies in those bytes).
fn write_field(buf: &[u8], first: usize, offset: u64, bits: u32, value: u64) -> Vec<u8> {
    let n = ((offset + u64::from(bits) - 1) >> 3) as usize + 1 - first;
    let mut out: Vec<u8> = (first..first + n).map(|i| buf.get(i).copied().unwrap_or(0)).collect();
    let base = first as u64 * 8;
    for i in 0..u64::from(bits) {
        let bit = (value >> (u64::from(bits) - 1 - i)) & 1;
        let pos = offset + i - base;
        let mask = 1u8 << (7 - (pos & 7));
        let b = &mut out[(pos >> 3) as usize];
        *b = if bit == 1 { *b | mask } else { *b & !mask };
    }
    out
}

/// The value a SET or INCRBY stores: `Ok(value)` in range (or wrapped/saturated), `Err(())`
/// when the overflow policy is FAIL and the value does not fit.
fn fit(f: &Field, exact: i128) -> Result<i64, ()> {
    let (min, max) = if f.signed {
        (-(1i128 << (f.bits - 1)), (1i128 << (f.bits - 1)) - 1)
    } else {
        (0, (1i128 << f.bits) - 1)
    };
    if (min..=max).contains(&exact) {
        return Ok(exact as i64);
    }
    match f.overflow {
        Overflow::Fail => Err(()),
        Overflow::Sat => Ok(if exact > max { max } else { min } as i64),
        Overflow::Wrap => {
            let low = (exact as u128 as u64) & (u64::MAX >> (64 - f.bits));
            Ok(if f.signed && f.bits < 64 && low >> (f.bits - 1) & 1 == 1 {
                (low | (u64::MAX << f.bits)) as i64
            } else {
                low as i64
            })
        }
    }
}

/// Applies a SET or INCRBY to `s`; the reply (old value for SET, new for INCRBY, null
/// when FAIL refused it) and whether the string changed.
fn apply_write(s: &mut StrValue, f: &Field) -> (Frame, bool) {
    let buf = s.to_bytes();
    let old = read_field(&buf, f.offset, f.bits, f.signed);
    let exact = match f.op {
        // An unsigned SET takes the argument's bits as an unsigned 64-bit number, so a
        // negative argument counts as too large.
        FieldOp::Set(v) if !f.signed => i128::from(v as u64),
        FieldOp::Set(v) => i128::from(v),
        FieldOp::IncrBy(d) => i128::from(old) + i128::from(d),
        FieldOp::Get => i128::from(old),
    };
    let Ok(new) = fit(f, exact) else {
        return (Frame::Null, false);
    };
    let first = (f.offset >> 3) as usize;
    let bytes = write_field(&buf, first, f.offset, f.bits, new as u64);
    drop(buf);
    s.write_at(first, &bytes);
    let reply = if matches!(f.op, FieldOp::Set(_)) { old } else { new };
    (Frame::Integer(reply), true)
}

/// `BITFIELD key [GET type offset | SET type offset value | INCRBY type offset increment
/// | OVERFLOW WRAP|SAT|FAIL] ...`: reads and writes integer fields of any width.
fn bitfield(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    bitfield_generic(ctx, args, false)
}

/// `BITFIELD_RO key [GET type offset ...]`: the read-only form.
fn bitfield_ro(ctx: &mut Ctx<'_>, args: &mut Args) -> Result<Frame, CmdError> {
    bitfield_generic(ctx, args, true)
}

/// BITFIELD and BITFIELD_RO: all operations are parsed (and every error reported) before
/// the key is touched. A write grows the string to the farthest field written first, so
/// even a refused (FAIL) write leaves the key created and grown, as in Redis.
fn bitfield_generic(
    ctx: &mut Ctx<'_>,
    args: &mut Args,
    read_only: bool,
) -> Result<Frame, CmdError> {
    let key = args.next_bytes()?;
    let fields = parse_fields(ctx, args)?;
    let write_end = fields
        .iter()
        .filter(|f| !matches!(f.op, FieldOp::Get))
        .map(|f| ((f.offset + u64::from(f.bits) - 1) >> 3) as usize + 1)
        .max();
    let Some(write_end) = write_end else {
        let buf = ctx.bitmap_bytes(&key)?.unwrap_or_default();
        let replies = fields
            .iter()
            .map(|f| Frame::Integer(read_field(&buf, f.offset, f.bits, f.signed)))
            .collect();
        return Ok(Frame::Array(replies));
    };
    if read_only {
        return Err(CmdError::Static("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let run = |s: &mut StrValue| -> (Vec<Frame>, u64) {
        grow(s, write_end);
        let mut changes = 0;
        let replies = fields
            .iter()
            .map(|f| match f.op {
                FieldOp::Get => {
                    Frame::Integer(read_field(&s.to_bytes(), f.offset, f.bits, f.signed))
                }
                _ => {
                    let (reply, changed) = apply_write(s, f);
                    changes += u64::from(changed);
                    reply
                }
            })
            .collect();
        (replies, changes)
    };
    let (replies, changes) = match ctx.bitmap_for_write(&key)? {
        Some(s) => {
            let (replies, changes) = run(s);
            ctx.srv.ks.mark_dirty(changes);
            (replies, changes)
        }
        None => {
            let mut v = StrValue::raw(Bytes::new());
            let out = run(&mut v);
            ctx.set_value(&key, Value::Str(v), false);
            out
        }
    };
    if changes > 0 {
        ctx.notify(class::STRING, "setbit", &key);
    }
    Ok(Frame::Array(replies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_with_edges() {
        let buf = [0xffu8, 0x0f, 0xf0];
        assert_eq!(count_bits(&buf, 0, 23), 16);
        assert_eq!(count_bits(&buf, 4, 11), 4);
        assert_eq!(count_bits(&buf, 12, 19), 8);
        assert_eq!(count_bits(&buf, 9, 9), 0);
    }

    #[test]
    fn fields_round_trip() {
        let bytes = write_field(&[], 0, 3, 10, 0x3ff);
        assert_eq!(read_field(&bytes, 3, 10, false), 0x3ff);
        assert_eq!(read_field(&bytes, 3, 10, true), -1);
        assert_eq!(read_field(&bytes, 0, 3, false), 0);
    }

    #[test]
    fn overflow_policies() {
        let mut f =
            Field { op: FieldOp::Get, signed: true, bits: 8, offset: 0, overflow: Overflow::Wrap };
        assert_eq!(fit(&f, 128), Ok(-128));
        f.overflow = Overflow::Sat;
        assert_eq!(fit(&f, -300), Ok(-128));
        f.overflow = Overflow::Fail;
        assert_eq!(fit(&f, 127), Ok(127));
        assert_eq!(fit(&f, 128), Err(()));
    }
}
