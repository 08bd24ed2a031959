//! Redis's compact byte containers as they appear inside RDB strings: the listpack (written
//! and read: lists, small hashes, sets and sorted sets, stream nodes), the intset (written
//! and read) and the older ziplist and zipmap (read only, for files from before Redis 7).
//!
//! Keel keeps its own in-memory representations, so these blobs exist only on the way to
//! or from disk. Every reader checks each length against the bytes present and reports a
//! malformed blob as an error: the input may come from a RESTORE payload a client made up.

use super::ReadError;
use crate::types::num;

/// One element read from a listpack or ziplist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    /// A string element.
    Str(&'a [u8]),
    /// An integer element.
    Int(i64),
}

impl Elem<'_> {
    /// The element as bytes (integers in decimal), the form Keel stores.
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(v) => num::i64_bytes(*v),
        }
    }

    /// The element as an integer, if it is one (or a string that reads as one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Elem::Str(s) => num::parse_i64(s),
            Elem::Int(v) => Some(*v),
        }
    }
}

const BAD: ReadError = ReadError::Invalid("malformed listpack");

/// Builds a listpack: elements are appended, then [`Listpack::finish`] writes the header.
pub struct Listpack {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Listpack {
    fn default() -> Self {
        Listpack::new()
    }
}

impl Listpack {
    /// An empty listpack (room for the 6-byte header).
    pub fn new() -> Listpack {
        Listpack { buf: vec![0; 6], count: 0 }
    }

    /// Appends a string element; strings that are canonical integers are stored as
    /// integers, as Redis does.
    pub fn push(&mut self, s: &[u8]) {
        match num::parse_i64(s) {
            Some(v) if s.len() <= 20 => self.push_int(v),
            _ => self.push_str(s),
        }
    }

