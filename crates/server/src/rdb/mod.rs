//! Redis's RDB serialization: the byte format shared by RDB files, the BASE file of a
//! multi-part AOF, DUMP/RESTORE payloads and FUNCTION DUMP/RESTORE.
//!
//! This module holds the primitives every one of those users needs: RDB's length and
//! string encodings, the CRC64 Redis uses, and the DUMP payload footer (RDB version plus
//! checksum). Whole-value and whole-file (de)serialization build on these.

pub mod file;
pub mod listpack;
pub mod lzf;
pub mod save;
pub mod value;

use crate::error::CmdError;

/// The RDB version Keel writes by default: Redis 7.2's.
pub const RDB_VERSION: u16 = 11;

/// `FUNCTION DUMP` entry opcode: one library's source follows as an RDB string.
pub const OPCODE_FUNCTION2: u8 = 245;

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// Redis's CRC64 (Jones polynomial, reflected) of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    CRC64.checksum(data)
}

/// Appends an RDB length: 6-bit, 14-bit, 32-bit or 64-bit form, the shortest that fits.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends an RDB string. Short decimal integers that print back identically are stored
/// in Redis's integer encodings, as Redis does; everything else is stored raw.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = canonical_int(s) {
            if let Ok(v) = i8::try_from(v) {
                out.extend_from_slice(&[0xC0, v as u8]);
                return;
            }
            if let Ok(v) = i16::try_from(v) {
                out.push(0xC1);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                out.push(0xC2);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends an RDB string as Redis's `rdbSaveRawString` does: the integer encodings first,
/// then, when `compress` (`rdbcompression`) and the string is over 20 bytes, LZF if that
/// saves at least 4 bytes, else the raw bytes.
pub fn write_blob(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if compress && s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(0xC3);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_string(out, s);
}

/// The access bits of a key stored by RESTORE or loaded from a file with an `IDLETIME` /
/// `FREQ` (or the IDLE / FREQ opcodes): under an LFU policy the frequency replaces the
/// initial counter; otherwise the idle seconds move the LRU clock back, wrapping as Redis
/// does when they reach past its 24-bit range.
pub fn access_bits(
    policy: &crate::keyspace::access::AccessPolicy,
    now: u64,
    idle: Option<u64>,
    freq: Option<u8>,
) -> u32 {
    let bits = policy.fresh(now);
    if policy.lfu {
        return freq.map_or(bits, |f| (bits & !0xFF) | u32::from(f));
    }
    let Some(idle) = idle else { return bits };
    const CLOCK_MAX: i64 = 0xFF_FFFF;
    let clock = i64::from(bits);
    let back = clock - i64::try_from(idle).unwrap_or(i64::MAX).min(2 * CLOCK_MAX);
    if back < 0 {
        ((clock + CLOCK_MAX / 2) % CLOCK_MAX) as u32
    } else {
        back as u32
    }
}

/// `s` as an integer when it is the canonical decimal form of one (no sign on zero, no
/// leading zeros or spaces), the condition for Redis's integer string encoding.
fn canonical_int(s: &[u8]) -> Option<i64> {
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (itoa::Buffer::new().format(v).as_bytes() == s).then_some(v)
}

/// Why a buffer could not be read as RDB data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The data ended before the value did.
    Truncated,
    /// A byte sequence no writer produces (bad encoding tag, bad LZF stream, ...).
    Invalid(&'static str),
}

/// A read position in RDB bytes.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A length field, which is either a plain length or the tag of a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or(ReadError::Truncated)?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Takes one byte.
    pub fn byte(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }

    fn len_or_encoding(&mut self) -> Result<Len, ReadError> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3F)),
            1 => Len::Plain(u64::from(first & 0x3F) << 8 | u64::from(self.byte()?)),
            2 => match first {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array()?))),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(ReadError::Invalid("unknown length encoding")),
            },
            _ => Len::Encoded(first & 0x3F),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Reads a little-endian 64-bit value (millisecond times, binary doubles' bits).
    pub fn u64_le(&mut self) -> Result<u64, ReadError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian 32-bit value (second-resolution expire times).
    pub fn u32_le(&mut self) -> Result<u32, ReadError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads an RDB length that must fit the bytes left, because it counts items each
    /// taking at least one byte: a hostile count then fails before anything is allocated.
    pub fn count(&mut self) -> Result<usize, ReadError> {
        let n = self.length()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.data.len() - self.pos)
            .ok_or(ReadError::Truncated)
    }

    /// Reads an RDB length.
    pub fn length(&mut self) -> Result<u64, ReadError> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(ReadError::Invalid("string encoding where a length belongs")),
        }
    }

    /// Reads an RDB string in any of its encodings (raw, integer, LZF-compressed).
    pub fn string(&mut self) -> Result<Vec<u8>, ReadError> {
        match self.len_or_encoding()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| ReadError::Truncated)?;
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(0) => Ok(int_string(i64::from(self.byte()? as i8))),
            Len::Encoded(1) => Ok(int_string(i64::from(i16::from_le_bytes(self.array()?)))),
            Len::Encoded(2) => Ok(int_string(i64::from(i32::from_le_bytes(self.array()?)))),
            Len::Encoded(3) => {
                let clen = usize::try_from(self.length()?).map_err(|_| ReadError::Truncated)?;
                let ulen = usize::try_from(self.length()?).map_err(|_| ReadError::Truncated)?;
                let compressed = self.take(clen)?;
                // The stated length bounds the allocation by what the input can expand to:
                // LZF expands at most a few hundred times, so a lie fails decompression.
                if ulen > clen.saturating_mul(300).saturating_add(64) {
                    return Err(ReadError::Invalid("LZF length out of proportion"));
                }
                let out = ::lzf::decompress(compressed, ulen)
                    .map_err(|_| ReadError::Invalid("bad LZF data"))?;
                if out.len() != ulen {
                    return Err(ReadError::Invalid("LZF length mismatch"));
                }
                Ok(out)
            }
            Len::Encoded(_) => Err(ReadError::Invalid("unknown string encoding")),
        }
    }
}

