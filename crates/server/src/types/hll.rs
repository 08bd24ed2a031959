//! HyperLogLog sketches in Redis's exact byte layout, so a `GET` of the key returns the same
//! bytes Redis would store for the same additions.
//!
//! A sketch is a plain string: a 16-byte header (`HYLL`, an encoding byte, three unused
//! bytes, then the cached cardinality as 8 little-endian bytes whose top bit means "cache
//! invalid") followed by 16384 registers of 6 bits, either packed (dense, LSB-first bit
//! stream) or run-length coded (sparse). Sparse opcodes:
//! - `00xxxxxx`: ZERO, 1..=64 zero registers;
//! - `01xxxxxx yyyyyyyy`: XZERO, 1..=16384 zero registers (14-bit length - 1);
//! - `1vvvvvxx`: VAL, 1..=4 registers holding value 1..=32.
//!
//! Sparse updates edit the opcode stream in place with the same splitting and merging
//! choices Redis makes, because the resulting bytes are visible to clients. Nothing here
//! knows about RESP or error texts: corruption is reported as [`Corrupt`].

/// Header length in bytes.
pub const HDR: usize = 16;
/// Index bits taken from the hash.
const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits left in the hash after the index bits.
const Q: usize = 64 - P as usize;
/// Register width in bits.
const BITS: usize = 6;
/// Largest value a register can hold.
const REG_MAX: u8 = (1 << BITS) - 1;
/// Length of a dense sketch: header plus the packed registers.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
/// Encoding byte of a dense sketch.
const DENSE: u8 = 0;
/// Encoding byte of a sparse sketch.
const SPARSE: u8 = 1;
/// Largest value a sparse VAL opcode can store; bigger counts force the dense form.
const SPARSE_VAL_MAX: u8 = 32;
/// Longest run of one VAL opcode.
const SPARSE_VAL_MAX_LEN: usize = 4;
/// Longest run of one ZERO opcode.
const SPARSE_ZERO_MAX_LEN: usize = 64;
/// Seed Redis uses for MurmurHash64A.
const SEED: u64 = 0xadc8_3b19;
/// The estimator's alpha for m → ∞ (0.5 / ln 2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The sketch's bytes are inconsistent (bad run lengths): Redis's `INVALIDOBJ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// The two stored representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// 16384 packed 6-bit registers.
    Dense,
    /// Run-length opcodes.
    Sparse,
}

/// An empty sparse sketch: a header with a valid cached cardinality of 0 and one XZERO
/// opcode covering every register.
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.resize(HDR, 0);
    push_xzero(&mut v, REGISTERS);
    v
}

/// The encoding of `b` if it is a well-formed header (magic, known encoding, and exact
/// length for dense); `None` means "not a HyperLogLog".
pub fn check(b: &[u8]) -> Option<Encoding> {
    if b.len() < HDR || &b[..4] != b"HYLL" {
        return None;
    }
    match b[4] {
        DENSE if b.len() == DENSE_SIZE => Some(Encoding::Dense),
        SPARSE => Some(Encoding::Sparse),
        _ => None,
    }
}

/// The cached cardinality, if the cache is valid.
pub fn cached_card(h: &[u8]) -> Option<u64> {
    let mut card = [0u8; 8];
    card.copy_from_slice(&h[8..HDR]);
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

/// Stores `card` as the cached cardinality (which marks the cache valid).
pub fn set_cached_card(h: &mut [u8], card: u64) {
    h[8..HDR].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
pub fn invalidate_cache(h: &mut [u8]) {
    h[15] |= 0x80;
}

/// MurmurHash64A over `data` (little-endian 8-byte blocks), as Redis hashes elements.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut block = [0u8; 8];
        block.copy_from_slice(c);
        let mut k = u64::from_le_bytes(block).wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element selects (low 14 hash bits) and the value it offers: one plus
/// the number of trailing zeros of the remaining 50 bits (a sentinel bit bounds it at 51).
pub fn register_for(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Register `i` of a packed register area (bytes past the end read as zero).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let lo = u16::from(regs.get(byte).copied().unwrap_or(0));
    let hi = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((lo | (hi << 8)) >> shift) as u8) & REG_MAX
}

/// Sets register `i` of a packed register area to `val`.
fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let bit = i * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let mask = u16::from(REG_MAX) << shift;
    let v = u16::from(val & REG_MAX) << shift;
    regs[byte] = (regs[byte] & !(mask as u8)) | v as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next = (*next & !((mask >> 8) as u8)) | (v >> 8) as u8;
    }
}