    /// Appends an integer element in its smallest encoding.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1FFF;
            b.push(0xC0 | (u >> 8) as u8);
            b.push(u as u8);
        } else if let Ok(x) = i16::try_from(v) {
            b.push(0xF1);
            b.extend_from_slice(&x.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            b.push(0xF2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(x) = i32::try_from(v) {
            b.push(0xF3);
            b.extend_from_slice(&x.to_le_bytes());
        } else {
            b.push(0xF4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.end_entry(start);
    }

    /// Appends a string element as a string, never as an integer.
    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let b = &mut self.buf;
        let n = s.len();
        if n < 64 {
            b.push(0x80 | n as u8);
        } else if n < 4096 {
            b.push(0xE0 | (n >> 8) as u8);
            b.push(n as u8);
        } else {
            b.push(0xF0);
            b.extend_from_slice(&(n as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.end_entry(start);
    }

    /// Writes the back-length of the entry that began at `start`: its size in 7-bit
    /// groups, most significant first, every group but the first flagged with the top bit
    /// (so it can be read from its end), in as many groups as Redis's encoder uses.
    fn end_entry(&mut self, start: usize) {
        let len = self.buf.len() - start;
        let n = backlen_size(len);
        for i in (0..n).rev() {
            let group = ((len >> (7 * i)) & 127) as u8;
            let flag = if i == n - 1 { 0 } else { 128 };
            self.buf.push(group | flag);
        }
        self.count += 1;
    }

    /// Number of elements appended.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the finished listpack will take.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// The finished listpack: total size and element count (65535 = "count it") in the
    /// header, 0xFF at the end.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(65535) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// Reads every element of a listpack, checking its structure (header size, each entry's
/// length and back-length, the terminator, the element count when the header has one).
pub fn read_listpack(lp: &[u8]) -> Result<Vec<Elem<'_>>, ReadError> {
    if lp.len() < 7 || u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize != lp.len() {
        return Err(BAD);
    }
    let declared = u16::from_le_bytes([lp[4], lp[5]]);
    let mut out = Vec::new();
    let mut pos = 6;
    loop {
        let first = *lp.get(pos).ok_or(BAD)?;
        if first == 0xFF {
            break;
        }
        let (elem, size) = lp_entry(&lp[pos..])?;
        let backlen = backlen_size(size);
        let back = lp.get(pos + size..pos + size + backlen).ok_or(BAD)?;
        if decode_backlen(back) != Some(size as u64) {
            return Err(BAD);
        }
        out.push(elem);
        pos += size + backlen;
    }
    if pos + 1 != lp.len() || (declared != 65535 && usize::from(declared) != out.len()) {
        return Err(BAD);
    }
    Ok(out)
}

/// One listpack entry at the start of `b`: the element and the size of encoding plus data.
fn lp_entry(b: &[u8]) -> Result<(Elem<'_>, usize), ReadError> {
    let get = |from: usize, n: usize| b.get(from..from + n).ok_or(BAD);
    let first = b[0];
    let str_at = |hdr: usize, n: usize| -> Result<(Elem<'_>, usize), ReadError> {
        let s = b.get(hdr..hdr.checked_add(n).ok_or(BAD)?).ok_or(BAD)?;
        Ok((Elem::Str(s), hdr + n))
    };
    if first & 0x80 == 0 {
        return Ok((Elem::Int(i64::from(first)), 1));
    }
    if first & 0xC0 == 0x80 {
        return str_at(1, usize::from(first & 0x3F));
    }
    if first & 0xE0 == 0xC0 {
        let raw = (u16::from(first & 0x1F) << 8) | u16::from(get(1, 1)?[0]);
        // Sign-extend 13 bits.
        let v = (i64::from(raw) << 51) >> 51;
        return Ok((Elem::Int(v), 2));
    }
    if first & 0xF0 == 0xE0 {
        let n = (usize::from(first & 0x0F) << 8) | usize::from(get(1, 1)?[0]);
        return str_at(2, n);
    }
    let int = |n: usize| -> Result<i64, ReadError> {
        let d = get(1, n)?;
        let mut le = [0u8; 8];
        le[..n].copy_from_slice(d);
        let shift = 64 - 8 * n as u32;
        Ok(i64::from_le_bytes(le) << shift >> shift)
    };
    match first {
        0xF0 => {
            let d = get(1, 4)?;
            str_at(5, u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize)
        }
        0xF1 => Ok((Elem::Int(int(2)?), 3)),
        0xF2 => Ok((Elem::Int(int(3)?), 4)),
        0xF3 => Ok((Elem::Int(int(4)?), 5)),
        0xF4 => Ok((Elem::Int(int(8)?), 9)),
        _ => Err(BAD),
    }
}

/// Bytes of a listpack element's back-length field for an element of `len` bytes. The
/// bounds are Redis's encoder's, one below each power of 128.
pub fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn decode_backlen(b: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate() {
        // Only the first group lacks the continuation flag.
        if (byte & 128 == 0) != (i == 0) {
            return None;
        }
        v = (v << 7) | u64::from(byte & 127);
    }
    Some(v)
}

/// Builds an intset blob: element width (2, 4 or 8 bytes), count, then the sorted values,
/// all little endian. `values` must be sorted and distinct.
pub fn write_intset(values: &[i64]) -> Vec<u8> {
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Reads an intset blob, checking width, size and strict ascending order.
pub fn read_intset(b: &[u8]) -> Result<Vec<i64>, ReadError> {
    const BAD_SET: ReadError = ReadError::Invalid("malformed intset");
    if b.len() < 8 {
        return Err(BAD_SET);
    }
    let width = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width) != Some(b.len() - 8) {
        return Err(BAD_SET);
    }
    let mut out = Vec::with_capacity(count);
    for chunk in b[8..].chunks_exact(width) {
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(chunk);
        let shift = 64 - 8 * width as u32;
        let v = i64::from_le_bytes(le) << shift >> shift;
        if out.last().is_some_and(|&p| p >= v) {
            return Err(BAD_SET);
        }
        out.push(v);
    }
    Ok(out)
}

/// Reads every element of a ziplist (Redis before 7.0), checking its structure.
pub fn read_ziplist(zl: &[u8]) -> Result<Vec<Elem<'_>>, ReadError> {
    const BAD_ZL: ReadError = ReadError::Invalid("malformed ziplist");
    if zl.len() < 11 || u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize != zl.len() {
        return Err(BAD_ZL);
    }
    let declared = u16::from_le_bytes([zl[8], zl[9]]);
    let get = |from: usize, n: usize| zl.get(from..from.saturating_add(n)).ok_or(BAD_ZL);
    let mut out = Vec::new();
    let mut pos = 10;
    loop {
        let first = get(pos, 1)?[0];
        if first == 0xFF {
            break;
        }
        // The previous entry's length: one byte, or 0xFE and four more.
        pos += if first == 0xFE { 5 } else { 1 };
        let enc = get(pos, 1)?[0];
        let int = |at: usize, n: usize| -> Result<i64, ReadError> {
            let d = get(at, n)?;
            let mut le = [0u8; 8];
            le[..n].copy_from_slice(d);
            let shift = 64 - 8 * n as u32;
            Ok(i64::from_le_bytes(le) << shift >> shift)
        };
        let (elem, size) = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3F);
                (Elem::Str(get(pos + 1, n)?), 1 + n)
            }
            1 => {
                let n = (usize::from(enc & 0x3F) << 8) | usize::from(get(pos + 1, 1)?[0]);
                (Elem::Str(get(pos + 2, n)?), 2 + n)
            }
            2 => {
                let d = get(pos + 1, 4)?;
                let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                (Elem::Str(get(pos + 5, n)?), 5 + n)
            }
            _ => match enc {
                0xC0 => (Elem::Int(int(pos + 1, 2)?), 3),
                0xD0 => (Elem::Int(int(pos + 1, 4)?), 5),
                0xE0 => (Elem::Int(int(pos + 1, 8)?), 9),
                0xF0 => (Elem::Int(int(pos + 1, 3)?), 4),
                0xFE => (Elem::Int(int(pos + 1, 1)?), 2),
                0xF1..=0xFD => (Elem::Int(i64::from(enc & 0x0F) - 1), 1),
                _ => return Err(BAD_ZL),
            },
        };
        out.push(elem);
        pos += size;
    }
    if pos + 1 != zl.len() || (declared != 65535 && usize::from(declared) != out.len()) {
        return Err(BAD_ZL);
    }
    Ok(out)
}

/// A field and its value, borrowed from a blob.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Reads a zipmap (hashes before Redis 2.6) as field/value pairs.
pub fn read_zipmap(zm: &[u8]) -> Result<Vec<Pair<'_>>, ReadError> {
    const BAD_ZM: ReadError = ReadError::Invalid("malformed zipmap");
    let get = |from: usize, n: usize| zm.get(from..from.saturating_add(n)).ok_or(BAD_ZM);
    let len_at = |pos: usize| -> Result<(usize, usize), ReadError> {
        match get(pos, 1)?[0] {
            n @ 0..=253 => Ok((usize::from(n), 1)),
            254 => {
                let d = get(pos + 1, 4)?;
                Ok((u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize, 5))
            }
            _ => Err(BAD_ZM),
        }
    };
    let mut out = Vec::new();
    let mut pos = 1;
    loop {
        if get(pos, 1)?[0] == 0xFF {
            break;
        }
        let (klen, k) = len_at(pos)?;
        let key = get(pos + k, klen)?;
        pos += k + klen;
        let (vlen, v) = len_at(pos)?;
        let free = usize::from(get(pos + v, 1)?[0]);
        let value = get(pos + v + 1, vlen)?;
        pos += v + 1 + vlen + free;
        out.push((key, value));
    }
    if pos + 1 != zm.len() {
        return Err(BAD_ZM);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_lengths_take_as_many_bytes_as_redis_writes() {
        // An entry of 16383 bytes (5 header bytes + 16378) gets 3 back-length bytes in
        // Redis's encoder although 2 would hold it; one byte less gets 2.
        for (body, backlen) in [(16377usize, 2usize), (16378, 3)] {
            let mut lp = Listpack::new();
            lp.push(&vec![b'x'; body]);
            let bytes = lp.finish();
            assert_eq!(bytes.len(), 6 + 5 + body + backlen + 1, "body {body}");
            assert_eq!(read_listpack(&bytes).map(|e| e.len()), Ok(1));
        }
    }

    #[test]
    fn listpack_round_trips_every_encoding() {
        let ints =
            [0i64, 127, 128, -1, -4096, 4095, 4096, -32768, 32767, 40000, -(1 << 23), 1 << 23];
        let more = [i64::from(i32::MIN), i64::MAX, i64::MIN];
        let mut lp = Listpack::new();
        for v in ints.iter().chain(&more) {
            lp.push_int(*v);
        }
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 100];
        for s in [&b""[..], b"abc", b"012", &mid, &long, b"\x00\xff"] {
            lp.push(s);
        }
        let bytes = lp.finish();
        let elems = read_listpack(&bytes).unwrap();
        let got: Vec<Vec<u8>> = elems.iter().map(Elem::to_vec).collect();
        let mut want: Vec<Vec<u8>> = ints.iter().chain(&more).map(|v| num::i64_bytes(*v)).collect();
        for s in [&b""[..], b"abc", b"012", &mid, &long, b"\x00\xff"] {
            want.push(s.to_vec());
        }
        assert_eq!(got, want);
    }

    #[test]
    fn listpack_bytes_match_redis() {
        // LPUSH-free check: a listpack Redis writes for the elements "a", 1, -1.
        let mut lp = Listpack::new();
        lp.push(b"a");
        lp.push(b"1");
        lp.push(b"-1");
        let bytes = lp.finish();
        assert_eq!(bytes, b"\x0f\x00\x00\x00\x03\x00\x81a\x02\x01\x01\xdf\xff\x02\xff");
    }

    #[test]
    fn damaged_listpacks_are_refused() {
        let mut lp = Listpack::new();
        lp.push(b"hello");
        let good = lp.finish();
        for cut in 0..good.len() {
            assert!(read_listpack(&good[..cut]).is_err());
        }
        let mut bad = good.clone();
        bad[4] = 2;
        assert!(read_listpack(&bad).is_err());
    }

    #[test]
    fn intsets_round_trip_and_check_order() {
        for vals in [vec![1i64, 2, 3], vec![-70000, 5], vec![i64::MIN, 0, i64::MAX]] {
            assert_eq!(read_intset(&write_intset(&vals)).unwrap(), vals);
        }
        assert!(read_intset(&write_intset(&[3, 2])).is_err());
        assert!(read_intset(b"\x02\x00\x00\x00\x05\x00\x00\x00").is_err());
    }

    #[test]
    fn ziplists_and_zipmaps_are_read() {
        // A ziplist with "ab", 5 (immediate) and 1000 (int16).
        let zl = b"\x15\x00\x00\x00\x0f\x00\x00\x00\x03\x00\x00\x02ab\x04\xf6\x02\xc0\xe8\x03\xff";
        let e = read_ziplist(zl).unwrap();
        assert_eq!(e, vec![Elem::Str(b"ab"), Elem::Int(5), Elem::Int(1000)]);
        let zm = b"\x01\x01k\x02\x00vv\xff";
        assert_eq!(read_zipmap(zm).unwrap(), vec![(&b"k"[..], &b"vv"[..])]);
        assert!(read_zipmap(&zm[..6]).is_err());
    }
}