fn int_string(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// Appends the DUMP footer to a serialized value: the RDB version (2 bytes, little endian)
/// and the CRC64 of everything before it (8 bytes, little endian).
pub fn seal_payload(body: Vec<u8>) -> Vec<u8> {
    seal_payload_as(body, RDB_VERSION)
}

/// [`seal_payload`] with the RDB version `version` in the footer (`rdb-version 10` makes
/// payloads Redis 7.0 accepts).
pub fn seal_payload_as(mut body: Vec<u8>, version: u16) -> Vec<u8> {
    body.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Checks a DUMP payload's footer and returns the serialized value before it. A payload
/// from a newer RDB version or with a wrong checksum gets Redis's error.
pub fn open_payload(payload: &[u8]) -> Result<&[u8], CmdError> {
    const BAD: CmdError = CmdError::Static("ERR DUMP payload version or checksum are wrong");
    if payload.len() < 10 {
        return Err(BAD);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > RDB_VERSION || crc64(&payload[..payload.len() - 8]) != u64::from_le_bytes(crc) {
        return Err(BAD);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_their_shortest_form() {
        for (n, size) in [(0u64, 1), (63, 1), (64, 2), (16383, 2), (16384, 5), (1 << 32, 9)] {
            let mut out = Vec::new();
            write_len(&mut out, n);
            assert_eq!(out.len(), size, "{n}");
            assert_eq!(Reader::new(&out).length(), Ok(n));
        }
    }

    #[test]
    fn strings_use_integer_encodings_only_for_canonical_integers() {
        for (s, first) in [
            (&b"12"[..], 0xC0),
            (b"-300", 0xC1),
            (b"70000", 0xC2),
            (b"012", 3),
            (b"-0", 2),
            (b"99999999999", 11),
        ] {
            let mut out = Vec::new();
            write_string(&mut out, s);
            assert_eq!(out[0], first, "{s:?}");
            assert_eq!(Reader::new(&out).string().as_deref(), Ok(s));
        }
    }

    #[test]
    fn crc64_matches_the_redis_check_value() {
        // The check value Redis's own crc64 test prints for "123456789".
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn payloads_are_checked() {
        let sealed = seal_payload(b"\x00\x03abc".to_vec());
        assert_eq!(open_payload(&sealed).ok(), Some(&b"\x00\x03abc"[..]));
        let mut bad = sealed.clone();
        bad[1] ^= 1;
        assert!(open_payload(&bad).is_err());
        assert!(open_payload(b"short").is_err());
    }

    #[test]
    fn truncated_and_hostile_strings_are_errors() {
        assert_eq!(Reader::new(b"\x05ab").string(), Err(ReadError::Truncated));
        assert!(Reader::new(b"\xC3\x01\x3F\xFF").string().is_err());
        assert!(Reader::new(b"\x81\xff\xff\xff\xff\xff\xff\xff\xff").string().is_err());
    }
}