/// Raises register `i` of a dense sketch to `count` if it is lower; true if it changed.
fn dense_raise(h: &mut [u8], i: usize, count: u8) -> bool {
    let regs = &mut h[HDR..];
    if dense_get(regs, i) < count {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

/// One decoded sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A run of zero registers, short (1 byte) or long (2 bytes).
    Zero { len: usize, long: bool },
    /// A run of registers holding `val`.
    Val { val: u8, len: usize },
}

impl Op {
    /// Registers covered.
    fn span(self) -> usize {
        match self {
            Op::Zero { len, .. } | Op::Val { len, .. } => len,
        }
    }

    /// Bytes the opcode occupies.
    fn size(self) -> usize {
        match self {
            Op::Zero { long: true, .. } => 2,
            _ => 1,
        }
    }
}

/// Decodes the opcode at `p` (a missing second XZERO byte reads as zero, as the C string
/// terminator would).
fn op_at(h: &[u8], p: usize) -> Op {
    let b = h[p];
    if b & 0x80 != 0 {
        Op::Val { val: ((b >> 2) & 0x1f) + 1, len: usize::from(b & 3) + 1 }
    } else if b & 0x40 != 0 {
        let lo = usize::from(h.get(p + 1).copied().unwrap_or(0));
        Op::Zero { len: ((usize::from(b & 0x3f) << 8) | lo) + 1, long: true }
    } else {
        Op::Zero { len: usize::from(b & 0x3f) + 1, long: false }
    }
}

/// The byte of a VAL opcode.
fn val_byte(val: u8, len: usize) -> u8 {
    0x80 | ((val - 1) << 2) | (len as u8 - 1)
}

/// Appends a ZERO (up to 64) or XZERO opcode for `len` zero registers.
fn push_zero_run(out: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        push_xzero(out, len);
    } else {
        out.push(len as u8 - 1);
    }
}

/// Appends an XZERO opcode for `len` (1..=16384) zero registers.
fn push_xzero(out: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    out.push(0x40 | (l >> 8) as u8);
    out.push((l & 0xff) as u8);
}

/// Walks the sparse opcodes, calling `f(first_register, op)`; returns the number of
/// registers covered.
fn walk_sparse(h: &[u8], mut f: impl FnMut(usize, Op)) -> usize {
    let mut p = HDR;
    let mut idx = 0;
    while p < h.len() {
        let op = op_at(h, p);
        f(idx, op);
        idx += op.span();
        p += op.size();
    }
    idx
}

