//! String values and their three encodings, as `OBJECT ENCODING` names them.
//!
//! Redis stores a string that reads as a 64-bit integer (at most 20 characters, strict
//! `string2ll` form) as the integer itself (`int`); a short string of up to 44 bytes as
//! `embstr`; anything longer, or any string modified in place (APPEND, SETRANGE), as `raw`.
//! Keel keeps the same three so `OBJECT ENCODING` answers the same, and so integer values
//! cost no heap.

use super::{num, Value};
use bytes::{Bytes, BytesMut};

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

/// A string value.
#[derive(Clone, Debug, PartialEq)]
pub enum StrValue {
    /// `int`: the string is the decimal form of this integer.
    Int(i64),
    /// `embstr`: short and never modified in place.
    Embstr(Bytes),
    /// `raw`: long, or modified in place.
    Raw(Bytes),
}

impl StrValue {
    /// The encoding Redis picks when it stores a value a client sent (`tryObjectEncoding`).
    pub fn from_bytes(b: &[u8]) -> StrValue {
        if b.len() <= 20 {
            if let Some(n) = num::parse_i64(b) {
                return StrValue::Int(n);
            }
        }
        StrValue::from_bytes_no_int(b)
    }

    /// A string stored without trying the integer encoding (`embstr` or `raw` by length).
    pub fn from_bytes_no_int(b: &[u8]) -> StrValue {
        if b.len() <= EMBSTR_MAX {
            StrValue::Embstr(Bytes::copy_from_slice(b))
        } else {
            StrValue::Raw(Bytes::copy_from_slice(b))
        }
    }

    /// The encoding name for `OBJECT ENCODING`.
    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Embstr(_) => "embstr",
            StrValue::Raw(_) => "raw",
        }
    }

    /// The value's bytes (an integer is formatted).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            StrValue::Int(n) => Bytes::from(num::i64_bytes(*n)),
            StrValue::Embstr(b) | StrValue::Raw(b) => b.clone(),
        }
    }

    /// Length in bytes of the string form.
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa::Buffer::new().format(*n).len(),
            StrValue::Embstr(b) | StrValue::Raw(b) => b.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, if it reads as one (for INCR and friends).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Embstr(b) | StrValue::Raw(b) => num::parse_i64(b),
        }
    }

    /// Appends `extra` in place; the value becomes `raw`, as Redis's APPEND leaves it even
    /// when `extra` is empty. Returns the new length.
    pub fn append(&mut self, extra: &[u8]) -> usize {
        self.edit_raw(|buf| buf.extend_from_slice(extra))
    }

    /// Overwrites bytes from `offset` with `data`, first growing the string with zero bytes
    /// if it is shorter than `offset + data.len()` (SETRANGE). The value becomes `raw`.
    /// Returns the new length. The caller has bounded `offset + data.len()`.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        self.edit_raw(|buf| {
            let end = offset.saturating_add(data.len());
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[offset..end].copy_from_slice(data);
        })
    }

    /// Runs `f` on the bytes as a growable buffer and stores the result as `raw`. When this
    /// value holds the only reference to its buffer, the buffer is reused (so repeated
    /// APPENDs are amortised O(1), as in Redis); otherwise it is copied once.
    fn edit_raw(&mut self, f: impl FnOnce(&mut BytesMut)) -> usize {
        let old = std::mem::replace(self, StrValue::Int(0));
        let mut buf = match old {
            StrValue::Raw(b) => b.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..])),
            other => BytesMut::from(&other.to_bytes()[..]),
        };
        f(&mut buf);
        let len = buf.len();
        *self = StrValue::Raw(buf.freeze());
        len
    }

    /// Heap bytes owned by the value.
    pub fn heap_size(&self) -> usize {
        match self {
            StrValue::Int(_) => 0,
            StrValue::Embstr(b) | StrValue::Raw(b) => b.len(),
        }
    }
}

impl Value {
    /// The string inside, or `None` for another type (the caller answers WRONGTYPE).
    // Until the collection types land, `Str` is the only variant and this pattern cannot
    // fail; the allow keeps the function correct both before and after they do.
    pub fn as_str_mut(&mut self) -> Option<&mut StrValue> {
        if let Value::Str(s) = self {
            Some(s)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(StrValue::from_bytes(b"123").encoding(), "int");
        assert_eq!(StrValue::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(&[b'a'; 45]).encoding(), "raw");
        assert_eq!(StrValue::Int(-5).to_bytes(), Bytes::from_static(b"-5"));
        assert_eq!(StrValue::from_bytes(b"-0").encoding(), "embstr");
        assert_eq!(StrValue::from_bytes(b"9223372036854775807").encoding(), "int");
        assert_eq!(StrValue::from_bytes(b"9223372036854775808").encoding(), "embstr");
    }

    #[test]
    fn in_place_edits_make_raw() {
        let mut v = StrValue::from_bytes(b"12");
        assert_eq!(v.append(b""), 2);
        assert_eq!(v.encoding(), "raw");
        assert_eq!(v.append(b"3"), 3);
        assert_eq!(v.to_bytes(), Bytes::from_static(b"123"));
        let mut w = StrValue::from_bytes(b"ab");
        assert_eq!(w.write_at(4, b"xy"), 6);
        assert_eq!(w.to_bytes(), Bytes::from_static(b"ab\0\0xy"));
        assert_eq!(w.write_at(0, b"Z"), 6);
        assert_eq!(w.to_bytes(), Bytes::from_static(b"Zb\0\0xy"));
        // A reader holding the old bytes keeps them.
        let held = w.to_bytes();
        w.append(b"!");
        assert_eq!(held, Bytes::from_static(b"Zb\0\0xy"));
        assert_eq!(w.len(), 7);
    }
}