/// Converts a sparse sketch to dense in place (header, cache included, is kept). Returns
/// false if it already was dense.
pub fn to_dense(h: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if h[4] == DENSE {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&h[..HDR]);
    dense[4] = DENSE;
    let mut idx = 0;
    let mut p = HDR;
    while p < h.len() {
        let op = op_at(h, p);
        if let Op::Val { val, len } = op {
            if idx + len > REGISTERS {
                break;
            }
            for i in idx..idx + len {
                dense_put(&mut dense[HDR..], i, val);
            }
        }
        idx += op.span();
        p += op.size();
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *h = dense;
    Ok(true)
}

/// Adds an element; true if a register changed.
pub fn add(h: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = register_for(ele);
    raise(h, index, count, sparse_max)
}

/// Raises register `index` to `count` in either encoding, promoting a sparse sketch to
/// dense when the value does not fit a VAL opcode or the sketch would outgrow
/// `sparse_max` bytes. True if the register changed.
pub fn raise(h: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if h[4] == DENSE {
        return Ok(dense_raise(h, index, count));
    }
    if count > SPARSE_VAL_MAX {
        return promote(h, index, count);
    }
    // Find the opcode covering `index`, and the one before it.
    let mut p = HDR;
    let mut first = 0;
    let mut prev = None;
    let mut found = None;
    while p < h.len() {
        let op = op_at(h, p);
        if index < first + op.span() {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.size();
        first += op.span();
    }
    let op = found.ok_or(Corrupt)?;
    match op {
        Op::Val { val, .. } if val >= count => return Ok(false),
        // A run of one register is rewritten in place.
        Op::Val { len: 1, .. } | Op::Zero { len: 1, long: false } => {
            h[p] = val_byte(count, 1);
        }
        _ => {
            // Split the run into (before, the new value, after).
            let last = first + op.span() - 1;
            let mut seq = Vec::with_capacity(5);
            match op {
                Op::Zero { .. } => {
                    if index != first {
                        push_zero_run(&mut seq, index - first);
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        push_zero_run(&mut seq, last - index);
                    }
                }
                Op::Val { val, .. } => {
                    if index != first {
                        seq.push(val_byte(val, index - first));
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        seq.push(val_byte(val, last - index));
                    }
                }
            }
            if seq.len() > op.size() && h.len() + seq.len() - op.size() > sparse_max {
                return promote(h, index, count);
            }
            // A final XZERO cut short by one byte reads its missing byte as zero (the C
            // string terminator); Redis then sizes the result from the stored length, so
            // the last byte of the replacement falls off the end. Do exactly the same.
            let truncated = p + op.size() > h.len();
            if truncated {
                h.push(0);
            }
            h.splice(p..p + op.size(), seq);
            if truncated {
                h.pop();
            }
        }
    }
    merge_adjacent_vals(h, prev.unwrap_or(HDR));
    invalidate_cache(h);
    Ok(true)
}

/// After an edit, merges neighbouring VAL opcodes of equal value (while their run fits),
/// looking at no more than five opcodes from `start`, as Redis does.
fn merge_adjacent_vals(h: &mut Vec<u8>, start: usize) {
    let mut p = start;
    let mut budget = 5;
    while p < h.len() && budget > 0 {
        budget -= 1;
        let op = op_at(h, p);
        let Op::Val { val, len } = op else {
            p += op.size();
            continue;
        };
        if p + 1 < h.len() {
            if let Op::Val { val: v2, len: l2 } = op_at(h, p + 1) {
                if v2 == val && len + l2 <= SPARSE_VAL_MAX_LEN {
                    h[p + 1] = val_byte(val, len + l2);
                    h.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
}

/// Converts to dense, then raises the register there.
fn promote(h: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(h)?;
    dense_raise(h, index, count);
    Ok(true)
}

/// Folds a sketch's registers into `max` (one byte per register), keeping the larger value.
pub fn merge_into(max: &mut [u8], h: &[u8]) -> Result<(), Corrupt> {
    if h[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(&h[HDR..], i));
        }
        return Ok(());
    }
    let mut idx = 0;
    let mut p = HDR;
    while p < h.len() {
        let op = op_at(h, p);
        if let Op::Val { val, len } = op {
            if idx + len > REGISTERS {
                break;
            }
            for m in &mut max[idx..idx + len] {
                *m = (*m).max(val);
            }
        }
        idx += op.span();
        p += op.size();
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// The cardinality estimate of a stored sketch (the cache is not consulted).
pub fn count(h: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if h[4] == DENSE {
        for i in 0..REGISTERS {
            histo[usize::from(dense_get(&h[HDR..], i))] += 1;
        }
    } else {
        let covered = walk_sparse(h, |_, op| match op {
            Op::Zero { len, .. } => histo[0] += len as u32,
            Op::Val { val, len } => histo[usize::from(val)] += len as u32,
        });
        if covered != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The cardinality estimate of raw registers (one byte each, e.g. from [`merge_into`]).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[usize::from(r & 63)] += 1;
    }
    estimate(&histo)
}

/// Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", 2017) over the histogram of register values.
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// Ertl's sigma series, iterated until it stops changing.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau series, iterated until it stops changing.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// `PFDEBUG DECODE`: the sparse opcodes as `z:<len>`, `Z:<len>` and `v:<val>,<len>`.
pub fn decode_sparse(h: &[u8]) -> String {
    let mut parts = Vec::new();
    walk_sparse(h, |_, op| {
        parts.push(match op {
            Op::Zero { len, long: false } => format!("z:{len}"),
            Op::Zero { len, long: true } => format!("Z:{len}"),
            Op::Val { val, len } => format!("v:{val},{len}"),
        })
    });
    parts.join(" ")
}

/// `PFSELFTEST`: checks the register packing and that the sparse and dense forms agree
/// while elements are added. Returns a description of the first failure.
pub fn selftest() -> Result<(), String> {
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let pattern = |i: usize| ((i * 7 + 3) % 64) as u8;
    for i in 0..REGISTERS {
        dense_put(&mut regs, i, pattern(i));
    }
    for i in 0..REGISTERS {
        if dense_get(&regs, i) != pattern(i) {
            return Err(format!("TESTFAILED Register error at index {i}"));
        }
    }
    let mut sparse = new_sparse();
    let mut dense = new_sparse();
    to_dense(&mut dense).map_err(|_| "TESTFAILED dense conversion".to_string())?;
    for n in 0..5000u32 {
        let ele = n.to_le_bytes();
        let a = add(&mut sparse, &ele, usize::MAX).map_err(|_| "TESTFAILED sparse add")?;
        let b = add(&mut dense, &ele, usize::MAX).map_err(|_| "TESTFAILED dense add")?;
        if a != b {
            return Err(format!("TESTFAILED sparse/dense disagree after {n} elements"));
        }
    }
    let (cs, cd) = (count(&sparse), count(&dense));
    if cs != cd || cs.is_err() {
        return Err("TESTFAILED sparse and dense estimates differ".into());
    }
    let est = cd.unwrap_or(0) as f64;
    if (est - 5000.0).abs() / 5000.0 > 0.05 {
        return Err(format!("TESTFAILED estimate {est} too far from 5000"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sketch_bytes() {
        let h = new_sparse();
        assert_eq!(h, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(check(&h), Some(Encoding::Sparse));
        assert_eq!(count(&h), Ok(0));
        assert_eq!(cached_card(&h), Some(0));
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut s = new_sparse();
        let mut d = new_sparse();
        assert_eq!(to_dense(&mut d), Ok(true));
        assert_eq!(d.len(), DENSE_SIZE);
        for i in 0..300u32 {
            let e = format!("e{i}");
            add(&mut s, e.as_bytes(), usize::MAX).unwrap();
            add(&mut d, e.as_bytes(), usize::MAX).unwrap();
        }
        assert_eq!(check(&s), Some(Encoding::Sparse));
        assert_eq!(count(&s), count(&d));
        let mut converted = s.clone();
        to_dense(&mut converted).unwrap();
        assert_eq!(converted[HDR..], d[HDR..]);
    }

    #[test]
    fn selftest_passes() {
        assert_eq!(selftest(), Ok(()));
    }

    #[test]
    fn corrupt_run_lengths_are_detected() {
        let mut h = new_sparse();
        h.pop();
        assert_eq!(count(&h), Err(Corrupt));
        assert_eq!(to_dense(&mut h), Err(Corrupt));
    }
}
